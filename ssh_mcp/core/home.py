"""``~`` in remote paths, between the policy that spells it and the host that knows it.

The rule (absolute, or ``~``/``~/`` for the login user's home) is
:mod:`ssh_mcp.policy.paths`'s; the home is the host's answer, asked only when
a path names it. What leaves here is absolute: the SSH layer never sees a
``~`` (DECISIONS.md 56).
"""

from __future__ import annotations

from collections.abc import Sequence

from ssh_mcp.policy.paths import expand_configured, expand_home, names_home
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.sftp import home
from ssh_mcp.ssh.spellings import login_home


async def absolute(pc: PooledConnection, path: str) -> str:
    """A tool's ``path`` with ``~`` expanded; PathNotAllowed for a relative one."""
    return expand_home(path, await home(await pc.sftp()) if names_home(path) else None)


async def absolute_configured(pc: PooledConnection, paths: Sequence[str]) -> tuple[str, ...]:
    """Configured allowlist roots or restricted zones with ``~`` expanded (one question to
    the host for all of them)."""
    here = await login_home(pc) if any(names_home(p) for p in paths) else None
    return tuple(expand_configured(p, here) for p in paths)
