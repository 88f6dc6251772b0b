"""Path confinement: pure decisions over canonical remote paths.

Dispatch canonicalizes on the host first (symlinks followed); this module
only compares strings, on whole path components, so ``/srv/app`` admits
``/srv/app/x`` but not ``/srv/application``.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Sequence

from ssh_mcp.errors import PathNotAllowed

MAX_PATH = 4096
#: Characters that render like "/" or "." (division slash, fraction slash, fullwidth
#: solidus and full stop, one-dot leader, small full stop, big solidus).
_LOOKALIKES = frozenset("\u2215\u2044\u29f8\uff0f\uff0e\u2024\ufe52")


def precheck(path: str) -> None:
    """Refuse what no canonicalization should even see: NUL, control characters, overlong."""
    if len(path) > MAX_PATH:
        raise PathNotAllowed(f"path is longer than {MAX_PATH} characters")
    for i, ch in enumerate(path):
        if ch in _LOOKALIKES or (
            unicodedata.category(ch) == "Mn" and i > 0 and path[i - 1] in "./"
        ):
            raise PathNotAllowed(
                f"path contains U+{ord(ch):04X}, which looks like a path separator or dot; "
                "use plain / and ."
            )
        if ch == "\0" or unicodedata.category(ch) in ("Cc", "Cf"):
            raise PathNotAllowed(
                f"path contains control or format character U+{ord(ch):04X}; pass a plain path"
            )


def _norm(path: str) -> str:
    # normpath keeps a leading '//' (POSIX allows it a meaning); canonical paths never need it.
    norm = posixpath.normpath(path)
    return "/" + norm.lstrip("/")


def is_within(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` or below it, compared component by component."""
    p, r = _norm(path), _norm(root)
    return r == "/" or p == r or p.startswith(r + "/")


def check_path(canonical: str, allowlist: Sequence[str], restricted: Sequence[str]) -> None:
    """Raise PathNotAllowed unless ``canonical`` is in an allowed root and no restricted zone."""
    if not allowlist:
        raise PathNotAllowed(
            "no path allowlist applies to this host, so every path is denied; set "
            "path_allowlist in hosts.toml or SSH_PATH_ALLOWLIST"
        )
    for zone in restricted:
        if is_within(canonical, zone):
            raise PathNotAllowed(
                f"{canonical} is inside the restricted zone {_norm(zone)}; it is never accessible"
            )
    if not any(is_within(canonical, root) for root in allowlist):
        roots = ", ".join(_norm(r) for r in allowlist)
        raise PathNotAllowed(
            f"{canonical} (symlinks resolved) is outside the path allowlist ({roots}); "
            "use a path inside it"
        )


def check_tree(canonical: str, restricted: Sequence[str]) -> None:
    """Refuse a recursive operation on a tree that holds a restricted zone."""
    for zone in restricted:
        if is_within(zone, canonical):
            raise PathNotAllowed(
                f"{canonical} contains the restricted zone {_norm(zone)}; a recursive "
                "operation there is refused; pick a subtree that does not contain it"
            )


def check_entry(canonical: str, roots: Sequence[str], zones: Sequence[str]) -> None:
    """Refuse creating, removing, moving or linking the entry ``canonical`` when an allowlist
    root or a restricted zone is, or lies below, it: that would re-point the root or zone
    itself (a root replaced by a link out, a zone's ``current`` link switched away from
    the secret), since both are resolved on the host afresh for every call."""
    for kind, spellings in (("allowlist root", roots), ("restricted zone", zones)):
        for spelling in spellings:
            if is_within(spelling, canonical):
                raise PathNotAllowed(
                    f"{canonical} is or holds the {kind} {_norm(spelling)}; creating, "
                    f"removing, moving or linking it would re-point the {kind}, so it is "
                    "refused; pick a path below or beside it"
                )
