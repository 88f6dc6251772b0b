"""Moving file content over SFTP: atomic remote writes, atomic local downloads, streams.

Every write lands through a temp file next to its target
(``<dir>/.<name>.ssh-mcp-<random>``): written, fsynced where the server
allows it, given its mode, then renamed over the target with
``posix-rename@openssh.com`` (one ``rename(2)``), or hard-linked into place
when it must not overwrite. A failure or a cancel removes the temp file, so
the target is either the old file or the new one, never half of either. A
dropped connection cannot remove anything: it raises :class:`WriteInterrupted`
naming the temp file, and :func:`after_drop` removes it over a new connection
(or, when the host stays unreachable, returns an error that names it).

Reads keep MAX_REQUESTS single-block requests in flight
(:func:`~ssh_mcp.ssh._fastpath.read_blocks`), writes go through our own
pipeline (:func:`send_blocks`); blocks are clamped to the server's
``max_write_len``. Hashing and local file I/O run in a worker thread, beside
the event loop, which asyncssh's framing and crypto keep busy. ``progress``
callbacks are plain functions called with ``(done, total)``; throttling is
the caller's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import os
import secrets
import stat as statmod
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ssh_mcp.errors import CapExceeded, RemoteError
from ssh_mcp.ssh._fastpath import LocalSink, Offload, read_blocks, retrieve
from ssh_mcp.ssh._staging import (
    DEFAULT_MODE,
    MAX_REQUESTS,
    Runner,
    Stamp,
    WriteInterrupted,
    after_drop,
    block_size,
    disk_full,
    disk_full_error,
    dropped_errors,
    existing_mode,
    land,
    plain_mode,
    private_attrs,
    send_blocks,
    staged,
    stamp,
    temp_name,
)
from ssh_mcp.ssh.pooled import StaleConnection
from ssh_mcp.ssh.sftp import sftp_error

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

__all__ = [
    "CHUNK",
    "DEFAULT_MODE",
    "MAX_REQUESTS",
    "Progress",
    "Runner",
    "Stamp",
    "WriteInterrupted",
    "Written",
    "after_drop",
    "block_size",
    "disk_full",
    "disk_full_error",
    "download_atomic",
    "existing_mode",
    "read_all",
    "read_chunks",
    "regular_file",
    "stamp",
    "temp_name",
    "write_atomic",
]

Progress = Callable[[int, int | None], None]
#: Bytes per read call and per source chunk; each is sent as parallel block requests.
CHUNK = 4 * 1024 * 1024
#: Bytes of a download handed to the worker thread at once (hashed, then written).
WRITE_BATCH = 4 * 1024 * 1024
#: Chunks of a local file read (and hashed) ahead of the sends.
AHEAD = 2


@dataclass(frozen=True)
class Written:
    """What a write or download produced."""

    path: str
    size: int
    mode: int
    sha256: str


async def regular_file(sftp: asyncssh.SFTPClient, path: str, max_bytes: int) -> tuple[int, int]:
    """Size and permission bits of the regular file ``path``, refused over ``max_bytes``.

    Checked before any temp file exists, so a directory or an oversized source
    fails without leaving anything behind.
    """
    try:
        attrs = await sftp.stat(path)
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, "stat") from None
    if attrs.permissions is not None and not statmod.S_ISREG(attrs.permissions):
        raise RemoteError(f"{path} is not a regular file")
    size = attrs.size or 0
    if size > max_bytes:
        raise CapExceeded(
            f"{path} is {size} bytes, over SSH_TRANSFER_MAX_BYTES ({max_bytes}); nothing written"
        )
    return size, plain_mode(attrs.permissions or DEFAULT_MODE)


async def _chunks_of(data: bytes) -> AsyncGenerator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


async def _local_chunks(path: str, digest: hashlib._Hash) -> AsyncGenerator[bytes]:
    """The local file in CHUNK pieces, each read and hashed in a thread of its own, AHEAD
    chunks ahead of the sends: one hop to the worker per chunk, since each return to the
    busy loop's GIL waits up to a switch interval, and a worker held up a moment does
    not stall the sending."""
    loop = asyncio.get_running_loop()

    def read_hashed(f: BinaryIO) -> bytes:
        chunk = f.read(CHUNK)
        digest.update(chunk)
        return chunk

    pool = ThreadPoolExecutor(1, thread_name_prefix="ssh-mcp-read")  # in order, one file
    ahead: collections.deque[asyncio.Future[bytes]] = collections.deque()
    try:
        with open(path, "rb") as f:  # noqa: ASYNC230 - every read is in a thread
            ahead.extend(loop.run_in_executor(pool, read_hashed, f) for _ in range(AHEAD))
            try:
                while chunk := await ahead.popleft():
                    ahead.append(loop.run_in_executor(pool, read_hashed, f))
                    yield chunk
            finally:  # closing waits for a read still running (the file's lock); not awaited
                for read in ahead:
                    read.add_done_callback(retrieve)
    except OSError as exc:
        raise RemoteError(f"reading local file {path} failed: {exc.strerror}") from None
    finally:
        pool.shutdown(wait=False)


async def write_atomic(
    sftp: asyncssh.SFTPClient,
    path: str,
    source: bytes | str | AsyncIterator[bytes],
    *,
    mode: int | None,
    overwrite: bool,
    max_bytes: int,
    total: int | None = None,
    progress: Progress | None = None,
    expect: Stamp | None = None,
) -> Written:
    """Write ``source`` (bytes, a local file path, or chunks) to ``path`` atomically.

    ``mode=None`` keeps the permission bits of the file being replaced, less
    setuid, setgid and sticky (:func:`existing_mode`; 0644 for a new one).
    Without ``overwrite`` an existing target is an error, checked again at the
    final hard link so a file created meanwhile is not clobbered. With
    ``expect``, the write is refused when the target's size or mtime changed
    since (a read-modify-write lost to another writer). A dropped connection
    raises :class:`WriteInterrupted`, never the retryable StaleConnection:
    a retry would replay a half-consumed source.
    """
    old_mode = await existing_mode(sftp, path)
    if old_mode is not None and not overwrite:
        raise RemoteError(f"{path} exists; pass overwrite=true to replace it")
    final_mode = mode if mode is not None else (DEFAULT_MODE if old_mode is None else old_mode)
    owned: AsyncGenerator[bytes] | None = None  # ours to close, also on failure
    chunks: AsyncIterator[bytes]
    digest, done = hashlib.sha256(), 0
    hashed = isinstance(source, str)  # a local file is hashed as it is read
    if isinstance(source, bytes):
        total, chunks = len(source), (owned := _chunks_of(source))
    elif isinstance(source, str):
        total, chunks = os.path.getsize(source), (owned := _local_chunks(source, digest))
    else:
        chunks = source
    if total is not None and total > max_bytes:
        raise CapExceeded(f"{total} bytes exceed SSH_TRANSFER_MAX_BYTES ({max_bytes})")
    hashing = Offload()  # in order, beside the loop, which frames and encrypts the sends

    async def take(chunk: bytes) -> None:
        nonlocal done
        done += len(chunk)
        if done > max_bytes:
            raise CapExceeded(
                f"the source passed SSH_TRANSFER_MAX_BYTES ({max_bytes}); nothing written"
            )
        if not hashed:
            await hashing.submit(digest.update, chunk)
        if progress is not None:
            progress(done, total)

    async with (
        contextlib.AsyncExitStack() as stack,
        staged(sftp, path, overwrite=overwrite) as stage,
    ):
        if owned is not None:
            await stack.enter_async_context(contextlib.aclosing(owned))
        async with sftp.open(stage.tmp, "xb", private_attrs(), block_size=0) as f:
            try:
                await send_blocks(f, chunks, block_size(sftp), take)
                await hashing.drain()
            finally:
                hashing.abandon()
            with contextlib.suppress(asyncssh.SFTPOpUnsupported):
                await f.fsync()
        await land(sftp, stage, mode=final_mode, overwrite=overwrite, expect=expect)
    return Written(path, done, final_mode, digest.hexdigest())


async def _blocks(
    sftp: asyncssh.SFTPClient, path: str, max_bytes: int, progress: Progress | None
) -> AsyncGenerator[bytes]:
    """``path``'s content in order, block by block, refused past ``max_bytes``.

    Remote errors only: whatever the caller does with a block (local writes
    included) happens outside, so a local OSError is never taken for a drop.
    """
    try:
        size, _ = await regular_file(sftp, path, max_bytes)
        # block_size=0: each read is one request; read_blocks keeps the window full.
        async with sftp.open(path, "rb", block_size=0) as f:
            blocks = read_blocks(f, block_size(sftp), MAX_REQUESTS, max_bytes + 1, size)
            async with contextlib.aclosing(blocks):
                done = 0
                async for block in blocks:
                    done += len(block)
                    if done > max_bytes:
                        raise CapExceeded(f"{path} grew past the limit of {max_bytes} bytes")
                    if progress is not None:
                        progress(done, size)
                    yield block
    except dropped_errors() as exc:
        raise StaleConnection(f"read: {type(exc).__name__}: {exc}") from None
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, "read") from None


async def read_chunks(
    sftp: asyncssh.SFTPClient, path: str, *, max_bytes: int, progress: Progress | None = None
) -> AsyncGenerator[bytes]:
    """Yield ``path``'s content in chunks of about CHUNK bytes, refused over ``max_bytes``."""
    async with contextlib.aclosing(_blocks(sftp, path, max_bytes, progress)) as blocks:
        held: list[bytes] = []
        size = 0
        async for block in blocks:
            held.append(block)
            size += len(block)
            if size >= CHUNK:
                yield b"".join(held)
                held, size = [], 0
        if held:
            yield b"".join(held)


