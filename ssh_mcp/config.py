"""Settings from the environment and hosts from hosts.toml.

``Settings`` reads env flags (pydantic-settings). ``load_hosts`` reads and
validates hosts.toml into ``HostConfig`` objects, each one the merge of
``[defaults]`` and its ``[hosts.<alias>]`` table. Both fail at startup with a
``ConfigError`` that names the file or variable and the offending key.
"""

from __future__ import annotations

import json
import os
import shlex
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ssh_mcp.access import Group, Tier
from ssh_mcp.errors import ConfigError

StrList = Annotated[list[str], NoDecode]
#: hosts.toml keys that would carry a literal secret; refused with a pointer to the *_cmd form.
_LITERAL_SECRET_KEYS = frozenset({"password", "passphrase", "secret", "token"})


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var) or str(Path.home() / fallback)
    return Path(base)


def _default_hosts_file() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / "ssh-mcp" / "hosts.toml"


def _default_audit_log() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state") / "ssh-mcp" / "audit.jsonl"


def _split_list(value: object) -> object:
    """Accept a JSON array or a comma-separated string for list-valued env vars."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every env var ssh-mcp reads; the env name is the field name upper-cased.

    CONFIGURATION.md documents each one; a test checks that none is missing.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    allow_low_access_tools: bool = Field(False, description="Open the low-access tier.")
    allow_dangerous_tools: bool = Field(False, description="Open the dangerous tier (exec).")
    allow_sudo: bool = Field(
        False, description="Open the sudo tier; takes effect only with ALLOW_DANGEROUS_TOOLS."
    )
    allow_password_auth: bool = Field(
        False, description='Permit `auth.method = "password"` hosts (secret from password_cmd).'
    )
    allow_any_command: bool = Field(
        False, description="Run any command when no command allowlist applies. Off: exec refused."
    )
    ssh_hosts_file: Path = Field(
        default_factory=_default_hosts_file,
        description="hosts.toml location. Default `$XDG_CONFIG_HOME/ssh-mcp/hosts.toml`.",
    )
    ssh_known_hosts: Path = Field(
        default_factory=lambda: Path.home() / ".ssh" / "known_hosts",
        description="known_hosts file used strictly; re-read when it changes, never written.",
    )
    ssh_config_file: Path | None = Field(
        None, description="An ssh_config to honour. Unset: no ssh_config is read at all."
    )
    ssh_enabled_groups: StrList = Field(
        default_factory=list, description="Tool groups to offer. Empty: all groups."
    )
    ssh_hosts_allowlist: StrList = Field(
        default_factory=list, description="Hostnames callable without a hosts.toml entry."
    )
    ssh_hosts_blocklist: StrList = Field(
        default_factory=list, description="Aliases or hostnames always refused. Wins over allow."
    )
    ssh_path_allowlist: StrList = Field(
        default_factory=list,
        description="Remote path roots for hosts with no path_allowlist. Empty: paths denied.",
    )
    ssh_restricted_paths: StrList = Field(
        default_factory=list, description="Remote zones always denied, added to every host's list."
    )
    ssh_command_allowlist: StrList = Field(
        default_factory=list,
        description="Programs exec may start, for hosts with none of their own.",
    )
    ssh_command_timeout: float = Field(
        60.0, gt=0, description="Default exec timeout in seconds, when a call gives none."
    )
    ssh_connect_timeout: float = Field(10.0, gt=0, description="TCP + handshake + auth timeout.")
    ssh_idle_timeout: float = Field(
        300.0, gt=0, description="Close pooled connections idle this many seconds."
    )
    ssh_keepalive_interval: float = Field(
        15.0, gt=0, description="SSH keepalive interval; 3 missed replies drop the connection."
    )
    ssh_stdout_cap_bytes: int = Field(
        1_048_576, gt=0, description="Bytes of stdout kept per call; the rest is cut and flagged."
    )
    ssh_stderr_cap_bytes: int = Field(
        262_144, gt=0, description="Bytes of stderr kept per call; the rest is cut and flagged."
    )
    ssh_audit_log: Path = Field(
        default_factory=_default_audit_log,
        description="Audit JSON-lines file. Default `$XDG_STATE_HOME/ssh-mcp/audit.jsonl`.",
    )
    ssh_audit_key: SecretStr | None = Field(
        None, description="If set, hashes and the chain use HMAC-SHA256 with this key."
    )

    @field_validator(
        "ssh_enabled_groups",
        "ssh_hosts_allowlist",
        "ssh_hosts_blocklist",
        "ssh_path_allowlist",
        "ssh_restricted_paths",
        "ssh_command_allowlist",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("ssh_enabled_groups")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        known = {g.value for g in Group}
        bad = [g for g in value if g not in known]
        if bad:
            raise ValueError(f"unknown group {bad[0]!r}; known: {', '.join(sorted(known))}")
        return value

    def open_tiers(self) -> frozenset[Tier]:
        """The tiers this configuration opens. Sudo needs both its flag and dangerous."""
        tiers = {Tier.READ}
        if self.allow_low_access_tools:
            tiers.add(Tier.LOW_ACCESS)
        if self.allow_dangerous_tools:
            tiers.add(Tier.DANGEROUS)
            if self.allow_sudo:
                tiers.add(Tier.SUDO)
        return frozenset(tiers)

    def enabled_groups(self) -> frozenset[Group]:
        return frozenset(Group(g) for g in self.ssh_enabled_groups) or frozenset(Group)


def load_settings(**overrides: Any) -> Settings:
    """Read Settings from the environment, turning validation errors into one ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        raise ConfigError(f"invalid environment variable {name}: {err['msg']}") from None


