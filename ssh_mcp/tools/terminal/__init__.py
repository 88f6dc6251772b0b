"""Group ``terminal``: programs on a pseudo-terminal, and network-device CLIs."""

from __future__ import annotations

from ssh_mcp.tools._catalog import catalog
from ssh_mcp.tools.terminal import cli, pty

TOOLS = catalog(
    (
        "ssh_pty_open",
        "ssh_pty_send",
        "ssh_pty_key",
        "ssh_pty_read",
        "ssh_pty_resize",
        "ssh_pty_close",
        "ssh_pty_list",
        "ssh_cli_run",
    ),
    pty,
    cli,
)
