"""hosts.toml: the inventory of hosts, each one ``[defaults]`` merged under its table.

``load_hosts`` reads and validates the file into ``HostConfig`` objects and
fails at startup with a ``ConfigError`` that names the file and the key.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ssh_mcp.config.cli_profiles import PROFILES, CliConfig
from ssh_mcp.config.defaults import DEFAULTS
from ssh_mcp.config.dropins import DropIn, dropin_dir, merge_dropins, read_dropins
from ssh_mcp.config.host_tables import AuthConfig, CliTable, DefaultsTable, HostsFile, HostTable
from ssh_mcp.config.settings import Settings
from ssh_mcp.errors import ConfigError, did_you_mean

T = TypeVar("T")

#: hosts.toml keys that would carry a literal secret; refused with a pointer to the *_cmd form.
_LITERAL_SECRET_KEYS = frozenset({"password", "passphrase", "secret", "token", "sudo_password"})


@dataclass(frozen=True)
class HostConfig:
    """One resolved host: ``[defaults]`` merged under ``[hosts.<alias>]``."""

    alias: str
    hostname: str
    port: int = DEFAULTS.port
    user: str | None = None
    auth: AuthConfig = field(default_factory=AuthConfig)
    proxy_jump: tuple[str, ...] = ()
    path_allowlist: tuple[str, ...] | None = None
    restricted_paths: tuple[str, ...] = ()
    command_allowlist: tuple[str, ...] | None = None
    exec: bool = True
    max_channels: int = DEFAULTS.max_channels
    max_connections: int = DEFAULTS.max_connections
    notes: str | None = None
    alert_disk_percent: int = DEFAULTS.alert_disk_percent
    alert_load_per_cpu: float = DEFAULTS.alert_load_per_cpu
    alert_memory_available_percent: int = DEFAULTS.alert_memory_available_percent
    sudo_password_cmd: tuple[str, ...] | None = None
    docker_cmd: tuple[str, ...] = ("docker",)
    pty_allow_shell: bool = False
    forward_allowlist: tuple[str, ...] = ()
    #: Set: a network device whose login shell is this CLI (hosts.toml `cli`).
    cli: CliConfig | None = None
    configured: bool = True


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def merge_host(alias: str, table: HostTable, defaults: DefaultsTable) -> HostConfig:
    def pick(name: str) -> Any:
        own = getattr(table, name)
        return own if own is not None else getattr(defaults, name)

    def tup(value: list[str] | None) -> tuple[str, ...] | None:
        return tuple(value) if value is not None else None

    restricted = (*(defaults.restricted_paths or ()), *(table.restricted_paths or ()))
    return HostConfig(
        alias=alias,
        hostname=table.hostname or alias,
        port=pick("port") or DEFAULTS.port,
        user=pick("user"),
        auth=pick("auth") or AuthConfig(),
        proxy_jump=tuple(pick("proxy_jump") or ()),
        path_allowlist=tup(pick("path_allowlist")),
        restricted_paths=restricted,
        command_allowlist=tup(pick("command_allowlist")),
        exec=_or(pick("exec"), True),
        max_channels=pick("max_channels") or DEFAULTS.max_channels,
        max_connections=pick("max_connections") or DEFAULTS.max_connections,
        notes=table.notes,
        alert_disk_percent=_or(pick("alert_disk_percent"), DEFAULTS.alert_disk_percent),
        alert_load_per_cpu=_or(pick("alert_load_per_cpu"), DEFAULTS.alert_load_per_cpu),
        alert_memory_available_percent=_or(
            pick("alert_memory_available_percent"), DEFAULTS.alert_memory_available_percent
        ),
        sudo_password_cmd=tup(pick("sudo_password_cmd")),
        docker_cmd=tuple(pick("docker_cmd") or ("docker",)),
        pty_allow_shell=_or(pick("pty_allow_shell"), False),
        forward_allowlist=tuple(pick("forward_allowlist") or ()),
        cli=resolve_cli(pick("cli")),
    )


def resolve_cli(table: CliTable | None) -> CliConfig | None:
    """A ``cli`` table over its profile's values."""
    if table is None:
        return None
    given = {k: v for k, v in table.model_dump(exclude={"profile"}).items() if v is not None}
    if "commands" in given or "enable_cmd" in given:
        given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
    return replace(PROFILES[table.profile], **given)


def _find_literal_secret(data: object, where: str = "") -> str | None:
    """The dotted key of the first literal secret; host aliases themselves are names, not keys."""
    if not isinstance(data, dict):
        return None
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if where not in ("hosts", "groups") and key in _LITERAL_SECRET_KEYS:
            return path
        found = _find_literal_secret(value, path)
        if found:
            return found
    return None


@dataclass(frozen=True)
class Inventory:
    """Every configured host, plus the defaults that ad-hoc allowlisted hosts inherit."""

    hosts: dict[str, HostConfig] = field(default_factory=dict)
    defaults: DefaultsTable = field(default_factory=DefaultsTable)
    source: str = "(none)"
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def adhoc(self, hostname: str) -> HostConfig:
        """A host admitted by SSH_HOSTS_ALLOWLIST alone, with the file's defaults."""
        host = merge_host(hostname, HostTable(hostname=hostname), self.defaults)
        return replace(host, configured=False)


