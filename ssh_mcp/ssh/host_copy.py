"""Copying one file within a host, as ``cp`` does, landing atomically.

The copy is built in a hidden temp sibling of the destination
(:func:`~ssh_mcp.ssh._staging.temp_name`), created private: by the host itself
when it offers the ``copy-data`` extension (OpenSSH 9.0+), else streamed
through this server. It is fsynced where the server allows it, given its
mode, then renamed over the destination, or, when it must not replace
anything, hard-linked into place, so a file created meanwhile is never
clobbered. Like ``cp``, a replaced regular file keeps its own permission
bits (a replaced symlink, its target's); a new file gets the source's. Never
setuid, setgid or sticky: the copy is a new inode owned by the login, so under
a root login a kept bit would make a root program of content the caller chose
(``cp``, writing into the old inode, has the kernel clear them). It is the one
copy within a host: ``ssh_cp`` and the backup of ``ssh_deploy`` both make
theirs here.

A failure removes the temp file; when that fails too, the error names it. A
dropped connection cannot remove anything: it raises :class:`WriteInterrupted`
naming the temp file, which ``CallContext.remote`` removes over a fresh
connection. SFTP v3 has no "disk full" status, so a generic failure makes us
ask the filesystem, while the partial temp file still fills it.
"""

from __future__ import annotations

import contextlib
import posixpath
import stat as statmod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ssh_mcp.errors import RemoteError, SSHMCPError
from ssh_mcp.ssh._staging import (
    DEFAULT_MODE,
    MAX_REQUESTS,
    WriteInterrupted,
    block_size,
    disk_full,
    disk_full_error,
    dropped_errors,
    plain_mode,
    private_attrs,
    remove_quietly,
    temp_name,
)
from ssh_mcp.ssh.pooled import Dropped, StaleConnection
from ssh_mcp.ssh.sftp import free_bytes, sftp_error
from ssh_mcp.ssh.transfer import Progress, read_chunks

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

#: The action SFTP errors of a copy are reported under ("copy failed: ...").
ACTION = "copy"


@dataclass(frozen=True)
class FileCopied:
    """What :func:`copy_file` made."""

    mode: int  #: the permission bits the copy got
    server_side: bool  #: the host copied the data itself (``copy-data``)


async def _lstat(sftp: asyncssh.SFTPClient, path: str) -> asyncssh.SFTPAttrs | None:
    try:
        return await sftp.lstat(path)
    except asyncssh.SFTPNoSuchFile:
        return None


async def _stat(sftp: asyncssh.SFTPClient, path: str) -> asyncssh.SFTPAttrs | None:
    """``path`` followed; None when it leads nowhere (dangling, a loop, unreadable)."""
    try:
        return await sftp.stat(path)
    except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPPermissionDenied, asyncssh.SFTPFailure):
        return None  # a drop still raises: the caller's context reports it


async def _kept_mode(sftp: asyncssh.SFTPClient, dst: str, old: asyncssh.SFTPAttrs) -> int | None:
    """The permission bits a copy replacing ``old`` (``dst``, not followed) keeps, without
    setuid, setgid and sticky; None when ``dst`` is no regular file, nor a link to one."""
    attrs: asyncssh.SFTPAttrs | None = old
    if statmod.S_ISLNK(old.permissions or 0):
        attrs = await _stat(sftp, dst)  # a link's own mode is 0777, not the file's
    if attrs is None or not statmod.S_ISREG(attrs.permissions or 0):
        return None
    return plain_mode(attrs.permissions or 0)


def _leftover(exc: Exception, tmp: str) -> Exception:
    """``exc``, saying that the temp file ``tmp`` could not be removed after it."""
    if not isinstance(exc, SSHMCPError):
        return exc
    return type(exc)(
        f"{exc}; the temp {tmp} was left behind: remove it with ssh_delete or ssh_delete_folder"
    )


async def _failure(
    sftp: asyncssh.SFTPClient, exc: BaseException, dst: str, tmp: str, *, landing: bool
) -> BaseException:
    """What to raise after ``exc`` stopped the copy, once the temp file is removed (or not)."""
    if isinstance(exc, (*dropped_errors(), StaleConnection, Dropped)):
        # Nothing can be removed over this connection; the source stream runs on it too.
        return WriteInterrupted(dst, tmp, landing)
    full = False
    if isinstance(exc, asyncssh.SFTPError):
        # Full disk: the generic Failure of SFTP v3; asked while the partial temp still fills it.
        full = isinstance(exc, asyncssh.SFTPFailure) and await disk_full(sftp, tmp)
        exc = sftp_error(exc, ACTION)
    if not await remove_quietly(sftp, tmp) and isinstance(exc, Exception):
        return _leftover(exc, tmp)
    if full:
        return disk_full_error(dst, await free_bytes(sftp, posixpath.dirname(dst)))
    return exc


async def _copy_into(
    sftp: asyncssh.SFTPClient,
    src: str,
    tmp: str,
    mode: int,
    *,
    on_host: bool,
    max_bytes: int,
    progress: Progress | None,
) -> None:
    """Create ``tmp`` (it must not exist) with the content of ``src``, then give it ``mode``."""
    size = block_size(sftp)
    async with sftp.open(
        tmp, "xb", private_attrs(), block_size=size, max_requests=MAX_REQUESTS
    ) as out:
        if on_host:
            async with sftp.open(src, "rb", block_size=0) as f:
                await sftp.remote_copy(f, out)
        else:
            chunks = read_chunks(sftp, src, max_bytes=max_bytes, progress=progress)
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    await out.write(chunk)
        with contextlib.suppress(asyncssh.SFTPOpUnsupported):
            await out.fsync()
    await sftp.chmod(tmp, mode)


async def copy_file(
    sftp: asyncssh.SFTPClient,
    src: str,
    dst: str,
    *,
    src_mode: int | None,
    overwrite: bool,
    max_bytes: int,
    progress: Progress | None = None,
) -> FileCopied:
    """Copy the regular file ``src`` (permission bits ``src_mode``) to ``dst`` on this host.

    ``dst`` must not exist unless ``overwrite``, and is never a directory.
    ``progress(done, total)`` sees a streamed copy; a copy on the host reports none.
    """
    old = await _lstat(sftp, dst)
    if old is not None and not overwrite:
        raise RemoteError(f"{dst} exists; pass overwrite=true to replace it")
    if old is not None and statmod.S_ISDIR(old.permissions or 0):
        raise RemoteError(f"{dst} is a directory; give the full path of the copy")
    # As cp: a replaced file's own bits, else the source's; never setuid, setgid, sticky.
    kept = None if old is None else await _kept_mode(sftp, dst, old)
    new = DEFAULT_MODE if src_mode is None else plain_mode(src_mode)
    mode = new if kept is None else kept
    on_host = bool(sftp.supports_remote_copy)
    tmp, landing = temp_name(dst), False
    try:
        await _copy_into(
            sftp, src, tmp, mode, on_host=on_host, max_bytes=max_bytes, progress=progress
        )
        landing = True
        if overwrite:
            await sftp.posix_rename(tmp, dst)
        else:
            try:
                await sftp.link(tmp, dst)  # fails if dst appeared meanwhile
            except asyncssh.SFTPFailure:
                raise RemoteError(f"{dst} appeared while copying; not replaced") from None
            await sftp.remove(tmp)
    except BaseException as exc:
        error = await _failure(sftp, exc, dst, tmp, landing=landing)
        if error is exc:
            raise
        raise error from None
    return FileCopied(mode, on_host)
