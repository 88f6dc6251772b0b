"""The server's open shell sessions (:mod:`ssh_mcp.ssh.shell`), by id.

Unlike jobs, a shell lives on its channel: it ends with the connection, with
the server, on ``ssh_shell_close``, when a command exits it or times out, and
after ``SSH_SHELL_IDLE_TIMEOUT`` without a command. Idle sessions are swept
whenever the table is used, so no background task is needed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field

from ssh_mcp.ssh.shell import Shell


@dataclass
class ShellEntry:
    id: str
    host: str  # alias
    shell: Shell
    cwd: str | None
    opened_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)


def new_shell_id() -> str:
    return "s" + secrets.token_hex(8)


class ShellTable:
    """Open sessions; closes the idle and the dead when asked about them."""

    def __init__(self, idle_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self._open: dict[str, ShellEntry] = {}

    def add(self, entry: ShellEntry) -> None:
        self._open[entry.id] = entry

    def host_of(self, shell_id: str) -> str | None:
        entry = self._open.get(shell_id)
        return entry.host if entry is not None and entry.shell.alive else None

    def get(self, shell_id: str) -> ShellEntry | None:
        return self._open.get(shell_id)

    async def sweep(self) -> None:
        """Close sessions idle past the timeout (a running command is not idle) and forget
        those that ended."""
        limit = time.monotonic() - self.idle_timeout
        for entry in list(self._open.values()):
            idle = not entry.shell.busy and entry.last_used < limit
            if not entry.shell.alive or idle:
                await self.close(entry.id)

    def all(self) -> list[ShellEntry]:
        return sorted(self._open.values(), key=lambda e: e.opened_at)

    async def close(self, shell_id: str) -> bool:
        entry = self._open.pop(shell_id, None)
        if entry is None:
            return False
        await entry.shell.aclose()
        return True

    async def aclose(self) -> None:
        await asyncio.gather(*(self.close(i) for i in list(self._open)), return_exceptions=True)
