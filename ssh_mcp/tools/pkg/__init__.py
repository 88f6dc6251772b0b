"""Group ``pkg``: packages on APT hosts: reads in the read tier, changes dangerous, as root."""

from __future__ import annotations

from ssh_mcp.tools._catalog import catalog
from ssh_mcp.tools.pkg import changes, reads

TOOLS = catalog(
    (
        "ssh_pkg_list",
        "ssh_pkg_search",
        "ssh_pkg_show",
        "ssh_pkg_holds",
        "ssh_pkg_install",
        "ssh_pkg_upgrade",
        "ssh_pkg_remove",
        "ssh_pkg_autoremove",
        "ssh_pkg_mark",
    ),
    reads,
    changes,
)
