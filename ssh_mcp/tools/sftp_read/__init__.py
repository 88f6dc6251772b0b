"""Group ``sftp-read``: reading files and directories, never changing them."""

from __future__ import annotations

from ssh_mcp.tools._catalog import catalog
from ssh_mcp.tools.sftp_read import content, find, listing, redacted

TOOLS = catalog(
    (
        "ssh_sftp_list",
        "ssh_sftp_stat",
        "ssh_sftp_download",
        "ssh_find",
        "ssh_file_hash",
        "ssh_read_redacted",
    ),
    listing,
    content,
    redacted,
    find,
)
