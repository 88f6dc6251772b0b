"""The tool registry: every tool, declared once, in one tuple.

Each tool module ends with ``TOOLS = (ToolSpec(...), ...)``; a group's package
orders its modules' tools into its catalogue (``_catalog.catalog``), and
``ALL_TOOLS`` joins the groups. tools/list, dispatch, the registry tests and
TOOLS.md read this tuple.
"""

from __future__ import annotations

from typing import Any

from ssh_mcp.core.spec import ToolSpec
from ssh_mcp.tools import (
    docker,
    file_ops,
    forward,
    host,
    local,
    pkg,
    search,
    sftp_read,
    shell,
    sudo,
    systemd,
    terminal,
)
from ssh_mcp.tools import exec as _exec

ALL_TOOLS: tuple[ToolSpec[Any, Any], ...] = (
    *local.TOOLS,
    *host.TOOLS,
    *sftp_read.TOOLS,
    *file_ops.TOOLS,
    *_exec.TOOLS,
    *shell.TOOLS,
    *terminal.TOOLS,
    *sudo.TOOLS,
    *forward.TOOLS,
    *systemd.TOOLS,
    *pkg.TOOLS,
    *docker.TOOLS,
    *search.TOOLS,
)
