"""Dispatch's paths step: every path field to a canonical value that the policy admits.

Remote paths resolve on their host (symlinks followed, as the operation will
see them), through the typed remote API, one operation per path
(:class:`Resolver`); so do the host's allowlist roots and restricted zones, on
every call (DECISIONS.md 43 and 56). Local paths resolve on the server's disk and never
reach the server's own files (DECISIONS.md 44); this module does that disk's
I/O too (DECISIONS.md 52). The comparisons themselves are the pure functions of
:mod:`ssh_mcp.policy.paths` and :mod:`ssh_mcp.policy.local`.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from ssh_mcp.core.app import App
from ssh_mcp.core.context import Elevations, Target
from ssh_mcp.core.home import absolute, absolute_configured
from ssh_mcp.core.remote import Remote
from ssh_mcp.core.spec import LocalPath, RemotePath, ToolSpec
from ssh_mcp.errors import RemoteError, SSHMCPError
from ssh_mcp.policy import hosts as host_policy
from ssh_mcp.policy.local import Ident, LocalView, ProtectedEntry, check_local_path, judge_local
from ssh_mcp.policy.paths import (
    check_entry,
    check_path,
    check_spelling,
    check_tree,
    home_form,
    precheck,
)
from ssh_mcp.ssh.pool import Lease
from ssh_mcp.ssh.sudo_io import Elevation

T = TypeVar("T")
Spellings = tuple[tuple[str, ...], tuple[str, ...]]


class PathRecord(Protocol):
    """What of the call's audit record path confinement fills in."""

    extra: dict[str, str]

    def add_path(self, field_name: str, digest: str) -> None: ...


