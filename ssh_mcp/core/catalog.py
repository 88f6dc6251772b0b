"""What a model may read about this server without calling a tool: hosts, groups, tool docs.

The MCP layer serves these as resources (``ssh-mcp://hosts``, ``ssh-mcp://hosts/{alias}``,
``ssh-mcp://groups``, ``ssh-mcp://tools/{name}``); they are computed here, from the
inventory, the settings, the pool and the registry, so they are testable without the SDK.

Nothing here is a secret, by construction: the bodies are built field by field from
values that ``ssh_host_list`` and the error messages already show. Left out on purpose:
every ``*_cmd`` argv (password, passphrase, sudo password, HTTP token helpers: an argv
may hold a secret or name the file that does), key paths, agent sockets and key
fingerprints (where the server's credentials live is nothing a model needs, and the
local-path policy hides those files anyway), and the text of connection errors (the
class name says enough). A hidden tool (tier closed or group disabled) is documented
nowhere here: hidden equals unknown, as in tools/list.
"""

from __future__ import annotations

from typing import Any

from ssh_mcp.config.inventory import HostConfig
from ssh_mcp.core.access import Group, Tier, ToolMode
from ssh_mcp.core.app import App
from ssh_mcp.core.tooldocs import tool_doc
from ssh_mcp.policy import hosts as host_policy
from ssh_mcp.tools._fields import utc_stamp

#: The env flags that open each tier above read.
TIER_FLAGS = {
    Tier.READ: "always open",
    Tier.LOW_ACCESS: "ALLOW_LOW_ACCESS_TOOLS=true",
    Tier.DANGEROUS: "ALLOW_DANGEROUS_TOOLS=true",
    Tier.SUDO: "ALLOW_DANGEROUS_TOOLS=true and ALLOW_SUDO=true",
}


def reachability(app: App, alias: str) -> dict[str, Any]:
    """How the pool last saw ``alias``: ``connected`` (a pooled connection is open now),
    ``reachable`` (the newest handshake succeeded; its connection has closed since),
    ``unreachable`` (the newest handshake failed, ``error`` names the error class) or
    ``unknown`` (not contacted since this server started). ``checked_at`` is when that
    handshake ended. Nothing is contacted to answer."""
    hp = app.pool.get(alias)
    seen = hp.last_handshake if hp is not None else None
    if hp is None or seen is None:
        return {"state": "unknown", "checked_at": None, "error": None}
    at, error = seen
    if any(pc.alive for pc in hp.conns):
        state = "connected"
    else:
        state = "reachable" if error is None else "unreachable"
    return {"state": state, "checked_at": utc_stamp(at), "error": error}


def _blocked(app: App, host: HostConfig) -> bool:
    blocked = set(app.settings.ssh_hosts_blocklist)
    names = {host.alias, host.hostname}
    for hop in host.proxy_jump:
        names |= {hop, app.inventory.hosts[hop].hostname}
    return bool(names & blocked)


def _commands(app: App, host: HostConfig) -> str:
    """How exec treats a command on ``host``: off (``exec = false``), device (a ``cli``
    host: only ssh_cli_run's device commands), or policy/commands.check_command's three
    cases."""
    if not host.exec:
        return "off"
    if host.cli is not None:
        return "device"
    if any(entry.strip() for entry in host_policy.command_allowlist(host, app.settings)):
        return "allowlist"
    return "any" if app.settings.allow_any_command else "refused"


def _groups_of(app: App, alias: str) -> list[str]:
    return sorted(name for name, members in app.inventory.groups.items() if alias in members)


def _entry(app: App, host: HostConfig) -> dict[str, Any]:
    """One host as ``ssh-mcp://hosts`` lists it: who, where, and a one-line policy."""
    return {
        "alias": host.alias,
        "hostname": host.hostname,
        "port": host.port,
        "user": host.user,
        "auth_method": host.auth.method,
        "proxy_jump": list(host.proxy_jump),
        "groups": _groups_of(app, host.alias),
        "notes": host.notes,
        "reachability": reachability(app, host.alias),
        "policy": {
            "blocked": _blocked(app, host),
            "path_roots": list(host_policy.path_allowlist(host, app.settings)),
            "restricted_zones": len(host_policy.restricted_paths(host, app.settings)),
            "commands": _commands(app, host),
        },
    }


