"""Host resolution and each host's effective policy lists. Pure functions."""

from __future__ import annotations

from ssh_mcp.config.inventory import HostConfig, Inventory
from ssh_mcp.config.settings import Settings
from ssh_mcp.errors import HostNotAllowed, shown


def resolve_host(name: str, inventory: Inventory, settings: Settings) -> HostConfig:
    """Map a ``host`` argument to a HostConfig: alias, then hostname, then env allowlist.

    The blocklist wins over everything, matched against the argument, the
    alias and the resolved hostname.
    """
    blocked = set(settings.ssh_hosts_blocklist)
    if name in blocked:
        raise HostNotAllowed(f"host {shown(name)} is blocklisted (SSH_HOSTS_BLOCKLIST)")
    host = inventory.hosts.get(name)
    if host is None:
        matches = [h for h in inventory.hosts.values() if h.hostname == name]
        if len(matches) > 1:
            aliases = ", ".join(sorted(h.alias for h in matches))
            raise HostNotAllowed(
                f"hostname {shown(name)} matches several aliases ({aliases}); use one"
            )
        host = matches[0] if matches else None
    if host is None and name in settings.ssh_hosts_allowlist:
        host = inventory.adhoc(name)
    if host is None:
        raise HostNotAllowed(
            f"unknown host {shown(name)}: not an alias or hostname in hosts.toml, nor in "
            "SSH_HOSTS_ALLOWLIST; call ssh_host_list for the hosts you can use"
        )
    if host.alias in blocked or host.hostname in blocked:
        raise HostNotAllowed(f"host {shown(name)} is blocklisted (SSH_HOSTS_BLOCKLIST)")
    for hop in host.proxy_jump:
        if hop in blocked or inventory.hosts[hop].hostname in blocked:
            raise HostNotAllowed(f"host {shown(name)} jumps through blocklisted host {shown(hop)}")
    return host


def path_allowlist(host: HostConfig, settings: Settings) -> tuple[str, ...]:
    """The host's own list when it sets one, else SSH_PATH_ALLOWLIST."""
    if host.path_allowlist is not None:
        return host.path_allowlist
    return tuple(settings.ssh_path_allowlist)


def restricted_paths(host: HostConfig, settings: Settings) -> tuple[str, ...]:
    """Restrictions only ever add up: SSH_RESTRICTED_PATHS plus the host's and defaults'."""
    return (*settings.ssh_restricted_paths, *host.restricted_paths)


def command_allowlist(host: HostConfig, settings: Settings) -> tuple[str, ...]:
    """The host's own list when it sets one, else SSH_COMMAND_ALLOWLIST."""
    if host.command_allowlist is not None:
        return host.command_allowlist
    return tuple(settings.ssh_command_allowlist)


def command_allowlist_name(host: HostConfig) -> str:
    """Where the list :func:`command_allowlist` returns is set, for refusals to name it."""
    if host.command_allowlist is not None:
        return f"the command_allowlist of [hosts.{host.alias}] in hosts.toml"
    return "SSH_COMMAND_ALLOWLIST"


def exec_refusal(host: HostConfig) -> str | None:
    """Why no command may run on ``host`` (``exec = false``), or None when commands may."""
    if host.exec:
        return None
    return (
        f"command not allowed: commands are off for host {shown(host.alias)} (exec = false "
        "in hosts.toml); use the file and host tools instead"
    )
