"""A group's catalogue: its tools, from the modules that declare them, in the order shown."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ssh_mcp.core.spec import ToolSpec


def catalog(order: tuple[str, ...], *modules: ModuleType) -> tuple[ToolSpec[Any, Any], ...]:
    """The ``TOOLS`` of ``modules`` in the order of ``order``, which names each exactly once."""
    declared = {spec.name: spec for module in modules for spec in module.TOOLS}
    if sorted(order) != sorted(declared):
        raise RuntimeError(f"catalogue {order} does not match the declared {sorted(declared)}")
    return tuple(declared[name] for name in order)
