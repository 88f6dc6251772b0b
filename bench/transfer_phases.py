"""Where a download's time goes: reading alone, asyncssh's get, ssh-mcp's, and what ours adds.

    uv run python bench/transfer_phases.py [--mb 20] [--reps 11]

Over one pooled connection to the throwaway OpenSSH sshd (the same settings as
``transfer.py``), interleaved, medians:

* ``read only``: ``read_blocks`` (ours; the same window ``download_atomic`` uses), bytes
  dropped: what the loop, asyncssh and sshd cost with nothing written;
* ``asyncssh get``: asyncssh's own copy, which writes each block on the loop;
* ``download_atomic``: ours, SHA-256 and the local writes in a worker thread, fsync and
  rename (the tool's path, without MCP);

and, apart, on this machine: SHA-256 CPU per MB (hashlib), and writing plus fsyncing a
file of the same size. With two cores, the client's loop and sshd each keep one busy, so
whatever ours adds to the bytes (hash, write, fsync) is wall time: this splits the gap
between ``download_atomic`` and ``get`` into those parts (issue 14, DECISIONS.md 77).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncssh
from _common import ALIAS, print_table, run_main, write_config
from transfer import MB, make_file

from ssh_mcp.core.app import build_app
from ssh_mcp.demo.sandbox import start_sandbox
from ssh_mcp.ssh._fastpath import read_blocks
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.transfer import MAX_REQUESTS, block_size, download_atomic


def local_costs(size: int, tmp: Path) -> tuple[float, float]:
    """Seconds to SHA-256 ``size`` bytes, and to write and fsync them, in this process."""
    data = os.urandom(4 * 1024 * 1024)
    chunks = max(1, size // len(data))
    started = time.process_time()
    h = hashlib.sha256()
    for _ in range(chunks):
        h.update(data)
    hashing = time.process_time() - started
    path = tmp / "fsync.bin"
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(chunks):
            os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
        path.unlink()
    return hashing, time.perf_counter() - started


async def run(size_mb: int, reps: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ssh-mcp-bench-phases-")).resolve()
    try:
        (tmp / "host").mkdir()
        sandbox = await start_sandbox(tmp / "host", backend="openssh")
        try:
            settings, _ = write_config(tmp, sandbox)
            app = build_app(settings)
            try:
                spec = app.connect_spec(app.inventory.hosts[ALIAS])
                size = size_mb * MB
                remote = Path(sandbox.remote_data_dir) / "phases.bin"
                make_file(remote, size)
                out = tmp / "out.bin"

                def over_pool(
                    fn: Callable[[asyncssh.SFTPClient], Awaitable[None]],
                ) -> Callable[[], Awaitable[None]]:
                    async def call() -> None:
                        async def op(pc: PooledConnection) -> None:
                            await fn(await pc.sftp())

                        await app.pool.run(spec, op, replay=False)

                    return call

                async def read_only(sftp: asyncssh.SFTPClient) -> None:
                    async with sftp.open(str(remote), "rb", block_size=0) as f:
                        blocks = read_blocks(f, block_size(sftp), MAX_REQUESTS, 2 * size, size)
                        async for _ in blocks:
                            pass

                async def get(sftp: asyncssh.SFTPClient) -> None:
                    bs = block_size(sftp)
                    await sftp.get(str(remote), str(out), block_size=bs, max_requests=MAX_REQUESTS)

                async def ours(sftp: asyncssh.SFTPClient) -> None:
                    await download_atomic(
                        sftp, str(remote), str(out), overwrite=True, max_bytes=2 * size
                    )

                cases = {"read only": over_pool(read_only), "asyncssh get": over_pool(get),
                         "download_atomic": over_pool(ours)}  # fmt: skip
                times: dict[str, list[float]] = {name: [] for name in cases}
                for case in cases.values():
                    await case()  # warm: connection, SFTP session, page cache
                for _ in range(reps):
                    for name, case in cases.items():
                        started = time.perf_counter()
                        await case()
                        times[name].append(time.perf_counter() - started)
                hashing, writing = local_costs(size, tmp)
            finally:
                await app.aclose()
        finally:
            await sandbox.aclose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    get_s = med["asyncssh get"]
    rows = [[name, f"{s * 1000:.1f} ms", f"{size / MB / s:.0f} MB/s", f"{get_s / s:.2f}x"]
            for name, s in med.items()]  # fmt: skip
    print(f"{size_mb} MB, {reps} interleaved rounds, medians; load {os.getloadavg()[0]:.2f}\n")
    print_table(["case", "time", "rate", "vs get"], rows)
    gap = med["download_atomic"] - get_s
    print(f"\ndownload_atomic - get: {gap * 1000:.1f} ms. Apart, on this machine: SHA-256 of "
          f"{size_mb} MB {hashing * 1000:.1f} CPU-ms; writing and fsyncing {size_mb} MB "
          f"{writing * 1000:.1f} ms.")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--mb", type=int, default=20, help="file size in MB (20)")
    parser.add_argument("--reps", type=int, default=11, help="interleaved rounds (11)")
    args = parser.parse_args()
    return run_main(run(args.mb, args.reps))


if __name__ == "__main__":
    raise SystemExit(main())
