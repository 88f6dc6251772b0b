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
from collections.abc import AsyncIterator

from ssh_mcp.errors import ConnectFailed
from ssh_mcp.ssh.connect import ConnectSpec

#: Handshakes in flight at once to one sshd: under sshd's default MaxStartups start
#: value (10), with room for another client and for sshd's own late accounting.
PER_SSHD = 8


class StartupGates:
    """One semaphore of :data:`PER_SSHD` slots per first-dialled (hostname, port)."""

    def __init__(self) -> None:
        self._gates: dict[tuple[str, int], asyncio.Semaphore] = {}

    @staticmethod
    def endpoint(spec: ConnectSpec) -> tuple[str, int]:
        first = spec.hops[0] if spec.hops else spec
        return first.host, first.port

    @contextlib.asynccontextmanager
    async def slot(self, spec: ConnectSpec, timeout: float) -> AsyncIterator[None]:
        """Hold a handshake slot for ``spec``'s first sshd. The wait is bounded by the
        connect timeout, so that a dead jump host in front of many aliases costs each of
        them at most that much more, not one timeout per wave."""
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
        try:
            yield
        finally:
            gate.release()
