"""What a typed operations tool costs over the same command through ssh_exec_run.

    uv run python bench/ops.py [-n CALLS]

Boots the tests' systemd host (``tests/fleet.py``: a Debian container with systemd as PID 1
and sshd on 127.0.0.1, its rootfs cached), then times each pair in :data:`PAIRS` through the
SDK ``Client`` in-process, interleaved in blocks in one run: the typed tool, and
``ssh_exec_run`` with the very command line the tool runs. Prints the medians and the ratio
typed / exec per pair; the target is under 1.2x. Needs root and docker (as the tests do).

A pair is one :class:`Pair` line in :data:`PAIRS`; add one by listing it.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import Call, interleave, print_table, run_main
from mcp import Client
from mcp.types import CallToolResult

from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import build_app
from ssh_mcp.mcp.server import build_server
from ssh_mcp.tools.systemd._common import systemctl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import fleet  # the tests' fleet, importable once tests/ is on the path

ALIAS = "fleet1"


@dataclass(frozen=True)
class Pair:
    """A typed tool call and the command line it runs, sent through ssh_exec_run instead."""

    label: str
    tool: str
    arguments: dict[str, Any]
    argv: tuple[str, ...]
    #: Settings this pair needs besides the dangerous tier that ssh_exec_run needs.
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


PAIRS: tuple[Pair, ...] = (
    Pair(
        "systemctl status",
        "ssh_systemctl_status",
        {"host": ALIAS, "unit": "ssh.service"},
        tuple(systemctl("status", "--lines=10", units=["ssh.service"])),
    ),
)


def _checked(result: CallToolResult, what: str) -> None:
    if result.is_error:
        raise RuntimeError(f"{what} failed: {result.content}")


async def _calls(client: Client, pair: Pair) -> dict[str, Call]:
    async def typed() -> None:
        _checked(await client.call_tool(pair.tool, pair.arguments), pair.tool)

    async def raw() -> None:
        result = await client.call_tool("ssh_exec_run", {"host": ALIAS, "command": pair.command})
        _checked(result, "ssh_exec_run")

    return {pair.tool: typed, f"ssh_exec_run {pair.label}": raw}


def _settings(tmp: Path, host: fleet.SystemdHost, pairs: tuple[Pair, ...]) -> Settings:
    hosts = tmp / "hosts.toml"
    hosts.write_text(
        f'[hosts.{ALIAS}]\nhostname = "127.0.0.1"\nport = {host.port}\nuser = "{host.user}"\n'
        f'sudo_password_cmd = ["cat", "{host.sudo_password_file}"]\n'
        f'[hosts.{ALIAS}.auth]\nmethod = "key"\nkey = "{host.key}"\n'
    )
    extra: dict[str, Any] = {k: v for p in pairs for k, v in p.settings.items()}
    return Settings(
        _env_file=None,
        ssh_hosts_file=hosts,
        ssh_known_hosts=host.known_hosts,
        ssh_audit_log=tmp / "audit.jsonl",
        ssh_job_table=tmp / "jobs.json",
        ssh_host_notes_dir=tmp / "notes",
        ssh_config_file=None,
        allow_dangerous_tools=True,
        allow_any_command=True,
        **extra,
    )


async def measure(tmp: Path, host: fleet.SystemdHost, n: int) -> None:
    async with AsyncExitStack() as stack:
        app = build_app(_settings(tmp, host, PAIRS))
        stack.push_async_callback(app.aclose)
        client = await stack.enter_async_context(Client(build_server(app)))
        calls: dict[str, Call] = {}
        for pair in PAIRS:
            calls.update(await _calls(client, pair))
        series = await interleave(calls, n, {})
    rows = []
    for pair in PAIRS:
        typed, raw = series[pair.tool], series[f"ssh_exec_run {pair.label}"]
        ratio = typed.median / raw.median
        n_calls = str(len(typed.samples))
        rows.append(
            [pair.label, f"{typed.median:.2f}", f"{raw.median:.2f}", f"{ratio:.2f}x", n_calls]
        )
    print("typed tool vs ssh_exec_run, in-process, one run, medians in ms (n per series)")
    print_table(["pair", "typed", "exec", "ratio", "n"], rows)


def main(n: int) -> int:
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        key = tmp / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        pub = (tmp / "id_ed25519.pub").read_text().strip()
        with fleet.running_dockerd(tmp), fleet.systemd_host(tmp, pub, key) as host:
            return run_main(measure(tmp, host, n))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="calls per series")
    sys.exit(main(parser.parse_args().n))