def _table_model(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The model of the table holding the key at ``loc`` (``hosts.web1.auth.kye``)."""
    if len(loc) >= 2 and loc[-2] == "auth":
        return AuthConfig
    if loc[0] == "defaults" and len(loc) == 2:
        return DefaultsTable
    if loc[0] == "hosts" and len(loc) == 3:
        return HostTable
    return HostsFile


def parse_hosts(
    text: str, source: str, settings: Settings, dropins: Sequence[DropIn] = ()
) -> Inventory:
    """Parse hosts.toml text (plus its ``hosts.d/`` drop-ins); raise ConfigError naming the
    file and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    for where, part in ((source, data), *((d.source, d.data) for d in dropins)):
        secret = _find_literal_secret(part)
        if secret:
            raise ConfigError(
                f"{where}: key {secret}: literal secrets are not allowed; "
                "use auth.password_cmd or auth.passphrase_cmd"
            )
    data, origins = merge_dropins(data, source, list(dropins))
    try:
        parsed = HostsFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            known = _table_model(err["loc"]).model_fields
            msg = "unknown key" + (did_you_mean(str(err["loc"][-1]), known) or "; remove it")
        alias = str(err["loc"][1]) if err["loc"][:1] == ("hosts",) and len(err["loc"]) > 1 else ""
        raise ConfigError(f"{origins.get(alias, source)}: key {key}: {msg}") from None
    hosts = {a: merge_host(a, t, parsed.defaults) for a, t in parsed.hosts.items()}
    chains = _jump_chains(hosts, parsed, source)
    hosts = {a: replace(h, proxy_jump=chains[a]) for a, h in hosts.items()}
    for host in hosts.values():
        method = host.auth.method
        if method == "password" and not settings.allow_password_auth:
            raise ConfigError(
                f"{source}: key hosts.{host.alias}.auth.method: password auth needs "
                "ALLOW_PASSWORD_AUTH=true"
            )
        if method == "password" and not host.auth.password_cmd:
            raise ConfigError(f"{source}: key hosts.{host.alias}.auth.password_cmd: required")
        if method == "key" and not host.auth.key:
            raise ConfigError(f"{source}: key hosts.{host.alias}.auth.key: required")
    for name, members in parsed.groups.items():
        unknown = [m for m in members if m not in hosts]
        if unknown:
            raise ConfigError(f"{source}: key groups.{name}: unknown alias {unknown[0]!r}")
    groups = {name: tuple(members) for name, members in parsed.groups.items()}
    return Inventory(hosts=hosts, defaults=parsed.defaults, source=source, groups=groups)


def _jump_chains(
    hosts: dict[str, HostConfig], parsed: HostsFile, source: str
) -> dict[str, tuple[str, ...]]:
    """Each host's full hop list, first hop first.

    As with OpenSSH, the first hop is reached with its own configuration, so
    its own ``proxy_jump`` is expanded in front; later hops are reached
    through the earlier ones. A host inherits ``[defaults] proxy_jump`` only
    up to itself, so the bastions named there do not jump through themselves.
    """
    default_chain = tuple(parsed.defaults.proxy_jump or ())

    def declared(alias: str) -> tuple[str, ...]:
        own = parsed.hosts[alias].proxy_jump
        if own is not None:
            return tuple(own)
        if alias in default_chain:
            return default_chain[: default_chain.index(alias)]
        return default_chain

    def expand(alias: str, seen: tuple[str, ...]) -> tuple[str, ...]:
        hops = declared(alias)
        for hop in hops:
            if hop not in hosts:
                raise ConfigError(f"{source}: key hosts.{alias}.proxy_jump: unknown alias {hop!r}")
            if hop == alias or hop in seen:
                raise ConfigError(f"{source}: key hosts.{alias}.proxy_jump: jump loop via {hop!r}")
        if not hops:
            return ()
        return (*expand(hops[0], (*seen, alias)), *hops)

    return {alias: expand(alias, ()) for alias in hosts}


def mistyped_hosts_file(settings: Settings, dropins: Sequence[DropIn]) -> bool:
    """``SSH_HOSTS_FILE`` set, the file missing and no drop-ins beside it: a typo, most
    likely, and no inventory (drop-ins alone show the path is meant)."""
    return not dropins and "ssh_hosts_file" in settings.model_fields_set


def load_hosts(settings: Settings) -> Inventory:
    """Read ``SSH_HOSTS_FILE`` and the ``hosts.d/`` next to it. Both missing at the default
    path: no configured hosts, said in a warning; ``SSH_HOSTS_FILE`` set to a missing file
    with no drop-ins beside it: a ConfigError (a typo, most likely)."""
    path = settings.ssh_hosts_file.expanduser()
    dropins = read_dropins(dropin_dir(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if mistyped_hosts_file(settings, dropins):
            raise ConfigError(
                f"SSH_HOSTS_FILE={path}: no such file; fix the path, or unset SSH_HOSTS_FILE "
                "to use the default location"
            ) from None
        if not dropins:
            logging.getLogger("ssh_mcp").warning(
                "no hosts file at %s (the default SSH_HOSTS_FILE): zero configured hosts", path
            )
            return Inventory(source=str(path))
        text = ""
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_hosts(text, str(path), settings, dropins)
