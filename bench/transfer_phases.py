"""Where a transfer's time goes: moving the bytes alone, asyncssh's own copy, ours, and what
ours adds on top.

    uv run python bench/transfer_phases.py [--mb 20] [--reps 11]

Over one pooled connection to the throwaway OpenSSH sshd (the same settings as
``transfer.py``), interleaved, medians. Downloads:

* ``read only``: ``read_blocks`` (ours; the same window ``download_atomic`` uses), bytes
  dropped: what the loop, asyncssh and sshd cost with nothing written;
* ``asyncssh get``: asyncssh's own copy, which writes each block on the loop;
* ``download_atomic``: ours, SHA-256 and the local writes in a worker thread, fsync and
  rename (the tool's path, without MCP).

Uploads:

* ``send only``: ``send_blocks`` (ours; the same pipeline ``write_atomic`` uses) from the
  local file, no hash, no remote fsync, no rename;
* ``asyncssh put``: asyncssh's own copy;
* ``write_atomic``: ours, with the hash, the remote fsync and the rename.

And, apart, on this machine: SHA-256 CPU per MB (hashlib), writing plus fsyncing a local
file of the same size, and the remote fsync of a file just sent (sftp-server's
``fsync@openssh.com``). With two cores, the client's loop and sshd each keep one busy, so
whatever ours adds to the bytes (hash, write, fsync) is wall time: this splits the gap to
``get`` and ``put`` into those parts (issue 14, DECISIONS.md 77).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncssh
from _common import ALIAS, print_table, run_main, write_config
from transfer import MB, make_file

from ssh_mcp.core.app import build_app
from ssh_mcp.demo.sandbox import start_sandbox
from ssh_mcp.ssh._fastpath import read_blocks
from ssh_mcp.ssh._staging import send_blocks
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.transfer import MAX_REQUESTS, block_size, download_atomic, write_atomic

CHUNK = 4 * 1024 * 1024
DOWNLOADS = ("read only", "asyncssh get", "download_atomic")


async def _nothing(chunk: bytes) -> None:
    return None


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
                local = tmp / "local.bin"
                make_file(local, size)
                landed = str(Path(sandbox.remote_data_dir) / "landed.bin")

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

                async def local_chunks() -> AsyncIterator[bytes]:
                    with local.open("rb") as src:
                        while chunk := src.read(CHUNK):
                            yield chunk

                async def send_only(sftp: asyncssh.SFTPClient) -> None:
                    async with sftp.open(landed, "wb", block_size=0) as f:
                        await send_blocks(f, local_chunks(), block_size(sftp), _nothing)

                async def put(sftp: asyncssh.SFTPClient) -> None:
                    bs = block_size(sftp)
                    await sftp.put(str(local), landed, block_size=bs, max_requests=MAX_REQUESTS)

                async def ours_up(sftp: asyncssh.SFTPClient) -> None:
                    await write_atomic(
                        sftp, landed, str(local), mode=None, overwrite=True, max_bytes=2 * size
                    )

                fsyncs: list[float] = []

                async def remote_fsync(sftp: asyncssh.SFTPClient) -> None:
                    await send_only(sftp)
                    async with sftp.open(landed, "r+b", block_size=0) as f:
                        started = time.perf_counter()
                        await f.fsync()
                        fsyncs.append(time.perf_counter() - started)

                cases = {
                    "read only": over_pool(read_only),
                    "asyncssh get": over_pool(get),
                    "download_atomic": over_pool(ours),
                    "send only": over_pool(send_only),
                    "asyncssh put": over_pool(put),
                    "write_atomic": over_pool(ours_up),
                }
                times: dict[str, list[float]] = {name: [] for name in cases}
                for case in cases.values():
                    await case()  # warm: connection, SFTP session, page cache
                for _ in range(reps):
                    for name, case in cases.items():
                        started = time.perf_counter()
                        await case()
                        times[name].append(time.perf_counter() - started)
                hashing, writing = local_costs(size, tmp)
                for _ in range(3):
                    await over_pool(remote_fsync)()
            finally:
                await app.aclose()
        finally:
            await sandbox.aclose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    rows = []
    for name, s in med.items():
        base = med["asyncssh get" if name in DOWNLOADS else "asyncssh put"]
        rows.append([name, f"{s * 1000:.1f} ms", f"{size / MB / s:.0f} MB/s", f"{base / s:.2f}x"])
    print(f"{size_mb} MB, {reps} interleaved rounds, medians; load {os.getloadavg()[0]:.2f}\n")
    print_table(["case", "time", "rate", "vs get / put"], rows)
    down = med["download_atomic"] - med["asyncssh get"]
    up = med["write_atomic"] - med["asyncssh put"]
    remote_sync = statistics.median(fsyncs)
    print(
        f"\ndownload_atomic - get: {down * 1000:.1f} ms; write_atomic - put: {up * 1000:.1f} ms."
        f"\nApart, on this machine: SHA-256 of {size_mb} MB {hashing * 1000:.1f} CPU-ms; "
        f"writing and fsyncing {size_mb} MB locally {writing * 1000:.1f} ms; the remote "
        f"fsync of {size_mb} MB just sent {remote_sync * 1000:.1f} ms."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--mb", type=int, default=20, help="file size in MB (20)")
    parser.add_argument("--reps", type=int, default=11, help="interleaved rounds (11)")
    args = parser.parse_args()
    return run_main(run(args.mb, args.reps))


if __name__ == "__main__":
    raise SystemExit(main())
