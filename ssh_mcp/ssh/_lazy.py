"""``asyncssh``, imported on first use rather than with this package.

asyncssh (with cryptography) takes about 0.1 s to import, a seventh of the
server's cold start, and no connection opens before the first tool call. Each
ssh-layer module binds the name ``asyncssh`` to :data:`asyncssh` at run time
and to the real module under ``TYPE_CHECKING``, so mypy checks every use
against asyncssh itself while the import waits for the first attribute access.
(importlib's LazyLoader does not help on Python 3.11: ``import asyncssh`` in a
second module reads ``__spec__`` and that already loads it.)
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule:
    __slots__ = ("_module",)

    def __init__(self) -> None:
        self._module: ModuleType | None = None

    def __getattr__(self, name: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module("asyncssh")
        return getattr(module, name)


asyncssh: Any = _LazyModule()
