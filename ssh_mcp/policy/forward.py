"""Which destinations a port forward may reach, and where its listener binds. Pure.

A host's ``forward_allowlist`` holds ``host:port`` patterns (``*`` and ``?`` globs in
each part, ``[v6]:port`` for IPv6). A plain pattern names a destination as the host
sees it: what ``ssh_forward_local`` and every SOCKS CONNECT may reach from there. A
pattern prefixed ``server:`` names a destination on the MCP server's side, which
``ssh_forward_remote`` may expose to the host; the two never stand for each other,
so allowing the host's own database does not let the host reach the server's. Empty
(the default): no forward at all. Names are matched as given, lowercased, never
resolved (DECISIONS.md 68).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re

from ssh_mcp.errors import ConfigError, PolicyDenied, shown

#: What the host fields of the forward tools accept: a DNS name or an IP literal.
HOST_RE = re.compile(r"^(?![-.])[A-Za-z0-9._-]{1,253}$|^\[?[0-9A-Fa-f:.]{2,45}\]?$")
#: The prefix of a pattern naming a destination on the server's side.
SERVER = "server:"


def normal_host(host: str) -> str:
    """``host`` as patterns match it: lowercased, IPv6 brackets removed."""
    return host.strip("[]").lower()


def _split(pattern: str) -> tuple[str, str] | None:
    host, sep, port = pattern.rpartition(":")
    if not sep or not host or not port:
        return None
    return normal_host(host), port


def matches(patterns: tuple[str, ...], host: str, port: int, *, server_side: bool) -> bool:
    """Whether ``host:port`` matches one pattern of its side."""
    want = normal_host(host)
    for pattern in patterns:
        if pattern.startswith(SERVER) != server_side:
            continue
        parts = _split(pattern[len(SERVER) :] if server_side else pattern)
        if parts is None:
            continue
        host_glob, port_glob = parts
        if fnmatch.fnmatchcase(want, host_glob) and fnmatch.fnmatchcase(str(port), port_glob):
            return True
    return False


def check_host(value: str, field: str) -> str:
    """``value`` when it is a plain host name or IP literal; refused otherwise."""
    if not HOST_RE.match(value):
        raise PolicyDenied(f"{field} {shown(value)} is not a host name or IP address")
    return value


def check_destination(
    patterns: tuple[str, ...], alias: str, host: str, port: int, *, server_side: bool
) -> None:
    """Refuse ``host:port`` unless host ``alias``'s forward_allowlist admits it."""
    if matches(patterns, host, port, server_side=server_side):
        return
    where = "on this server " if server_side else ""
    example = f"{SERVER if server_side else ''}{normal_host(host)}:{port}"
    if not patterns:
        reason = f"host {shown(alias)} has no forward_allowlist, so it allows no forward"
    else:
        reason = f"{host}:{port} {where}is not in the forward_allowlist of host {shown(alias)}"
    raise PolicyDenied(
        f"forward not allowed: {reason}; the operator can add {example!r} in hosts.toml"
    )


def check_socks(patterns: tuple[str, ...], alias: str) -> None:
    """Refuse a SOCKS proxy that could reach nothing: no plain pattern to match a CONNECT."""
    if not any(not p.startswith(SERVER) for p in patterns):
        raise PolicyDenied(
            f"forward not allowed: host {shown(alias)} has no forward_allowlist entry for "
            "destinations it reaches, so a SOCKS proxy through it could reach nothing"
        )


def bind_address(setting: str) -> str:
    """Where local listeners bind: SSH_FORWARD_BIND, which must be an IP address. Tools
    never choose it, so only the operator can expose a forward beyond loopback."""
    try:
        return str(ipaddress.ip_address(setting))
    except ValueError:
        raise ConfigError(
            f"SSH_FORWARD_BIND {setting!r} is not an IP address; use 127.0.0.1 (the default)"
        ) from None
