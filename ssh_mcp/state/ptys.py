"""The server's open terminal sessions (:mod:`ssh_mcp.ssh.pty`), by id.

A terminal lives on its channel: its program ends with the connection and with the
server; the session ends on ``ssh_pty_close`` and after ``SSH_PTY_IDLE_TIMEOUT``
without a call that uses it (a program that exited stays readable until then). A
sweep closes the idle whenever the table is used, and a background sweeper does the
same while any session is open, so an idle terminal's processes stop even when no
call comes. At most ``SSH_PTY_MAX_SESSIONS`` are open at once; the device CLI
sessions ``ssh_cli_run`` keeps count too.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ssh_mcp.errors import CapExceeded
from ssh_mcp.ssh.pty import Pty


@dataclass
class PtyEntry:
    id: str
    host: str  # alias
    pty: Pty
    command: str | None  # as given; None: the login shell
    term: str
    #: "cli": the device session ssh_cli_run keeps for the host; "pty": opened by a caller.
    kind: str = "pty"
    opened_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
    #: Held while a call uses the session, so the sweeper never closes it under the call.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def new_pty_id() -> str:
    return "p" + secrets.token_hex(8)


class PtyTable:
    """Open terminals; closes the idle and the ended when asked about them."""

    def __init__(self, idle_timeout: float, max_sessions: int) -> None:
        self.idle_timeout, self.max_sessions = idle_timeout, max_sessions
        self._open: dict[str, PtyEntry] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._opening = 0  # sessions between their place in the cap and add()

    @contextlib.asynccontextmanager
    async def opening(self) -> AsyncIterator[None]:
        """A place for one session being opened: sweep, then refuse when the open ones and
        those being opened reach the cap. ``add`` the session inside the block."""
        await self.sweep()
        if len(self._open) + self._opening >= self.max_sessions:
            raise CapExceeded(
                f"{self.max_sessions} terminal sessions are open (SSH_PTY_MAX_SESSIONS); close "
                "one with ssh_pty_close first"
            )
        self._opening += 1
        try:
            yield
        finally:
            self._opening -= 1

    def add(self, entry: PtyEntry) -> None:
        self._open[entry.id] = entry
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_while_open())

    async def _sweep_while_open(self) -> None:
        while self._open:
            await asyncio.sleep(max(min(self.idle_timeout / 2, 30.0), 0.05))
            await self.sweep()

    def host_of(self, pty_id: str) -> str | None:
        entry = self._open.get(pty_id)
        return entry.host if entry is not None and entry.kind == "pty" else None

    def get(self, pty_id: str) -> PtyEntry | None:
        return self._open.get(pty_id)

    def device_session(self, host: str) -> PtyEntry | None:
        """The live device CLI session ssh_cli_run keeps for ``host``."""
        for entry in self._open.values():
            if entry.kind == "cli" and entry.host == host and entry.pty.alive:
                return entry
        return None

    async def sweep(self) -> None:
        """Close sessions idle past the timeout (one in use is not idle). A session whose
        program ended stays until then too, so its last output and status can be read."""
        limit = time.monotonic() - self.idle_timeout
        for entry in list(self._open.values()):
            if not entry.lock.locked() and entry.last_used < limit:
                await self.close(entry.id)

    def all(self, kind: str | None = None) -> list[PtyEntry]:
        entries = (e for e in self._open.values() if kind is None or e.kind == kind)
        return sorted(entries, key=lambda e: e.opened_at)

    async def close(self, pty_id: str) -> bool:
        entry = self._open.pop(pty_id, None)
        if entry is None:
            return False
        await entry.pty.aclose()
        return True

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
        await asyncio.gather(*(self.close(i) for i in list(self._open)), return_exceptions=True)
