"""APT and dpkg as the package tools read them: name fields and parsers, pure (no I/O).

Names follow Debian policy (5.6.1); each field is a ``Name(kind)`` that dispatch checks
against the kind's rule in :mod:`ssh_mcp.policy.names` before anything runs, so ``; rm``,
``$(…)``, a leading ``-`` and newlines never reach a command line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from ssh_mcp.core.spec import Name

# max_length bounds what is parsed at all (tests/test_faults.py); the kind's rule says the
# rest, checked there rather than as schema keywords so tools/list stays small.
_Bounded = Annotated[str, Field(max_length=512)]
PackageName = Annotated[_Bounded, Name("package")]
PackageNames = Annotated[list[_Bounded], Name("package")]
#: The marker must sit outside the ``| None``, where dispatch finds it.
MaybePackageNames = Annotated[list[_Bounded] | None, Name("package")]
PackageSpecs = Annotated[list[_Bounded], Name("package_spec")]
Pattern = Annotated[_Bounded | None, Name("package_pattern")]
Term = Annotated[_Bounded, Name("package_term")]

#: A package name in apt's output (Debian policy 5.6.1), to tell its rows from other lines.
_LISTED_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?")


# -- dpkg status --------------------------------------------------------------------

_WANT = {"u": "unknown", "i": "install", "h": "hold", "r": "remove", "p": "purge"}
_STATE = {
    "n": "not-installed",
    "c": "config-files",
    "H": "half-installed",
    "U": "unpacked",
    "F": "half-configured",
    "W": "triggers-awaited",
    "t": "triggers-pending",
    "i": "installed",
}


def dpkg_state(abbrev: str) -> tuple[str, bool]:
    """``${db:Status-Abbrev}`` (e.g. ``ii ``, ``hi ``, ``iF ``) as (state, held)."""
    want, state = abbrev[0:1], abbrev[1:2]
    return _STATE.get(state, "unknown"), want == "h"


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    arch: str
    state: str
    held: bool


def installed_rows(text: str) -> list[Installed]:
    """``dpkg-query -W -f '${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\n'``;
    entries dpkg only remembers (not installed, no config files) are left out."""
    rows = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 4:
            continue
        state, held = dpkg_state(parts[0])
        if state == "not-installed":
            continue
        rows.append(Installed(parts[1], parts[2], parts[3], state, held))
    return rows


@dataclass(frozen=True)
class Upgradable:
    name: str
    version: str
    arch: str
    from_version: str


_UPGRADABLE = re.compile(r"^(\S+?)/\S*\s+(\S+)\s+(\S+)\s+\[upgradable from: ([^\]]+)\]")


def upgradable_rows(text: str) -> list[Upgradable]:
    """``apt list --upgradable``: ``name/suite new arch [upgradable from: old]``."""
    return [
        Upgradable(m[1], m[2], m[3], m[4])
        for m in (_UPGRADABLE.match(line) for line in text.splitlines())
        if m
    ]


def literal_regex(term: str) -> str:
    """``term`` as a POSIX regex matching itself: apt-cache search takes a regex, and a
    term's ``.`` and ``+`` (``g++``, ``python3.11``) are meant literally."""
    return re.sub(r"([.+])", r"\\\1", term)


def search_rows(text: str) -> list[tuple[str, str]]:
    """``apt-cache search``: ``name - summary`` per line."""
    rows = []
    for line in text.splitlines():
        name, sep, summary = line.partition(" - ")
        if sep and _LISTED_NAME.fullmatch(name):
            rows.append((name, summary.strip()))
    return rows


# -- apt-cache policy and show ------------------------------------------------------


@dataclass
class Policy:
    installed: str | None = None
    candidate: str | None = None
    #: Each version apt knows, newest first, with the origins it comes from.
    versions: list[tuple[str, list[str]]] = field(default_factory=list)


def _none(value: str) -> str | None:
    return None if value in ("(none)", "") else value


def policy(text: str) -> Policy:
    """``apt-cache policy NAME`` for one package."""
    out = Policy()
    in_table = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Installed:"):
            out.installed = _none(stripped.split(":", 1)[1].strip())
        elif stripped.startswith("Candidate:"):
            out.candidate = _none(stripped.split(":", 1)[1].strip())
        elif stripped.startswith("Version table:"):
            in_table = True
        elif in_table and stripped:
            # A version line is indented 5 (or "*** "), its origins 8 with a priority first.
            head = line[:5]
            if head.strip() in ("", "***") and not line[5:6].isspace():
                parts = stripped.removeprefix("***").split()
                out.versions.append((parts[0], []))
            elif out.versions:
                parts = stripped.split(None, 1)
                if len(parts) == 2 and parts[0].lstrip("-").isdigit():
                    out.versions[-1][1].append(parts[1])
    return out


def control_fields(text: str) -> dict[str, str]:
    """The first stanza of ``apt-cache show`` (continuation lines joined)."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        if line[0] in " \t" and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def relations(value: str | None) -> list[str]:
    """A Depends-style field as a list, alternatives kept together (``a | b``)."""
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


# -- a change's progress and its result -----------------------------------------------


@dataclass(frozen=True)
class Status:
    """One line of ``APT::Status-Fd``: ``pmstatus:PKG:PERCENT:MESSAGE`` and its kind."""

    kind: str  # pmstatus, dlstatus, pmerror, pmconffile
    subject: str
    percent: float
    message: str


def status_line(line: str) -> Status | None:
    parts = line.split(":", 3)
    if len(parts) != 4 or parts[0] not in ("pmstatus", "dlstatus", "pmerror", "pmconffile"):
        return None
    try:
        percent = float(parts[2])
    except ValueError:
        percent = 0.0
    return Status(parts[0], parts[1], percent, parts[3].strip())


class StatusFeed:
    """Splits a stream of status bytes into lines and parses each complete one."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> list[Status]:
        lines = (self._rest + chunk).split(b"\n")
        self._rest = lines.pop()
        found = [status_line(raw.decode("utf-8", "replace")) for raw in lines]
        return [s for s in found if s is not None]


_ACTION = re.compile(
    r"^(Setting up|Removing|Purging configuration files for|Unpacking) (\S+?)(?::\S+)? \(([^)]+)\)"
)
_ACTIONS = {
    "Setting up": "set up",
    "Removing": "removed",
    "Purging configuration files for": "purged",
    "Unpacking": "unpacked",
}


def changes(log: str) -> list[tuple[str, str, str]]:
    """(package, action, version) per dpkg line in apt's output, in order. ``unpacked`` shows
    only for a package never set up (dpkg stopped between the two)."""
    found: list[tuple[str, str, str]] = []
    for line in log.splitlines():
        m = _ACTION.match(line)
        if m:
            version = m[3].split(" ")[0]
            found.append((m[2], _ACTIONS[m[1]], version))
    set_up = {name for name, action, _ in found if action == "set up"}
    return [c for c in found if c[1] != "unpacked" or c[0] not in set_up]
