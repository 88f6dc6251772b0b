"""The connection pool: lazy, shared, bounded per host, self-healing.

Per target (``ConnectSpec.key``) the pool keeps up to ``max_connections``
connections, each with ``max_channels`` channel slots, because sshd enforces
``MaxSessions`` per connection and never advertises it. A caller reserves a
slot for the length of one operation. When every slot is busy the pool opens
one more connection, one handshake at a time per host (sshd's ``MaxStartups``
drops bursts of handshakes), and callers arriving meanwhile wait for that same
handshake instead of starting their own: concurrent first calls make exactly
one connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncssh

from ssh_mcp.errors import ChannelFailed, ConnectionDropped
from ssh_mcp.ssh.connect import Connection, ConnectOptions, ConnectSpec, open_connection

T = TypeVar("T")


class StaleConnection(Exception):
    """Raised by an operation when its channel could not open on a dead connection.

    Internal to the ssh layer: :meth:`Pool.run` answers it by discarding the
    connection and retrying the operation once on a fresh one.
    """


class PooledConnection:
    """One open connection and its channel accounting."""

    def __init__(self, spec: ConnectSpec, connection: Connection) -> None:
        self.spec = spec
        self.connection = connection
        self.capacity = spec.max_channels
        self.busy = 0
        self.opened_at = time.time()
        self.last_used = time.monotonic()
        self._sftp: asyncssh.SFTPClient | None = None
        self._sftp_lock = asyncio.Lock()

    @property
    def conn(self) -> asyncssh.SSHClientConnection:
        return self.connection.conn

    @property
    def alive(self) -> bool:
        return self.connection.alive

    @property
    def free(self) -> int:
        return self.capacity - self.busy

    async def sftp(self) -> asyncssh.SFTPClient:
        """This connection's SFTP client, opened once; it holds one channel slot for good."""
        async with self._sftp_lock:
            if self._sftp is None:
                try:
                    self._sftp = await self.conn.start_sftp_client()
                except asyncssh.ChannelOpenError as exc:
                    raise _translate_open(exc, self.spec) from None
                except (asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError) as exc:
                    raise StaleConnection(str(exc)) from None
                self.capacity -= 1
            return self._sftp

    async def aclose(self) -> None:
        if self._sftp is not None:
            self._sftp.exit()
        await self.connection.aclose()


def _translate_open(exc: asyncssh.ChannelOpenError, spec: ConnectSpec) -> Exception:
    if "closed" in exc.reason.lower():
        return StaleConnection(exc.reason)
    return ChannelFailed(
        f"{spec.label} refused a session channel ({exc.reason}); lower max_channels "
        "for this host below sshd's MaxSessions"
    )


@dataclass(frozen=True)
class SessionInfo:
    """A read-only view of one pooled connection, for ``ssh_session_list``."""

    key: str
    host: str
    port: int
    user: str | None
    opened_at: float
    idle_seconds: float
    busy_channels: int
    max_channels: int
    sftp_open: bool


