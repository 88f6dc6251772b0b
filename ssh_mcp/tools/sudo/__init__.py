"""Group ``sudo``: commands and file access as root, through sudo."""

from __future__ import annotations

from ssh_mcp.tools._catalog import catalog
from ssh_mcp.tools.sudo import files, redacted, run

TOOLS = catalog(
    (
        "ssh_sudo_exec",
        "ssh_sudo_run_script",
        "ssh_sudo_write",
        "ssh_sudo_edit",
        "ssh_sudo_read",
        "ssh_sudo_read_redacted",
        "ssh_sudo_sftp_list",
    ),
    run,
    files,
    redacted,
)
