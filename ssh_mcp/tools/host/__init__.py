"""Group ``host``: probes of a host's health, and the agents' notes about it."""

from __future__ import annotations

from ssh_mcp.tools._catalog import catalog
from ssh_mcp.tools.host import network, notes, probes

TOOLS = catalog(
    (
        "ssh_host_ping",
        "ssh_host_info",
        "ssh_host_disk_usage",
        "ssh_host_alerts",
        "ssh_host_processes",
        "ssh_host_network",
        "ssh_user_info",
        "ssh_known_hosts_verify",
        "ssh_host_notes",
        "ssh_host_notes_append",
        "ssh_host_notes_set",
    ),
    probes,
    network,
    notes,
)