class HostPool:
    """The connections to one target."""

    def __init__(self, spec: ConnectSpec, opts: ConnectOptions) -> None:
        self.spec = spec
        self.opts = opts
        self.conns: list[PooledConnection] = []
        self.connects = 0
        self._connecting: asyncio.Task[PooledConnection] | None = None
        self._cond = asyncio.Condition()

    async def _open(self) -> PooledConnection:
        try:
            connection = await open_connection(self.spec, self.opts)
        except BaseException:
            async with self._cond:
                self._connecting = None
                self._cond.notify_all()
            raise
        pc = PooledConnection(self.spec, connection)
        async with self._cond:
            # One critical section, so no waiter sees "no connection and no handshake".
            self.connects += 1
            self.conns.append(pc)
            self._connecting = None
            self._cond.notify_all()
        return pc

    def _prune(self) -> list[PooledConnection]:
        dead = [pc for pc in self.conns if not pc.alive]
        self.conns = [pc for pc in self.conns if pc.alive]
        return dead

    async def acquire(self) -> PooledConnection:
        """Reserve one channel slot, connecting first if no open slot exists."""
        while True:
            async with self._cond:
                for pc in self._prune():
                    asyncio.get_running_loop().create_task(pc.aclose())
                best = max(self.conns, key=lambda c: c.free, default=None)
                if best is not None and best.free > 0:
                    best.busy += 1
                    best.last_used = time.monotonic()
                    return best
                task = self._connecting
                if task is None and len(self.conns) < self.spec.max_connections:
                    # A task of its own, so a cancelled caller cannot abort a handshake
                    # that other callers are waiting on.
                    task = self._connecting = asyncio.get_running_loop().create_task(self._open())
                    task.add_done_callback(_consume)
                if task is None:
                    await self._cond.wait()
                    continue
            await asyncio.shield(task)

    async def release(self, pc: PooledConnection) -> None:
        async with self._cond:
            pc.busy -= 1
            pc.last_used = time.monotonic()
            self._cond.notify_all()

    async def discard(self, pc: PooledConnection) -> None:
        async with self._cond:
            if pc in self.conns:
                self.conns.remove(pc)
            self._cond.notify_all()
        await pc.aclose()

    async def reap(self, idle_timeout: float) -> None:
        now = time.monotonic()
        async with self._cond:
            stale = [pc for pc in self.conns if pc.busy == 0 and now - pc.last_used > idle_timeout]
            stale += self._prune()
            self.conns = [pc for pc in self.conns if pc not in stale]
        for pc in stale:
            await pc.aclose()

    async def aclose(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        async with self._cond:
            conns, self.conns = self.conns, []
        for pc in conns:
            await pc.aclose()


def _consume(task: asyncio.Task[PooledConnection]) -> None:
    # Mark a failed handshake's exception as seen; its waiters got it through shield().
    if not task.cancelled():
        task.exception()


class Pool:
    """All pooled connections of one server process."""

    def __init__(self, opts: ConnectOptions, idle_timeout: float = 300.0) -> None:
        self.opts = opts
        self.idle_timeout = idle_timeout
        self._hosts: dict[str, HostPool] = {}
        self._reaper: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        conns = [pc for hp in self._hosts.values() for pc in hp.conns]
        busy = sum(1 for pc in conns if pc.busy)
        idle = len(conns) - busy
        return f"<Pool hosts={len(self._hosts)} open={len(conns)} busy={busy} idle={idle}>"

    def host(self, spec: ConnectSpec) -> HostPool:
        hp = self._hosts.get(spec.key)
        if hp is None or hp.spec != spec:
            hp = self._hosts[spec.key] = HostPool(spec, self.opts)
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())
        return hp

    async def run(self, spec: ConnectSpec, op: Callable[[PooledConnection], Awaitable[T]]) -> T:
        """Run ``op`` on a reserved channel slot; retry once if the connection was dead."""
        hp = self.host(spec)
        for attempt in (1, 2):
            pc = await hp.acquire()
            try:
                return await op(pc)
            except StaleConnection as exc:
                await hp.discard(pc)
                if attempt == 2:
                    raise ConnectionDropped(
                        f"the connection to {spec.label} dropped twice in a row ({exc}); "
                        "check the host and retry"
                    ) from None
            finally:
                await hp.release(pc)
        raise AssertionError("unreachable")

    def sessions(self) -> list[SessionInfo]:
        now = time.monotonic()
        return [
            SessionInfo(
                key=pc.spec.key,
                host=pc.spec.host,
                port=pc.spec.port,
                user=pc.spec.user,
                opened_at=pc.opened_at,
                idle_seconds=0.0 if pc.busy else round(now - pc.last_used, 3),
                busy_channels=pc.busy,
                max_channels=pc.spec.max_channels,
                sftp_open=pc.capacity < pc.spec.max_channels,
            )
            for hp in self._hosts.values()
            for pc in hp.conns
            if pc.alive
        ]

    async def _reap_forever(self) -> None:
        interval = max(0.05, min(self.idle_timeout / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            for hp in list(self._hosts.values()):
                await hp.reap(self.idle_timeout)

    async def aclose(self) -> None:
        """Close every connection; safe to call more than once."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        hosts, self._hosts = self._hosts, {}
        for hp in hosts.values():
            await hp.aclose()
