"""Shared pieces of ``bench.py`` and ``layers.py``: the sandbox config, interleaved
timing with CPU accounting, and the ways to reach the target (raw asyncssh, ssh-mcp
in-process, an SDK stdio client)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult

import ssh_mcp
from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import build_app
from ssh_mcp.demo.sandbox import Sandbox
from ssh_mcp.mcp.server import build_server
from ssh_mcp.ssh.connect import CIPHERS

HERE = Path(__file__).resolve().parent
ALIAS = "bench"
STAGE_BUDGET = 15.0  # seconds per latency series: fewer than N calls if the target is slow
BLOCK = 20  # calls per turn when series are interleaved
ECHO = {"host": ALIAS, "command": "echo hi"}


class BenchError(Exception):
    """A step failed; the figures would be meaningless."""


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Series:
    samples: list[float]  # milliseconds
    cpu_client: float = 0.0  # CPU ms per call in this process (in-process servers included)
    cpu_server: float | None = None  # CPU ms per call in the stdio server process

    @property
    def cpu(self) -> str:
        if self.cpu_server is None:
            return f"{self.cpu_client:.2f}"
        return f"{self.cpu_client:.2f} + {self.cpu_server:.2f}"

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.samples, n=10)[-1] if len(self.samples) > 1 else 0.0

    def __str__(self) -> str:
        return f"{self.median:.2f} ms (p90 {self.p90:.2f}, n={len(self.samples)})"


Call = Callable[[], Awaitable[None]]


async def interleave(calls: dict[str, Call], n: int, pids: dict[str, int]) -> dict[str, Series]:
    """Run the series in turn, BLOCK calls at a time, so load swings hit all alike.

    CPU per call: this process (``process_time``) plus, for stdio series, the server's."""
    for call in calls.values():  # warm-up: connections, pools, caches
        for _ in range(10):
            await call()
    samples: dict[str, list[float]] = {k: [] for k in calls}
    cpu = dict.fromkeys(calls, 0.0)
    server = dict.fromkeys(pids, 0.0)
    deadline = time.monotonic() + STAGE_BUDGET * len(calls)
    for _ in range(max(1, n // BLOCK)):
        if time.monotonic() > deadline:
            break
        for name, call in calls.items():
            cpu0, s0 = time.process_time(), cpu_seconds(pids[name]) if name in pids else 0.0
            for _ in range(BLOCK):
                started = time.perf_counter()
                await call()
                samples[name].append((time.perf_counter() - started) * 1000)
            cpu[name] += time.process_time() - cpu0
            if name in pids:
                server[name] += cpu_seconds(pids[name]) - s0
    out = {}
    for name, got in samples.items():
        per_call = 1000 / len(got)
        srv = server[name] * per_call if name in pids else None
        out[name] = Series(got, cpu[name] * per_call, srv)
    return out


def check(result: CallToolResult, stdout: str | None = "hi\n") -> None:
    data = result.structured_content or {}
    if result.is_error or (stdout is not None and data.get("stdout") != stdout):
        raise BenchError(f"tool call failed: {result.content!r}")


def child_pid(marker: str, exclude: Collection[int] = ()) -> int:
    """The PID of our child process whose argv holds ``marker`` (the stdio server), other
    than ``exclude`` (servers already running with the same argv)."""
    for name in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            ppid = int(Path(f"/proc/{name}/stat").read_text().rpartition(")")[2].split()[1])
            if (
                ppid == os.getpid()
                and int(name) not in exclude
                and marker in Path(f"/proc/{name}/cmdline").read_text()
            ):
                return int(name)
    raise BenchError(f"no child process running {marker}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for pid {pid}")


# -- setup ------------------------------------------------------------------------------


def write_config(tmp: Path, sandbox: Sandbox) -> tuple[Settings, dict[str, str]]:
    (tmp / "known_hosts").write_text(sandbox.known_hosts_line + "\n")
    (tmp / "hosts.toml").write_text(
        f'[hosts.{ALIAS}]\nhostname = "127.0.0.1"\nport = {sandbox.port}\n'
        f"user = {json.dumps(sandbox.user)}\n"
        f"path_allowlist = [{json.dumps(sandbox.remote_data_dir)}]\n"
        f'[hosts.{ALIAS}.auth]\nmethod = "key"\nkey = {json.dumps(str(sandbox.client_key))}\n'
    )
    values: dict[str, Any] = {
        "ssh_hosts_file": tmp / "hosts.toml",
        "ssh_known_hosts": tmp / "known_hosts",
        "ssh_audit_log": tmp / "audit.jsonl",
        "allow_dangerous_tools": True,
        "ssh_command_allowlist": ["echo", "sleep"],
    }
    settings = Settings(_env_file=None, ssh_config_file=None, **values)
    env = {k.upper(): json.dumps(v) if isinstance(v, list) else str(v) for k, v in values.items()}
    env["ALLOW_DANGEROUS_TOOLS"] = "true"
    env["PYTHONPATH"] = str(Path(ssh_mcp.__file__).resolve().parent.parent)
    return settings, env


# -- ways to reach the target ------------------------------------------------------------


@contextlib.asynccontextmanager
async def connect_raw(sandbox: Sandbox) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """A bare asyncssh connection to the sandbox host, for the floors the benches compare to."""
    async with asyncssh.connect(
        sandbox.host,
        sandbox.port,
        username=sandbox.user,
        client_keys=[str(sandbox.client_key)],
        known_hosts=asyncssh.import_known_hosts(sandbox.known_hosts_line + "\n"),
        config=None,
        encryption_algs=CIPHERS,  # the same cipher ssh-mcp negotiates: a like-for-like floor
    ) as conn:
        yield conn


async def open_raw(stack: AsyncExitStack, sandbox: Sandbox) -> Call:
    conn = await stack.enter_async_context(connect_raw(sandbox))

    async def call() -> None:
        result = await conn.run("echo hi")
        if result.stdout != "hi\n":
            raise BenchError(f"raw asyncssh: unexpected output {result.stdout!r}")

    return call


async def open_inprocess(stack: AsyncExitStack, settings: Settings) -> Call:
    app = build_app(settings)
    stack.push_async_callback(app.aclose)
    client = await stack.enter_async_context(Client(build_server(app)))

    async def call() -> None:
        check(await client.call_tool("ssh_exec_run", ECHO))

    return call


async def open_stdio(
    stack: AsyncExitStack,
    args: list[str],
    env: dict[str, str],
    tmp: Path,
    marker: str,
    exclude: Collection[int] = (),
) -> tuple[Client, int]:
    params = StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(tmp))
    client = await stack.enter_async_context(Client(stdio_client(params), read_timeout_seconds=60))
    return client, child_pid(marker, exclude)


def print_table(head: list[str], rows: list[list[str]]) -> None:
    """Columns padded to their widest cell, a rule under the header."""
    cells = [head, *rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def openssh_version() -> str:
    with contextlib.suppress(OSError):
        res = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
        return res.stderr.strip().split(",")[0]
    return "no OpenSSH client"


def run_main(main: Coroutine[Any, Any, None]) -> int:
    """Run a bench's coroutine; print its total time, or why it failed (exit status 1)."""
    started = time.monotonic()
    try:
        asyncio.run(main)
    except Exception as exc:
        cause: BaseException = exc
        while isinstance(cause, BaseExceptionGroup) and cause.exceptions:  # anyio task groups
            cause = cause.exceptions[0]
        print(f"bench failed: {type(cause).__name__}: {cause}", file=sys.stderr)
        return 1
    print(f"\n(total {time.monotonic() - started:.1f} s)")
    return 0
