"""The spellings under which a configured path is reached on a host.

A path in the operator's configuration (an allowlist root, a restricted zone)
is written as the operator thinks of it: ``~/vault``, ``/srv/current/secret``
with ``current`` a symlink. Tool paths are compared after the host resolved
them, so the configured one must be resolved on the same host too, on every
call: a link may be switched, or the path may appear later. This module only
answers "which strings"; what they admit or refuse is the policy's business,
and so is ``~``: the paths given here are already absolute
(core expands it first, with the home :meth:`Remote.home` reports).
"""

from __future__ import annotations

import asyncio
import posixpath
import shlex
import stat as statmod
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ssh_mcp.errors import PathNotAllowed, RemoteError
from ssh_mcp.ssh.elevated import sudo_refusal
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.process import run_process
from ssh_mcp.ssh.sftp import MAX_LINKS, canonicalize, require_absolute
from ssh_mcp.ssh.sudo_io import Elevation

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh


def _lexical(path: str) -> str:
    return "/" + posixpath.normpath(path).lstrip("/")


def _absolute(paths: Sequence[str]) -> Sequence[str]:
    """``paths`` as given (``~`` expanded, not normalized: ``a/link/../b`` means what the host
    makes of it, which text normalization gets wrong after a link)."""
    for path in paths:
        require_absolute(path)
    return paths


async def _deepest(sftp: asyncssh.SFTPClient, path: str) -> str | None:
    """The deepest ancestor of ``path`` the host will resolve, resolved, plus the rest as
    written: the best guess for a path behind a directory the login user may not read."""
    parts = path.split("/")
    for cut in range(len(parts) - 1, 1, -1):
        try:
            head = str(await sftp.realpath("/".join(parts[:cut])))
        except asyncssh.SFTPError:
            continue
        return posixpath.join(head, *parts[cut:])
    return None


async def _resolved(sftp: asyncssh.SFTPClient, path: str, *, follow: bool) -> str | None:
    try:
        return await canonicalize(sftp, path, create=True, follow=follow)
    except (RemoteError, PathNotAllowed):  # unreadable, a loop, ".." past a missing name
        return await _deepest(sftp, path) if follow else None


async def spellings(
    pc: PooledConnection, paths: Sequence[str], *, parents: bool
) -> list[tuple[str, ...]]:
    """Per path: as written (``~`` expanded, normalized), resolved by the login user
    (every link followed, a missing tail appended as written), and with ``parents`` also
    its directory resolved and its own name kept (the link itself, not its target).

    What cannot be resolved (a directory the login user may not enter, a loop) is left
    out; the written spelling is always there.
    """
    raw = _absolute(paths)  # resolved by the host as written
    written = [_lexical(p) for p in raw]
    sftp = await pc.sftp()
    follows = (True, False) if parents else (True,)
    found = await asyncio.gather(
        *(
            _resolved(sftp, r, follow=f)
            for w, r in zip(written, raw, strict=True)
            for f in follows
            if w != "/"
        )
    )
    out, it = [], iter(found)
    for w, r in zip(written, raw, strict=True):
        extra = [s for s in ([next(it) for _ in follows] if w != "/" else []) if s is not None]
        # A ".." after a link makes the text spelling another place: for a zone it only
        # adds a refusal, for a root (no parents) it would admit that place too.
        keep = parents or not extra or ".." not in r.split("/")
        out.append(tuple(dict.fromkeys([w, *extra] if keep else extra)))
    return out


async def _links_met(sftp: asyncssh.SFTPClient, path: str) -> list[str]:
    """Where each symbolic link met while resolving ``path`` lies, name by name (its
    directory resolved, its own name kept), links inside link targets included. Stops at
    a missing or unreadable name, or after MAX_LINKS links."""
    found: list[str] = []
    parts, here = [p for p in path.split("/") if p], "/"
    while parts and len(found) < MAX_LINKS:
        name = parts.pop(0)
        if name in (".", ".."):
            here = posixpath.dirname(here) if name == ".." else here
            continue
        step = posixpath.join(here, name)
        try:
            attrs = await sftp.lstat(step)
            if attrs.permissions is None or not statmod.S_ISLNK(attrs.permissions):
                here = step
                continue
            target = str(await sftp.readlink(step))
        except asyncssh.SFTPError:
            break
        found.append(step)
        here = "/" if target.startswith("/") else here
        parts = [p for p in target.split("/") if p] + parts
    return found


async def links_met(pc: PooledConnection, paths: Sequence[str]) -> tuple[str, ...]:
    """Every symbolic link met while the login user resolves ``paths``: the links a zone
    depends on, which no entry operation may delete, move or replace (a link two hops
    away is on neither the written nor the resolved spelling)."""
    sftp = await pc.sftp()
    found = await asyncio.gather(*(_links_met(sftp, p) for p in _absolute(paths)))
    return tuple(dict.fromkeys(link for group in found for link in group))


async def spellings_as_root(
    pc: PooledConnection,
    paths: Sequence[str],
    elevate: Elevation,
    timeout: float,
    *,
    parents: bool,
) -> list[tuple[str, ...]]:
    """As :func:`spellings`, resolved by root (``realpath -m``, one sudo call), for the
    sudo tools, whose paths root resolves."""
    if not paths:
        return []
    written = [_lexical(p) for p in _absolute(paths)]
    raw = [p.rstrip("/") or "/" for p in paths]  # realpath -m resolves ".."
    asked = list(raw)
    if parents:
        asked += [posixpath.dirname(r) for r in raw]
    result = await run_process(
        pc,
        shlex.join(["realpath", "-m", "--", *asked]),
        timeout=timeout,
        stdout_cap=1 << 20,
        stderr_cap=4096,
        elevate=elevate,
    )
    if result.elevated is False:
        raise sudo_refusal(result)
    lines = result.stdout.kept.decode("utf-8", "replace").splitlines()
    if result.exit_code != 0 or len(lines) != len(asked):
        # A loop or a name with a newline: what the login user can resolve, at least.
        return await spellings(pc, paths, parents=parents)
    out = []
    for i, w in enumerate(written):
        found = [lines[i]]
        if parents and w != "/" and posixpath.basename(raw[i]) not in (".", ".."):
            found.append(posixpath.join(lines[len(written) + i], posixpath.basename(raw[i])))
        out.append(tuple(dict.fromkeys([w, *(_lexical(s) for s in found if s.startswith("/"))])))
    return out
