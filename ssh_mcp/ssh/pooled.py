"""One pooled connection: its channel slots, its SFTP session, and the signals of a drop.

:class:`StaleConnection` (nothing ran yet) and :class:`Dropped` (the connection
went mid-operation) are how the layer below tells :meth:`Pool.run
<ssh_mcp.ssh.pool.Pool.run>` that a connection is gone; each names the
connection it is about, so a run holding another connection lets it pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ssh_mcp.errors import ChannelFailed
from ssh_mcp.ssh.connect import Connection, ConnectSpec

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh


class StaleConnection(Exception):
    """The connection was dead before anything ran remotely: :meth:`Pool.run` retries once."""

    def __init__(self, message: str, pc: PooledConnection | None = None) -> None:
        super().__init__(message)
        self.pc = pc  # None: the connection the raising run holds


class Dropped(Exception):
    """The connection ``pc`` dropped while ``action`` ran: something may have happened.

    :meth:`Pool.run` runs the operation again on a fresh connection only when its
    caller said the operation may be replayed; otherwise the call fails with
    ConnectionDropped.
    """

    def __init__(self, pc: PooledConnection, action: str, detail: str) -> None:
        super().__init__(f"{action}: {detail}")
        self.pc, self.action = pc, action


class ChannelBusy(Exception):
    """sshd refused a session channel ("open failed", MaxSessions): :meth:`Pool.run` retries."""


#: poll() events of a socket whose peer has closed or reset the connection.
_HANGUP = sum(getattr(select, name, 0) for name in ("POLLHUP", "POLLERR", "POLLRDHUP"))


def connection_lost() -> tuple[type[Exception], ...]:
    """What asyncssh raises when the transport goes away under a channel request.

    A function, not a constant, so importing this module does not load asyncssh.
    """
    return (asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError)


def translate_open(exc: asyncssh.ChannelOpenError, pc: PooledConnection) -> Exception:
    """Map a failed channel open on ``pc`` to what :meth:`Pool.run` handles.

    asyncssh fails every open pending on a connection that drops with "SSH
    connection closed" (also raised for a connection already closed): nothing
    ran, so it is stale. sshd answers "open failed" when MaxSessions is reached.
    """
    if "closed" in exc.reason.lower():
        return StaleConnection(f"channel open: {exc.reason}")
    if exc.code == asyncssh.OPEN_CONNECT_FAILED:
        return ChannelBusy(exc.reason)
    return ChannelFailed(f"{pc.spec.label} refused a session channel ({exc.reason})")


class PooledConnection:
    """One open connection and its channel accounting."""

    def __init__(
        self, spec: ConnectSpec, connection: Connection, on_free: Callable[[], None] | None = None
    ) -> None:
        self.spec = spec
        self.connection = connection
        self.capacity = spec.max_channels
        self.busy = 0
        self.held = 0  # channels whose operation ended but which sshd still counts
        self.opened_at = time.time()
        self.last_used = time.monotonic()
        self._on_free = on_free
        self._holding: set[asyncio.Future[None]] = set()
        self._sftp: asyncssh.SFTPClient | None = None
        self._sftp_lock = asyncio.Lock()

    @property
    def conn(self) -> asyncssh.SSHClientConnection:
        return self.connection.conn

    @property
    def login_user(self) -> str | None:
        """The user this connection authenticated as."""
        user = self.conn.get_extra_info("username")
        return str(user) if user else None

    @property
    def alive(self) -> bool:
        return self.connection.alive

    @property
    def free(self) -> int:
        return self.capacity - self.busy - self.held

    def hung_up(self) -> bool:
        """True when asyncssh saw the connection go, or the kernel already reports it gone.

        The kernel knows of a drop before asyncssh reads the EOF (the loop may be
        busy); asking the socket closes that window, also for SFTP requests, which
        have no channel open to fail on.
        """
        if not self.alive:
            return True
        sock = self.conn.get_extra_info("socket")
        if sock is None or not hasattr(select, "poll"):
            return False
        try:
            poller = select.poll()
            poller.register(sock.fileno(), _HANGUP)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def hold(self, closed: asyncio.Future[None]) -> None:
        """Keep one slot reserved until ``closed`` (the channel's close) resolves."""
        self.held += 1
        self._holding.add(closed)

        def done(fut: asyncio.Future[None]) -> None:
            self._holding.discard(fut)
            self.held -= 1
            if self._on_free is not None:
                self._on_free()

        closed.add_done_callback(done)

    async def sftp(self) -> asyncssh.SFTPClient:
        """This connection's SFTP client, opened once; it holds one channel slot for good."""
        async with self._sftp_lock:
            if self._sftp is None:
                try:
                    self._sftp = await self.conn.start_sftp_client()
                except asyncssh.ChannelOpenError as exc:
                    raise translate_open(exc, self) from None
                except connection_lost() as exc:  # starting SFTP has no side effects: retry
                    raise StaleConnection(f"{type(exc).__name__}: {exc}") from None
                self.capacity -= 1
            return self._sftp

    async def aclose(self) -> None:
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.exit()
        await self.connection.aclose()
