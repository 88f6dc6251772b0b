"""What the terminal tools reach through their context (DECISIONS.md 73 and 72): the table
of open terminals, a way to open one on the call's host, and the host's device CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ssh_mcp.config.cli_profiles import CliConfig
from ssh_mcp.ssh.pty import Pty
from ssh_mcp.ssh.screen import plain
from ssh_mcp.state.ptys import PtyTable

__all__ = ["DeviceCommands", "Terminals", "plain"]


@dataclass(frozen=True)
class DeviceCommands:
    """Marks a ``list[str]`` of device CLI commands: dispatch checks each against the host's
    ``cli.commands`` and asks a human before one that enters a configuration mode."""


class Terminals(Protocol):
    @property
    def table(self) -> PtyTable:
        """The server's open terminals (:mod:`ssh_mcp.state.ptys`)."""
        ...

    @property
    def device(self) -> CliConfig | None:
        """The bound host's device CLI, or None when it is not a device."""
        ...

    async def open(self, command: str | None, *, term: str, cols: int, rows: int) -> Pty:
        """Start ``command`` (None: the login shell, a device's CLI) on a PTY on the host,
        holding a channel slot while it lives."""
        ...

    async def connect(self) -> None:
        """Reach the host and authenticate (a pooled connection), running nothing."""
        ...

    async def enable_secret(self) -> str:
        """The device's enable secret, from its ``cli.enable_cmd``."""
        ...
