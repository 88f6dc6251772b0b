"""The tool registry: every tool, declared once, in one tuple.

Each module ends with ``TOOLS = (ToolSpec(...), ...)``; ``ALL_TOOLS`` joins
them. tools/list, dispatch, the registry tests and TOOLS.md read this tuple.
"""

from __future__ import annotations

from typing import Any

from ssh_mcp.spec import ToolSpec
from ssh_mcp.tools import exec as _exec
from ssh_mcp.tools import host, local, sftp_read

ALL_TOOLS: tuple[ToolSpec[Any, Any], ...] = (
    *local.TOOLS,
    *host.TOOLS,
    *sftp_read.TOOLS,
    *_exec.TOOLS,
)
