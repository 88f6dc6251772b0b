"""Docker decisions, pure: the grammar of filter values, and which ``docker run`` options a call
may use.

Names (containers, images, compose projects and services) are kinds in
:mod:`ssh_mcp.policy.names`, checked by dispatch. The values here (times, label filters,
environment variable names) are checked by the tools' input models with :func:`check`, so
``; rm``, ``$(…)``, a leading ``-`` and newlines never reach a command line. ``docker run``
options are an allowlist: an option this module does not know is refused, and the options
that hand the container the host (DECISIONS.md 79) are refused unless the operator allows
them with SSH_DOCKER_RUN_PRIVILEGED. A compose project's normalized configuration is checked
for the same things before ``up`` (DECISIONS.md 84).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ssh_mcp.policy import yamlblock

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


# -- compose files -----------------------------------------------------------------------

#: Service keys that give the container the host whenever they are set, as run's options do.
_COMPOSE_ALWAYS = ("privileged", "cap_add", "devices", "device_cgroup_rules", "security_opt")
#: Service keys whose value ``host`` shares the host's namespace.
_COMPOSE_NAMESPACES = ("network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup")


def compose_config(text: str) -> dict[str, Any]:
    """compose's normalized configuration: v2's ``config --format json``, or v1's
    ``config``, which is YAML only (``yamlblock``). A ValueError when neither reads."""
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else yamlblock.load(text)
    except ValueError as exc:
        raise ValueError(f"compose's normalized configuration does not read ({exc})") from None
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(services or {}, dict):
        raise ValueError("compose's normalized configuration has no services mapping")
    return doc


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _host_networks(config: dict[str, Any]) -> set[str]:
    """Top-level networks that are the host's: named ``host``, or ``host`` external."""
    found = set()
    for key, net in _mapping(config.get("networks")).items():
        net = _mapping(net)
        if net.get("name") == "host" or (key == "host" and net.get("external")):
            found.add(str(key))
    return found


def compose_binds(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Every host path the project bind-mounts, as (service, ``volume``, ``secret`` or
    ``config`` and its name, path): service volumes in short (``src:dst[:mode]``) or long
    form, top-level volumes whose local driver binds a ``device``, and top-level secrets and
    configs read from a ``file``, which compose bind-mounts (read-only, but a unix socket
    connects all the same)."""
    found: list[tuple[str, str]] = []
    for name, service in _mapping(config.get("services")).items():
        for volume in _mapping(service).get("volumes") or []:
            if isinstance(volume, str):
                source = _bind_source("--volume", volume)
            elif isinstance(volume, dict) and volume.get("type") == "bind":
                source = str(volume.get("source") or "")
            else:
                source = None
            if source is not None:
                found.append((f"service {str(name)[:64]!r}", source))
    for name, volume in _mapping(config.get("volumes")).items():
        device = _mapping(_mapping(volume).get("driver_opts")).get("device")
        if device is not None:
            found.append((f"volume {str(name)[:64]!r}", str(device)))
    for section in ("secrets", "configs"):  # every entry, used by a service or not
        for name, entry in _mapping(config.get(section)).items():
            if (file := _mapping(entry).get("file")) is not None:
                found.append((f"{section[:-1]} {str(name)[:64]!r}", str(file)))
    # v1 may write a literal $ as $$: both spellings are checked and resolved.
    return found + [(who, p.replace("$$", "$")) for who, p in found if "$$" in p]


def compose_refusal(config: dict[str, Any]) -> str | None:
    """The first setting in the project that gives a container the host, said in one line
    naming the service and the setting; None when there is none. ``ssh_docker_run``'s
    refusals, in compose's words (DECISIONS.md 84)."""
    host_nets = _host_networks(config)
    for name, raw in _mapping(config.get("services")).items():
        service, label = _mapping(raw), f"service {str(name)[:64]!r}"
        for key in _COMPOSE_ALWAYS:
            value = service.get(key)
            if value not in (None, False, [], {}, ""):
                shown = "privileged: true" if key == "privileged" else key
                return f"{label}: {shown} gives the container the host"
        for key in _COMPOSE_NAMESPACES:
            if service.get(key) == "host":
                return f"{label}: {key}: host shares the host's namespace"
        if service.get("volumes_from"):  # run has no --volumes-from: whose mounts is unknown
            return f"{label}: volumes_from gives the container another container's mounts"
        networks = service.get("networks") or []
        if host_nets & {str(n) for n in networks}:
            return f"{label}: a network that is the host's shares the host's namespace"
    for label, source in compose_binds(config):
        if any(c in source for c in "\0\n\r"):
            return f"{label}: a bind source on more than one line"
        if (why := bind_refusal(source)) is not None:
            return f"{label}: a bind mount {why}"
    return None


def _strings(value: object) -> list[str]:
    """Every string in ``value``, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def compose_reread_refusal(config: dict[str, Any]) -> str | None:
    """Why the normalized configuration would not mean what was checked when ``up`` reads
    it: compose writes a literal ``$`` as ``$$`` and reads ``$$`` back as ``$``, but a ``$``
    it did not double (v1 writes volume and security_opt specs as they are) starts a
    variable that ``up`` would look up again, in an environment or a ``.env`` that may have
    changed since the check. None when every run of ``$`` is even. The line names where,
    never the value (DECISIONS.md 84)."""
    for key, section in config.items():
        parts = _mapping(section).items() if key == "services" else [(key, section)]
        for name, value in parts:
            label = f"service {str(name)[:64]!r}" if key == "services" else str(key)[:64]
            if any(len(run) % 2 for s in _strings(value) for run in re.findall(r"\$+", s)):
                return (
                    f"{label}: a $ that compose did not write as $$ would be read as a "
                    "variable again by up"
                )
    return None
