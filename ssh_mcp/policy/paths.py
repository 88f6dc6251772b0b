"""Path rules: pure decisions over remote path strings.

How a path may be spelled is decided here, and only here: absolute, or
starting at the login user's home with ``~`` or ``~/`` (:func:`check_spelling`,
:func:`expand_home`); ``~user``, ``$HOME`` or a relative path are refused.
The host is asked for its home, and the SSH layer only ever sees the
expanded, absolute path (DECISIONS.md 56).

Dispatch then canonicalizes on the host (symlinks followed); confinement
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


#: The refusal of a tool's path that is neither absolute nor home-anchored.
RELATIVE = "path must be absolute or start with ~/, got a relative path"


def names_home(path: str) -> bool:
    """True for ``~`` and ``~/...``: the one tilde form, the login user's home."""
    return path == "~" or path.startswith("~/")


def is_anchored(path: str) -> bool:
    """True when ``path`` is absolute or starts at the login user's home."""
    return path.startswith("/") or names_home(path)


def check_spelling(path: str) -> None:
    """Raise PathNotAllowed unless ``path`` is absolute or starts with ``~``/``~/``."""
    if not is_anchored(path):
        raise PathNotAllowed(RELATIVE)


def expand_home(path: str, home: str | None) -> str:
    """``path`` with a leading ``~`` replaced by ``home`` (the login user's home, as the
    host spells it; None when no path asked for it), after :func:`check_spelling`. Not
    normalized: ``a/link/../b`` means what the host makes of it."""
    check_spelling(path)
    if names_home(path):
        assert home is not None, "the host's home was not asked for"
        return home + path[1:]
    return path


def expand_configured(path: str, home: str | None) -> str:
    """As :func:`expand_home`, for an allowlist root or restricted zone from the operator's
    configuration (which refuses a relative one at startup too)."""
    if not is_anchored(path):
        raise PathNotAllowed(
            f"the configured path {path[:200]!r} is relative; the operator must write it "
            "absolute or starting with ~/"
        )
    return expand_home(path, home)


def home_form(canonical: str, home: str) -> str | None:
    """``canonical`` spelled from ``~`` when it lies below ``home`` (not ``home`` itself,
    and never for a home of ``/``); None otherwise."""
    base = home.rstrip("/")
    if base and canonical.startswith(base + "/"):
        return "~" + canonical[len(base) :]
    return None


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
