"""Staging atomic remote writes: the temp file, the final rename, and dropped connections.

Private to :mod:`ssh_mcp.ssh.transfer`, which re-exports the public names. A
write is staged in ``<dir>/.<name>.ssh-mcp-<random>`` (:func:`temp_name`),
created private (0600), given its mode only once complete, then renamed over
the target (``posix-rename``) or hard-linked when it must not overwrite
(:func:`land`). :func:`staged` removes the temp file on any failure, except
when the connection itself is gone: then :class:`WriteInterrupted` names it
and :func:`after_drop` removes it over a new connection, or reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
import secrets
import stat as statmod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from ssh_mcp.errors import ConnectionDropped, RemoteError
from ssh_mcp.ssh.pooled import Dropped, PooledConnection, StaleConnection
from ssh_mcp.ssh.sftp import free_bytes, sftp_error

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

#: Write requests in flight per file.
MAX_REQUESTS = 64
DEFAULT_MODE = 0o644
log = logging.getLogger("ssh_mcp")


def block_size(sftp: asyncssh.SFTPClient) -> int:
    """The largest block the server accepts: larger ones make OpenSSH drop the session."""
    limit = int(getattr(sftp.limits, "max_write_len", 0) or 0)
    return min(limit, 256 * 1024) if limit > 0 else 32 * 1024


def temp_name(path: str) -> str:
    """The hidden sibling a write goes through: ``<dir>/.<name>.ssh-mcp-<random>``."""
    parent, name = posixpath.split(path)
    return posixpath.join(parent, f".{name}.ssh-mcp-{secrets.token_hex(6)}")


def plain_mode(permissions: int) -> int:
    """``permissions``' rwx bits, never setuid, setgid or sticky: what any file ssh-mcp
    writes gets, since it is a new inode owned by the login (DECISIONS.md 86)."""
    return statmod.S_IMODE(permissions) & 0o777


async def existing_mode(sftp: asyncssh.SFTPClient, path: str) -> int | None:
    """The mode a replacement of ``path`` keeps, or None when it does not exist.

    Followed through a symlink; its permission bits without setuid, setgid and
    sticky: the replacement is a new inode owned by the login, so under a root
    login a kept setuid would make a root program of new content. ``write(2)``
    into the old inode clears those bits too (DECISIONS.md 86).
    """
    try:
        attrs = await sftp.stat(path)
    except asyncssh.SFTPNoSuchFile:
        return None
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, "stat") from None
    if attrs.permissions is not None and statmod.S_ISDIR(attrs.permissions):
        raise RemoteError(f"{path} is a directory; give a file path")
    return plain_mode(attrs.permissions or DEFAULT_MODE)


async def remove_quietly(sftp: asyncssh.SFTPClient, path: str) -> bool:
    """Remove ``path``, shielded from cancellation; True when it is gone afterwards."""
    with anyio.CancelScope(shield=True):
        try:
            await asyncio.wait_for(sftp.remove(path), 5)
        except asyncssh.SFTPNoSuchFile:
            return True
        except Exception:
            return False
    return True


def dropped_errors() -> tuple[type[Exception], ...]:
    """What asyncssh raises when the connection dies under an SFTP request.

    OSError included: a broken socket surfaces as one (BrokenPipeError). Local
    file errors never get here: the transfer module turns them into RemoteError.
    """
    lost = (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection, asyncssh.ConnectionLost)
    return (*lost, asyncssh.DisconnectError, OSError)


async def send_blocks(
    f: asyncssh.SFTPClientFile,
    chunks: AsyncIterator[bytes],
    size: int,
    take: Callable[[bytes], Awaitable[None]],
) -> None:
    """Write ``chunks`` as ``size``-byte requests at their offsets, MAX_REQUESTS in flight.

    Our pipeline, not asyncssh's parallel writer: that one (2.24) collects only
    OSError and SFTPError from its tasks, so a dropped connection leaves the
    rest unawaited and asyncio logs each. Here every request is awaited, the
    first failure stops the sending and is raised as itself. Not an
    asyncio.TaskGroup: a failing child cancels its parent task from outside,
    and under anyio's cancel scopes that cancel resurfaced later, outside the
    call (a full disk made the MCP session end with CancelledError). ``take``
    sees each chunk before it is sent.
    """
    slots = asyncio.Semaphore(MAX_REQUESTS)
    failed: list[BaseException] = []
    tasks: set[asyncio.Task[None]] = set()

    async def put(block: memoryview, offset: int) -> None:
        try:
            await f.write(block, offset)  # type: ignore[type-var]  # framed as a buffer
        except BaseException as exc:  # kept for the sender, which raises the first one
            failed.append(exc)
        finally:
            slots.release()

    offset = 0
    try:
        async for chunk in chunks:
            await take(chunk)
            view = memoryview(chunk)  # blocks without a copy each: asyncssh frames buffers
            for i in range(0, len(chunk), size):
                await slots.acquire()
                if failed:
                    raise failed[0]
                task = asyncio.create_task(put(view[i : i + size], offset + i))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            offset += len(chunk)
        await asyncio.gather(*tasks)  # put() never raises: this waits for every reply
    finally:
        for task in tasks:
            task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.gather(*tasks, return_exceptions=True)
    if failed:
        raise failed[0]


class WriteInterrupted(ConnectionDropped):
    """The connection died during an atomic write; ``temp`` may be left on the host.

    Nothing can remove the temp file over a dead connection: pass this to
    :func:`after_drop`, which tries again over a fresh one and says what remains.
    """

    def __init__(self, target: str, temp: str, landing: bool) -> None:
        self.target, self.temp = target, temp
        self.what = (
            f"the connection dropped during the final rename of {target}: it is the old or the "
            "new file, never a mix"
            if landing
            else f"the connection dropped while writing {target}; it is unchanged"
        )
        super().__init__(f"{self.what}; the temp file {temp} may be left behind")


#: ``Pool.run`` bound to a host: runs an operation on a (fresh) pooled connection.
Runner = Callable[[Callable[[PooledConnection], Awaitable[bool]]], Awaitable[bool]]


async def after_drop(run: Runner, exc: WriteInterrupted) -> ConnectionDropped:
    """Remove the temp file ``exc`` names over a new connection; the error to report."""

    async def remove(pc: PooledConnection) -> bool:
        return await remove_quietly(await pc.sftp(), exc.temp)

    try:
        removed = await run(remove)
    except Exception:  # the host is still unreachable: the message names the file
        removed = False
    if removed:
        return ConnectionDropped(f"{exc.what}; no temp file remains. Retry the call")
    return ConnectionDropped(
        f"{exc.what}; the temp file {exc.temp} is left behind: delete it (ssh_delete) once the "
        "host answers again, then retry the call"
    )


@dataclass(frozen=True)
class Stamp:
    """Size and mtime of a file, to notice it changing under a read-modify-write."""

    size: int | None
    mtime: int | None


async def stamp(sftp: asyncssh.SFTPClient, path: str) -> Stamp:
    try:
        attrs = await sftp.stat(path)
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, "stat") from None
    return Stamp(attrs.size, attrs.mtime)


def private_attrs() -> asyncssh.SFTPAttrs:
    """Temp files start private: the final mode is set only once the content is complete."""
    return asyncssh.SFTPAttrs(permissions=0o600)


class Stage:
    """The temp file of one atomic write, and whether the final rename was sent."""

    def __init__(self, path: str) -> None:
        self.path, self.tmp, self.landing = path, temp_name(path), False


@contextlib.asynccontextmanager
async def staged(sftp: asyncssh.SFTPClient, path: str, *, overwrite: bool) -> AsyncIterator[Stage]:
    """A temp name for ``path``, removed on any failure; errors translated.

    A drop of the source stream's connection (:class:`Dropped`, or a
    :class:`StaleConnection` from below a Remote) is re-raised as itself once
    the temp file is gone, so the run holding that connection decides.
    """
    stage = Stage(path)
    try:
        yield stage
    except dropped_errors():
        raise WriteInterrupted(path, stage.tmp, stage.landing) from None
    except (Dropped, StaleConnection):
        # A source stream's connection dropped (a copy from another host). Once the temp
        # file is gone it passes unchanged: the run holding the source replays the copy.
        # When this connection is gone too (the same host), WriteInterrupted names it.
        if not await remove_quietly(sftp, stage.tmp):
            raise WriteInterrupted(path, stage.tmp, stage.landing) from None
        raise
    except asyncssh.SFTPFailure as exc:
        # SFTP v3 has no "disk full" status: sftp-server sends ENOSPC and EDQUOT as the
        # generic Failure. So ask the filesystem, while the partial temp file still fills it.
        full = not stage.landing and await disk_full(sftp, stage.tmp)
        await remove_quietly(sftp, stage.tmp)
        if stage.landing and not overwrite and await existing_mode(sftp, path) is not None:
            raise RemoteError(f"{path} appeared while writing; nothing replaced") from None
        if full:
            raise disk_full_error(path, await free_bytes(sftp, posixpath.dirname(path))) from None
        raise sftp_error(exc, "write") from None
    except asyncssh.SFTPError as exc:
        await remove_quietly(sftp, stage.tmp)
        raise sftp_error(exc, "write") from None
    except BaseException:
        await remove_quietly(sftp, stage.tmp)
        raise


async def disk_full(sftp: asyncssh.SFTPClient, tmp: str) -> bool:
    """Whether the filesystem holding ``tmp`` has less room left than one write request."""
    free = await free_bytes(sftp, posixpath.dirname(tmp))
    return free is not None and free < block_size(sftp)


def disk_full_error(path: str, free: int | None) -> RemoteError:
    now = "unknown" if free is None else f"{free}"
    return RemoteError(
        f"write failed: the disk holding {posixpath.dirname(path) or '/'} is full ({now} "
        f"bytes free now, the partial temp file removed); {path} is unchanged: free space "
        "or write less, then retry"
    )


async def land(
    sftp: asyncssh.SFTPClient, stage: Stage, *, mode: int, overwrite: bool, expect: Stamp | None
) -> None:
    """Give the temp file its mode, then move it into place (rename, or link when new)."""
    await sftp.chmod(stage.tmp, mode)
    if expect is not None and await stamp(sftp, stage.path) != expect:
        raise RemoteError(
            f"{stage.path} changed while this call ran; nothing written: re-read it and retry"
        )
    stage.landing = True
    if overwrite:
        await sftp.posix_rename(stage.tmp, stage.path)
    else:
        await sftp.link(stage.tmp, stage.path)  # fails if the target appeared meanwhile
        if not await remove_quietly(sftp, stage.tmp):
            log.warning("could not remove %s after linking it into place", stage.tmp)