def _flat(found: list[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(s for group in found for s in group)


#: A component the home-anchored sensitive patterns name (``~/bin``); only then is the
#: login user's home asked for.
_HOME_NAMED = re.compile(r"/bin(?:/|$)")


def _used(fact: T | SSHMCPError) -> T:
    """A fact gathered on the host, or the error met gathering it, raised only now: errors
    surface in the order the checks would have met them one by one."""
    if isinstance(fact, SSHMCPError):
        raise fact
    return fact


@dataclass(frozen=True)
class Admitted:
    """A remote path the host's policy admits."""

    canonical: str
    #: The host's restricted zones in every spelling it gives them now.
    zones: tuple[str, ...]
    #: ``canonical`` as ``~/…`` when it lies in the login user's home, if asked for.
    tilde: str | None


@dataclass(frozen=True)
class _Found:
    canonical: str
    #: None when not asked for (known already, or nothing configured).
    spellings: Spellings | SSHMCPError | None
    links: tuple[str, ...] | SSHMCPError | None
    tilde: str | None


class Resolver:
    """Remote paths of one call, resolved on their hosts through the typed remote API and
    admitted by the host's policy.

    One path costs one remote operation (one pool reservation): the path itself, the
    host's allowlist roots and restricted zones (DECISIONS.md 43: resolved on every
    call, never cached across calls, since a link may be switched), the links the zones
    are reached through and the login user's home, gathered together; the decisions
    are taken after, over what was found. Roots and zones are then kept for the rest
    of the call, per host. Root's resolution uses the call's :class:`Elevations`.
    """

    def __init__(self, app: App, elevations: Elevations, lease: Lease | None = None) -> None:
        self.app, self.elevations, self.lease = app, elevations, lease
        self._known: dict[str, dict[bool | str, Any]] = {}

    async def admit(
        self,
        target: Target,
        raw: str,
        marker: RemotePath,
        record: Callable[[str], None] = lambda canonical: None,
        *,
        home: bool = False,
    ) -> Admitted:
        """``raw`` resolved the way ``marker``'s operation will see it, recorded, and
        admitted (or PathNotAllowed); with ``home``, also its ``~/…`` spelling."""
        precheck(raw)
        check_spelling(raw)
        host, settings = target.host, self.app.settings
        known = self._known.setdefault(target.spec.key, {})
        roots = host_policy.path_allowlist(host, settings)
        zones = host_policy.restricted_paths(host, settings)
        entry = marker.recursive or marker.create or not marker.follow
        want_spellings = marker.sudo not in known and bool(roots or zones)
        want_links = entry and "links" not in known and bool(zones)
        timeout = settings.ssh_command_timeout

        async def elevate() -> Elevation:
            return await self.elevations.of(host)

        async def op(remote: Remote) -> _Found:
            path = await absolute(remote, raw)  # ~ expanded: ssh/ sees absolute paths only
            if marker.sudo:
                canonical = await remote.canonical_as_root(
                    path, await elevate(), timeout, create=marker.create
                )
            else:
                canonical = await remote.canonical(path, create=marker.create, follow=marker.follow)
            spell: Spellings | SSHMCPError | None = None
            links: tuple[str, ...] | SSHMCPError | None = None
            try:
                if want_spellings or want_links:
                    given = await absolute_configured(remote, (*roots, *zones))
                    at_roots, at_zones = given[: len(roots)], given[len(roots) :]
                if want_spellings:
                    spell = await _host_paths(
                        remote, at_roots, at_zones, marker.sudo, elevate, timeout
                    )
            except SSHMCPError as exc:
                spell = exc
            try:
                if want_links:
                    links = await remote.links_met(
                        await absolute_configured(remote, zones) if not want_spellings else at_zones
                    )
            except SSHMCPError as exc:
                links = exc
            tilde = await _home_spelling(remote, canonical) if home else None
            return _Found(canonical, spell, links, tilde)

        found = await self.app.reach.remote(target.spec, op, replay=True, lease=self.lease)
        record(found.canonical)  # denials show the path too
        if want_spellings:
            known[marker.sudo] = _used(found.spellings)
        known_roots, known_zones = known.get(marker.sudo, ((), ()))
        # An empty allowlist denies all; the message then names the setting to change.
        check_path(found.canonical, known_roots or roots, known_zones)
        if entry:
            # The links a zone is resolved through count as the zone's: an entry operation
            # on one, or a tree holding one, would re-point it.
            if "links" not in known:
                known["links"] = _used(found.links) if want_links else ()
            linked = (*known_zones, *known["links"])
            if marker.recursive:
                check_tree(found.canonical, linked)
            if marker.create or not marker.follow:  # the tool acts on the entry itself
                check_entry(found.canonical, known_roots, linked)
        return Admitted(found.canonical, known_zones, found.tilde)


async def _host_paths(
    remote: Remote,
    roots: Sequence[str],
    zones: Sequence[str],
    sudo: bool,
    elevate: Callable[[], Awaitable[Elevation]],
    timeout: float,
) -> Spellings:
    """The host's allowlist roots and restricted zones in every spelling the host gives
    them now: roots as written and resolved, zones also with their directory resolved
    and their own name kept; for ``sudo`` tools, whose paths root resolves, zones are
    resolved by root too."""
    if not sudo or not zones:
        found_roots, found_zones = await asyncio.gather(
            remote.spellings(roots, parents=False), remote.spellings(zones, parents=True)
        )
        return _flat(found_roots), _flat(found_zones)
    # Roots as the login user sees them (a root it cannot resolve only narrows the
    # allowlist); zones as root, or a zone behind a directory only root may enter
    # would be missed for the paths root resolves.
    found_roots = await remote.spellings(roots, parents=False)
    as_root = await remote.spellings_as_root(zones, await elevate(), timeout, parents=True)
    return _flat(found_roots), _flat(as_root)


async def _home_spelling(remote: Remote, canonical: str) -> str | None:
    """``canonical`` as ``~/…`` when it lies in the login user's home, wherever that is
    (not always under /home): the spelling the home-anchored sensitive patterns know."""
    if not _HOME_NAMED.search(canonical):
        return None
    try:
        here = await remote.home()
    except RemoteError:
        return None
    return home_form(canonical, here)


def _ident(path: str) -> Ident | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _ancestors(real: str) -> set[Ident]:
    """The identity (device, inode) of ``real`` and of every directory above it."""
    found: set[Ident] = set()
    here = real
    while True:
        if (ident := _ident(here)) is not None:
            found.add(ident)
        up = os.path.dirname(here)
        if up == here:
            return found
        here = up


def _children(entry: str) -> tuple[tuple[str, Ident], ...]:
    """A protected directory's own entries (not deeper): what a hard link can name."""
    try:
        with os.scandir(entry) as it:
            paths = [e.path for e in it]
    except OSError:
        return ()
    return tuple((p, ident) for p in paths if (ident := _ident(p)) is not None)


def look_local(real: str, roots: Sequence[str], protected: Sequence[str]) -> LocalView:
    """What the server's disk says about the resolved ``real``, its roots and the server's
    own files, for :func:`ssh_mcp.policy.local.judge_local`."""
    try:
        linked = os.stat(real).st_nlink > 1 and os.path.isfile(real)
    except OSError:
        linked = False
    entries = tuple(
        ProtectedEntry(
            entry,
            tuple(dict.fromkeys((entry, os.path.realpath(entry)))),
            _ident(entry),
            _children(entry) if linked and os.path.isdir(entry) else (),
        )
        for entry in protected
    )
    return LocalView(
        real=real,
        exists=os.path.exists(real),
        parent_is_dir=os.path.isdir(os.path.dirname(real)),
        roots=tuple(os.path.realpath(r) for r in roots),
        ancestors=_ancestors(real),
        protected=entries,
    )


def confine_local(
    path: str,
    roots: Sequence[str],
    *,
    create: bool,
    protected: Sequence[str] = (),
    runs_later: Callable[[str], str | None] | None = None,
) -> str:
    """``path`` resolved on the server's disk and admitted by the local policy, or
    PathNotAllowed: see :func:`ssh_mcp.policy.local.judge_local`."""
    check_local_path(path, roots)
    view = look_local(os.path.realpath(path), roots, protected)
    return judge_local(path, view, create=create, runs_later=runs_later)


async def confine_paths(
    app: App,
    spec: ToolSpec[Any, Any],
    args: BaseModel,
    targets: dict[str, Target],
    rec: PathRecord,
    resolver: Resolver,
) -> dict[str, str]:
    """Canonical, confined values for every remote and local path field. Each host's
    resolved zones are kept on its Target, for tools that prune them from a walk."""
    updates: dict[str, str] = {}
    for name in spec.marked_fields(RemotePath):
        marker = spec.field_marker(name, RemotePath)
        raw: str | None = getattr(args, name)
        if marker is None or raw is None:
            continue
        target = targets[marker.host]
        changes = not spec.annotations.read_only and name != "cwd"

        def record(canonical: str, name: str = name) -> None:
            rec.add_path(name, app.audit.digest(canonical))

        found = await resolver.admit(target, raw, marker, record, home=changes)
        also = target.also if found.tilde is None else (*target.also, found.tilde)
        targets[marker.host] = replace(target, zones=found.zones, also=also)
        updates[name] = found.canonical
    for name in spec.marked_fields(LocalPath):
        local = spec.field_marker(name, LocalPath)
        raw_local: str | None = getattr(args, name)
        if local is None or raw_local is None:
            continue
        roots = app.settings.ssh_local_transfer_roots
        updates[name] = confine_local(
            raw_local,
            roots,
            create=local.create,
            protected=app.protected_local,
            runs_later=app.deny.match_path,
        )
        rec.extra[f"{name}_hash"] = app.audit.digest(updates[name])
    return updates
