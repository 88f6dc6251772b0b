"""Handshakes in flight to one sshd, kept under its ``MaxStartups``.

sshd drops unauthenticated connections beyond ``MaxStartups`` (default
``10:30:100``: from 10 in flight, 30% of new ones, rising to all at 100). The
pool admits one handshake at a time per host alias, but many aliases may
share one sshd (several users, ports forwarded to one machine) or one jump
host, and a broadcast starts all their handshakes at once. So every handshake
first takes a slot of the gate of the sshd it dials first: the first jump
host's, or the host's own, by configured hostname and port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from ssh_mcp.errors import ConnectFailed
from ssh_mcp.ssh.connect import Connection, ConnectSpec

if TYPE_CHECKING:
    import asyncssh

#: Handshakes in flight at once to one sshd: under sshd's default MaxStartups start
#: value (10), with room for another client.
PER_SSHD = 8


class StartupGates:
    """One semaphore of :data:`PER_SSHD` slots per first-dialled (hostname, port)."""

    def __init__(self) -> None:
        self._gates: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._settling: set[asyncio.Task[None]] = set()

    @staticmethod
    def endpoint(spec: ConnectSpec) -> tuple[str, int]:
        first = spec.hops[0] if spec.hops else spec
        return first.host, first.port

    @contextlib.asynccontextmanager
    async def slot(
        self, spec: ConnectSpec, timeout: float
    ) -> AsyncIterator[Callable[[Connection], None]]:
        """Hold a handshake slot for ``spec``'s first sshd; call what it yields with the
        open connection to hand the slot over until sshd has counted the handshake done.

        The wait is bounded by the connect timeout, so that a dead jump host in front of
        many aliases costs each of them at most that much more, not one timeout per wave."""
        where = self.endpoint(spec)
        gate = self._gates.setdefault(where, asyncio.Semaphore(PER_SSHD))
        try:
            await asyncio.wait_for(gate.acquire(), timeout)
        except TimeoutError:
            raise ConnectFailed(
                f"connecting to {spec.label} waited {timeout:g}s behind {PER_SSHD} other "
                f"handshakes to {where[0]}:{where[1]}; check that host, or raise "
                "SSH_CONNECT_TIMEOUT"
            ) from None
        handed: list[bool] = []

        def counted(connection: Connection) -> None:
            first = connection.hops[0] if connection.hops else connection.conn
            task = asyncio.get_running_loop().create_task(_settle(first, gate, timeout))
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)
            handed.append(True)

        try:
            yield counted
        finally:
            if not handed:
                gate.release()


async def _settle(conn: asyncssh.SSHClientConnection, gate: asyncio.Semaphore, t: float) -> None:
    """Release ``gate`` once sshd answers a request after authentication.

    sshd counts a connection as starting until its privileged monitor has taken over
    from the pre-auth child, which happens after the client has read the auth success:
    a slot freed then lets the next handshake in while sshd still counts this one, and
    under load several such lags add up past MaxStartups. Any answer to a request sent
    after authentication comes from the post-auth process, so by then sshd has counted
    the handshake done. The caller does not wait for this; only the next handshake does.
    asyncssh has no public request that waits for its reply, hence the private call."""
    try:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn._make_global_request(b"keepalive@openssh.com"), t)
    finally:
        gate.release()
