"""Group ``file-ops``: creating, changing, copying and moving files, each change atomic."""

from __future__ import annotations

from ssh_mcp.tools._catalog import catalog
from ssh_mcp.tools.file_ops import copy, entries, transfer, write

TOOLS = catalog(
    (
        "ssh_upload",
        "ssh_deploy",
        "ssh_edit",
        "ssh_patch",
        "ssh_mkdir",
        "ssh_delete",
        "ssh_delete_folder",
        "ssh_cp",
        "ssh_mv",
        "ssh_link",
        "ssh_transfer",
    ),
    write,
    entries,
    copy,
    transfer,
)
