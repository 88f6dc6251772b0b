"""Group ``systemd``: services and their journal; reads as the login user, changes as root."""

from __future__ import annotations

from ssh_mcp.tools._catalog import catalog
from ssh_mcp.tools.systemd import changes, journal, reads

TOOLS = catalog(
    (
        "ssh_systemctl_status",
        "ssh_systemctl_is_active",
        "ssh_systemctl_is_enabled",
        "ssh_systemctl_is_failed",
        "ssh_systemctl_list_units",
        "ssh_systemctl_show",
        "ssh_systemctl_cat",
        "ssh_journalctl",
        "ssh_systemctl_start",
        "ssh_systemctl_stop",
        "ssh_systemctl_restart",
        "ssh_systemctl_reload",
        "ssh_systemctl_enable",
        "ssh_systemctl_disable",
        "ssh_systemctl_mask",
        "ssh_systemctl_unmask",
        "ssh_systemctl_reset_failed",
    ),
    reads,
    journal,
    changes,
)
