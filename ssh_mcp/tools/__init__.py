"""The tool registry: every tool, declared once, in one tuple.

Each module ends with ``TOOLS = (ToolSpec(...), ...)``; ``ALL_TOOLS`` joins
them. tools/list, dispatch, the registry tests and TOOLS.md read this tuple.
"""

from __future__ import annotations

from typing import Any

from ssh_mcp.core.spec import ToolSpec
from ssh_mcp.tools import (
    broadcast,
    exec_more,
    file_ops,
    file_write,
    host,
    jobs,
    local,
    notes,
    redacted,
    sftp_files,
    sftp_read,
    shell,
    sudo,
    sudo_files,
    transfer,
)
from ssh_mcp.tools import exec as _exec

ALL_TOOLS: tuple[ToolSpec[Any, Any], ...] = (
    *local.TOOLS,
    *host.TOOLS,
    *notes.TOOLS,
    *sftp_read.TOOLS,
    *sftp_files.TOOLS,
    *redacted.TOOLS,
    *file_write.TOOLS,
    *file_ops.TOOLS,
    *transfer.TOOLS,
    *_exec.TOOLS,
    *exec_more.TOOLS,
    *jobs.TOOLS,
    *broadcast.TOOLS,
    *shell.TOOLS,
    *sudo.TOOLS,
    *sudo_files.TOOLS,
)
