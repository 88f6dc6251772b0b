"""Confinement of ``local_path`` arguments to SSH_LOCAL_TRANSFER_ROOTS.

These paths are on the server's own disk, so they resolve here with
``os.path.realpath`` (every symlink followed). The feature is off while no
root is configured. Roots are compared on whole components, as remote paths are.
The server's own files (keys, known_hosts, configuration, audit log, ...) are
refused whatever the roots say: the app passes their paths in, resolved here on
every call (DECISIONS.md 44).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from ssh_mcp.errors import PathNotAllowed
from ssh_mcp.policy.paths import is_within, precheck


def _ident(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _ancestors(real: str) -> dict[tuple[int, int], str]:
    """The identity (device, inode) of ``real`` and of every directory above it."""
    found: dict[tuple[int, int], str] = {}
    here = real
    while True:
        if (ident := _ident(here)) is not None:
            found.setdefault(ident, here)
        up = os.path.dirname(here)
        if up == here:
            return found
        here = up


def _children(entry: str) -> list[str]:
    """A protected directory's own entries (not deeper): what a hard link can name."""
    try:
        with os.scandir(entry) as it:
            return [e.path for e in it]
    except OSError:
        return []


def _protected(real: str, protected: Sequence[str]) -> str | None:
    """The protected path ``real`` lies in (or holds), by either spelling; or the same file
    or directory under a name no string comparison sees: a hard link, a bind mount, another
    case on a case-insensitive filesystem (``~/.SSH/id_ed25519``)."""
    ancestors = _ancestors(real)
    try:
        linked = os.stat(real).st_nlink > 1 and os.path.isfile(real)
    except OSError:
        linked = False
    for entry in protected:
        for spelling in dict.fromkeys((entry, os.path.realpath(entry))):
            if is_within(real, spelling) or is_within(spelling, real):
                return spelling
        if (ident := _ident(entry)) is not None and ident in ancestors:
            return entry
        if linked and os.path.isdir(entry):
            for child in _children(entry):
                if (ident := _ident(child)) is not None and ident in ancestors:
                    return child
    return None


def confine_local(
    path: str,
    roots: Sequence[str],
    *,
    create: bool,
    protected: Sequence[str] = (),
    runs_later: Callable[[str], str | None] | None = None,
) -> str:
    """The resolved ``path`` if it lies inside a root and is none of ``protected`` (nor
    inside or around one), and, to be created, is no file that ``runs_later`` names (the
    sensitive-file patterns: a download onto the server's own ``~/.bashrc`` is code the
    server's user runs); raise PathNotAllowed otherwise."""
    if not roots:
        raise PathNotAllowed(
            "local_path is off: set SSH_LOCAL_TRANSFER_ROOTS to the local directories "
            "transfers may use, or omit local_path"
        )
    precheck(path)
    if not os.path.isabs(path):
        raise PathNotAllowed("local_path must be absolute")
    real = os.path.realpath(path)
    if not create and not os.path.exists(real):
        raise PathNotAllowed(f"local_path {path} does not exist")
    if create and not os.path.isdir(os.path.dirname(real)):
        raise PathNotAllowed(f"the directory of local_path {path} does not exist")
    resolved_roots = [os.path.realpath(r) for r in roots]
    if not any(is_within(real, root) for root in resolved_roots):
        raise PathNotAllowed(
            f"local_path resolves to {real}, outside SSH_LOCAL_TRANSFER_ROOTS "
            f"({', '.join(resolved_roots)}); use a path inside them"
        )
    if (hit := _protected(real, protected)) is not None:
        raise PathNotAllowed(
            f"local_path {path} resolves to {real}, which is or holds the server's own file "
            f"{hit} (keys, known_hosts, configuration, audit log, jobs or notes); those are "
            "never read or written through local_path, use another file"
        )
    if create and runs_later is not None and (label := runs_later(real)) is not None:
        raise PathNotAllowed(
            f"local_path {path} resolves to {real}, which the server's own logins or "
            f"services would run ({label}); downloads never write there, use another file"
        )
    return real
