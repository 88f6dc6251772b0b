"""The server's port forwards (:mod:`ssh_mcp.ssh.forward`), by id.

A forward lives until ``ssh_forward_close``, until its connection drops, or until
the server stops (:meth:`ForwardTable.aclose` runs on shutdown). Ended forwards are
forgotten whenever the table is used, so no background task is needed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Literal

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

    def __init__(self) -> None:
        self._open: dict[str, ForwardEntry] = {}

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
