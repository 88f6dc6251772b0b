"""Names of things on a host (units, containers, images, packages, ...): one strict rule per kind.

The typed operations tools pass such names to a fixed program as operands. A field marked
``Name(kind)`` (:mod:`ssh_mcp.core.spec`) is checked here by dispatch before anything runs,
so a name can never become an option (a leading ``-``), a second line or shell syntax, even
though the argv is quoted anyway. Each kind is one function returning why a value is not a
valid name, or None; :data:`CHECKS` maps the kind to it. Add a kind as one more function.
Every rule is a whole-value match, so a trailing newline fails too.
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


# -- docker ------------------------------------------------------------------------------

#: A container name or id, a volume or network name (docker: ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``).
CONTAINER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
#: An image reference (``[registry[:port]/]path[:tag][@sha256:…]``) or an image id.
IMAGE = re.compile(
    rf"(?:[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{{1,5}})?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
    r"|(?:sha256:)?[a-f0-9]{12,64}"
)
#: A compose project name (compose v2's rule, which v1 accepts too).
PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
#: A compose service name.
SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_CONTAINER_RULE = "letters, digits and _ . - only, at most 255, not starting with _ . or -"
_IMAGE_RULE = "[registry[:port]/]name[:tag][@sha256:digest], name in lower case, or an image id"


def container(value: str) -> str | None:
    """A container name or id: ``web``, ``a1b2c3``, ``my_app.1-x``."""
    return None if CONTAINER.fullmatch(value) else f"not a container name or id: {_CONTAINER_RULE}"


def image(value: str) -> str | None:
    """An image reference or id: ``busybox``, ``nginx:1.25``, ``127.0.0.1:5000/a/b:v1``."""
    return None if IMAGE.fullmatch(value) else f"not an image reference: {_IMAGE_RULE}"


def docker_object(value: str) -> str | None:
    """What ``docker inspect`` takes: a container, volume or network name, or an image."""
    if CONTAINER.fullmatch(value) or IMAGE.fullmatch(value):
        return None
    return f"not a container, volume or network name ({_CONTAINER_RULE}) nor an image reference"


def compose_project(value: str) -> str | None:
    """A compose project name: ``myproj``, ``a_b-1``."""
    if PROJECT.fullmatch(value):
        return None
    return (
        "not a compose project name: lower case letters, digits, _ and - only, at most 63, "
        "starting with a letter or digit"
    )


def compose_service(value: str) -> str | None:
    """A compose service name: ``web``, ``db.1``."""
    if SERVICE.fullmatch(value):
        return None
    return (
        "not a compose service name: letters, digits and _ . - only, at most 63, not starting "
        "with _ . or -"
    )


# -- Debian packages ---------------------------------------------------------------------

# Debian policy 5.6.1: lower case letters, digits, ``+ - .``, at least two characters,
# starting with a letter or digit; an architecture may follow after ``:``.
_PACKAGE = r"[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?"
PACKAGE = re.compile(_PACKAGE)
#: A name with an optional ``=version``: a version starts with a digit (install only).
PACKAGE_SPEC = re.compile(rf"{_PACKAGE}(?:=[0-9][A-Za-z0-9.+~:-]*)?")
#: A glob over names, as dpkg-query and apt list take it.
PACKAGE_GLOB = re.compile(r"[a-z0-9*?][a-z0-9+.*?:-]*")
#: One search term: apt-cache treats it as a regex, so only literal characters and ``.``.
PACKAGE_TERM = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")


def _debian(rx: re.Pattern[str], what: str, most: int, value: str) -> str | None:
    if len(value) > most or rx.fullmatch(value) is None:
        return f"not a {what} (Debian policy: {rx.pattern}, at most {most} characters)"
    return None


def package(value: str) -> str | None:
    """A Debian package name: ``nginx``, ``g++``, ``libc6:amd64``."""
    return _debian(PACKAGE, "package name", 128, value)


def package_spec(value: str) -> str | None:
    """A package name, or ``name=version`` for an install: ``nginx=1.22.1-9+deb12u1``."""
    return _debian(PACKAGE_SPEC, "package name[=version]", 256, value)


def package_pattern(value: str) -> str | None:
    """A glob over package names: ``nginx*``, ``lib?c6``."""
    return _debian(PACKAGE_GLOB, "package name pattern", 128, value)


def package_term(value: str) -> str | None:
    """One word to search package names and summaries for: ``nginx``, ``python3.11``."""
    return _debian(PACKAGE_TERM, "search term", 64, value)


CHECKS: dict[str, Callable[[str], str | None]] = {
    "unit": unit,
    "unit_pattern": unit_pattern,
    "container": container,
    "image": image,
    "docker_object": docker_object,
    "compose_project": compose_project,
    "compose_service": compose_service,
    "package": package,
    "package_spec": package_spec,
    "package_pattern": package_pattern,
    "package_term": package_term,
}


def problem(kind: str, value: str) -> str | None:
    """Why ``value`` is not a valid name of ``kind``, or None when it is."""
    return CHECKS[kind](value)
