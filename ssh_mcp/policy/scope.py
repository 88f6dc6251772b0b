"""What one HTTP token may reach, as pure decisions (DECISIONS.md 65).

A scope only ever narrows what the server's own flags open: its tiers and groups are
intersected with the open ones, its host globs are matched against aliases (and every
jump host on the way, since jumping through a host is using it). ``None`` means "no
narrowing on this axis"; the static SSH_HTTP_TOKEN_CMD token has the full scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from ssh_mcp.config.inventory import Inventory
from ssh_mcp.config.settings import Settings

TIERS = ("read", "low-access", "dangerous", "sudo")
GROUPS = (
    "host",
    "session",
    "sftp-read",
    "file-ops",
    "exec",
    "shell",
    "sudo",
    "systemd",
    "docker",
    "pkg",
    "terminal",
    "forward",
)


@dataclass(frozen=True)
class Scope:
    """Host globs on aliases, tier names and group names; None on an axis allows all of it."""

    hosts: tuple[str, ...] | None = None
    tiers: frozenset[str] | None = None
    groups: frozenset[str] | None = None

    @property
    def full(self) -> bool:
        return self.hosts is None and self.tiers is None and self.groups is None

    def describe(self) -> str:
        """One line for ``token list``."""
        parts = [
            f"hosts={','.join(self.hosts) if self.hosts is not None else '*'}",
            f"tiers={','.join(sorted(self.tiers)) if self.tiers is not None else '*'}",
            f"groups={','.join(sorted(self.groups)) if self.groups is not None else '*'}",
        ]
        return " ".join(parts)


FULL = Scope()


def host_in_scope(scope: Scope, alias: str, hops: Iterable[str] = ()) -> bool:
    """True when ``alias`` and each of its jump hosts match one of the scope's globs."""
    if scope.hosts is None:
        return True
    return all(any(fnmatchcase(name, g) for g in scope.hosts) for name in (alias, *hops))


def tier_in_scope(scope: Scope, tier: str) -> bool:
    return scope.tiers is None or tier in scope.tiers


def group_in_scope(scope: Scope, group: str) -> bool:
    return scope.groups is None or group in scope.groups


def parse_names(text: str | None, known: tuple[str, ...], what: str) -> frozenset[str] | None:
    """``read,low-access`` to a set, checked against ``known``; None (all) when not given."""
    if text is None:
        return None
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    bad = sorted(names - set(known))
    if bad:
        raise ValueError(f"unknown {what} {bad[0]!r}; known: {', '.join(known)}")
    return names


def narrow_settings(settings: Settings, scope: Scope) -> Settings:
    """``settings`` with only the tiers, groups and allowlisted hostnames ``scope`` keeps:
    a flag is on only when the server turns it on *and* the scope names its tier; groups
    are intersected (an empty intersection is left to the caller, as "no group")."""
    if scope.full:
        return settings
    tiers = scope.tiers if scope.tiers is not None else frozenset(TIERS)
    groups = [g.value for g in settings.enabled_groups() if group_in_scope(scope, g.value)]
    update: dict[str, object] = {
        "allow_low_access_tools": settings.allow_low_access_tools and "low-access" in tiers,
        "allow_dangerous_tools": settings.allow_dangerous_tools and "dangerous" in tiers,
        "allow_sudo": settings.allow_sudo and "sudo" in tiers,
        "ssh_hosts_allowlist": [h for h in settings.ssh_hosts_allowlist if host_in_scope(scope, h)],
    }
    if groups:
        update["ssh_enabled_groups"] = sorted(groups)
    return settings.model_copy(update=update)


def narrow_inventory(inventory: Inventory, scope: Scope) -> Inventory:
    """The hosts (and their groups' members) ``scope`` reaches, jump hosts included."""
    if scope.hosts is None:
        return inventory
    hosts = {a: h for a, h in inventory.hosts.items() if host_in_scope(scope, a, h.proxy_jump)}
    groups = {
        name: kept
        for name, members in inventory.groups.items()
        if (kept := tuple(m for m in members if m in hosts))
    }
    return replace(inventory, hosts=hosts, groups=groups)
