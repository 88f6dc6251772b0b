"""Shared pieces of the file-ops tools: guarded SFTP mutations.

Trees are never walked over SFTP, which names every path from / and so follows
a directory swapped for a symlink mid-walk: :mod:`ssh_mcp.tools._anchored`
changes them on the host. :func:`mutate` turns a lost connection into
ConnectionDropped, so the pool never replays a half-done change on a fresh
connection.
"""

from __future__ import annotations

import contextlib
import stat as statmod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import anyio

from ssh_mcp.core.spec import ToolContext
from ssh_mcp.errors import ConnectionDropped, SSHMCPError
from ssh_mcp.ssh.pooled import PooledConnection, StaleConnection
from ssh_mcp.ssh.sftp import sftp_error

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

T = TypeVar("T")
INSIDE = "must lie inside the host's path allowlist"


def octal(mode: int) -> str:
    return f"{statmod.S_IMODE(mode):04o}"


def inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class Leftover(Exception):
    """``cause`` happened and the cleanup failed too: the error must name ``path``."""

    def __init__(self, cause: Exception, path: str) -> None:
        super().__init__(str(cause))
        self.cause, self.path = cause, path


def _translate(exc: Exception, action: str) -> Exception:
    if isinstance(exc, Leftover):
        inner = _translate(exc.cause, action)
        if not isinstance(inner, SSHMCPError):
            return inner
        return type(inner)(
            f"{inner}; the temp {exc.path} was left behind: remove it with ssh_delete or "
            "ssh_delete_folder"
        )
    if isinstance(exc, StaleConnection | asyncssh.SFTPConnectionLost | asyncssh.DisconnectError):
        return ConnectionDropped(
            f"{action}: the connection dropped mid-operation; check what was done with "
            "ssh_sftp_stat or ssh_sftp_list before retrying"
        )
    if isinstance(exc, asyncssh.SFTPError):
        return sftp_error(exc, action)
    return exc


async def mutate(
    ctx: ToolContext, action: str, body: Callable[[asyncssh.SFTPClient], Awaitable[T]]
) -> T:
    """Run ``body`` on the host's SFTP client; a lost connection is not retried."""

    async def op(pc: PooledConnection) -> T:
        sftp = await pc.sftp()  # a stale connection here is retried: nothing has changed yet
        try:
            return await body(sftp)
        except Exception as exc:
            new = _translate(exc, action)
            if new is exc:
                raise
            raise new from None

    return await ctx.with_connection(op)


async def lstat_or_none(sftp: asyncssh.SFTPClient, path: str) -> asyncssh.SFTPAttrs | None:
    try:
        return await sftp.lstat(path)
    except asyncssh.SFTPNoSuchFile:
        return None


async def quietly(op: Callable[[], Awaitable[None]]) -> bool:
    """Clean up after a failure or a cancel, shielded and bounded; False when it failed."""
    with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
        with anyio.fail_after(30):
            await op()
            return True
    return False


async def discard(exc: BaseException, path: str, op: Callable[[], Awaitable[None]]) -> None:
    """Remove the temp ``path`` after ``exc``; if that fails, the error names it."""
    if not await quietly(op) and isinstance(exc, Exception):
        raise Leftover(exc, path) from None
