"""The application object: settings, hosts, pool, audit and registry, wired once.

``App`` is what the MCP server and the CLI hold. It owns every long-lived
resource and closes them in :meth:`App.aclose`. Building it never touches
the network: connections open lazily on a tool's first call.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssh_mcp import __version__
from ssh_mcp.config.defaults import DEFAULTS
from ssh_mcp.config.dropins import dropin_dir
from ssh_mcp.config.environ import agent_socket
from ssh_mcp.config.host_tables import AuthConfig
from ssh_mcp.config.inventory import HostConfig, Inventory, load_hosts
from ssh_mcp.config.secrets import read_secret
from ssh_mcp.config.settings import Settings, load_settings
from ssh_mcp.core.access import Tier, ToolMode
from ssh_mcp.core.reach import PoolReach, Reach
from ssh_mcp.core.spec import HostSummary, ServerFacts, ToolSpec
from ssh_mcp.policy.confirm import DenyPatterns
from ssh_mcp.policy.local import names_local_file
from ssh_mcp.policy.scope import (
    FULL,
    Scope,
    group_in_scope,
    narrow_inventory,
    narrow_settings,
    tier_in_scope,
)
from ssh_mcp.ssh.connect import AuthSpec, ConnectOptions, ConnectSpec
from ssh_mcp.ssh.known_hosts import KnownHosts
from ssh_mcp.ssh.pool import Pool
from ssh_mcp.state.audit import AuditLog
from ssh_mcp.state.confirm_tokens import ConfirmTokens
from ssh_mcp.state.forwards import ForwardTable
from ssh_mcp.state.jobs import JobTable
from ssh_mcp.state.notes import NotesStore
from ssh_mcp.state.ptys import PtyTable
from ssh_mcp.state.shells import ShellTable
from ssh_mcp.tools import ALL_TOOLS

SERVER_NAME = "ssh-mcp"


@dataclass
class App:
    settings: Settings
    inventory: Inventory
    pool: Pool
    audit: AuditLog
    known_hosts: KnownHosts
    jobs: JobTable
    shells: ShellTable
    notes: NotesStore
    #: Terminal sessions (PTYs) and device CLI sessions.
    ptys: PtyTable = field(default_factory=lambda: PtyTable(300.0, 8))
    tools: tuple[ToolSpec[Any, Any], ...] = ALL_TOOLS
    forwards: ForwardTable = field(default_factory=lambda: ForwardTable(DEFAULTS.forward_max_open))
    #: Commands that need a human's yes first (the default set + SSH_CONFIRM_PATTERNS).
    deny: DenyPatterns = field(default_factory=DenyPatterns.build)
    #: One-shot tokens for 2026-07-28 confirmation round trips.
    confirm_tokens: ConfirmTokens = field(
        default_factory=lambda: ConfirmTokens(os.urandom(32), 600.0)
    )
    #: The server's own files, which no local_path may reach (:func:`protected_local_paths`).
    protected_local: tuple[str, ...] = ()
    #: How calls reach their hosts, built from the pool: the pool itself in production,
    #: an in-memory host in tests that need no sshd (:mod:`ssh_mcp.core.reach`).
    reach_factory: Callable[[Pool], Reach] = PoolReach
    reach: Reach = field(init=False)
    #: The name of the HTTP token a request came with, on a :meth:`scoped` view; the
    #: audit's ``token`` field.
    caller: str | None = None
    scope: Scope = FULL
    _visible: dict[str, ToolSpec[Any, Any]] = field(default_factory=dict, init=False)
    #: Narrowed views by (scope, caller): every HTTP request asks for one, and settings and
    #: inventory never change under a running app, so each is built once.
    _views: dict[tuple[Scope, str], App] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.reach = self.reach_factory(self.pool)
        self._visible = self._visible_tools()

    def _visible_tools(self) -> dict[str, ToolSpec[Any, Any]]:
        tiers, groups = self.settings.open_tiers(), self.settings.enabled_groups()
        mode = self.settings.ssh_tool_mode
        return {
            t.name: t
            for t in self.tools
            if t.tier in tiers
            and (
                t.group in groups
                if ToolMode.FULL in t.listed_in
                # The search machinery exists in search mode only, whatever the groups: it
                # reaches no tool the groups hide, and without it nothing would be reachable.
                else mode in t.listed_in
            )
        }

    def scoped(self, scope: Scope, caller: str) -> App:
        """This app as one HTTP token sees it (DECISIONS.md 65): the same pool, audit, jobs
        and sessions, with settings and hosts narrowed to ``scope`` (policy/scope.py), so
        that every step, tool, resource and prompt decides over the narrowed view alone."""
        key = (scope, caller)
        if (view := self._views.get(key)) is not None:
            return view
        if len(self._views) >= 256:  # many OAuth subjects: keep the newest only
            self._views.clear()
        view = self._views[key] = copy.copy(self)
        view.caller, view.scope = caller, scope
        if scope.full:
            return view
        view.settings = narrow_settings(self.settings, scope)
        view.inventory = narrow_inventory(self.inventory, scope)
        visible = view._visible_tools()
        view._visible = {
            n: t
            for n, t in visible.items()
            # The search machinery stays (as above); the tier is checked here too because
            # no flag closes the read tier.
            if ToolMode.FULL not in t.listed_in
            or (group_in_scope(scope, t.group.value) and tier_in_scope(scope, t.tier.value))
        }
        return view

    def open_tiers(self) -> frozenset[Tier]:
        """The tiers open to this view: the server's, less those its scope leaves out."""
        return frozenset(
            t for t in self.settings.open_tiers() if tier_in_scope(self.scope, t.value)
        )

    def sees_host(self, alias: str) -> bool:
        """Whether this view's scope reaches ``alias`` (a hosts.toml alias or an
        allowlisted hostname): what lists of jobs, shells and connections may show."""
        if self.scope.hosts is None:
            return True
        return alias in self.inventory.hosts or alias in self.settings.ssh_hosts_allowlist

    def visible_tools(self) -> list[ToolSpec[Any, Any]]:
        """Tools this server offers (tier open, group enabled, and the search tools in search
        mode), in registry order: what may be called, searched and described."""
        return list(self._visible.values())

    def listed_tools(self) -> list[ToolSpec[Any, Any]]:
        """The visible tools tools/list shows in this mode (SSH_TOOL_MODE)."""
        mode = self.settings.ssh_tool_mode
        return [t for t in self._visible.values() if mode in t.listed_in]

    def tool(self, name: str) -> ToolSpec[Any, Any] | None:
        """The visible tool called ``name``; hidden and unknown tools are both ``None``."""
        return self._visible.get(name)

    def connect_spec(self, host: HostConfig) -> ConnectSpec:
        hops = tuple(self._spec(self.inventory.hosts[a]) for a in host.proxy_jump)
        return self._spec(host, hops)

    @staticmethod
    def _spec(host: HostConfig, hops: tuple[ConnectSpec, ...] = ()) -> ConnectSpec:
        auth = host.auth
        return ConnectSpec(
            key=host.alias,
            host=host.hostname,
            port=host.port,
            user=host.user,
            auth=AuthSpec(
                method=auth.method,
                agent_path=auth.identity_agent or agent_socket(),
                fingerprint=auth.identity_fingerprint,
                key_path=auth.key,
                passphrase_cmd=tuple(auth.passphrase_cmd) if auth.passphrase_cmd else None,
                password_cmd=tuple(auth.password_cmd) if auth.password_cmd else None,
            ),
            hops=hops,
            max_channels=host.max_channels,
            max_connections=host.max_connections,
        )

    def host_summaries(self) -> list[HostSummary]:
        return [summary(h) for h in self.inventory.hosts.values()]

    def facts(self) -> ServerFacts:
        return ServerFacts(
            name=SERVER_NAME,
            version=__version__,
            open_tiers=tuple(sorted(t.value for t in self.open_tiers())),
            enabled_groups=tuple(sorted(g.value for g in self.settings.enabled_groups())),
            tool_count=len(self._visible),
            host_count=len(self.inventory.hosts),
        )

    def handle_host(self, kind: str, handle: str) -> str | None:
        """The host alias of a job or shell session id; None when unknown or ended."""
        if kind == "job":
            job = self.jobs.get(handle)
            return job.host if job is not None else None
        if kind == "shell":
            return self.shells.host_of(handle)
        if kind == "pty":
            return self.ptys.host_of(handle)
        if kind == "forward":
            return self.forwards.host_of(handle)
        return None

    async def aclose(self) -> None:
        """Close shell sessions, terminals, port forwards, every pooled connection and the audit
        file."""
        await self.shells.aclose()
        await self.ptys.aclose()
        await self.forwards.aclose()
        await self.pool.aclose()
        self.audit.close()


