"""Docker decisions, pure: the grammar of names, and which ``docker run`` options a call may use.

Every name an agent gives is checked against docker's own grammar before anything runs, so
``; rm``, ``$(…)``, a leading ``-`` and newlines never reach a command line. ``docker run``
options are an allowlist: an option this module does not know is refused, and the options
that hand the container the host (DECISIONS.md 79) are refused unless the operator allows
them with SSH_DOCKER_RUN_PRIVILEGED.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

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
#: docker's --since/--until: a duration (``10m``, ``1h30m``), a unix time or an RFC 3339 date.
TIME = re.compile(
    r"(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|ms|s|m|h))+"
    r"|[0-9]{9,10}(?:\.[0-9]{1,9})?"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
#: A label filter: ``key`` or ``key=value``.
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(?:=[A-Za-z0-9_.:/@-]{0,255})?")
#: An environment variable name for ``ssh_docker_run``'s env.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def check(pattern: re.Pattern[str], value: str, what: str) -> str:
    """``value`` when it matches ``pattern`` whole, else a ValueError naming ``what``."""
    if not pattern.fullmatch(value):
        raise ValueError(f"not a valid {what} (letters, digits and . _ - only, no leading -)")
    return value


def container_path(value: str) -> str:
    """An absolute path inside a container, for ``docker cp``."""
    if not value.startswith("/") or any(c in value for c in "\0\n\r"):
        raise ValueError("must be an absolute path inside the container, on one line")
    return value


# -- docker run options ------------------------------------------------------------------

#: Options that take a value, under every spelling, mapped to their long name.
_VALUED = {
    "-p": "--publish", "--publish": "--publish", "-v": "--volume", "--volume": "--volume",
    "--mount": "--mount", "--network": "--network", "--net": "--network", "--pid": "--pid",
    "--ipc": "--ipc", "--uts": "--uts", "--userns": "--userns", "--cgroupns": "--cgroupns",
    "-u": "--user", "--user": "--user", "-w": "--workdir", "--workdir": "--workdir",
    "--restart": "--restart", "-l": "--label", "--label": "--label", "-m": "--memory",
    "--memory": "--memory", "--cpus": "--cpus", "-h": "--hostname", "--hostname": "--hostname",
    "--tmpfs": "--tmpfs", "--cap-add": "--cap-add", "--cap-drop": "--cap-drop",
    "--device": "--device", "--security-opt": "--security-opt", "--add-host": "--add-host",
    "--stop-signal": "--stop-signal", "--stop-timeout": "--stop-timeout",
    "--shm-size": "--shm-size", "--pids-limit": "--pids-limit", "--ulimit": "--ulimit",
    "-e": "--env", "--env": "--env",
}  # fmt: skip
#: Options without a value.
_FLAGS = {"--rm": "--rm", "--read-only": "--read-only", "--init": "--init",
          "--privileged": "--privileged"}  # fmt: skip
#: Options that give the container the host whatever their value.
_ALWAYS_HOST = {"--privileged", "--cap-add", "--device", "--security-opt"}
#: Namespace options whose value ``host`` shares the host's namespace.
_NAMESPACES = {"--network", "--pid", "--ipc", "--uts", "--userns", "--cgroupns"}
#: Host paths a bind mount may not expose, nor anything under them: the host's root, its
#: configuration and kernel interfaces, and the docker daemon (its socket is root).
HOST_ROOTS = (
    "/etc", "/root", "/boot", "/proc", "/sys", "/dev", "/run", "/var/run", "/var/lib/docker",
    "/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32",
)  # fmt: skip
SETTING = "SSH_DOCKER_RUN_PRIVILEGED"


@dataclass(frozen=True)
class RunOptions:
    """The options as docker gets them, and the host paths they bind-mount."""

    argv: tuple[str, ...]
    bind_sources: tuple[str, ...]


def bind_refusal(source: str) -> str | None:
    """Why bind-mounting host path ``source`` hands over the host, or None."""
    path = posixpath.normpath(source)
    if path in ("/", "//"):
        return "mounts the host's root"
    if path.endswith("/docker.sock"):
        return "mounts the docker socket (root on the host)"
    for root in HOST_ROOTS:
        if path == root or path.startswith(root + "/"):
            return f"mounts {root} of the host"
    return None


def _bind_source(option: str, value: str) -> str | None:
    if option == "--volume":
        source = value.split(":", 1)[0]  # no ":" is an anonymous volume, not a bind
        return source if ":" in value and source.startswith(("/", ".", "~")) else None
    if option == "--mount":
        fields = {}
        for part in value.split(","):
            key, _, val = part.partition("=")
            fields[key.strip()] = val
        if fields.get("type", "volume") != "bind":
            return None
        return fields.get("source") or fields.get("src") or ""
    return None


def run_options(tokens: Sequence[str], *, privileged_ok: bool) -> RunOptions:
    """Parse and check ``docker run`` options; a ValueError says what is refused and why."""
    argv: list[str] = []
    binds: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, eq, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if name in _FLAGS and not eq:
            option, value = _FLAGS[name], None
        elif name in _VALUED:
            option = _VALUED[name]
            if eq:
                value = inline
            elif i + 1 < len(tokens):
                i += 1
                value = tokens[i]
            else:
                raise ValueError(f"option {name} needs a value")
        else:
            raise ValueError(
                f"option {token[:40]!r} is not supported here; known: "
                + ", ".join(sorted({*_VALUED.values(), *_FLAGS.values()}))
            )
        i += 1
        if value is not None and any(c in value for c in "\0\n\r"):
            raise ValueError(f"the value of {option} must be one line")
        why = None
        if option in _ALWAYS_HOST:
            why = f"{option} gives the container the host"
        elif option in _NAMESPACES and value == "host":
            why = f"{option}=host shares the host's namespace"
        elif option == "--env" and value is not None and "=" in value:
            raise ValueError("pass environment values in env (sent over stdin), not -e K=V")
        source = _bind_source(option, value or "")
        if source is not None:
            binds.append(source)
            why = why or (f"{option} {bind_refusal(source)}" if bind_refusal(source) else None)
        if why and not privileged_ok:
            raise ValueError(f"refused: {why}; the operator allows it with {SETTING}=true")
        argv += [option] if value is None else [f"{option}={value}"]
    return RunOptions(tuple(argv), tuple(binds))
