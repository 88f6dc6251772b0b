"""The connection pool: lazy, shared, bounded per host, self-healing.

Per target (``ConnectSpec.key``) the pool keeps up to ``max_connections``
connections of ``max_channels`` slots each (sshd enforces ``MaxSessions`` per
connection and never advertises it). A caller reserves a slot for one operation
(:meth:`Pool.run`). Invariants:

* **One handshake at a time per host**, and a few per sshd (``startups.py``):
  callers that find every slot busy wait for the handshake in flight, so a
  burst, even to many aliases of one sshd, never trips sshd's ``MaxStartups``.
* **A failed handshake fails its waiters once**, with no retry, unless the host
  has a live connection: then they wait for a slot there, and the pool does not
  grow again for ``GROW_BACKOFF`` s. A cancelled waiter never aborts the
  handshake (a task of its own); only :meth:`HostPool.aclose` does.
* **Dead connections get no new work**: dropped ones as asyncssh saw, or as the
  kernel reports before asyncssh read the EOF. A drop between reservation and
  channel open raises :class:`StaleConnection`; :meth:`Pool.run` retries once.
* **Only what may be replayed is replayed.** A drop mid-operation
  (:class:`Dropped`) reruns the operation on a fresh connection only when the
  caller passed ``replay=True`` (a read); otherwise it is ConnectionDropped.
* **A call may keep one slot across its sequential operations** (:class:`Lease`):
  an operation on the same host borrows the leased slot when it is idle. A call
  never waits for a slot while it holds an idle one: an operation on another
  host makes the lease let go first, and one that finds the slot busy takes a
  slot of its own while the lease lets go as soon as the borrower returns.
* **A slot is free only when sshd agrees.** sshd frees a session just after the
  channel closes, so "open failed" (:class:`ChannelBusy`) is retried after a
  pause; a channel outliving its operation keeps its slot until it closes
  (:meth:`PooledConnection.hold`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ssh_mcp.errors import ChannelFailed, ConnectFailed, ConnectionDropped
from ssh_mcp.ssh.connect import ConnectOptions, ConnectSpec, open_connection
from ssh_mcp.ssh.pooled import ChannelBusy, Dropped, PooledConnection, StaleConnection
from ssh_mcp.ssh.startups import StartupGates

T = TypeVar("T")
log = logging.getLogger("ssh_mcp")

#: Seconds the pool waits before adding a connection again after a failed extra handshake.
GROW_BACKOFF = 5.0
#: Pauses between retries of a channel open that sshd refused with "open failed".
BUSY_BACKOFF = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)


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
    """The connections to one target. State changes happen between awaits, so no lock;
    waiters sleep on ``_changed``, an event replaced on every wake."""

    def __init__(self, spec: ConnectSpec, opts: ConnectOptions, gates: StartupGates) -> None:
        self.spec, self.opts, self._gates = spec, opts, gates
        self.conns: list[PooledConnection] = []
        self.connects = 0  # handshakes that succeeded
        self.attempts = 0  # handshakes started
        self.reservations = 0  # slots handed out by acquire()
        #: The newest handshake's end: wall-clock seconds, and the error's class name when
        #: it failed (never its text); what "reachability as last seen" reports.
        self.last_handshake: tuple[float, str | None] | None = None
        self._connecting: asyncio.Task[PooledConnection] | None = None
        self._grow_after = 0.0
        self._changed = asyncio.Event()
        self._closing: set[asyncio.Task[None]] = set()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _open(self) -> PooledConnection:
        self.attempts += 1
        try:
            async with self._gates.slot(self.spec, self.opts.connect_timeout) as counted:
                counted(connection := await open_connection(self.spec, self.opts))
        except BaseException as exc:
            if isinstance(exc, Exception):
                self.last_handshake = (time.time(), type(exc).__name__)
            if self._connecting is asyncio.current_task():
                self._connecting = None
            if any(pc.alive for pc in self.conns):
                self._grow_after = time.monotonic() + GROW_BACKOFF
            self._wake()
            raise
        pc = PooledConnection(self.spec, connection, self._wake)
        # No await from here on: no waiter can see "no connection and no handshake".
        self.connects += 1
        self.last_handshake = (time.time(), None)
        self.conns.append(pc)
        if self._connecting is asyncio.current_task():
            self._connecting = None
        self._wake()
        return pc

    def _prune(self) -> list[PooledConnection]:
        """Close dead connections and return the ones new work may use.

        A hung-up connection with operations in flight stays until they end: they
        may still read what the server sent before it went.
        """
        usable = []
        for pc in list(self.conns):
            hung_up = pc.hung_up()
            if not pc.alive or (hung_up and pc.busy == 0):
                self.conns.remove(pc)
                self._close_later(pc)
            elif not hung_up:
                usable.append(pc)
        return usable

    def _close_later(self, pc: PooledConnection) -> None:
        task = asyncio.get_running_loop().create_task(pc.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _may_grow(self, usable: list[PooledConnection]) -> bool:
        if len(usable) >= self.spec.max_connections:
            return False
        return not usable or time.monotonic() >= self._grow_after

    async def acquire(self) -> PooledConnection:
        """Reserve one channel slot, connecting first if no open slot exists."""
        while True:
            usable = self._prune()
            best = max(usable, key=lambda c: c.free, default=None)
            if best is not None and best.free > 0:
                best.busy += 1
                best.last_used = time.monotonic()
                self.reservations += 1
                return best
            task = self._connecting
            if task is None and self._may_grow(usable):
                task = self._connecting = asyncio.get_running_loop().create_task(self._open())
                # Mark a failure as seen: the waiters got it through shield().
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
            if task is not None:
                await self._join(task)
                continue
            # Every slot is busy and the pool may not grow (yet): wait for a release, a
            # drop, or the end of the growth backoff.
            wait = None
            if len(usable) < self.spec.max_connections:
                wait = self._grow_after - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)

    async def _join(self, task: asyncio.Task[PooledConnection]) -> None:
        """Wait for the shared handshake; its failure is ours unless a live connection is left."""
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if task.cancelled() and me is not None and not me.cancelling():
                raise ConnectFailed(f"the pool for {self.spec.label} was closed") from None
            raise
        except Exception:
            if not self._prune():
                raise

    def release(self, pc: PooledConnection) -> None:
        pc.busy -= 1
        pc.last_used = time.monotonic()
        self._wake()

    async def discard(self, pc: PooledConnection) -> None:
        if pc in self.conns:
            self.conns.remove(pc)
            self._wake()
        await pc.aclose()

    async def reap(self, idle_timeout: float) -> None:
        old = time.monotonic() - idle_timeout
        self._prune()
        # A held slot is a channel sshd still has open (a shell session, a closing exec).
        stale = [pc for pc in self.conns if not pc.busy + pc.held and pc.last_used < old]
        self.conns = [pc for pc in self.conns if pc not in stale]
        for pc in stale:
            await pc.aclose()

    async def aclose(self) -> None:
        """Close every connection and cancel a handshake in flight; the pool stays usable."""
        task, self._connecting = self._connecting, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        conns, self.conns = self.conns, []
        self._wake()
        await asyncio.gather(*(pc.aclose() for pc in conns), *self._closing)


class Lease:
    """One call's standing reservation: at most one slot, on the host its operations
    last used, reused by them one at a time (see the module docstring). :meth:`close`
    at the end of the call; an operation after that reserves a slot of its own."""

    def __init__(self) -> None:
        self._slot: tuple[HostPool, PooledConnection] | None = None
        self._busy, self._closed, self._keeps = False, False, True

    @property
    def closed(self) -> bool:
        """Whether operations now reserve slots of their own."""
        return self._closed

    def _borrow(self, hp: HostPool) -> PooledConnection | None:
        """The leased slot if it is idle, on ``hp``'s host, and its connection usable."""
        if self._busy:  # operations overlap: stop leasing, release on return
            self._closed = True
        if self._closed or self._slot is None:
            return None
        held_hp, pc = self._slot
        if held_hp is hp and not pc.hung_up():
            self._busy = True
            return pc
        # Another host's slot, or a dead one: let it go before this operation may wait
        # for a slot, so that no call waits while holding an idle one.
        self._let_go()
        return None

    def settle(self) -> None:
        """Keep no further slot; the one held may still be borrowed."""
        self._keeps = False

    def _keep(self, hp: HostPool, pc: PooledConnection) -> bool:
        """Lease the slot an operation just reserved, unless the lease holds one."""
        if not self._keeps or self._closed or self._busy or self._slot is not None:
            return False
        self._slot, self._busy = (hp, pc), True
        return True

    def _let_go(self) -> None:
        if self._slot is not None:
            hp, pc = self._slot
            self._slot = None
            hp.release(pc)

    def _returned(self, dropped: bool) -> None:
        """The borrower is done: keep the slot for the next operation, or release it."""
        self._busy = False
        if dropped or self._closed:
            self._let_go()

    def close(self) -> None:
        """Release the leased slot, now or, if an operation is using it, when it returns."""
        self._closed = True
        if not self._busy:
            self._let_go()


