"""Where an ``ssh_exec_run`` call spends its time, layer by layer, in one process.

    uv run python bench/layers.py [-n 300]

Each layer wraps the one above it; the series run interleaved in blocks, so machine noise
hits all of them alike. CPU is this process's CPU time per call (sshd's is not counted),
which stays meaningful on a busy machine where wall times do not.

    raw       asyncssh ``conn.run("echo hi")`` on a warm connection
    ssh       + ssh_mcp.ssh: pool slot, ``run_process`` (capped pumps, stop ladder armed)
    dispatch  + ssh_mcp.core.dispatch: validation, host/command policy, deadline, audit line
    mcp       + SDK ``Client(server)`` in-process, 2026-07-28 (no JSON-RPC framing)
    legacy    + SDK ``Client(server, mode="legacy")``: JSON-RPC over in-memory streams
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

from _common import ECHO, BenchError, check, open_raw, write_config
from mcp import Client

from ssh_mcp.core.app import build_app
from ssh_mcp.core.dispatch import dispatch
from ssh_mcp.demo.sandbox import start_sandbox
from ssh_mcp.mcp.server import build_server
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.process import ProcessResult, run_process

Call = Callable[[], Awaitable[None]]
BLOCK = 25


async def interleave(calls: dict[str, Call], n: int) -> dict[str, tuple[list[float], float]]:
    """Per layer: wall samples (ms) and CPU ms per call, from blocks run in turn."""
    samples: dict[str, list[float]] = {k: [] for k in calls}
    cpu: dict[str, float] = dict.fromkeys(calls, 0.0)
    for call in calls.values():  # warm-up
        for _ in range(10):
            await call()
    for _ in range(max(1, n // BLOCK)):
        for name, call in calls.items():
            cpu0 = time.process_time()
            for _ in range(BLOCK):
                started = time.perf_counter()
                await call()
                samples[name].append((time.perf_counter() - started) * 1000)
            cpu[name] += time.process_time() - cpu0
    return {k: (samples[k], cpu[k] * 1000 / len(samples[k])) for k in calls}


async def run(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ssh-mcp-layers-")).resolve()
    try:
        (tmp / "host").mkdir()
        sandbox = await start_sandbox(tmp / "host")
        try:
            settings, _ = write_config(tmp, sandbox)
            async with AsyncExitStack() as stack:
                raw = await open_raw(stack, sandbox)
                app = build_app(settings)
                stack.push_async_callback(app.aclose)
                spec = app.connect_spec(app.inventory.hosts["bench"])
                mcp = await stack.enter_async_context(Client(build_server(app)))
                legacy = await stack.enter_async_context(Client(build_server(app), mode="legacy"))

                async def op(pc: PooledConnection) -> ProcessResult:
                    return await run_process(
                        pc, "echo hi", timeout=20, stdout_cap=1 << 20, stderr_cap=1 << 18
                    )

                async def ssh() -> None:
                    if bytes((await app.pool.run(spec, op, replay=False)).stdout.head) != b"hi\n":
                        raise BenchError("ssh layer: unexpected output")

                async def disp() -> None:
                    outcome = await dispatch(app, "ssh_exec_run", ECHO)
                    if not outcome.ok:
                        raise BenchError(f"dispatch: {outcome.text}")

                async def via_mcp() -> None:
                    check(await mcp.call_tool("ssh_exec_run", ECHO))

                async def via_legacy() -> None:
                    check(await legacy.call_tool("ssh_exec_run", ECHO))

                calls = {"raw": raw, "ssh": ssh, "dispatch": disp, "mcp": via_mcp}
                results = await interleave({**calls, "legacy": via_legacy}, n)
        finally:
            await sandbox.aclose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{sandbox.kind} sandbox, login {sandbox.user}, {n} calls per layer, interleaved")
    print(f"{'layer':10} {'median ms':>10} {'p90 ms':>8} {'CPU ms/call':>12} {'+CPU vs prev':>13}")
    prev = None
    for name, (samples, cpu) in results.items():
        delta = "" if prev is None else f"{cpu - prev:+.3f}"
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"{name:10} {statistics.median(samples):10.2f} {p90:8.2f} {cpu:12.3f} {delta:>13}")
        prev = cpu if name != "legacy" else prev
    print("(+CPU of legacy is against dispatch's successor, mcp)")


def main() -> int:
    parser = argparse.ArgumentParser(description="per-layer cost of ssh_exec_run")
    parser.add_argument("-n", type=int, default=300, help="calls per layer (300)")
    asyncio.run(run(parser.parse_args().n))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