def summary(host: HostConfig) -> HostSummary:
    return HostSummary(
        alias=host.alias,
        hostname=host.hostname,
        port=host.port,
        user=host.user,
        auth_method=host.auth.method,
        proxy_jump=host.proxy_jump,
        notes=host.notes,
        alerts=(
            host.alert_disk_percent,
            host.alert_load_per_cpu,
            host.alert_memory_available_percent,
        ),
        docker_cmd=host.docker_cmd,
    )


def build_app(
    settings: Settings | None = None,
    tools: tuple[ToolSpec[Any, Any], ...] = ALL_TOOLS,
    reach: Callable[[Pool], Reach] = PoolReach,
) -> App:
    """Load settings and hosts.toml and wire the app; raises ConfigError on bad config.
    ``reach`` builds what calls reach their hosts through (tests pass a fake host)."""
    settings = settings or load_settings()
    inventory = load_hosts(settings)
    key = settings.ssh_audit_key.get_secret_value().encode() if settings.ssh_audit_key else None
    known_hosts = KnownHosts(settings.ssh_known_hosts)
    options = ConnectOptions(
        known_hosts=known_hosts,
        secret=read_secret,
        config_file=settings.ssh_config_file,
        connect_timeout=settings.ssh_connect_timeout,
        keepalive_interval=settings.ssh_keepalive_interval,
        keepalive_count_max=DEFAULTS.keepalive_count_max,
    )
    return App(
        settings=settings,
        inventory=inventory,
        pool=Pool(options, idle_timeout=settings.ssh_idle_timeout),
        audit=AuditLog(settings.ssh_audit_log.expanduser(), key),
        known_hosts=known_hosts,
        jobs=JobTable(settings.ssh_job_table.expanduser(), settings.ssh_job_ttl),
        shells=ShellTable(settings.ssh_shell_idle_timeout),
        ptys=PtyTable(settings.ssh_pty_idle_timeout, settings.ssh_pty_max_sessions),
        forwards=ForwardTable(settings.ssh_forward_max_open),
        notes=NotesStore(
            settings.ssh_host_notes_dir.expanduser(), settings.ssh_host_notes_max_bytes
        ),
        tools=tools,
        deny=DenyPatterns.build(settings.ssh_confirm_patterns),
        confirm_tokens=ConfirmTokens(_confirm_key(key), settings.ssh_confirm_timeout),
        protected_local=protected_local_paths(settings, inventory),
        reach_factory=reach,
    )