# -- hosts.toml -----------------------------------------------------------------


def _argv(value: object) -> object:
    """A *_cmd is an argv list, or a string split with shlex (never run through a shell)."""
    return shlex.split(value) if isinstance(value, str) else value


class AuthConfig(BaseModel):
    """`[hosts.<alias>.auth]` / `[defaults.auth]`: how to authenticate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["agent", "key", "password"] = Field(
        "agent", description="agent (default), key (a private key file) or password."
    )
    identity_agent: str | None = Field(
        None, description="agent: socket path. Default `$SSH_AUTH_SOCK`."
    )
    identity_fingerprint: str | None = Field(
        None, description="agent: use only the agent key with this `SHA256:…` fingerprint."
    )
    identities_only: bool = Field(
        True,
        description="Accepted for python-ssh-mcp compatibility; ssh-mcp only ever offers the "
        "configured key or agent keys, never ~/.ssh defaults.",
    )
    key: str | None = Field(None, description="key: path to the private key (`~` expands).")
    passphrase_cmd: list[str] | None = Field(
        None, description="key: command whose stdout is the key passphrase."
    )
    password_cmd: list[str] | None = Field(
        None, description="password: command whose stdout is the password (ALLOW_PASSWORD_AUTH)."
    )

    _argvs = field_validator("passphrase_cmd", "password_cmd", mode="before")(
        classmethod(lambda cls, v: _argv(v))
    )


class _HostFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int | None = Field(None, ge=1, le=65535, description="SSH port. Default 22.")
    user: str | None = Field(None, description="Login user. Default: the local user.")
    auth: AuthConfig | None = Field(None, description="Authentication sub-table.")
    proxy_jump: list[str] | None = Field(
        None, description="Aliases of bastions to hop through, in order."
    )
    path_allowlist: list[str] | None = Field(None, description="Remote path roots tools may touch.")
    restricted_paths: list[str] | None = Field(
        None, description="Remote zones always denied (added to SSH_RESTRICTED_PATHS)."
    )
    command_allowlist: list[str] | None = Field(None, description="Programs exec may start.")
    max_channels: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Channels per connection (keep <= MaxSessions). Default 10.",
    )
    max_connections: int | None = Field(
        None, ge=1, le=64, description="Connections the pool may open to this host. Default 4."
    )
    notes: str | None = Field(None, description="Free text shown by ssh_host_list.")


class DefaultsTable(_HostFields):
    """`[defaults]`: values every host inherits unless it sets its own."""


class HostTable(_HostFields):
    """`[hosts.<alias>]`: one host."""

    hostname: str | None = Field(None, description="DNS name or address. Default: the alias.")


class HostsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: DefaultsTable = Field(default_factory=DefaultsTable)
    hosts: dict[str, HostTable] = Field(default_factory=dict)


@dataclass(frozen=True)
class HostConfig:
    """One resolved host: ``[defaults]`` merged under ``[hosts.<alias>]``."""

    alias: str
    hostname: str
    port: int = 22
    user: str | None = None
    auth: AuthConfig = field(default_factory=AuthConfig)
    proxy_jump: tuple[str, ...] = ()
    path_allowlist: tuple[str, ...] | None = None
    restricted_paths: tuple[str, ...] = ()
    command_allowlist: tuple[str, ...] | None = None
    max_channels: int = 10
    max_connections: int = 4
    notes: str | None = None
    configured: bool = True


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
        port=pick("port") or 22,
        user=pick("user"),
        auth=pick("auth") or AuthConfig(),
        proxy_jump=tuple(pick("proxy_jump") or ()),
        path_allowlist=tup(pick("path_allowlist")),
        restricted_paths=restricted,
        command_allowlist=tup(pick("command_allowlist")),
        max_channels=pick("max_channels") or 10,
        max_connections=pick("max_connections") or 4,
        notes=table.notes,
    )


def _find_literal_secret(data: object, where: str = "") -> str | None:
    """The dotted key of the first literal secret; host aliases themselves are names, not keys."""
    if not isinstance(data, dict):
        return None
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if where != "hosts" and key in _LITERAL_SECRET_KEYS:
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

    def adhoc(self, hostname: str) -> HostConfig:
        """A host admitted by SSH_HOSTS_ALLOWLIST alone, with the file's defaults."""
        host = merge_host(hostname, HostTable(hostname=hostname), self.defaults)
        return replace(host, configured=False)


def parse_hosts(text: str, source: str, settings: Settings) -> Inventory:
    """Parse hosts.toml text; raise ConfigError naming ``source`` and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    secret = _find_literal_secret(data)
    if secret:
        raise ConfigError(
            f"{source}: key {secret}: literal secrets are not allowed; "
            "use auth.password_cmd or auth.passphrase_cmd"
        )
    try:
        parsed = HostsFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{source}: key {key}: {err['msg']}") from None
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
    return Inventory(hosts=hosts, defaults=parsed.defaults, source=source)


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


def load_hosts(settings: Settings) -> Inventory:
    """Read ``SSH_HOSTS_FILE``; a missing file means no configured hosts."""
    path = settings.ssh_hosts_file.expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Inventory(source=str(path))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_hosts(text, str(path), settings)