async def read_all(
    sftp: asyncssh.SFTPClient, path: str, *, max_bytes: int, progress: Progress | None = None
) -> bytes:
    """The whole file, refused when larger than ``max_bytes``."""
    chunks = read_chunks(sftp, path, max_bytes=max_bytes, progress=progress)
    # Closed here, not by the garbage collector: a late close raises into the event loop.
    async with contextlib.aclosing(chunks):
        return b"".join([c async for c in chunks])


async def download_atomic(
    sftp: asyncssh.SFTPClient,
    path: str,
    local_path: str,
    *,
    overwrite: bool,
    max_bytes: int,
    progress: Progress | None = None,
) -> Written:
    """Stream ``path`` to ``local_path`` through a local temp file and a rename.

    A local failure (disk full, no permission) is a RemoteError that says nothing was
    written; only remote failures leave as drops, so a replay never follows a local one.
    """
    target = Path(local_path)
    if target.exists() and not overwrite:
        raise RemoteError(f"local file {local_path} exists; pass overwrite=true to replace it")
    tmp = target.with_name(f".{target.name}.ssh-mcp-{secrets.token_hex(6)}")
    # hashlib and file writes release the GIL: they run in a thread beside the loop,
    # which stays free to receive (asyncssh's crypto and framing need all of its core).
    work = Offload()
    sink: LocalSink | None = None
    try:
        sink = LocalSink(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        held: list[bytes] = []
        size = 0
        async with contextlib.aclosing(_blocks(sftp, path, max_bytes, progress)) as blocks:
            async for block in blocks:
                held.append(block)
                size += len(block)
                if size >= WRITE_BATCH:
                    await work.submit(sink.put, held)
                    held, size = [], 0
        await work.submit(sink.put, held)
        await work.drain()
        # Once, at the end (earlier batches are already on their way to disk): the
        # rename must never expose a torn file.
        await asyncio.to_thread(sink.sync)
        sink.close()
        mode = 0o600  # downloads may hold secrets: private to the operator
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if the target appeared meanwhile
            os.unlink(tmp)
    except BaseException as exc:
        work.abandon()
        if sink is not None:
            sink.close()  # waits for a write in progress; later ones fail unseen
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        # _blocks turned every remote failure into ours: an OSError left is the local disk's,
        # which must not pass for a dropped connection.
        if isinstance(exc, OSError):
            raise RemoteError(
                f"writing local_path {local_path} failed: {exc.strerror or exc}; nothing written"
            ) from None
        raise
    return Written(str(target), sink.size, mode, sink.digest.hexdigest())
