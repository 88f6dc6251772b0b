"""The :class:`~ssh_mcp.core.spec.ToolContext` that dispatch hands each handler.

A context is bound to the hosts the call named, already resolved and
policy-checked; ``on(field)`` rebinds it to another host field of the same
call (``ssh_transfer``'s ``dst_host``). Every remote operation goes through
the app's :class:`~ssh_mcp.core.reach.Reach` with the operator's caps, and
every command run as root uses the call's :class:`Elevations`, so a host's
sudo password command runs at most once per call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ssh_mcp.config.cli_profiles import CliConfig
from ssh_mcp.config.inventory import HostConfig
from ssh_mcp.config.secrets import read_secret
from ssh_mcp.core.app import App, summary
from ssh_mcp.core.spec import HostSummary, Limits, ServerFacts, ToolContext, ToolSpec
from ssh_mcp.core.terminals import Terminals
from ssh_mcp.errors import CommandNotAllowed, ConfigError, RemoteError
from ssh_mcp.policy import forward as forward_policy
from ssh_mcp.policy import hosts as host_policy
from ssh_mcp.policy.paths import is_within
from ssh_mcp.policy.terminal import device_refusal
from ssh_mcp.ssh import forward as forwarding
from ssh_mcp.ssh.connect import ConnectSpec, fetch_host_fingerprint
from ssh_mcp.ssh.marks import posix_login
from ssh_mcp.ssh.pool import Lease, SessionInfo
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.process import ProcessResult
from ssh_mcp.ssh.pty import Pty
from ssh_mcp.ssh.remote import Remote
from ssh_mcp.ssh.shell import Shell
from ssh_mcp.ssh.sudo_io import Elevation
from ssh_mcp.state.forwards import ForwardEntry, ForwardTable, ForwardWant, new_forward_id
from ssh_mcp.state.jobs import JobTable
from ssh_mcp.state.notes import NotesStore
from ssh_mcp.state.ptys import PtyTable
from ssh_mcp.state.shells import ShellTable

T = TypeVar("T")
log = logging.getLogger("ssh_mcp")
ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass(frozen=True)
class Target:
    """One resolved host of a call."""

    host: HostConfig
    spec: ConnectSpec
    #: The host's restricted zones in every spelling it gives them, once dispatch
    #: resolved them for this call's paths; None before.
    zones: tuple[str, ...] | None = None
    #: Further spellings of the paths this call changes on the host (``~/bin/x`` for
    #: ``/var/lib/svc/bin/x``), for the sensitive-file patterns.
    also: tuple[str, ...] = ()


async def elevation_for(host: HostConfig) -> Elevation:
    """sudo with the password from the host's sudo_password_cmd, or ``sudo -n``."""
    if not host.sudo_password_cmd:
        return Elevation()
    password = await read_secret(host.sudo_password_cmd, "sudo_password")
    if "\n" in password or "\r" in password:
        # Only the first line would be the password; the rest would reach the command.
        raise ConfigError(
            f"sudo_password_cmd {host.sudo_password_cmd[0]!r} printed more than one line; "
            "make it print only the password"
        )
    return Elevation((password + "\n").encode())


class Elevations:
    """The sudo credentials of one call, per host: read on first need, then kept for the
    rest of the call (path resolution as root, then the handler's commands)."""

    def __init__(self, read: Callable[[HostConfig], Awaitable[Elevation]] = elevation_for) -> None:
        self._read = read
        self._got: dict[str, Elevation] = {}
        self._lock = asyncio.Lock()

    async def of(self, host: HostConfig) -> Elevation:
        async with self._lock:  # concurrent first uses wait for the one read
            if host.alias not in self._got:
                self._got[host.alias] = await self._read(host)
            return self._got[host.alias]


