"""Shared pieces of the file-ops tools: path wording, modes, and cleanup after a failure.

The tools change single files through ``ctx.remote(op, replay=False)``: a
change is never replayed on a fresh connection, so a drop mid-way is
ConnectionDropped. Trees are never walked over SFTP, which names every path
from / and so follows a directory swapped for a symlink mid-walk:
:mod:`ssh_mcp.tools._anchored` changes them on the host.
"""

from __future__ import annotations

import contextlib
import stat as statmod
from collections.abc import Awaitable, Callable

import anyio


def octal(mode: int) -> str:
    return f"{statmod.S_IMODE(mode):04o}"


def inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


async def quietly(op: Callable[[], Awaitable[None]]) -> bool:
    """Clean up after a failure or a cancel, shielded and bounded; False when it failed."""
    with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
        with anyio.fail_after(30):
            await op()
            return True
    return False
