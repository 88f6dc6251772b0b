"""ssh-mcp figures from one run on this machine, each next to a baseline as a ratio.

    uv run python bench/bench.py [-n 200]

Against a throwaway local SSH host (``ssh_mcp.demo.sandbox``: the real sshd when installed):

* ``ssh_exec_run`` of ``echo hi``, median and p90 over N warm calls: through MCP in-process
  (SDK ``Client(server)``) and over stdio (a spawned ``python -m ssh_mcp``), next to raw
  asyncssh ``conn.run`` on a warm connection and ``ssh`` through an OpenSSH ControlMaster.
  A bare SDK server's ``tools/call`` over stdio shows the MCP transport floor. The stdio
  median is also set against issue 14's 9.5 ms (within 10%), and ssh-mcp's own CPU per
  call is split, in-process as ``layers.py`` does, into pool and process handling, and
  dispatch.
* wall time of 20 concurrent ``sleep 0.5`` exec calls through MCP over stdio.
* cold start, spawn → ``tools/list`` answered, of ``python -m ssh_mcp`` next to a bare
  low-level SDK server with one tool (``bench/bare_server.py``).
* RSS (VmRSS) of both stdio servers after they served their latency runs.

Targets print as PASS/MISS; missing one does not fail the script (exit 0), an error does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import asyncssh
from _common import (
    ALIAS,
    BLOCK,
    ECHO,
    HERE,
    BenchError,
    Call,
    Series,
    check,
    interleave,
    open_inprocess,
    open_raw,
    open_stdio,
    openssh_version,
    print_table,
    rss_mib,
    run_main,
    write_config,
)
from mcp import Client

from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import build_app
from ssh_mcp.core.dispatch import dispatch
from ssh_mcp.demo.sandbox import Sandbox, start_sandbox
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.process import ProcessResult, run_process


@dataclass
class Row:
    figure: str
    value: str
    baseline: str = ""
    ratio: float | None = None
    target: float | None = None  # the ratio must be <= target
    cpu: str = ""

    def cells(self) -> list[str]:
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else ""
        target, verdict = "", ""
        if self.target is not None and self.ratio is not None:
            target = f"<= {self.target:g}x"
            verdict = "PASS" if self.ratio <= self.target else "MISS"
        return [self.figure, self.value, self.cpu, self.baseline, ratio, target, verdict]


# -- the figures --------------------------------------------------------------------------

#: Issue 14's exec over stdio median (quiet machine): "exec stays fast" means within 10%.
ISSUE_14_EXEC_MS = 9.5


async def open_layers(stack: AsyncExitStack, settings: Settings) -> tuple[Call, Call]:
    """ssh-mcp's own layers in this process, as ``layers.py`` runs them: the pool and
    process handling alone, and dispatch on top; their CPU over raw asyncssh's is ours."""
    app = build_app(settings)
    stack.push_async_callback(app.aclose)
    spec = app.connect_spec(app.inventory.hosts[ALIAS])

    async def op(pc: PooledConnection) -> ProcessResult:
        return await run_process(pc, "echo hi", timeout=20, stdout_cap=1 << 20, stderr_cap=1 << 18)

    async def pool() -> None:
        if bytes((await app.pool.run(spec, op, replay=False)).stdout.head) != b"hi\n":
            raise BenchError("pool layer: unexpected output")

    async def disp() -> None:
        outcome = await dispatch(app, "ssh_exec_run", ECHO)
        if not outcome.ok:
            raise BenchError(f"dispatch layer: {outcome.text}")

    return pool, disp


