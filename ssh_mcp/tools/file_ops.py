"""(being written)"""

from __future__ import annotations

from typing import Any

from ssh_mcp.spec import ToolSpec

TOOLS: tuple[ToolSpec[Any, Any], ...] = ()
