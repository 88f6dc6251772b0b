"""Confinement of ``local_path`` arguments to SSH_LOCAL_TRANSFER_ROOTS.

These paths are on the server's own disk. :mod:`ssh_mcp.core.confine` resolves them
there (``os.path.realpath``, every symlink followed) and gathers what the disk
says into a :class:`LocalView`; this module decides over that view alone. The
feature is off while no root is configured. Roots are compared on whole
components, as remote paths are. The server's own files (keys, known_hosts,
configuration, audit log, ...) are refused whatever the roots say: the app
passes their paths in, resolved on every call (DECISIONS.md 44, 52).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from ssh_mcp.errors import PathNotAllowed
from ssh_mcp.policy.paths import is_within, precheck

#: A file's identity on the server's disk: (device, inode).
Ident = tuple[int, int]


@dataclass(frozen=True)
class ProtectedEntry:
    """One of the server's own paths, as the disk shows it."""

    entry: str
    spellings: tuple[str, ...]  # as given, then resolved
    ident: Ident | None  # None when it does not exist
    #: Its own entries (not deeper), gathered only when the path asked about is a file with
    #: more than one link: what a hard link can name.
    children: tuple[tuple[str, Ident], ...] = ()


@dataclass(frozen=True)
class LocalView:
    """What the server's disk says about one ``local_path``."""

    real: str  # resolved
    exists: bool
    parent_is_dir: bool
    roots: tuple[str, ...]  # resolved
    ancestors: Collection[Ident]  # of ``real`` and of every directory above it
    protected: tuple[ProtectedEntry, ...]


def names_local_file(arg: str) -> bool:
    """Whether an argument of a secret command names a file on the server's disk (``/...``,
    ``~/...`` or ``~user/...``, which the server's own tilde expansion resolves): such a
    file is the server's own, like the command itself."""
    return arg.startswith(("/", "~"))


def check_local_path(path: str, roots: Sequence[str]) -> None:
    """What is refused before the disk is asked: the feature off, a bad or relative path."""
    if not roots:
        raise PathNotAllowed(
            "local_path is off: set SSH_LOCAL_TRANSFER_ROOTS to the local directories "
            "transfers may use, or omit local_path"
        )
    precheck(path)
    if not posixpath.isabs(path):
        raise PathNotAllowed("local_path must be absolute")


def protected_hit(view: LocalView) -> str | None:
    """The protected path ``view.real`` lies in (or holds), by either spelling; or the same
    file or directory under a name no string comparison sees: a hard link, a bind mount,
    another case on a case-insensitive filesystem (``~/.SSH/id_ed25519``)."""
    for p in view.protected:
        for spelling in p.spellings:
            if is_within(view.real, spelling) or is_within(spelling, view.real):
                return spelling
        if p.ident is not None and p.ident in view.ancestors:
            return p.entry
        for child, ident in p.children:
            if ident in view.ancestors:
                return child
    return None


def judge_local(
    path: str,
    view: LocalView,
    *,
    create: bool,
    runs_later: Callable[[str], str | None] | None = None,
) -> str:
    """The resolved ``path`` if it lies inside a root and is none of the protected paths
    (nor inside or around one), and, to be created, is no file that ``runs_later`` names
    (the sensitive-file patterns: a download onto the server's own ``~/.bashrc`` is code
    the server's user runs); raise PathNotAllowed otherwise."""
    real = view.real
    if not create and not view.exists:
        raise PathNotAllowed(f"local_path {path} does not exist")
    if create and not view.parent_is_dir:
        raise PathNotAllowed(f"the directory of local_path {path} does not exist")
    if not any(is_within(real, root) for root in view.roots):
        raise PathNotAllowed(
            f"local_path resolves to {real}, outside SSH_LOCAL_TRANSFER_ROOTS "
            f"({', '.join(view.roots)}); use a path inside them"
        )
    if (hit := protected_hit(view)) is not None:
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
