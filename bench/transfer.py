"""ssh-mcp transfer throughput next to OpenSSH sftp and scp, on the same files in one run.

    uv run python bench/transfer.py [--reps 3] [--sizes 20,200]

Against the throwaway sshd of ``ssh_mcp.demo.sandbox`` (real OpenSSH; the asyncssh fallback
is refused), for each size (MB = 10^6 bytes) of random data:

* download: ``ssh_sftp_download`` with ``local_path`` through MCP in-process
  (SDK ``Client(server)``), next to ``sftp -b`` (``get``) and ``scp``;
* upload: ``ssh_upload`` with ``local_path`` the same way, next to ``sftp -b`` (``put``)
  and ``scp``;
* asyncssh's own ``sftp.get``/``put`` on the same pooled connection (no hash, no fsync,
  no temp file and rename): the library's ceiling, and the target (issue 14, DECISIONS.md 77).

When a tool is not registered (yet), the bench calls what it is built on instead,
``ssh.transfer.download_atomic`` / ``write_atomic`` over the pooled connection, and the
row says "direct".

Both sides run over a warm connection with the same cipher: ssh-mcp's pool, and an
OpenSSH ControlMaster that sftp and scp multiplex over. Runs are interleaved (every
method once per round), the median of ``--reps`` rounds counts, and every result is
checked by SHA-256. Target: each ssh-mcp figure >= 0.9x asyncssh's own get/put (PASS/MISS;
a miss does not fail the script, an error does); OpenSSH's figures are context.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
from _common import ALIAS, BenchError, openssh_version, print_table, run_main, write_config
from mcp import Client

from ssh_mcp.core.app import App, build_app
from ssh_mcp.demo.sandbox import Sandbox, start_sandbox
from ssh_mcp.mcp.server import build_server
from ssh_mcp.ssh.connect import CIPHERS
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.transfer import MAX_REQUESTS, block_size, download_atomic, write_atomic

MB = 1_000_000
TARGET = 0.9  # ssh-mcp MB/s / asyncssh's own get/put MB/s must be >= this
Run = Callable[[], Awaitable[None]]


@dataclass
class Method:
    name: str
    run: Run
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # client CPU seconds per run

    def mbps(self, size: int) -> float:
        return size / MB / statistics.median(self.times)

    def cpu_per_mb(self, size: int) -> float:
        """Client CPU ms per MB: this process (ssh-mcp in-process) or the OpenSSH children."""
        return statistics.median(self.cpu) * 1000 / (size / MB)


def client_cpu() -> float:
    """CPU seconds of this process (every thread) plus its reaped children (sftp, scp)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 * 1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def make_file(path: Path, size: int) -> str:
    """``size`` random bytes (incompressible), returning their SHA-256."""
    h = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 * 1024 * 1024))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


# -- OpenSSH ------------------------------------------------------------------------------