def hosts_overview(app: App) -> dict[str, Any]:
    """The body of ``ssh-mcp://hosts``: every configured host by alias, the hosts.toml
    groups, and the hostnames SSH_HOSTS_ALLOWLIST admits without an alias."""
    hosts = sorted(app.inventory.hosts.values(), key=lambda h: h.alias)
    return {
        "hosts": [_entry(app, h) for h in hosts],
        "groups": {name: list(members) for name, members in sorted(app.inventory.groups.items())},
        "allowlisted_hostnames": sorted(app.settings.ssh_hosts_allowlist),
    }


def host_policy_doc(app: App, alias: str) -> dict[str, Any] | None:
    """The body of ``ssh-mcp://hosts/{alias}``: one configured host's whole policy, or None
    when ``alias`` is not a hosts.toml alias."""
    host = app.inventory.hosts.get(alias)
    if host is None:
        return None
    s = app.settings
    tiers = app.open_tiers()
    roots = host_policy.path_allowlist(host, s)
    commands = host_policy.command_allowlist(host, s)
    return {
        **{k: v for k, v in _entry(app, host).items() if k != "policy"},
        "blocked": _blocked(app, host),
        "paths": {
            "allowlist": list(roots),
            "allowlist_from": "host" if host.path_allowlist is not None else "SSH_PATH_ALLOWLIST",
            "restricted": list(host_policy.restricted_paths(host, s)),
            "note": "Paths are compared after symlinks are resolved on the host; with no "
            "allowlist root every path is denied.",
        },
        "commands": {
            "mode": _commands(app, host),
            "allowlist": list(commands),
            "allowlist_from": "host"
            if host.command_allowlist is not None
            else "SSH_COMMAND_ALLOWLIST",
            "exec_tier_open": Tier.DANGEROUS in tiers,
            "confirmation": "commands matching a deny pattern need a human's yes"
            + (" (run unasked without a client that can ask)" if s.allow_unconfirmed else ""),
        },
        "sudo": {
            "tier_open": Tier.SUDO in tiers,
            "password": "from the operator's helper command"
            if host.sudo_password_cmd
            else "none: passwordless sudoers rules only (sudo -n)",
        },
        "alerts": {
            "disk_percent": host.alert_disk_percent,
            "load_per_cpu": host.alert_load_per_cpu,
            "memory_available_percent": host.alert_memory_available_percent,
        },
        "limits": {"max_channels": host.max_channels, "max_connections": host.max_connections},
        "device": None
        if host.cli is None
        else {
            "profile": host.cli.profile,
            "commands": list(host.cli.commands),
            "allow_config": host.cli.allow_config,
            "enable": host.cli.enable_cmd is not None,  # whether; the command stays private
            "note": "a network device: ssh_cli_run runs commands matching `commands`; exec, "
            "SFTP and file tools refuse it",
        },
    }


def groups_overview(app: App) -> dict[str, Any]:
    """The body of ``ssh-mcp://groups``: every tier (open or not, and the flag that opens
    it), every tool group (enabled or not, and the tools it offers here), the tool mode and
    what tools/list shows in it."""
    tiers, groups = app.open_tiers(), app.settings.enabled_groups()
    visible = app.visible_tools()
    return {
        "tiers": [{"tier": t.value, "open": t in tiers, "opened_by": TIER_FLAGS[t]} for t in Tier],
        "groups": [
            {
                "group": g.value,
                "enabled": g in groups,
                # The catalogue's: search mode's own tools belong to no group's offer.
                "tools": [
                    spec.name
                    for spec in visible
                    if spec.group is g and ToolMode.FULL in spec.listed_in
                ],
            }
            for g in Group
        ],
        "tool_mode": app.settings.ssh_tool_mode.value,
        "listed": [spec.name for spec in app.listed_tools()],
        "enabled_by": "SSH_ENABLED_GROUPS (empty: every group)",
        "note": "A tool appears when its tier is open and its group enabled; a closed tier "
        "or a disabled group hides its tools entirely. In search mode (SSH_TOOL_MODE) "
        "tools/list shows only `listed`; ssh_tool_search finds the rest.",
    }


def tool_markdown(app: App, name: str) -> str | None:
    """The body of ``ssh-mcp://tools/{name}``: the tool's TOOLS.md section, or None when
    the tool is unknown or hidden here."""
    spec = app.tool(name)
    return tool_doc(spec) if spec is not None else None