async def open_control_master(stack: AsyncExitStack, sandbox: Sandbox, tmp: Path) -> Call | None:
    ssh = shutil.which("ssh")
    if ssh is None:
        return None
    (tmp / "ssh_known_hosts").write_text(sandbox.known_hosts_line + "\n")
    common = [
        ssh, "-F", "/dev/null", "-p", str(sandbox.port), "-i", str(sandbox.client_key),
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={tmp / 'ssh_known_hosts'}", "-o", f"ControlPath={tmp}/cm",
    ]  # fmt: skip
    target = f"{sandbox.user}@{sandbox.host}"
    # The master runs in the foreground as our child, so we can stop it by PID.
    master = await asyncio.create_subprocess_exec(
        *common, "-M", "-N", target, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    async def stop() -> None:
        with contextlib.suppress(ProcessLookupError):
            master.terminate()
        try:
            await asyncio.wait_for(master.wait(), 5)
        except TimeoutError:
            master.kill()
            await master.wait()

    stack.push_async_callback(stop)
    deadline = time.monotonic() + 10
    while not (tmp / "cm").exists():
        if master.returncode is not None or time.monotonic() > deadline:
            raise BenchError("the OpenSSH ControlMaster did not start")
        await asyncio.sleep(0.01)
    mux = ["-o", "ControlMaster=auto", "-o", "ControlPersist=60"]

    async def call() -> None:
        proc = await asyncio.create_subprocess_exec(
            *common, *mux, target, "echo hi", stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        out, _ = await proc.communicate()
        if out != b"hi\n":
            raise BenchError(f"ssh via ControlMaster: unexpected output {out!r}")

    return call


async def concurrent_sleeps(client: Client) -> float:
    sleep = {"host": ALIAS, "command": "sleep 0.5"}
    started = time.perf_counter()
    results = await asyncio.gather(*(client.call_tool("ssh_exec_run", sleep) for _ in range(20)))
    wall = time.perf_counter() - started
    for result in results:
        check(result, stdout="")
    return wall


def cold_start(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from spawn until the tools/list answer arrives (raw JSON-RPC over pipes)."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
    ]  # fmt: skip
    payload = "".join(json.dumps(m) + "\n" for m in messages).encode()
    full_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"), **env}
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=full_env, cwd=cwd,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(payload)
        proc.stdin.flush()
        for line in proc.stdout:
            msg = json.loads(line)
            if msg.get("id") == 2:
                if "result" not in msg:
                    raise BenchError(f"tools/list failed: {msg}")
                return time.perf_counter() - started
        raise BenchError(f"{argv} exited before answering tools/list")
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cold_starts(env: dict[str, str], tmp: Path, runs: int = 5) -> tuple[Series, Series]:
    ours_argv = [sys.executable, "-m", "ssh_mcp"]
    bare_argv = [sys.executable, str(HERE / "bare_server.py")]
    cold_start(ours_argv, env, tmp)  # warm the page cache and .pyc files for both
    cold_start(bare_argv, {}, tmp)
    ours, bare = [], []
    for _ in range(runs):  # interleaved, so machine noise hits both alike
        ours.append(cold_start(ours_argv, env, tmp) * 1000)
        bare.append(cold_start(bare_argv, {}, tmp) * 1000)
    return Series(ours), Series(bare)


# -- report -------------------------------------------------------------------------------


async def run(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ssh-mcp-bench-")).resolve()
    try:
        (tmp / "host").mkdir()
        sandbox = await start_sandbox(tmp / "host")
        try:
            settings, env = write_config(tmp, sandbox)
            print(
                f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, Python "
                f"{platform.python_version()}, asyncssh {asyncssh.__version__}, "
                f"{openssh_version()}\ntarget: {sandbox.kind} sandbox on 127.0.0.1:{sandbox.port} "
                f"as {sandbox.user}; N={n} per series, interleaved in blocks of {BLOCK}",
                flush=True,
            )
            async with AsyncExitStack() as stack:
                ours, ours_pid = await open_stdio(stack, ["-m", "ssh_mcp"], env, tmp, "ssh_mcp")
                bare, bare_pid = await open_stdio(
                    stack, [str(HERE / "bare_server.py")], {}, tmp, "bare_server.py"
                )

                async def via_stdio() -> None:
                    check(await ours.call_tool("ssh_exec_run", ECHO))

                async def via_bare() -> None:
                    if (await bare.call_tool("echo", {"text": "hi"})).is_error:
                        raise BenchError("the bare server failed")

                pool_layer, dispatch_layer = await open_layers(stack, settings)
                calls = {
                    "raw": await open_raw(stack, sandbox),
                    "pool": pool_layer,
                    "dispatch": dispatch_layer,
                    "inproc": await open_inprocess(stack, settings),
                    "stdio": via_stdio,
                    "bare": via_bare,
                }
                if (cm_call := await open_control_master(stack, sandbox, tmp)) is not None:
                    calls["cm"] = cm_call
                series = await interleave(calls, n, {"stdio": ours_pid, "bare": bare_pid})
                rss_ours, rss_bare = rss_mib(ours_pid), rss_mib(bare_pid)
                for name, s in series.items():
                    print(f"  {name:7} {s}", flush=True)
                wall_warm = await concurrent_sleeps(ours)
            async with AsyncExitStack() as stack:  # a fresh server: the pool has to grow
                fresh, _ = await open_stdio(stack, ["-m", "ssh_mcp"], env, tmp, "ssh_mcp")
                wall_cold = await concurrent_sleeps(fresh)
            print(f"  20x sleep 0.5: {wall_cold:.3f} s fresh server, {wall_warm:.3f} s warm")
        finally:
            await sandbox.aclose()
        cold_ours, cold_bare = cold_starts(env, tmp)
        print(f"  cold start ours {cold_ours}; bare {cold_bare}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raw, inproc, stdio, bare_s = (series[k] for k in ("raw", "inproc", "stdio", "bare"))
    pool_s, disp_s = series["pool"], series["dispatch"]
    cm = series.get("cm")

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("inf")

    def lat(s: Series) -> str:
        return f"{s.median:.2f} ms (p90 {s.p90:.2f} ms)"

    base = "raw asyncssh"
    rows = [
        Row("exec `echo hi`: raw asyncssh, warm conn", lat(raw), cpu=raw.cpu),
        Row("exec via MCP in-process (Client(server))", lat(inproc), base,
            ratio(inproc.median, raw.median), cpu=inproc.cpu),
        Row("exec via MCP over stdio", lat(stdio), base, ratio(stdio.median, raw.median), 1.3,
            cpu=stdio.cpu),
        Row("  MCP stdio floor: bare SDK tools/call", lat(bare_s), base,
            ratio(bare_s.median, raw.median), cpu=bare_s.cpu),
        Row("  against issue 14's median (quiet machine)", f"{stdio.median:.2f} ms",
            f"{ISSUE_14_EXEC_MS} ms", ratio(stdio.median, ISSUE_14_EXEC_MS), 1.1),
        Row("  ours, in-process: pool + process handling", lat(pool_s),
            cpu=f"+{pool_s.cpu_client - raw.cpu_client:.2f}"),
        Row("  ours, in-process: + dispatch", lat(disp_s),
            cpu=f"+{disp_s.cpu_client - pool_s.cpu_client:.2f}"),
    ]  # fmt: skip
    if cm is not None:
        rows.append(Row("exec via ssh + ControlMaster", lat(cm), base,
                        ratio(cm.median, raw.median)))  # fmt: skip
    rows += [
        Row("20x concurrent `sleep 0.5`, fresh server", f"{wall_cold:.3f} s", "0.5 s ideal",
            ratio(wall_cold, 0.5), 1.2),
        Row("20x concurrent `sleep 0.5`, warm pool", f"{wall_warm:.3f} s", "0.5 s ideal",
            ratio(wall_warm, 0.5), 1.2),
        Row("cold start: spawn -> tools/list answered", f"{cold_ours.median:.0f} ms",
            f"bare SDK {cold_bare.median:.0f} ms", ratio(cold_ours.median, cold_bare.median), 1.1),
        Row("RSS of the stdio server after its run", f"{rss_ours:.1f} MiB",
            f"bare SDK {rss_bare:.1f} MiB", ratio(rss_ours, rss_bare), 1.2),
    ]  # fmt: skip
    print()
    head = ["figure", "value", "CPU ms/call", "baseline", "ratio", "target", ""]
    print_table(head, [r.cells() for r in rows])
    print(
        "CPU ms/call: this process, + the stdio server's; sshd's is not counted. ratio: value "
        "/ baseline;\ntarget: the issue's (PASS/MISS). Series ran interleaved, so load swings "
        f"hit all alike; load at end {os.getloadavg()[0]:.2f}."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=200, help="calls per latency series (200)")
    args = parser.parse_args()
    # In-process server errors (an "internal error" result) log their traceback here.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return run_main(run(max(args.n, 2)))


if __name__ == "__main__":
    raise SystemExit(main())