class OpenSSH:
    """sftp and scp multiplexed over one ControlMaster, run as our children."""

    def __init__(self, sandbox: Sandbox, tmp: Path) -> None:
        (tmp / "ssh_known_hosts").write_text(sandbox.known_hosts_line + "\n")
        self.common = [
            "-F", "/dev/null", "-i", str(sandbox.client_key), "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={tmp / 'ssh_known_hosts'}", "-c", CIPHERS[0],
            "-o", f"ControlPath={tmp}/cm",
        ]  # fmt: skip
        self.port = str(sandbox.port)
        # sftp and scp spell the port -P; they only multiplex over the master.
        self.opts = [*self.common, "-P", self.port, "-o", "ControlMaster=no"]
        self.login = f"{sandbox.user}@{sandbox.host}"
        self.tmp = tmp
        self.master: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        ssh = shutil.which("ssh")
        if ssh is None or not shutil.which("sftp") or not shutil.which("scp"):
            raise BenchError("the OpenSSH client (ssh, sftp, scp) is not installed")
        # The master runs in the foreground as our child, so we can stop it by PID.
        self.master = await asyncio.create_subprocess_exec(
            ssh, *self.common, "-p", self.port, "-o", "ControlMaster=yes", "-N", self.login,
            stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not (self.tmp / "cm").exists():
            if self.master.returncode is not None or time.monotonic() > deadline:
                raise BenchError("the OpenSSH ControlMaster did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.master is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.master.terminate()
        try:
            await asyncio.wait_for(self.master.wait(), 5)
        except TimeoutError:
            self.master.kill()
            await self.master.wait()

    async def _run(self, *argv: str, stdin: bytes | None = None) -> None:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, err = await proc.communicate(stdin)
        if proc.returncode != 0:
            raise BenchError(f"{argv[0]} failed ({proc.returncode}): {err.decode()[-300:]}")

    async def sftp(self, command: str) -> None:
        await self._run("sftp", *self.opts, "-b", "-", self.login, stdin=command.encode())

    async def scp(self, src: str, dst: str) -> None:
        await self._run("scp", "-q", *self.opts, src, dst)


# -- ssh-mcp ------------------------------------------------------------------------------


class Ours:
    """ssh-mcp in-process: the tools when registered, else the functions they call."""

    def __init__(self, app: App, client: Client, tools: set[str]) -> None:
        self.app, self.client, self.tools = app, client, tools
        self.spec = app.connect_spec(app.inventory.hosts[ALIAS])
        self.max_bytes = app.settings.ssh_transfer_max_bytes

    def how(self, tool: str) -> str:
        return "MCP" if tool in self.tools else "direct"

    async def _call(self, tool: str, args: dict[str, Any], sha: str) -> None:
        result = await self.client.call_tool(tool, args)
        data = result.structured_content or {}
        if result.is_error or data.get("sha256") != sha:
            raise BenchError(f"{tool} failed: {result.content!r}")

    async def download(self, remote: str, local: Path, sha: str) -> None:
        if "ssh_sftp_download" in self.tools:
            args = {"host": ALIAS, "path": remote, "local_path": str(local), "overwrite": True}
            return await self._call("ssh_sftp_download", args, sha)

        async def op(pc: PooledConnection) -> None:
            sftp = await pc.sftp()
            got = await download_atomic(
                sftp, remote, str(local), overwrite=True, max_bytes=self.max_bytes
            )
            if got.sha256 != sha:
                raise BenchError("download_atomic: checksum mismatch")

        await self.app.pool.run(self.spec, op, replay=False)

    async def raw(self, direction: str, src: str, dst: str) -> None:
        """asyncssh's own get/put on the pooled connection: no hash, no fsync, no rename."""

        async def op(pc: PooledConnection) -> None:
            sftp = await pc.sftp()
            copy = sftp.get if direction == "download" else sftp.put
            await copy(src, dst, block_size=block_size(sftp), max_requests=MAX_REQUESTS)

        await self.app.pool.run(self.spec, op, replay=False)

    async def upload(self, local: Path, remote: str, sha: str) -> None:
        if "ssh_upload" in self.tools:
            args = {"host": ALIAS, "path": remote, "local_path": str(local), "overwrite": True}
            return await self._call("ssh_upload", args, sha)

        async def op(pc: PooledConnection) -> None:
            sftp = await pc.sftp()
            got = await write_atomic(
                sftp, remote, str(local), mode=None, overwrite=True, max_bytes=self.max_bytes
            )
            if got.sha256 != sha:
                raise BenchError("write_atomic: checksum mismatch")

        await self.app.pool.run(self.spec, op, replay=False)


# -- the run ------------------------------------------------------------------------------


async def measure(methods: list[Method], reps: int) -> None:
    for m in methods:  # warm-up: page cache, pools, the ControlMaster's first channel
        await m.run()
    for _ in range(reps):
        for m in methods:
            started, cpu = time.perf_counter(), client_cpu()
            await m.run()
            m.times.append(time.perf_counter() - started)
            m.cpu.append(client_cpu() - cpu)


def check_copy(path: Path, sha: str, who: str) -> None:
    if sha256_file(path) != sha:
        raise BenchError(f"{who}: the copy at {path} differs from the source")


def download_methods(
    ours: Ours, openssh: OpenSSH, remote: Path, local: Path, sha: str
) -> tuple[list[Method], list[Path]]:
    out = {k: local.with_name(f"dl-{k}-{local.name}") for k in ("ours", "sftp", "scp", "raw")}
    return [
        Method(f"ssh_sftp_download ({ours.how('ssh_sftp_download')})",
               lambda: ours.download(str(remote), out["ours"], sha)),
        Method("sftp -b get", lambda: openssh.sftp(f'get "{remote}" "{out["sftp"]}"')),
        Method("scp", lambda: openssh.scp(f"{openssh.login}:{remote}", str(out["scp"]))),
        Method("asyncssh sftp.get", lambda: ours.raw("download", str(remote), str(out["raw"]))),
    ], list(out.values())  # fmt: skip


def upload_methods(
    ours: Ours, openssh: OpenSSH, local: Path, remote: Path, sha: str
) -> tuple[list[Method], list[Path]]:
    out = {k: remote.with_name(f"up-{k}-{remote.name}") for k in ("ours", "sftp", "scp", "raw")}
    return [
        Method(f"ssh_upload ({ours.how('ssh_upload')})",
               lambda: ours.upload(local, str(out["ours"]), sha)),
        Method("sftp -b put", lambda: openssh.sftp(f'put "{local}" "{out["sftp"]}"')),
        Method("scp", lambda: openssh.scp(str(local), f"{openssh.login}:{out['scp']}")),
        Method("asyncssh sftp.put", lambda: ours.raw("upload", str(local), str(out["raw"]))),
    ], list(out.values())  # fmt: skip


async def bench_size(
    size_mb: int, reps: int, sandbox: Sandbox, ours: Ours, openssh: OpenSSH, tmp: Path
) -> list[list[str]]:
    size = size_mb * MB
    src_local = tmp / "local" / f"{size_mb}MB.bin"
    src_remote = Path(sandbox.remote_data_dir) / f"{size_mb}MB.bin"
    sha = make_file(src_local, size)
    shutil.copyfile(src_local, src_remote)
    rows = []
    for direction in ("download", "upload"):
        if direction == "download":
            methods, outputs = download_methods(ours, openssh, src_remote, src_local, sha)
        else:
            methods, outputs = upload_methods(ours, openssh, src_local, src_remote, sha)
        await measure(methods, reps)
        for path in outputs:
            check_copy(path, sha, direction)
            path.unlink()
        ours_m, sftp_m, scp_m, raw_m = methods
        for base in (raw_m, sftp_m, scp_m):
            ratio = ours_m.mbps(size) / base.mbps(size)
            target = base is raw_m  # OpenSSH's C crypto is context, not a target (ADR 77)
            rows.append([
                f"{direction} {size_mb} MB", ours_m.name, f"{ours_m.mbps(size):.0f} MB/s",
                f"{ours_m.cpu_per_mb(size):.1f}", base.name, f"{base.mbps(size):.0f} MB/s",
                f"{base.cpu_per_mb(size):.1f}", f"{ratio:.2f}x",
                f">= {TARGET:g}x" if target else "",
                ("PASS" if ratio >= TARGET else "MISS") if target else "",
            ])  # fmt: skip
        print(
            f"  {direction} {size_mb} MB: "
            + ", ".join(
                f"{m.name} {m.mbps(size):.0f} MB/s ({m.cpu_per_mb(size):.1f} CPU-ms/MB)"
                for m in methods
            ),
            flush=True,
        )
    src_local.unlink()
    src_remote.unlink()
    return rows


async def run(sizes: list[int], reps: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ssh-mcp-bench-")).resolve()
    try:
        (tmp / "host").mkdir()
        (tmp / "local").mkdir()
        sandbox = await start_sandbox(tmp / "host", backend="openssh")
        try:
            settings, _ = write_config(tmp, sandbox)
            settings = settings.model_copy(
                update={
                    "allow_low_access_tools": True,
                    "ssh_local_transfer_roots": [str(tmp / "local")],
                }
            )
            print(
                f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, Python "
                f"{platform.python_version()}, asyncssh {asyncssh.__version__}, "
                f"{openssh_version()}\ntarget: {sandbox.kind} sandbox on 127.0.0.1:{sandbox.port}"
                f" as {sandbox.user}; cipher {CIPHERS[0]} on both sides; median of {reps} "
                "interleaved rounds",
                flush=True,
            )
            rows: list[list[str]] = []
            async with AsyncExitStack() as stack:
                openssh = OpenSSH(sandbox, tmp)
                stack.push_async_callback(openssh.stop)
                await openssh.start()
                app = build_app(settings)
                stack.push_async_callback(app.aclose)
                client = await stack.enter_async_context(Client(build_server(app)))
                tools = {t.name for t in (await client.list_tools()).tools}
                ours = Ours(app, client, tools)
                for size_mb in sizes:
                    rows += await bench_size(size_mb, reps, sandbox, ours, openssh, tmp)
        finally:
            await sandbox.aclose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    head = ["transfer", "ssh-mcp", "MB/s", "CPU-ms/MB", "baseline", "MB/s", "CPU-ms/MB", "ratio"]
    print_table([*head, "target", ""], rows)
    print(
        'ratio: ssh-mcp MB/s / baseline MB/s. "MCP": the tool through an in-process MCP '
        'client; "direct": the\nssh.transfer function the tool is built on, over the pool '
        "(the tool is not registered yet). ssh-mcp hashes\n(SHA-256), fsyncs and renames "
        "every transfer; OpenSSH and asyncssh's get/put do none of it. CPU-ms/MB: the\n"
        "client side only (this process, with the in-process MCP server, or the sftp/scp "
        "child); one asyncio\nloop moving every byte through Python is what bounds ssh-mcp "
        f"and asyncssh alike. Load at end {os.getloadavg()[0]:.2f}."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=3, help="timed rounds per method (3)")
    parser.add_argument("--sizes", default="20,200", help="file sizes in MB (20,200)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    return run_main(run(sizes, max(args.reps, 1)))


if __name__ == "__main__":
    raise SystemExit(main())