class Pool:
    """All pooled connections of one server process."""

    def __init__(self, opts: ConnectOptions, idle_timeout: float) -> None:
        self.opts = opts
        self.idle_timeout = idle_timeout
        self._hosts: dict[str, HostPool] = {}
        self._gates = StartupGates()
        self._reaper: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        conns = [pc for hp in self._hosts.values() for pc in hp.conns]
        busy, n = sum(1 for pc in conns if pc.busy), len(conns)
        return f"<Pool hosts={len(self._hosts)} open={n} busy={busy} idle={n - busy}>"

    def get(self, key: str) -> HostPool | None:  # the pool of host ``key``, once used
        return self._hosts.get(key)

    def host(self, spec: ConnectSpec) -> HostPool:
        hp = self._hosts.get(spec.key)
        if hp is None or hp.spec != spec:
            hp = self._hosts[spec.key] = HostPool(spec, self.opts, self._gates)
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())
        return hp

    async def run(
        self,
        spec: ConnectSpec,
        op: Callable[[PooledConnection], Awaitable[T]],
        *,
        replay: bool,
        lease: Lease | None = None,
    ) -> T:
        """Run ``op`` on a reserved slot: once more on a fresh connection after
        :class:`StaleConnection`, or after :class:`Dropped` when ``replay`` (the operation
        may run twice: a read); again on the same slot after :class:`ChannelBusy`.
        A drop of a connection this run does not hold passes through to the run that does.
        With a ``lease``, the slot is the lease's when it is free (:class:`Lease`)."""
        hp = self.host(spec)
        stale = 0
        while True:
            pc, leased = await self._reserve(hp, lease)
            dropped = False
            try:
                for pause in (*BUSY_BACKOFF, None):
                    try:
                        return await op(pc)
                    except ChannelBusy as exc:
                        if pause is None:
                            raise ChannelFailed(
                                f"{spec.label} refused a session channel ({exc}) with "
                                f"{pc.busy + pc.held} in use; set max_channels for this "
                                "host to at most sshd's MaxSessions"
                            ) from None
                        await asyncio.sleep(pause)
            except (StaleConnection, Dropped) as exc:
                if exc.pc not in (None, pc):
                    raise  # another run's connection (a transfer's source): that run decides
                dropped = True
                await hp.discard(pc)
                if isinstance(exc, Dropped) and not replay:
                    raise ConnectionDropped(
                        f"{exc}: the connection to {spec.label} dropped mid-operation; check "
                        "what was done before retrying"
                    ) from None
                stale += 1
                if stale == 2:
                    raise ConnectionDropped(
                        f"the connection to {spec.label} dropped twice in a row ({exc}); "
                        "check the host and retry"
                    ) from None
            finally:
                if lease is not None and leased:
                    lease._returned(dropped)
                else:
                    hp.release(pc)

    @staticmethod
    async def _reserve(hp: HostPool, lease: Lease | None) -> tuple[PooledConnection, bool]:
        """A slot for one operation, and whether it is the lease's."""
        if lease is None:
            return await hp.acquire(), False
        pc = lease._borrow(hp)
        if pc is not None:
            return pc, True
        pc = await hp.acquire()
        return pc, lease._keep(hp, pc)

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
                try:
                    await hp.reap(self.idle_timeout)
                except Exception:  # one bad close must not end reaping for good
                    log.exception("reaping idle connections to %s failed", hp.spec.label)

    async def aclose(self) -> None:
        """Close every connection; safe to call more than once, and the pool stays usable."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        hosts, self._hosts = self._hosts, {}
        for hp in hosts.values():
            await hp.aclose()
