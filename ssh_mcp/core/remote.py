"""The typed remote API as tools see it: the one door from ``tools/`` to a host.

A tool reaches its host only through its :class:`~ssh_mcp.core.spec.ToolContext`:
``ctx.remote(op, replay=...)`` hands ``op`` a :class:`Remote` (files, streams,
atomic writes, copies), and ``ctx.run`` runs processes. This module names the
types those return, so that ``tools/`` never imports ``ssh_mcp.ssh`` or asyncssh
(``tests/test_layers.py``).
"""

from __future__ import annotations

from ssh_mcp.ssh.process import CappedBuffer, ProcessResult
from ssh_mcp.ssh.remote import DirEntry, FileAttrs, Remote
from ssh_mcp.ssh.transfer import Copied, Progress, Stamp, Written

__all__ = [
    "CappedBuffer",
    "Copied",
    "DirEntry",
    "FileAttrs",
    "ProcessResult",
    "Progress",
    "Remote",
    "Stamp",
    "Written",
]
