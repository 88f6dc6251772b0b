"""Group ``forward``: port forwards through a host, each destination on its allowlist."""

from __future__ import annotations

from ssh_mcp.tools._catalog import catalog
from ssh_mcp.tools.forward import manage, open

TOOLS = catalog(
    (
        "ssh_forward_local",
        "ssh_forward_socks",
        "ssh_forward_remote",
        "ssh_forward_list",
        "ssh_forward_close",
    ),
    open,
    manage,
)
