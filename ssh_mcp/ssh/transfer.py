"""Moving file content over SFTP: atomic remote writes, atomic local downloads, streams.

Every write lands through a temp file next to its target
(``<dir>/.<name>.ssh-mcp-<random>``): written, fsynced where the server
allows it, given its mode, then renamed over the target with
``posix-rename@openssh.com`` (one ``rename(2)``), or hard-linked into place
when it must not overwrite. A failure or a cancel removes the temp file, so
the target is either the old file or the new one, never half of either.

Large reads and writes go through asyncssh's parallel SFTP requests (block
size clamped to the server's ``max_write_len``). ``progress`` callbacks are
plain functions called with ``(done, total)``; throttling is the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import posixpath
import secrets
import stat as statmod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import anyio

from ssh_mcp.errors import CapExceeded, RemoteError
from ssh_mcp.ssh.sftp import sftp_error

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

Progress = Callable[[int, int | None], None]
#: Bytes per read/write call; asyncssh splits each into parallel requests.
CHUNK = 4 * 1024 * 1024
MAX_REQUESTS = 64
DEFAULT_MODE = 0o644


@dataclass(frozen=True)
class Written:
    """What a write or download produced."""

    path: str
    size: int
    mode: int
    sha256: str


def temp_name(path: str) -> str:
    """The hidden sibling a write goes through: ``<dir>/.<name>.ssh-mcp-<random>``."""
    parent, name = posixpath.split(path)
    return posixpath.join(parent, f".{name}.ssh-mcp-{secrets.token_hex(6)}")


def block_size(sftp: asyncssh.SFTPClient) -> int:
    """The largest block the server accepts: larger ones make OpenSSH drop the session."""
    limit = int(getattr(sftp.limits, "max_write_len", 0) or 0)
    return min(limit, 256 * 1024) if limit > 0 else 32 * 1024


async def existing_mode(sftp: asyncssh.SFTPClient, path: str) -> int | None:
    """Permission bits of ``path``, or None when it does not exist."""
    try:
        attrs = await sftp.stat(path)
    except asyncssh.SFTPNoSuchFile:
        return None
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, "stat") from None
    if attrs.permissions is not None and statmod.S_ISDIR(attrs.permissions):
        raise RemoteError(f"{path} is a directory; give a file path")
    return statmod.S_IMODE(attrs.permissions or DEFAULT_MODE)


async def _remove_quietly(sftp: asyncssh.SFTPClient, path: str) -> None:
    with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
        await asyncio.wait_for(sftp.remove(path), 5)


async def _chunks_of(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


async def _local_chunks(path: str) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:  # noqa: ASYNC230 - one bounded read per chunk, in a thread
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk


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
) -> Written:
    """Write ``source`` (bytes, a local file path, or chunks) to ``path`` atomically.

    ``mode=None`` keeps the mode of the file being replaced (0644 for a new
    one). Without ``overwrite`` an existing target is an error, checked again
    at the final hard link so a file created meanwhile is not clobbered.
    """
    old_mode = await existing_mode(sftp, path)
    if old_mode is not None and not overwrite:
        raise RemoteError(f"{path} exists; pass overwrite=true to replace it")
    final_mode = mode if mode is not None else (old_mode or DEFAULT_MODE)
    if isinstance(source, bytes):
        total, chunks = len(source), _chunks_of(source)
    elif isinstance(source, str):
        total, chunks = os.path.getsize(source), _local_chunks(source)
    else:
        chunks = source
    if total is not None and total > max_bytes:
        raise CapExceeded(f"{total} bytes exceed SSH_TRANSFER_MAX_BYTES ({max_bytes})")
    tmp = temp_name(path)
    digest, done = hashlib.sha256(), 0
    try:
        attrs = asyncssh.SFTPAttrs(permissions=0o600)
        async with sftp.open(
            tmp, "xb", attrs, block_size=block_size(sftp), max_requests=MAX_REQUESTS
        ) as f:
            async for chunk in chunks:
                done += len(chunk)
                if done > max_bytes:
                    raise CapExceeded(
                        f"the source passed SSH_TRANSFER_MAX_BYTES ({max_bytes}); nothing written"
                    )
                digest.update(chunk)
                await f.write(chunk)
                if progress is not None:
                    progress(done, total)
            with contextlib.suppress(asyncssh.SFTPOpUnsupported):
                await f.fsync()
        await sftp.chmod(tmp, final_mode)
        if overwrite:
            await sftp.posix_rename(tmp, path)
        else:
            await sftp.link(tmp, path)  # fails if the target appeared meanwhile
            await _remove_quietly(sftp, tmp)
    except asyncssh.SFTPFailure as exc:
        await _remove_quietly(sftp, tmp)
        if not overwrite and await existing_mode(sftp, path) is not None:
            raise RemoteError(f"{path} appeared while writing; nothing replaced") from None
        raise sftp_error(exc, "write") from None
    except asyncssh.SFTPError as exc:
        await _remove_quietly(sftp, tmp)
        raise sftp_error(exc, "write") from None
    except BaseException:
        await _remove_quietly(sftp, tmp)
        raise
    return Written(path, done, final_mode, digest.hexdigest())


async def read_chunks(
    sftp: asyncssh.SFTPClient, path: str, *, max_bytes: int, progress: Progress | None = None
) -> AsyncIterator[bytes]:
    """Yield ``path``'s content in large chunks, refusing files over ``max_bytes``."""
    try:
        attrs = await sftp.stat(path)
        size = attrs.size or 0
        if attrs.permissions is not None and not statmod.S_ISREG(attrs.permissions):
            raise RemoteError(f"{path} is not a regular file")
        if size > max_bytes:
            raise CapExceeded(f"{path} is {size} bytes, over the limit of {max_bytes}")
        async with sftp.open(
            path, "rb", block_size=block_size(sftp), max_requests=MAX_REQUESTS
        ) as f:
            done = 0
            while chunk := cast(bytes, await f.read(CHUNK)):
                done += len(chunk)
                if done > max_bytes:
                    raise CapExceeded(f"{path} grew past the limit of {max_bytes} bytes")
                if progress is not None:
                    progress(done, size)
                yield chunk
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, "read") from None


async def read_all(sftp: asyncssh.SFTPClient, path: str, *, max_bytes: int) -> bytes:
    """The whole file, refused when larger than ``max_bytes``."""
    return b"".join([c async for c in read_chunks(sftp, path, max_bytes=max_bytes)])


async def download_atomic(
    sftp: asyncssh.SFTPClient,
    path: str,
    local_path: str,
    *,
    overwrite: bool,
    max_bytes: int,
    progress: Progress | None = None,
) -> Written:
    """Stream ``path`` to ``local_path`` through a local temp file and a rename."""
    target = Path(local_path)
    if target.exists() and not overwrite:
        raise RemoteError(f"local file {local_path} exists; pass overwrite=true to replace it")
    tmp = target.with_name(f".{target.name}.ssh-mcp-{secrets.token_hex(6)}")
    digest, done = hashlib.sha256(), 0
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            async for chunk in read_chunks(sftp, path, max_bytes=max_bytes, progress=progress):
                digest.update(chunk)
                done += len(chunk)
                await asyncio.to_thread(out.write, chunk)
            out.flush()
            os.fsync(out.fileno())
        mode = 0o600  # downloads may hold secrets: private to the operator
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if the target appeared meanwhile
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Written(str(target), done, mode, digest.hexdigest())