class CallContext:
    """Implements ``ssh_mcp.core.spec.ToolContext`` for one call."""

    def __init__(
        self,
        app: App,
        targets: Mapping[str, Target],
        progress: ProgressFn,
        field: str = "host",
        denials: Mapping[str, str] | None = None,
        elevations: Elevations | None = None,
        lease: Lease | None = None,
    ) -> None:
        self._app, self._targets, self._progress = app, targets, progress
        self._field = field if field in targets else next(iter(targets), field)
        self._denials = denials or {}
        self._elevations = elevations or Elevations()
        self._lease = lease

    def on(self, field: str) -> CallContext:
        if field not in self._targets:
            raise RuntimeError(f"this tool declared no host field {field!r}")
        return CallContext(
            self._app,
            self._targets,
            self._progress,
            field,
            self._denials,
            self._elevations,
            self._lease,
        )

    def fanout(self, field: str) -> list[tuple[str, ToolContext | str]]:
        prefix = f"{field}:"
        return [
            (key[len(prefix) :], self._denials.get(key) or self.on(key))
            for key in self._targets
            if key.startswith(prefix)
        ]

    def local_refusal(self, path: str, ident: tuple[int, int] | None = None) -> str | None:
        app = self._app
        if ident is not None:
            from ssh_mcp.core.confine import confine_local  # confine imports this module
            from ssh_mcp.errors import PathNotAllowed

            st = os.stat(path, follow_symlinks=False)
            if (st.st_dev, st.st_ino) != ident:
                return "it changed while being read"
            roots = app.settings.ssh_local_transfer_roots
            try:
                confine_local(path, roots, create=False, protected=app.protected_local)
            except PathNotAllowed as exc:
                return str(exc)
            return None
        for entry in app.protected_local:
            for spelling in dict.fromkeys((entry, os.path.realpath(entry))):
                if is_within(path, spelling) or is_within(spelling, path):
                    return f"it is or holds the server's own file {spelling}"
        label = app.deny.match_path(path)
        return None if label is None else f"the server's own logins or services run it ({label})"

    def restricted_paths(self) -> tuple[str, ...]:
        target = self._targets.get(self._field)
        if target is None:
            return ()
        if target.zones is not None:
            return target.zones
        return host_policy.restricted_paths(target.host, self._app.settings)

    @property
    def host(self) -> HostSummary | None:
        target = self._targets.get(self._field)
        return summary(target.host) if target else None

    @property
    def command_timeout(self) -> float:
        return self._app.settings.ssh_command_timeout

    @property
    def limits(self) -> Limits:
        s = self._app.settings
        return Limits(
            stdout_cap=s.ssh_stdout_cap_bytes,
            stderr_cap=s.ssh_stderr_cap_bytes,
            inline_max_bytes=s.ssh_inline_max_bytes,
            transfer_max_bytes=s.ssh_transfer_max_bytes,
            transfer_max_entries=s.ssh_transfer_max_entries,
            delete_folder_max_entries=s.ssh_delete_folder_max_entries,
            local_transfer=bool(s.ssh_local_transfer_roots),
            broadcast_concurrency=s.ssh_broadcast_concurrency,
            job_max_output_bytes=s.ssh_job_max_output_bytes,
            job_max_running=s.ssh_job_max_running,
            job_ttl=s.ssh_job_ttl,
            shell_max_sessions=s.ssh_shell_max_sessions,
            docker_run_privileged=s.ssh_docker_run_privileged,
        )

    @property
    def jobs(self) -> JobTable:
        return self._app.jobs

    @property
    def shells(self) -> ShellTable:
        return self._app.shells

    @property
    def notes(self) -> NotesStore:
        return self._app.notes

    @property
    def terminals(self) -> Terminals:
        target = self._targets.get(self._field)
        return CallTerminals(self._app, target, self._lease)

    async def open_shell(self, cwd: str | None) -> Shell:
        return await self._app.pool.run(
            self._target(), lambda pc: Shell.open(pc, cwd), replay=False, lease=self._lease
        )

    @property
    def forwards(self) -> ForwardTable:
        return self._app.forwards

    async def open_forward(self, want: ForwardWant) -> ForwardEntry:
        target = self._targets.get(self._field)
        if target is None:
            raise RuntimeError("this tool declared no host argument")
        host, app, fid = target.host, self._app, new_forward_id()
        allowed, alias = host.forward_allowlist, host.alias
        if want.dest is not None:
            dest_host, dest_port = want.dest
            forward_policy.check_host(dest_host, "the destination")
            forward_policy.check_destination(
                allowed, alias, dest_host, dest_port, server_side=want.kind == "remote"
            )
        else:
            forward_policy.check_socks(allowed, alias)
        bind = forward_policy.bind_address(app.settings.ssh_forward_bind)

        def report(opened: forwarding.Opened) -> None:
            record = {
                "event": "forward_connection",
                "forward": fid,
                "kind": want.kind,
                "host": alias,
                "hostname": host.hostname,
                "outcome": opened.outcome,
                "error": opened.error,
                "dest_hash": app.audit.digest(f"{opened.host}:{opened.port}"),
                "token": app.caller,
            }
            try:
                app.audit.write(record)
            except (OSError, TypeError, ValueError):
                log.exception("audit write failed for forward %s", fid)

        def allow(dest_host: str, dest_port: int) -> bool:
            return forward_policy.matches(allowed, dest_host, dest_port, server_side=False)

        async def op(pc: PooledConnection) -> forwarding.Forward:
            if want.kind == "local":
                assert want.dest is not None
                return await forwarding.forward_local(pc, bind, want.port, want.dest, report)
            if want.kind == "socks":
                return await forwarding.forward_socks(pc, bind, want.port, allow, report)
            assert want.dest is not None
            return await forwarding.forward_remote(pc, want.port, want.dest, report)

        async with app.forwards.opening():  # before anything listens
            fwd = await app.pool.run(target.spec, op, replay=False, lease=self._lease)
            entry = ForwardEntry(fid, alias, want.kind, fwd)
            app.forwards.add(entry)
        return entry

    def _bound(self) -> Target:
        target = self._targets.get(self._field)
        if target is None:
            raise RuntimeError("this tool declared no host argument")
        return target

    def _target(self) -> ConnectSpec:
        target = self._bound()
        if (why := device_refusal(target.host, "this tool")) is not None:
            raise CommandNotAllowed(why)  # commands and SFTP need a POSIX host
        return target.spec

    async def run(
        self,
        command: str | Sequence[str],
        *,
        timeout: float | None = None,
        stdin: bytes | None = None,
        on_output: Callable[[str, bytes], None] | None = None,
        sudo: bool = False,
        cwd: str | None = None,
    ) -> ProcessResult:
        text = command if isinstance(command, str) else shlex.join(command)
        if cwd is not None:
            text = f"{shlex.join(['cd', '--', cwd])} && {text}"
        s = self._app.settings
        elevate = await self._elevation() if sudo else None
        return await self._app.reach.process(
            self._target(),
            text,
            timeout=timeout or s.ssh_command_timeout,
            stdout_cap=s.ssh_stdout_cap_bytes,
            stderr_cap=s.ssh_stderr_cap_bytes,
            stdin=stdin,
            on_chunk=on_output,
            elevate=elevate,
            lease=self._lease,
        )

    async def _elevation(self) -> Elevation:
        target = self._targets.get(self._field)
        if target is None:
            raise RuntimeError("this tool declared no host argument")
        return await self._elevations.of(target.host)

    async def remote(self, op: Callable[[Remote], Awaitable[T]], *, replay: bool) -> T:
        return await self._app.reach.remote(self._target(), op, replay=replay, lease=self._lease)

    async def progress(self, done: float, total: float | None, message: str | None) -> None:
        await self._progress(done, total, message)

    def hosts(self) -> list[HostSummary]:
        return self._app.host_summaries()

    def sessions(self) -> list[SessionInfo]:
        return [s for s in self._app.pool.sessions() if self._app.sees_host(s.key)]

    def sees_host(self, alias: str) -> bool:
        return self._app.sees_host(alias)

    def catalog(self) -> list[ToolSpec[Any, Any]]:
        return self._app.visible_tools()

    def server_facts(self) -> ServerFacts:
        return self._app.facts()

    def pinned_fingerprints(self) -> list[str]:
        t = self._bound().spec
        return self._app.known_hosts.pinned_fingerprints(t.host, t.port)

    async def live_fingerprint(self) -> str:
        t = self._bound().spec
        return await fetch_host_fingerprint(
            t, self._app.settings.ssh_connect_timeout, self._app.pool.opts
        )


