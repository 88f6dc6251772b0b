"""What the typed container tool costs over the raw command: ``ssh_docker_ps`` against
``ssh_exec_run "docker ps --no-trunc --format '{{json .}}'"``, the same docker call.

    uv run python bench/ops_docker.py [-n N]

Against the throwaway local SSH host of ``ssh_mcp.demo.sandbox`` (logged in as the user
running the bench, which must reach the docker daemon), in-process, both series interleaved
in blocks so that load swings hit both alike. Prints each median and the ratio typed / raw
(the target, issue 12: under 1.2).
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

from _common import ALIAS, BLOCK, BenchError, interleave, run_main, write_config
from mcp import Client

from ssh_mcp.core.app import build_app
from ssh_mcp.demo.sandbox import start_sandbox
from ssh_mcp.mcp.server import build_server

RAW = "docker ps --no-trunc --format '{{json .}}'"


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ssh-mcp-bench-") as name:
        tmp = Path(name)
        sandbox = await start_sandbox(tmp / "host")
        try:
            settings, _ = write_config(tmp, sandbox)
            settings = settings.model_copy(update={"ssh_command_allowlist": ["docker"]})
            async with AsyncExitStack() as stack:
                app = build_app(settings)
                stack.push_async_callback(app.aclose)
                client = await stack.enter_async_context(Client(build_server(app)))

                async def typed() -> None:
                    r = await client.call_tool("ssh_docker_ps", {"host": ALIAS})
                    if r.is_error:
                        raise BenchError(f"ssh_docker_ps failed: {r.content!r}")

                async def raw() -> None:
                    args = {"host": ALIAS, "command": RAW}
                    r = await client.call_tool("ssh_exec_run", args)
                    sc = r.structured_content or {}
                    if r.is_error or sc.get("exit_code") != 0:
                        raise BenchError(f"ssh_exec_run docker ps failed: {r.content!r}")

                print(f"target: {sandbox.kind} sandbox as {sandbox.user}; N={n}, blocks {BLOCK}")
                got = await interleave({"ssh_docker_ps": typed, "exec docker ps": raw}, n, {})
                for label, series in got.items():
                    print(f"{label:16} {series}")
                ratio = got["ssh_docker_ps"].median / got["exec docker ps"].median
                print(f"ratio typed/raw  {ratio:.2f}x (target < 1.2x)")
        finally:
            await sandbox.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="calls per series")
    raise SystemExit(run_main(main(parser.parse_args().n)))