def protected_local_paths(settings: Settings, inventory: Inventory) -> tuple[str, ...]:
    """Every file of the server's own that a ``local_path`` must never read or write,
    whatever SSH_LOCAL_TRANSFER_ROOTS say (DECISIONS.md 44): reading one would send a
    secret to a host, writing one would change whom the server trusts or what it runs.

    As absolute paths, ``~`` expanded; confine_local resolves them on each call, so a
    file or link that appears later is still covered.
    """
    paths: list[str | Path] = [
        Path.home() / ".ssh",  # the server user's keys, known_hosts, config, agent sockets
        settings.ssh_known_hosts,
        settings.ssh_hosts_file,
        dropin_dir(settings.ssh_hosts_file),  # hosts.d/: a file dropped there adds a host
        settings.ssh_audit_log,
        settings.ssh_job_table,
        settings.ssh_job_table.with_name(settings.ssh_job_table.name + ".lock"),
        settings.ssh_host_notes_dir,
        settings.ssh_http_tokens_file,  # writing it would mint a token
        settings.ssh_http_tokens_file.with_name(settings.ssh_http_tokens_file.name + ".lock"),
        sys.prefix,  # the server's own code: overwriting it would run as the server
        Path(__file__).parent,
    ]
    if settings.ssh_config_file is not None:
        paths.append(settings.ssh_config_file)
    if sock := agent_socket():
        paths.append(sock)
    auths = [inventory.defaults.auth, *(h.auth for h in inventory.hosts.values())]
    argvs: list[Iterable[str]] = [settings.ssh_http_token_cmd]
    argvs += [h.sudo_password_cmd or () for h in inventory.hosts.values()]
    argvs += [inventory.defaults.sudo_password_cmd or ()]
    argvs += [h.cli.enable_cmd or () for h in inventory.hosts.values() if h.cli is not None]
    for auth in (a for a in auths if a is not None):
        paths += _auth_files(auth)
        argvs += [auth.passphrase_cmd or (), auth.password_cmd or ()]
    # A secret helper's script and the files it is given (`cat /etc/ssh-mcp/token`).
    paths += [arg for argv in argvs for arg in argv if names_local_file(arg)]
    return tuple(dict.fromkeys(os.path.abspath(os.path.expanduser(str(p))) for p in paths))


def _auth_files(auth: AuthConfig) -> list[str]:
    files = [auth.identity_agent] if auth.identity_agent else []
    if auth.key:
        files += [auth.key, auth.key + ".pub", auth.key + "-cert.pub"]
    return files


def _confirm_key(audit_key: bytes | None) -> bytes:
    """Replicas sharing SSH_AUDIT_KEY accept each other's tokens; else a key per process."""
    if audit_key is None:
        return os.urandom(32)
    return hmac.new(audit_key, b"ssh-mcp confirmation tokens", hashlib.sha256).digest()
