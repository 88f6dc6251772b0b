"""Step 4 of dispatch: every path field to a canonical value that the policy admits.

Remote paths resolve on their host (symlinks followed, as the operation will
see them); so do the host's allowlist roots and restricted zones, on every
call (DECISIONS.md 43). Local paths resolve on the server's disk and never
reach the server's own files (DECISIONS.md 44); this module does that disk's
I/O too (DECISIONS.md 52). The comparisons themselves are the pure functions of
:mod:`ssh_mcp.policy.paths` and :mod:`ssh_mcp.policy.local`.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from ssh_mcp.core.app import App
from ssh_mcp.core.context import Target, elevation_for
from ssh_mcp.core.home import absolute, absolute_configured
from ssh_mcp.core.spec import LocalPath, RemotePath, ToolSpec
from ssh_mcp.errors import SSHMCPError
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
from ssh_mcp.ssh.elevated import realpath_as_root
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.sftp import canonicalize
from ssh_mcp.ssh.spellings import links_met, spellings, spellings_as_root

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

Spellings = tuple[tuple[str, ...], tuple[str, ...]]


class PathRecord(Protocol):
    """What of the call's audit record path confinement fills in."""

    extra: dict[str, str]

    def add_path(self, field_name: str, digest: str) -> None: ...


def _flat(found: list[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(s for group in found for s in group)


async def host_paths(app: App, target: Target, sudo: bool = False) -> Spellings:
    """The host's allowlist roots and restricted zones in every spelling the host gives
    them now: roots as written and resolved, zones also with their directory resolved
    and their own name kept; for ``sudo`` tools, whose paths root resolves, zones are
    resolved by root too. Never cached: a link switched or a zone created since the
    last call counts at once."""
    roots = host_policy.path_allowlist(target.host, app.settings)
    zones = host_policy.restricted_paths(target.host, app.settings)
    if not roots and not zones:
        return (), ()

    async def resolve(pc: PooledConnection) -> Spellings:
        given = await absolute_configured(pc, (*roots, *zones))  # ~ expanded
        at_roots, at_zones = given[: len(roots)], given[len(roots) :]
        if not sudo or not at_zones:
            found_roots, found_zones = await asyncio.gather(
                spellings(pc, at_roots, parents=False), spellings(pc, at_zones, parents=True)
            )
            return _flat(found_roots), _flat(found_zones)
        # Roots as the login user sees them (a root it cannot resolve only narrows the
        # allowlist); zones as root, or a zone behind a directory only root may enter
        # would be missed for the paths root resolves.
        elevate = await elevation_for(target.host)
        timeout = app.settings.ssh_command_timeout
        return (
            _flat(await spellings(pc, at_roots, parents=False)),
            _flat(await spellings_as_root(pc, at_zones, elevate, timeout, parents=True)),
        )

    return await app.pool.run(target.spec, resolve, replay=True)


async def canonical_remote(app: App, target: Target, raw: str, marker: RemotePath) -> str:
    """``raw`` resolved on the host the way ``marker``'s operation will see it."""
    precheck(raw)
    check_spelling(raw)

    async def resolve(pc: PooledConnection) -> str:
        path = await absolute(pc, raw)
        return await canonicalize(await pc.sftp(), path, create=marker.create, follow=marker.follow)

    async def resolve_as_root(pc: PooledConnection) -> str:
        path = await absolute(pc, raw)
        elevate = await elevation_for(target.host)
        timeout = app.settings.ssh_command_timeout
        return await realpath_as_root(pc, path, elevate, timeout, create=marker.create)

    return await app.pool.run(target.spec, resolve_as_root if marker.sudo else resolve, replay=True)


#: A component the home-anchored sensitive patterns name (``~/bin``); only then is the
#: login user's home asked for.
_HOME_NAMED = re.compile(r"/bin(?:/|$)")


async def home_spelling(app: App, target: Target, canonical: str) -> str | None:
    """``canonical`` as ``~/…`` when it lies in the login user's home, wherever that is
    (not always under /home): the spelling the home-anchored sensitive patterns know."""
    if not _HOME_NAMED.search(canonical):
        return None

    async def home(pc: PooledConnection) -> str:
        try:
            return str(await (await pc.sftp()).realpath("."))
        except asyncssh.SFTPError:
            return "/"

    try:
        here = await app.pool.run(target.spec, home, replay=True)
    except SSHMCPError:
        return None
    return home_form(canonical, here)


async def zone_links(app: App, target: Target) -> tuple[str, ...]:
    """The symbolic links the host's zones are resolved through (:func:`links_met`)."""
    zones = host_policy.restricted_paths(target.host, app.settings)
    if not zones:
        return ()

    async def links(pc: PooledConnection) -> tuple[str, ...]:
        return await links_met(pc, await absolute_configured(pc, zones))

    return await app.pool.run(target.spec, links, replay=True)


async def admit_remote(
    app: App, target: Target, canonical: str, marker: RemotePath, known: dict[bool | str, Spellings]
) -> tuple[str, ...]:
    """Raise PathNotAllowed unless the host's policy admits ``canonical``; return the
    host's zones. ``known`` keeps the spellings for the rest of this call."""
    if marker.sudo not in known:
        known[marker.sudo] = await host_paths(app, target, marker.sudo)
    roots, zones = known[marker.sudo]
    # An empty allowlist denies all; the message then names the setting to change.
    check_path(canonical, roots or host_policy.path_allowlist(target.host, app.settings), zones)
    if marker.recursive or marker.create or not marker.follow:
        # The links a zone is resolved through count as the zone's: an entry operation on
        # one, or a tree holding one, would re-point it.
        if "links" not in known:
            known["links"] = ((), await zone_links(app, target))
        linked = (*zones, *known["links"][1])
        if marker.recursive:
            check_tree(canonical, linked)
        if marker.create or not marker.follow:  # the tool acts on the entry itself
            check_entry(canonical, roots, linked)
    return zones


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
) -> dict[str, str]:
    """Canonical, confined values for every remote and local path field. Each host's
    resolved zones are kept on its Target, for tools that prune them from a walk."""
    updates: dict[str, str] = {}
    known: dict[str, dict[bool | str, Spellings]] = {}
    for name in spec.marked_fields(RemotePath):
        marker = spec.field_marker(name, RemotePath)
        raw: str | None = getattr(args, name)
        if marker is None or raw is None:
            continue
        target = targets[marker.host]
        canonical = await canonical_remote(app, target, raw, marker)
        rec.add_path(name, app.audit.digest(canonical))  # denials show the path too
        known_here = known.setdefault(marker.host, {})
        zones = await admit_remote(app, target, canonical, marker, known_here)
        also = target.also
        changes = not spec.annotations.read_only and name != "cwd"
        if changes and (tilde := await home_spelling(app, target, canonical)) is not None:
            also = (*also, tilde)
        targets[marker.host] = replace(target, zones=zones, also=also)
        updates[name] = canonical
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
