"""Names of things on a host (units, containers, packages, ...): one strict rule per kind.

The typed operations tools pass such names to a fixed program as operands. A field marked
``Name(kind)`` (:mod:`ssh_mcp.core.spec`) is checked here by dispatch before anything runs,
so a name can never become an option (a leading ``-``), a second line or shell syntax, even
though the argv is quoted anyway. Each kind is one function returning why a value is not a
valid name, or None; :data:`CHECKS` maps the kind to it. Add a kind as one more function.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: systemd's unit types (systemd.unit(5)); a unit name without one means ``.service``.
UNIT_TYPES = (
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
)
#: UNIT_NAME_MAX in systemd, less the NUL.
UNIT_MAX = 255
#: Unit name characters (systemd's VALID_CHARS plus ``@`` for instances); first one not ``-``.
_UNIT = re.compile(r"[A-Za-z0-9:_.\\][A-Za-z0-9:_.\\-]*(?:@[A-Za-z0-9:_.\\-]*)?")
_TEMPLATE_END = re.compile(r"@[^@]*\.(?:" + "|".join(UNIT_TYPES) + r")")
#: The root mount and slice are the only units named with a leading ``-``.
_ROOT_UNITS = frozenset({"-.mount", "-.slice"})
#: A list-units pattern: unit characters and the shell glob ones systemctl matches with.
_UNIT_GLOB = re.compile(r"[A-Za-z0-9:_.\\*?\[][A-Za-z0-9:_.\\@*?\[\]-]*")


def unit(value: str) -> str | None:
    """A systemd unit name: ``nginx``, ``nginx.service``, ``getty@tty1.service``, ``-.mount``."""
    if value in _ROOT_UNITS:
        return None
    if len(value) > UNIT_MAX:
        return f"longer than {UNIT_MAX} characters"
    if not _UNIT.fullmatch(value):
        return (
            "not a systemd unit name: letters, digits and : _ . \\ - only (one @ for an "
            "instance), not starting with -"
        )
    if "@" in value and not _TEMPLATE_END.search(value):
        return "a template or instance needs its type, e.g. getty@tty1.service"
    return None


def unit_pattern(value: str) -> str | None:
    """A glob over unit names, as ``systemctl list-units PATTERN`` takes it."""
    if len(value) > UNIT_MAX:
        return f"longer than {UNIT_MAX} characters"
    if not _UNIT_GLOB.fullmatch(value):
        return "not a unit pattern: unit name characters and * ? [ ] only, not starting with -"
    return None


CHECKS: dict[str, Callable[[str], str | None]] = {
    "unit": unit,
    "unit_pattern": unit_pattern,
}


def problem(kind: str, value: str) -> str | None:
    """Why ``value`` is not a valid name of ``kind``, or None when it is."""
    return CHECKS[kind](value)
