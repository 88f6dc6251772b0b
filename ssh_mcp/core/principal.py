"""Who is calling over HTTP, and the scope that narrows what they see.

MERGE NOTE (h11-oauth): kept minimal on purpose; h11-tokens builds the same idea for
scoped static tokens, and the lead keeps one of the two. A principal only narrows:
the server's own flags (tiers, groups, host lists) decide first, then its scope.
"""

from __future__ import annotations

import fnmatch
from contextvars import ContextVar
from dataclasses import dataclass

from ssh_mcp.core.access import Group, Tier


@dataclass(frozen=True)
class Principal:
    """A name for the audit log and the tiers, groups and host globs it may use.
    ``None`` for groups or hosts means no narrowing on that axis."""

    name: str
    tiers: frozenset[Tier]
    groups: frozenset[Group] | None = None
    hosts: tuple[str, ...] | None = None

    def allows_tool(self, tier: Tier, group: Group) -> bool:
        return tier in self.tiers and (self.groups is None or group in self.groups)

    def allows_host(self, alias: str) -> bool:
        return self.hosts is None or any(fnmatch.fnmatchcase(alias, g) for g in self.hosts)


#: The principal of the request being served; ``None`` on stdio and for static tokens.
CURRENT: ContextVar[Principal | None] = ContextVar("ssh_mcp_principal", default=None)
