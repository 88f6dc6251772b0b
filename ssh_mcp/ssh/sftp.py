"""SFTP helpers: canonical remote paths and error translation."""

from __future__ import annotations

import posixpath
import stat as statmod
from typing import TYPE_CHECKING

from ssh_mcp.errors import PathNotAllowed, RemoteError
from ssh_mcp.ssh.pooled import StaleConnection

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh


def sftp_error(exc: asyncssh.SFTPError, action: str) -> Exception:
    """Translate an SFTP status into a one-line error that says what to do.

    A lost connection becomes ``StaleConnection``, which :meth:`Pool.run`
    retries once on a fresh connection. That is right for reads, which all
    current callers are; a write must map it to ConnectionDropped instead.
    """
    if isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
        return StaleConnection(f"{action}: {exc.reason or 'connection lost'}")
    if isinstance(exc, asyncssh.SFTPNoSuchFile):
        return RemoteError(f"{action} failed: no such file or directory; check the path")
    if isinstance(exc, asyncssh.SFTPPermissionDenied):
        return RemoteError(f"{action} failed: permission denied for the login user")
    return RemoteError(f"{action} failed: {exc.reason or type(exc).__name__}")


async def free_bytes(sftp: asyncssh.SFTPClient, path: str) -> int | None:
    """Bytes an unprivileged write may still use on the filesystem holding ``path``.

    ``statvfs@openssh.com``: bavail blocks of frsize bytes. None when the server
    lacks the extension or cannot answer: the caller then says only what it knows.
    """
    try:
        vfs = await sftp.statvfs(path)
    except (asyncssh.SFTPError, asyncssh.Error, OSError):
        return None
    return int(vfs.bavail) * int(vfs.frsize or vfs.bsize)


#: Symlinks followed before a path is refused, as Linux's ELOOP limit.
MAX_LINKS = 40


async def home(sftp: asyncssh.SFTPClient, action: str = "resolving ~") -> str:
    """The login user's home: where SFTP starts, as the host spells it."""
    try:
        return str(await sftp.realpath("."))
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, action) from None


def require_absolute(path: str) -> None:
    """The contract of this layer: a relative path here is a caller's bug, not a refusal."""
    if not posixpath.isabs(path):
        raise ValueError("the SSH layer takes absolute paths; expand ~ first")


async def _lstat(sftp: asyncssh.SFTPClient, path: str) -> asyncssh.SFTPAttrs | None:
    try:
        return await sftp.lstat(path)
    except asyncssh.SFTPNoSuchFile:
        return None


async def _realpath(sftp: asyncssh.SFTPClient, path: str) -> str:
    try:
        return str(await sftp.realpath(path))
    except asyncssh.SFTPNoSuchFile:
        raise RemoteError("no such file or directory; check the path") from None


def _plain(name: str) -> None:
    if name in ("", ".", ".."):
        raise PathNotAllowed(
            "a path to create must name plain components below its deepest existing "
            "directory, not /, . or .."
        )


async def _resolve_missing(sftp: asyncssh.SFTPClient, path: str) -> str:
    """The deepest existing ancestor, resolved, plus the missing components as given."""
    parts = path.rstrip("/").split("/")
    for cut in range(len(parts) - 1, 0, -1):
        head = "/".join(parts[:cut]) or "/"
        if await _lstat(sftp, head) is not None:
            rest = parts[cut:]
            for name in rest:
                _plain(name)
            return posixpath.join(await _realpath(sftp, head), *rest)
    return await _realpath(sftp, "/")  # pragma: no cover - "/" always exists


async def canonicalize(
    sftp: asyncssh.SFTPClient, path: str, *, create: bool, follow: bool = True
) -> str:
    """Resolve ``path`` on the host the way the operation on it will.

    Every symlink is followed, the final one included, and a dangling link
    resolves to its target, so the path returned is the one a write through
    ``path`` would land on. A missing path is an error unless ``create``: then
    the deepest existing ancestor is resolved and the missing names (plain
    components only) are appended. With ``follow=False`` the final component
    is kept as named (its parent resolved): the object itself, e.g. a link to
    delete. ``path`` is absolute: how a tool may spell it, ``~`` included, is the
    policy's (``ssh_mcp.policy.paths``), expanded before it gets here.
    """
    require_absolute(path)
    try:
        if not follow:
            parent, name = posixpath.split(path.rstrip("/"))
            _plain(name)
            full = posixpath.join(await _realpath(sftp, parent or "/"), name)
            if not create and await _lstat(sftp, full) is None:
                raise RemoteError("no such file or directory; check the path")
            return full
        for hops in range(MAX_LINKS):
            attrs = await _lstat(sftp, path)
            if attrs is None:
                # A dangling link's target is still returned, so confinement (not
                # "no such file") answers first: a link must not reveal what exists outside.
                if not create and hops == 0:
                    raise RemoteError("no such file or directory; check the path")
                return await _resolve_missing(sftp, path)
            if attrs.permissions is None or not statmod.S_ISLNK(attrs.permissions):
                return await _realpath(sftp, path)
            target = str(await sftp.readlink(path))
            path = (
                target
                if target.startswith("/")
                else posixpath.join(posixpath.dirname(path), target)
            )
        raise PathNotAllowed(f"more than {MAX_LINKS} symbolic links in the path")
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, "resolving the path") from None
