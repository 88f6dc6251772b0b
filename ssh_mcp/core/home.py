"""``~`` in remote paths, between the policy that spells it and the host that knows it.

The rule (absolute, or ``~``/``~/`` for the login user's home) is
:mod:`ssh_mcp.policy.paths`'s; the home is the host's answer, asked only when
a path names it. What leaves here is absolute: the SSH layer never sees a
``~`` (DECISIONS.md 56).
"""

from __future__ import annotations

from collections.abc import Sequence

from ssh_mcp.core.remote import Remote
from ssh_mcp.policy.paths import expand_configured, expand_home, names_home


async def absolute(remote: Remote, path: str) -> str:
    """A tool's ``path`` with ``~`` expanded; PathNotAllowed for a relative one."""
    return expand_home(path, await remote.home() if names_home(path) else None)


async def absolute_configured(remote: Remote, paths: Sequence[str]) -> tuple[str, ...]:
    """Configured allowlist roots or restricted zones with ``~`` expanded (one question to
    the host for all of them)."""
    wanted = any(names_home(p) for p in paths)
    here = await remote.home(action="resolving ~ in the configured paths") if wanted else None
    return tuple(expand_configured(p, here) for p in paths)
