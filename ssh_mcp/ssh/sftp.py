"""SFTP helpers: canonical remote paths and error translation."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from ssh_mcp.errors import PathNotAllowed, RemoteError
from ssh_mcp.ssh.pool import StaleConnection

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
    if isinstance(exc, asyncssh.SFTPConnectionLost):
        return StaleConnection(f"{action}: {exc.reason or 'connection lost'}")
    if isinstance(exc, asyncssh.SFTPNoSuchFile):
        return RemoteError(f"{action} failed: no such file or directory; check the path")
    if isinstance(exc, asyncssh.SFTPPermissionDenied):
        return RemoteError(f"{action} failed: permission denied for the login user")
    return RemoteError(f"{action} failed: {exc.reason or type(exc).__name__}")


async def canonicalize(sftp: asyncssh.SFTPClient, path: str, *, create: bool) -> str:
    """Resolve ``path`` on the host, following every symlink.

    An existing path resolves whole (realpath). A create target that does not
    exist yet resolves its parent, which must exist, and appends the name.
    ``~`` expands to the login user's home, which SFTP itself does not do.
    """
    if path == "~" or path.startswith("~/"):
        try:
            home = await sftp.realpath(".")
        except asyncssh.SFTPError as exc:
            raise sftp_error(exc, "resolving ~") from None
        path = home + path[1:]
    if not path.startswith("/"):
        raise PathNotAllowed("path must be absolute or start with ~/, got a relative path")
    try:
        real = await sftp.realpath(path)
        if create or await sftp.exists(real):
            return str(real)
    except asyncssh.SFTPNoSuchFile:
        if not create:
            raise RemoteError("no such file or directory; check the path") from None
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, "resolving the path") from None
    if not create:
        raise RemoteError("no such file or directory; check the path")
    parent, name = posixpath.split(path.rstrip("/"))
    if name in ("", ".", ".."):
        raise PathNotAllowed("a create target must end in a plain name, not /, . or ..")
    try:
        real_parent = await sftp.realpath(parent or "/")
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, "resolving the parent directory") from None
    return posixpath.join(str(real_parent), name)
