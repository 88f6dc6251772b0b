"""The typed remote API as tools see it: the one door from ``tools/`` to a host.

A tool reaches its host only through its :class:`~ssh_mcp.core.spec.ToolContext`:
``ctx.remote(op, replay=...)`` hands ``op`` a :class:`Remote` (files, streams,
atomic writes, copies), and ``ctx.run`` runs processes. This module names the
types those return, so that ``tools/`` never imports ``ssh_mcp.ssh`` or asyncssh
(``tests/test_layers.py``). :func:`sudo_refusal` is the one error a tool builds
from a :class:`ProcessResult`: why a ``sudo=True`` run did not run as root;
:func:`temp_name` names the hidden sibling a change is built in.
"""

from __future__ import annotations

from ssh_mcp.ssh.elevated import sudo_refusal
from ssh_mcp.ssh.process import CappedBuffer, ProcessResult
from ssh_mcp.ssh.remote import DirEntry, FileAttrs, Remote
from ssh_mcp.ssh.transfer import Copied, Progress, Stamp, Written, temp_name

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
    "sudo_refusal",
    "temp_name",
]
