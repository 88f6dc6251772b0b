"""Settings from the environment (pydantic-settings).

Every env var ssh-mcp reads is a field of :class:`Settings`; a bad value
fails at startup with one ``ConfigError`` naming the variable. hosts.toml is
:mod:`ssh_mcp.config.inventory`.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import shlex
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ssh_mcp.config.defaults import DEFAULTS
from ssh_mcp.config.environ import DEMO_BACKEND_ENV, default_audit_log, default_hosts_file, xdg
from ssh_mcp.core.access import Group, Tier, ToolMode
from ssh_mcp.errors import ConfigError
from ssh_mcp.policy.paths import is_anchored

StrList = Annotated[list[str], NoDecode]


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


def absolute_paths(value: list[str] | None) -> list[str] | None:
    """Refuse a relative path root or zone: it would be compared as if under ``/`` and
    never match what the host resolves (``~`` and ``~/x`` expand to the login's home)."""
    for path in value or ():
        if not is_anchored(path):
            raise ValueError(
                f"{path[:200]!r} is not absolute; write it from / or from ~/ (the login "
                "user's home on that host)"
            )
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
        default_factory=default_hosts_file,
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
    ssh_tool_mode: ToolMode = Field(
        ToolMode.FULL,
        description="`search`: tools/list shows ssh_tool_search, _describe, _call and two host "
        "tools; the rest are found and called through them.",
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
    ssh_connect_timeout: float = Field(
        DEFAULTS.connect_timeout, gt=0, description="TCP + handshake + auth timeout."
    )
    ssh_idle_timeout: float = Field(
        DEFAULTS.idle_timeout, gt=0, description="Close pooled connections idle this many seconds."
    )
    ssh_keepalive_interval: float = Field(
        DEFAULTS.keepalive_interval,
        gt=0,
        description=f"SSH keepalive interval; {DEFAULTS.keepalive_count_max} missed replies "
        "drop the connection.",
    )
    ssh_stdout_cap_bytes: int = Field(
        1_048_576, gt=0, description="Bytes of stdout kept per call; the rest is cut and flagged."
    )
    ssh_stderr_cap_bytes: int = Field(
        262_144, gt=0, description="Bytes of stderr kept per call; the rest is cut and flagged."
    )
    ssh_local_transfer_roots: StrList = Field(
        default_factory=list,
        description="Local directories local_path may resolve into. Empty: local_path is off.",
    )
    ssh_inline_max_bytes: int = Field(
        1_048_576,
        gt=0,
        description="Largest file returned inline by ssh_sftp_download and ssh_read_redacted.",
    )
    ssh_transfer_max_bytes: int = Field(
        10 * 1024**3, gt=0, description="Largest file any streamed transfer moves."
    )
    ssh_transfer_timeout: float = Field(
        3600.0, gt=0, description="Seconds a streamed transfer may take before it is stopped."
    )
    ssh_transfer_max_entries: int = Field(
        10_000, gt=0, description="Most entries a directory transfer (recursive=true) moves."
    )
    ssh_delete_folder_max_entries: int = Field(
        10_000, gt=0, description="Most entries ssh_delete_folder removes in one call."
    )
    ssh_broadcast_concurrency: int | None = Field(
        None,
        ge=1,
        description="Most hosts ssh_broadcast runs on at once; unset: all of the call's hosts.",
    )
    ssh_confirm_patterns: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Regexes added to the default deny set (a JSON array, or one per line).",
    )
    allow_unconfirmed: bool = Field(
        False, description="Run deny-pattern commands when the client cannot ask a human."
    )
    ssh_confirm_timeout: float = Field(
        600.0, gt=0, description="Seconds to wait for a human's answer before refusing."
    )
    ssh_job_ttl: float = Field(
        3600.0, gt=0, description="Seconds a finished background job is kept, then removed."
    )
    ssh_job_max_output_bytes: int = Field(
        1_048_576,
        ge=4096,
        description="Bytes of stdout, and of stderr, each background job keeps (a ring).",
    )
    ssh_job_max_running: int = Field(
        32, ge=1, description="Background jobs that may run at once; more are refused."
    )
    ssh_job_table: Path = Field(
        default_factory=lambda: xdg("XDG_STATE_HOME", ".local/state") / "ssh-mcp" / "jobs.json",
        description="Where the server remembers its jobs, to reattach them after a restart.",
    )
    ssh_shell_max_sessions: int = Field(
        8, ge=1, le=256, description="Shell sessions that may be open at once."
    )
    ssh_shell_idle_timeout: float = Field(
        900.0, gt=0, description="Seconds a shell session may sit unused before it is closed."
    )
    ssh_pty_max_sessions: int = Field(
        8, ge=1, le=256, description="PTY sessions (ssh_pty_open) open at once; more are refused."
    )
    ssh_pty_idle_timeout: float = Field(
        600, gt=0, description="Seconds a PTY session may sit unused before it is closed."
    )
    ssh_forward_bind: str = Field("127.0.0.1", description="Address local port forwards listen on.")
    ssh_forward_max_open: int = Field(
        DEFAULTS.forward_max_open,
        ge=1,
        le=1024,
        description="Port forwards (ssh_forward_*) open at once; more are refused.",
    )
    ssh_docker_run_privileged: bool = Field(
        False,
        description="Let ssh_docker_run use --privileged, --cap-add, --device, --security-opt, "
        "host namespaces, the docker socket and host-root mounts.",
    )
    ssh_host_notes_dir: Path = Field(
        default_factory=lambda: xdg("XDG_STATE_HOME", ".local/state") / "ssh-mcp" / "notes",
        description="Where agents' host notes (ssh_host_notes_*) are kept, one file per alias.",
    )
    ssh_host_notes_max_bytes: int = Field(
        65_536, ge=1024, description="Largest note per host, in bytes."
    )
    ssh_audit_log: Path = Field(
        default_factory=default_audit_log,
        description="Audit JSON-lines file. Default `$XDG_STATE_HOME/ssh-mcp/audit.jsonl`.",
    )
    ssh_audit_key: SecretStr | None = Field(
        None, description="If set, hashes and the chain use HMAC-SHA256 with this key."
    )
    ssh_mcp_transport: Literal["stdio", "http"] = Field(
        "stdio", description="`http` serves Streamable HTTP instead of stdio (as `serve --http`)."
    )
    ssh_http_host: str = Field(
        "127.0.0.1",
        description="Address the HTTP transport listens on; not loopback: needs allowed hosts.",
    )
    ssh_http_port: int = Field(8765, ge=1, le=65535, description="TCP port of the HTTP transport.")
    ssh_http_token_cmd: StrList = Field(
        default_factory=list,
        description="Command printing the HTTP bearer token (argv JSON array or shlex string).",
    )
    ssh_http_allowed_hosts: StrList = Field(
        default_factory=list,
        description="Host header values the HTTP transport accepts besides loopback names.",
    )
    ssh_http_tokens_file: Path = Field(
        default_factory=lambda: xdg("XDG_CONFIG_HOME", ".config") / "ssh-mcp" / "http-tokens.json",
        description="Scoped HTTP tokens (`ssh-mcp token create`), hashes only; re-read on change.",
    )
    ssh_http_rate_limit: int = Field(
        0, ge=0, description="HTTP requests per minute per token (0: no limit); over it, 429."
    )
    ssh_http_max_concurrency: int = Field(
        0, ge=0, description="HTTP requests in flight per token (0: no limit); over it, 429."
    )
    ssh_oauth_issuer: str | None = Field(
        None, description="OAuth issuer whose JWT access tokens HTTP accepts (with the two below)."
    )
    ssh_oauth_audience: str | None = Field(
        None, description="This server's resource URL: the `aud` a JWT access token must carry."
    )
    ssh_oauth_jwks_url: str | None = Field(
        None, description="URL of the issuer's JWKS, the keys JWT access tokens are checked with."
    )

    @field_validator(
        "ssh_enabled_groups",
        "ssh_hosts_allowlist",
        "ssh_hosts_blocklist",
        "ssh_path_allowlist",
        "ssh_restricted_paths",
        "ssh_command_allowlist",
        "ssh_local_transfer_roots",
        "ssh_http_allowed_hosts",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("ssh_confirm_patterns", mode="before")
    @classmethod
    def _patterns(cls, value: object) -> object:
        # Regexes contain commas, so these split on newlines, not commas.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [line.strip() for line in text.splitlines() if line.strip()]
        return value

    @field_validator("ssh_http_token_cmd", mode="before")
    @classmethod
    def _argv(cls, value: object) -> object:
        # An argv: a JSON array, or one string split like a shell would (but never run by one).
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else shlex.split(text)
        return value

    @field_validator("ssh_path_allowlist", "ssh_restricted_paths", "ssh_command_allowlist")
    @classmethod
    def _no_star(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError(
                '"*" is not a wildcard here: use "/" to allow every path; for any program '
                "leave the command allowlist empty and set ALLOW_ANY_COMMAND=true"
            )
        return value

    @field_validator("ssh_path_allowlist", "ssh_restricted_paths")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        return absolute_paths(value) or []

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
        settings = Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        raise ConfigError(f"invalid environment variable {name}: {err['msg']}") from None
    for name, meant in misspelled_env_names():
        logging.getLogger("ssh_mcp").warning(
            "environment variable %s is not one ssh-mcp reads; did you mean %s?", name, meant
        )
    return settings


#: SSH_* names read outside Settings, and OpenSSH's own: never a misspelling of ours.
_OTHER_NAMES = frozenset(
    {"LOG_LEVEL", "SSH_AUTH_SOCK", DEMO_BACKEND_ENV, "SSH_AGENT_PID", "SSH_ASKPASS"}
    | {"SSH_ASKPASS_REQUIRE", "SSH_CLIENT", "SSH_CONNECTION", "SSH_ORIGINAL_COMMAND"}
    | {"SSH_SK_PROVIDER", "SSH_TTY", "SSH_USER_AUTH"}
)


def misspelled_env_names() -> list[tuple[str, str]]:
    """(name as set, the name it is close to) for each ``SSH_*`` or ``ALLOW_*`` variable
    that ssh-mcp does not read but nearly spells one it does (``ALLOW_DANGEROUS_TOOL``)."""
    known = sorted({name.upper() for name in Settings.model_fields} | _OTHER_NAMES)
    found = []
    for name in sorted(os.environ):
        upper = name.upper()
        if upper in known or not upper.startswith(("SSH_", "ALLOW_")):
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.8)
        if close:
            found.append((name, close[0]))
    return found
