"""The tables of hosts.toml as written: ``[defaults]``, ``[hosts.<alias>]`` (with ``.auth``)
and ``[groups]``, validated key by key. :mod:`ssh_mcp.config.inventory` merges them into
resolved hosts."""

from __future__ import annotations

import re
import shlex
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ssh_mcp.config.cli_profiles import PROFILES
from ssh_mcp.config.defaults import DEFAULTS
from ssh_mcp.config.settings import absolute_paths


def no_wildcard(value: list[str] | None) -> list[str] | None:
    """Refuse ``"*"``: other servers read it as "anything", here it would be a literal."""
    if value and "*" in value:
        raise ValueError(
            '"*" is not a wildcard here: use "/" to allow every path; for any program leave '
            "the command allowlist empty and set ALLOW_ANY_COMMAND=true"
        )
    return value


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


class CliTable(BaseModel):
    """`[hosts.<alias>.cli]`: the host is a network device with this vendor CLI as its login
    shell. Every key but `profile` overrides the profile's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Literal["cisco_ios", "junos", "generic"] = Field(
        "generic", description="cisco_ios (also FRR vtysh), junos or generic."
    )
    prompt_regex: str | None = Field(
        None, description="Python regex matching a prompt line (searched per line)."
    )
    pager_off: str | None = Field(
        None, description='Command sent after login that turns the pager off; "" for none.'
    )
    enable: str | None = Field(
        None, description="Command that asks for privileged mode (cisco_ios: `enable`)."
    )
    enable_cmd: list[str] | None = Field(
        None, description="Command whose stdout is the enable secret; set: `enable` is run first."
    )
    privileged_regex: str | None = Field(
        None,
        description="Python regex matching the prompt line in privileged mode; the enable step "
        "fails unless it matches.",
    )
    commands: list[str] | None = Field(
        None, description='Device commands ssh_cli_run may send: glob patterns like "show *".'
    )
    line_ending: Literal["lf", "cr", "crlf"] | None = Field(
        None, description="What ends each command sent: lf (default), cr or crlf."
    )
    allow_config: bool | None = Field(
        None,
        description="true: a configuration mode (`configure terminal`) may be entered, each "
        "time after a human's confirmation. Default false.",
    )

    _argvs = field_validator("enable_cmd", mode="before")(classmethod(lambda cls, v: _argv(v)))

    @field_validator("prompt_regex", "privileged_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _enable_with_its_command(self) -> CliTable:
        # Without one, the enable step would send an empty line and always report "refused".
        enable = self.enable if self.enable is not None else PROFILES[self.profile].enable
        if self.enable_cmd is not None and not enable.strip():
            raise ValueError(
                f"enable_cmd needs an enable command: the {self.profile} profile has none; "
                "set enable"
            )
        return self


class _HostFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int | None = Field(
        None, ge=1, le=65535, description=f"SSH port. Default {DEFAULTS.port}."
    )
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
    exec: bool | None = Field(
        None,
        description="false: no tool runs a command or opens a shell on this host, whatever "
        "the global flags. Default true.",
    )
    max_channels: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Channels per connection (keep <= MaxSessions). "
        f"Default {DEFAULTS.max_channels}.",
    )
    max_connections: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Connections the pool may open to this host. "
        f"Default {DEFAULTS.max_connections}.",
    )
    notes: str | None = Field(None, description="Free text shown by ssh_host_list.")
    alert_disk_percent: int | None = Field(
        None,
        ge=1,
        le=100,
        description="ssh_host_alerts: a filesystem this full breaches. "
        f"{DEFAULTS.alert_disk_percent}.",
    )
    alert_load_per_cpu: float | None = Field(
        None,
        gt=0,
        description="ssh_host_alerts: 1-minute load per CPU that breaches. "
        f"{DEFAULTS.alert_load_per_cpu}.",
    )
    alert_memory_available_percent: int | None = Field(
        None,
        ge=0,
        le=100,
        description="ssh_host_alerts: MemAvailable below this breaches. "
        f"{DEFAULTS.alert_memory_available_percent}.",
    )
    sudo_password_cmd: list[str] | None = Field(
        None,
        description="Command whose stdout is the login user's sudo password, for the sudo "
        "tier. Unset: sudo runs with -n (passwordless sudoers rules only).",
    )

    docker_cmd: list[str] | None = Field(
        None,
        description="argv that runs the docker CLI on this host, e.g. `podman` or `sudo docker`. "
        "Default `docker`.",
    )
    pty_allow_shell: bool | None = Field(
        None,
        description="true: ssh_pty_open may start a login shell while a command allowlist is "
        "in force. Default false.",
    )
    forward_allowlist: list[str] | None = Field(
        None, description="`host:port` patterns port forwards may reach. Default none."
    )
    cli: CliTable | None = Field(
        None,
        description="The host is a network device: its CLI profile (sub-table, see below). "
        "Only ssh_cli_run and the terminal tools reach it.",
    )

    _argvs = field_validator("sudo_password_cmd", "docker_cmd", mode="before")(
        classmethod(lambda cls, v: _argv(v))
    )

    @field_validator("proxy_jump", mode="before")
    @classmethod
    def _one_hop(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("path_allowlist", "restricted_paths", "command_allowlist")
    @classmethod
    def _no_star(cls, value: list[str] | None) -> list[str] | None:
        return no_wildcard(value)

    _absolute = field_validator("path_allowlist", "restricted_paths")(
        classmethod(lambda cls, v: absolute_paths(v))
    )


class DefaultsTable(_HostFields):
    """`[defaults]`: values every host inherits unless it sets its own."""


class HostTable(_HostFields):
    """`[hosts.<alias>]`: one host."""

    hostname: str | None = Field(None, description="DNS name or address. Default: the alias.")


class HostsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: DefaultsTable = Field(default_factory=DefaultsTable)
    hosts: dict[str, HostTable] = Field(default_factory=dict)
    groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Named lists of aliases, for ssh_broadcast."
    )
