"""The server's port forwards (:mod:`ssh_mcp.ssh.forward`), by id.

A forward lives until ``ssh_forward_close``, until its connection drops, or until
the server stops (:meth:`ForwardTable.aclose` runs on shutdown). Ended forwards are
forgotten whenever the table is used, so no background task is needed. At most
``SSH_FORWARD_MAX_OPEN`` are open at once, those still being opened included.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from ssh_mcp.errors import CapExceeded
from ssh_mcp.ssh.forward import Forward

Kind = Literal["local", "remote", "socks"]


@dataclass(frozen=True)
class ForwardWant:
    """A forward a tool asks for: ``port`` is the listener's (0: any free one), on this
    server for local and socks, on the host for remote; ``dest`` is where connections go
    (None for socks, whose clients name it)."""

    kind: Kind
    port: int
    dest: tuple[str, int] | None = None


@dataclass
class ForwardEntry:
    id: str
    host: str  # alias
    kind: Kind
    forward: Forward
    opened_at: float = field(default_factory=time.time)

    @property
    def dest(self) -> str | None:
        if self.forward.dest is None:
            return None
        host, port = self.forward.dest
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def new_forward_id() -> str:
    return "f" + secrets.token_hex(8)


class ForwardTable:
    """Open forwards; forgets the ended ones when asked about them."""

    def __init__(self, max_open: int) -> None:
        self.max_open = max_open
        self._open: dict[str, ForwardEntry] = {}
        self._opening = 0  # forwards between their place in the cap and add()

    @contextlib.asynccontextmanager
    async def opening(self) -> AsyncIterator[None]:
        """A place for one forward being opened: refuse when the open ones (the ended
        forgotten first) and those being opened reach the cap. ``add`` it inside the block."""
        if len(self.all()) + self._opening >= self.max_open:
            raise CapExceeded(
                f"{self.max_open} port forwards are open (SSH_FORWARD_MAX_OPEN); close one "
                "with ssh_forward_close first"
            )
        self._opening += 1
        try:
            yield
        finally:
            self._opening -= 1

    def add(self, entry: ForwardEntry) -> None:
        self._open[entry.id] = entry

    def host_of(self, forward_id: str) -> str | None:
        entry = self.get(forward_id)
        return entry.host if entry is not None else None

    def get(self, forward_id: str) -> ForwardEntry | None:
        entry = self._open.get(forward_id)
        if entry is not None and not entry.forward.alive:
            self._open.pop(forward_id, None)
            return None
        return entry

    def all(self) -> list[ForwardEntry]:
        for entry in list(self._open.values()):
            self.get(entry.id)
        return sorted(self._open.values(), key=lambda e: e.opened_at)

    async def close(self, forward_id: str) -> bool:
        entry = self._open.pop(forward_id, None)
        if entry is None:
            return False
        await entry.forward.aclose()
        return True

    async def aclose(self) -> None:
        await asyncio.gather(*(self.close(i) for i in list(self._open)), return_exceptions=True)
