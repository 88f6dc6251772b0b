"""How a call reaches its hosts: the seam between dispatch and the SSH layer.

Everything core does on a host, for dispatch's path resolution and for a
handler's ``ctx.remote`` and ``ctx.run``, goes through the :class:`Reach` the
:class:`~ssh_mcp.core.app.App` holds: an operation on the typed remote API
(:class:`~ssh_mcp.ssh.remote.Remote`) or one process. :class:`PoolReach` runs
them over the connection pool; a test hands the app another ``Reach`` (an
in-memory host) and runs the whole dispatch without sshd.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from ssh_mcp.ssh.connect import ConnectSpec
from ssh_mcp.ssh.pool import Lease, Pool
from ssh_mcp.ssh.process import ProcessResult, run_process
from ssh_mcp.ssh.remote import Remote
from ssh_mcp.ssh.sudo_io import Elevation
from ssh_mcp.ssh.transfer import WriteInterrupted, after_drop

T = TypeVar("T")
OnChunk = Callable[[str, bytes], None]


class Reach(Protocol):
    """Operations on one host, each over one reserved connection: the ``lease``'s when
    the call holds one for the host and no other operation of the call is using it."""

    async def remote(
        self,
        spec: ConnectSpec,
        op: Callable[[Remote], Awaitable[T]],
        *,
        replay: bool,
        lease: Lease | None = None,
    ) -> T:
        """Run ``op`` on the host's typed remote API; ``replay``: whether it may run again,
        from the start, on a fresh connection after a drop (reads only)."""
        ...

    async def process(
        self,
        spec: ConnectSpec,
        command: str,
        *,
        timeout: float,
        stdout_cap: int,
        stderr_cap: int,
        stdin: bytes | None,
        on_chunk: OnChunk | None,
        elevate: Elevation | None,
        lease: Lease | None = None,
    ) -> ProcessResult:
        """Run one command on the host (never replayed), with caps and the stop ladder."""
        ...


class PoolReach:
    """The production :class:`Reach`: the connection pool, one ``Pool.run`` per operation."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def remote(
        self,
        spec: ConnectSpec,
        op: Callable[[Remote], Awaitable[T]],
        *,
        replay: bool,
        lease: Lease | None = None,
    ) -> T:
        try:
            return await self.pool.run(spec, lambda pc: op(Remote(pc)), replay=replay, lease=lease)
        except WriteInterrupted as exc:  # remove the temp file over a fresh connection
            clean = functools.partial(self.pool.run, spec, replay=True)
            raise await after_drop(clean, exc) from None

    async def process(
        self,
        spec: ConnectSpec,
        command: str,
        *,
        timeout: float,
        stdout_cap: int,
        stderr_cap: int,
        stdin: bytes | None,
        on_chunk: OnChunk | None,
        elevate: Elevation | None,
        lease: Lease | None = None,
    ) -> ProcessResult:
        return await self.pool.run(
            spec,
            lambda pc: run_process(
                pc,
                command,
                timeout=timeout,
                stdout_cap=stdout_cap,
                stderr_cap=stderr_cap,
                stdin=stdin,
                on_chunk=on_chunk,
                elevate=elevate,
            ),
            replay=False,  # a command is never run twice
            lease=lease,
        )