class CallTerminals:
    """Implements ``ssh_mcp.core.terminals.Terminals`` for one call's bound host."""

    def __init__(self, app: App, target: Target | None, lease: Lease | None) -> None:
        self._app, self._target, self._lease = app, target, lease

    @property
    def table(self) -> PtyTable:
        return self._app.ptys

    @property
    def device(self) -> CliConfig | None:
        return self._target.host.cli if self._target is not None else None

    def _bound(self) -> Target:
        if self._target is None:
            raise RuntimeError("this tool declared no host argument")
        return self._target

    async def open(self, command: str | None, *, term: str, cols: int, rows: int) -> Pty:
        target = self._bound()
        device = target.host.cli is not None

        async def start(pc: PooledConnection) -> Pty:
            posix = False if device else await posix_login(pc) is not False
            if not device and not posix:
                raise RemoteError(
                    f"the login shell on {pc.spec.label} does not read POSIX sh syntax; "
                    "ssh-mcp starts terminals only through a POSIX login shell"
                )
            return await Pty.open(pc, command, term=term, cols=cols, rows=rows, posix=posix)

        return await self._app.pool.run(target.spec, start, replay=False, lease=self._lease)

    async def connect(self) -> None:
        async def nothing(pc: PooledConnection) -> None:
            return None

        await self._app.pool.run(self._bound().spec, nothing, replay=True, lease=self._lease)

    async def enable_secret(self) -> str:
        cli = self.device
        if cli is None or not cli.enable_cmd:
            raise ConfigError("this device has no cli.enable_cmd")
        return await read_secret(cli.enable_cmd, "enable_secret")
