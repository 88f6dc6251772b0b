"""The one path from a tool call to a handler.

Every call, in this order: visibility (tier and group), validation, host
resolution, path policy, command policy, the handler under a deadline, error
mapping, and exactly one audit record, denials included. Nothing else calls a
handler, so no tool can skip a step.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel, ValidationError

from ssh_mcp.app import App
from ssh_mcp.errors import (
    InvalidArguments,
    OperationTimeout,
    SSHMCPError,
    ToolNotAvailable,
)
from ssh_mcp.inventory import HostConfig
from ssh_mcp.policy import hosts as host_policy
from ssh_mcp.policy.commands import check_command
from ssh_mcp.policy.paths import check_path, precheck
from ssh_mcp.spec import CommandText, HostSummary, RemotePath, ServerFacts, ToolSpec
from ssh_mcp.ssh.connect import ConnectSpec, fetch_host_fingerprint
from ssh_mcp.ssh.pool import PooledConnection, SessionInfo
from ssh_mcp.ssh.process import STOP_GRACE, ProcessResult, run_process
from ssh_mcp.ssh.sftp import canonicalize

log = logging.getLogger("ssh_mcp")
T = TypeVar("T")
ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass(frozen=True)
class Outcome:
    """What the MCP layer turns into a CallToolResult."""

    ok: bool
    text: str
    structured: dict[str, Any] | None = None


@dataclass
class _Record:
    """The audit record being built for one call."""

    tool: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    tier: str | None = None
    host: str | None = None
    hostname: str | None = None
    path_hash: str | None = None
    command_hash: str | None = None
    exit_code: int | None = None


class _Context:
    """The ToolContext handed to handlers (see ``ssh_mcp.spec.ToolContext``)."""

    def __init__(
        self, app: App, host: HostConfig | None, spec: ConnectSpec | None, progress: ProgressFn
    ) -> None:
        self._app, self._host, self._spec, self._progress = app, host, spec, progress

    @property
    def host(self) -> HostSummary | None:
        from ssh_mcp.app import summary

        return summary(self._host) if self._host else None

    @property
    def command_timeout(self) -> float:
        return self._app.settings.ssh_command_timeout

    def _target(self) -> ConnectSpec:
        if self._spec is None:
            raise RuntimeError("this tool declared no host argument")
        return self._spec

    async def run(
        self,
        command: str | Sequence[str],
        *,
        timeout: float | None = None,
        stdin: bytes | None = None,
    ) -> ProcessResult:
        text = command if isinstance(command, str) else shlex.join(command)
        s = self._app.settings
        return await self._app.pool.run(
            self._target(),
            lambda pc: run_process(
                pc,
                text,
                timeout=timeout or s.ssh_command_timeout,
                stdout_cap=s.ssh_stdout_cap_bytes,
                stderr_cap=s.ssh_stderr_cap_bytes,
                stdin=stdin,
            ),
        )

    async def with_connection(self, op: Callable[[PooledConnection], Awaitable[T]]) -> T:
        return await self._app.pool.run(self._target(), op)

    async def progress(self, done: float, total: float | None, message: str | None) -> None:
        await self._progress(done, total, message)

    def hosts(self) -> list[HostSummary]:
        return self._app.host_summaries()

    def sessions(self) -> list[SessionInfo]:
        return self._app.pool.sessions()

    def server_facts(self) -> ServerFacts:
        return self._app.facts()

    def pinned_fingerprints(self) -> list[str]:
        t = self._target()
        return self._app.known_hosts.pinned_fingerprints(t.host, t.port)

    async def live_fingerprint(self) -> str:
        t = self._target()
        return await fetch_host_fingerprint(
            t, self._app.settings.ssh_connect_timeout, self._app.pool.opts
        )


async def _no_progress(done: float, total: float | None, message: str | None) -> None:
    return None


def _validation_message(tool: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        msg = "unknown field; remove it" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}")
    return f"invalid arguments for {tool}: " + "; ".join(parts) + " (see the tool's inputSchema)"


def _deadline(app: App, host: HostConfig | None, args: BaseModel) -> float:
    s = app.settings
    hops = 1 + (len(host.proxy_jump) if host else 0)
    work = getattr(args, "timeout", None) or s.ssh_command_timeout
    # Slack for the stop ladder and reply, so a handler's own timeout always fires first.
    return s.ssh_connect_timeout * hops + work + 3 * STOP_GRACE + 1.0


async def _apply_policy(
    app: App, spec: ToolSpec[Any, Any], args: BaseModel, rec: _Record
) -> tuple[BaseModel, HostConfig | None, ConnectSpec | None]:
    """Steps 3-5: resolve the host, confine path fields, check command fields."""
    if not spec.targets_host:
        return args, None, None
    requested: str = args.host  # type: ignore[attr-defined]
    rec.host = requested[:253]  # kept when resolution fails, so denials show what was asked
    host = host_policy.resolve_host(requested, app.inventory, app.settings)
    rec.host, rec.hostname = host.alias, host.hostname
    target = app.connect_spec(host)
    updates: dict[str, str] = {}
    for name in spec.marked_fields(RemotePath):
        marker = spec.field_marker(name, RemotePath)
        assert marker is not None
        raw: str = getattr(args, name)
        precheck(raw)

        async def resolve(
            pc: PooledConnection, raw: str = raw, create: bool = marker.create
        ) -> str:
            return await canonicalize(await pc.sftp(), raw, create=create)

        canonical = await app.pool.run(target, resolve)
        rec.path_hash = rec.path_hash or app.audit.digest(canonical)
        check_path(
            canonical,
            host_policy.path_allowlist(host, app.settings),
            host_policy.restricted_paths(host, app.settings),
        )
        updates[name] = canonical
    for name in spec.marked_fields(CommandText):
        command: str = getattr(args, name)
        rec.command_hash = app.audit.digest(command)
        check_command(
            command,
            host_policy.command_allowlist(host, app.settings),
            app.settings.allow_any_command,
        )
    if updates:
        args = args.model_copy(update=updates)
    return args, host, target


async def dispatch(
    app: App,
    name: str,
    arguments: Mapping[str, Any] | None,
    progress: ProgressFn = _no_progress,
) -> Outcome:
    """Run one tool call through every step; never raises except on cancellation."""
    started = time.monotonic()
    rec = _Record(tool=name[:128])
    outcome, error = "ok", None
    try:
        spec = app.tool(name)
        if spec is None:
            raise ToolNotAvailable(
                f"unknown tool {name[:64]!r}; call tools/list for the tools this server offers"
            )
        rec.tier = spec.tier.value
        try:
            args = spec.input.model_validate(dict(arguments or {}))
        except ValidationError as exc:
            raise InvalidArguments(_validation_message(name, exc)) from None
        args, host, target = await _apply_policy(app, spec, args, rec)
        ctx = _Context(app, host, target, progress)
        budget = _deadline(app, host, args)
        try:
            async with asyncio.timeout(budget):
                out = await spec.handler(ctx, args)
        except TimeoutError:
            raise OperationTimeout(
                f"{name} did not finish within {budget:g}s; retry, or use a smaller request"
            ) from None
        rec.exit_code = getattr(out, "exit_code", None)
        structured = out.model_dump(mode="json")
        text = spec.render(out) if spec.render else out.model_dump_json()
        return Outcome(ok=True, text=text, structured=structured)
    except SSHMCPError as exc:
        outcome, error = exc.outcome, type(exc).__name__
        return Outcome(ok=False, text=" ".join(str(exc).split()))
    except anyio.get_cancelled_exc_class():
        outcome, error = "error", "Cancelled"
        raise
    except Exception as exc:
        outcome, error = "error", type(exc).__name__
        log.exception("internal error in %s (id %s)", name, rec.id)
        return Outcome(
            ok=False, text=f"internal error (id {rec.id}); the server log has the details"
        )
    finally:
        _audit(app, rec, outcome, error, started)


def _audit(app: App, rec: _Record, outcome: str, error: str | None, started: float) -> None:
    record = {
        "id": rec.id,
        "tool": rec.tool,
        "tier": rec.tier,
        "host": rec.host,
        "hostname": rec.hostname,
        "outcome": outcome,
        "duration_ms": int((time.monotonic() - started) * 1000),
        "exit_code": rec.exit_code,
        "error": error,
        "path_hash": rec.path_hash,
        "command_hash": rec.command_hash,
    }
    try:
        app.audit.write(record)
    except (OSError, TypeError, ValueError):
        log.exception("audit write failed for call %s", rec.id)
