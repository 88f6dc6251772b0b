"""The one path from a tool call to a handler.

Every call, in this order: visibility (tier and group), validation, host
resolution, path policy, command policy, human confirmation for deny-pattern
commands, the handler under a deadline, error mapping, and exactly one audit
record, denials included. Nothing else calls a
handler, so no tool can skip a step.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
from pydantic import BaseModel, ValidationError

from ssh_mcp.core.app import App
from ssh_mcp.core.command_step import CommandStep, check_commands
from ssh_mcp.core.confine import confine_paths as _confine_paths
from ssh_mcp.core.context import CallContext, ProgressFn, Target
from ssh_mcp.core.spec import CommandText, HandleRef, HostSet, RemotePath, ToolSpec
from ssh_mcp.errors import (
    HostNotAllowed,
    InvalidArguments,
    NotConfirmed,
    OperationTimeout,
    SSHMCPError,
    ToolNotAvailable,
    shown,
)
from ssh_mcp.policy import hosts as host_policy
from ssh_mcp.policy.confirm import confirm_message
from ssh_mcp.ssh.process import STOP_GRACE

log = logging.getLogger("ssh_mcp")
T = TypeVar("T")


Decision = Literal["confirmed", "declined", "cancelled", "unsupported", "requested"]


#: ``confirm(message, redeem)`` asks a human, through the MCP client, whether a
#: deny-pattern command may run. It returns the human's decision; ``unsupported``
#: when the client cannot ask; ``requested`` when the answer will come in a retried
#: call (2026-07-28): an answer carried by this call counts only if
#: ``redeem(request_state)`` accepts the token echoed back.
Redeem = Callable[[str | None], bool]
Confirmer = Callable[[str, Redeem], Awaitable[Decision]]


async def _cannot_ask(message: str, redeem: Redeem) -> Decision:
    return "unsupported"


@dataclass(frozen=True)
class Outcome:
    """What the MCP layer turns into a CallToolResult."""

    ok: bool
    text: str
    structured: dict[str, Any] | None = None
    #: (message, state) when a human must confirm first and the client asks on retry.
    input_required: tuple[str, str] | None = None


class _InputRequired(Exception):
    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.message, self.state = message, state


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
    bytes: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def set_host(self, field_name: str, primary: bool, alias: str, hostname: str | None) -> None:
        """``host``/``hostname`` for the tool's first host field; ``<field>`` for others."""
        if primary:
            self.host, self.hostname = alias, hostname
        else:
            self.extra[field_name] = alias

    def add_path(self, field_name: str, digest: str) -> None:
        """``path_hash`` for the first path field; ``<field>_hash`` for others."""
        if self.path_hash is None:
            self.path_hash = digest
        else:
            self.extra[f"{field_name}_hash"] = digest


async def _no_progress(done: float, total: float | None, message: str | None) -> None:
    return None


def _validation_message(tool: str, exc: ValidationError) -> str:
    # A location is the caller's own key and a custom validator's text may quote a value:
    # both are shown escaped and cut, never the input itself (pydantic's ``input``).
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(shown(p, 64, quote="") for p in err["loc"]) or "(arguments)"
        msg = "unknown field; remove it" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {shown(msg, 200, quote='')}")
    return f"invalid arguments for {tool}: " + "; ".join(parts) + " (see the tool's inputSchema)"


def _deadline(
    app: App, spec: ToolSpec[Any, Any], targets: Mapping[str, Target], args: BaseModel
) -> float:
    s = app.settings
    hops = 1 + max((len(t.host.proxy_jump) for t in targets.values()), default=0)
    if spec.long_running:
        work = s.ssh_transfer_timeout
    else:
        work = getattr(args, "timeout", None) or s.ssh_command_timeout
    # Slack for the stop ladder and reply, so a handler's own timeout always fires first.
    return s.ssh_connect_timeout * hops + work + 3 * STOP_GRACE + 1.0


_HANDLE_HINTS = {
    "job": "finished jobs expire after SSH_JOB_TTL",
    "shell": "shell sessions end on close, exit, timeout, or SSH_SHELL_IDLE_TIMEOUT",
}


def _resolve_hosts(
    app: App, spec: ToolSpec[Any, Any], args: BaseModel, rec: _Record
) -> dict[str, Target]:
    """Step 3: every host field to a Target; the first names the audit's host."""
    targets: dict[str, Target] = {}
    for name in spec.marked_fields(HostSet):
        marker = spec.field_marker(name, HostSet)
        names: list[str] | None = getattr(args, name)
        group: str | None = getattr(args, marker.group) if marker else None
        if not names:
            if group not in app.inventory.groups:
                raise HostNotAllowed(
                    f"unknown group {str(group)[:64]!r}; groups are defined in hosts.toml [groups]"
                )
            names = list(app.inventory.groups[group])
        aliases = []
        for wanted in dict.fromkeys(names):
            host = host_policy.resolve_host(wanted, app.inventory, app.settings)
            targets[f"{name}:{host.alias}"] = Target(host, app.connect_spec(host))
            aliases.append(host.alias)
        rec.extra[name] = ",".join(aliases)
    for name in spec.marked_fields(HandleRef):
        handle = spec.field_marker(name, HandleRef)
        kind = handle.kind if handle else ""
        value: str = getattr(args, name)
        rec.extra[name] = value[:32]
        alias = app.handle_host(kind, value)
        if alias is None:
            raise InvalidArguments(
                f"unknown {kind} id {value[:32]!r} ({_HANDLE_HINTS.get(kind, '')}); "
                f"call ssh_{kind}_list for the ones this server knows"
            )
        rec.set_host("host", True, alias, None)
        host = host_policy.resolve_host(alias, app.inventory, app.settings)
        rec.set_host("host", True, host.alias, host.hostname)
        targets["host"] = Target(host, app.connect_spec(host))
    for i, name in enumerate(spec.host_fields):
        requested: str = getattr(args, name)
        # Kept when resolution fails, so denials show what was asked.
        rec.set_host(name, i == 0, requested[:253], None)
        host = host_policy.resolve_host(requested, app.inventory, app.settings)
        rec.set_host(name, i == 0, host.alias, host.hostname)
        targets[name] = Target(host, app.connect_spec(host))
    return targets


async def _apply_policy(
    app: App, spec: ToolSpec[Any, Any], args: BaseModel, rec: _Record
) -> tuple[BaseModel, dict[str, Target], CommandStep]:
    """Steps 3-5: resolve hosts, confine path fields, check command fields."""
    targets = _resolve_hosts(app, spec, args, rec)
    updates = await _confine_paths(app, spec, args, targets, rec)
    for name in spec.marked_fields(CommandText):
        rec.command_hash = app.audit.digest(getattr(args, name))  # as given, not as rewritten
    step = await check_commands(app, spec, args, targets, updates.get("cwd"))
    updates.update(step.updates)
    if updates:
        args = args.model_copy(update=updates)
    return args, targets, step


_REFUSALS = {
    "declined": "a human declined to run this command ({label}); do not retry it unchanged",
    "cancelled": "the confirmation was cancelled, so the command did not run ({label})",
    "timeout": "no human answered the confirmation in time, so the command did not run ({label})",
    "unsupported": (
        "this command matches a deny pattern ({label}) and needs a human's confirmation, "
        "but this MCP client cannot ask (no elicitation support); ask the operator to run "
        "it, or to set ALLOW_UNCONFIRMED=true"
    ),
}


def _deny_match(
    app: App,
    spec: ToolSpec[Any, Any],
    args: BaseModel,
    raw: Mapping[str, Any],
    writes: Sequence[str] = (),
    also: Sequence[str] = (),
) -> tuple[str, str, str, tuple[int, int] | None] | None:
    """(label, what is shown, verb, where it matched) of the first deny-pattern match. A path
    counts as given and as resolved: a symlinked ~/.ssh/authorized_keys is still one.
    Commands are matched as the agent sent them (``raw``), not as rewritten to run;
    ``writes`` are the files their redirections write."""
    cwd = getattr(args, "cwd", None)
    for name in spec.marked_fields(CommandText):
        given = raw.get(name)
        command: str = given if isinstance(given, str) else getattr(args, name)
        if (found := app.deny.find(command, cwd if isinstance(cwd, str) else None)) is not None:
            return found.label, command, "run this", (found.start, found.end)
        for target in writes:
            if (label := app.deny.match_path(target)) is not None:
                at = command.find(target)
                span = (at, at + len(target)) if at >= 0 else None
                return f"{label}, by a redirection to {target}", command, "run this", span
    if not spec.annotations.read_only:  # a file tool that may change what it names
        for name in spec.marked_fields(RemotePath):
            if name == "cwd":  # where a command runs, not what it changes
                continue
            path: str | None = getattr(args, name)
            given = raw.get(name)
            for candidate in (path, given if isinstance(given, str) else None):
                if candidate is not None and (label := app.deny.match_path(candidate)):
                    return label, candidate, "change this file", None
        for candidate in also:  # the same paths as the login user's ~/…
            if (label := app.deny.match_path(candidate)) is not None:
                return label, candidate, "change this file", None
    return None


async def _confirm(
    app: App,
    spec: ToolSpec[Any, Any],
    args: BaseModel,
    targets: Mapping[str, Target],
    rec: _Record,
    confirm: Confirmer,
    raw: Mapping[str, Any],
    writes: Sequence[str] = (),
) -> None:
    """Step 6: a command matching a deny pattern, or a change to a sensitive file (sudoers,
    authorized_keys, ...), goes ahead only once a human says yes."""
    # Matching is linear, but a megabyte script still takes about a second of Python:
    # keep it off the event loop then, so other calls carry on.
    big = any(len(str(getattr(args, n))) > 65536 for n in spec.marked_fields(CommandText))
    also = [s for t in targets.values() for s in t.also]
    if big:
        found = await anyio.to_thread.run_sync(_deny_match, app, spec, args, raw, writes, also)
    else:
        found = _deny_match(app, spec, args, raw, writes, also)
    if found is None:
        return
    label, subject, what, span = found
    rec.extra["deny_pattern"] = label
    hosts = list(dict.fromkeys(t.host.alias for t in targets.values()))
    message = confirm_message(spec.name, hosts, label, subject, what, span)
    arguments = args.model_dump_json()

    def redeem(token: str | None) -> bool:
        return app.confirm_tokens.redeem(token, spec.name, arguments)

    decision: str
    try:
        async with asyncio.timeout(app.settings.ssh_confirm_timeout):
            decision = await confirm(message, redeem)
    except TimeoutError:
        decision = "timeout"
    if decision == "unsupported" and app.settings.allow_unconfirmed:
        decision = "unconfirmed_allowed"
    rec.extra["confirmation"] = decision
    if decision == "requested":
        raise _InputRequired(message, app.confirm_tokens.issue(spec.name, arguments))
    if decision not in ("confirmed", "unconfirmed_allowed"):
        raise NotConfirmed(_REFUSALS.get(decision, _REFUSALS["cancelled"]).format(label=label))


async def dispatch(
    app: App,
    name: str,
    arguments: Mapping[str, Any] | None,
    progress: ProgressFn = _no_progress,
    confirm: Confirmer = _cannot_ask,
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
        args, targets, step = await _apply_policy(app, spec, args, rec)
        await _confirm(app, spec, args, targets, rec, confirm, arguments or {}, step.writes)
        ctx = CallContext(app, targets, progress, denials=step.denials)
        budget = _deadline(app, spec, targets, args)
        try:
            async with asyncio.timeout(budget):
                out = await spec.handler(ctx, args)
        except TimeoutError:
            raise OperationTimeout(
                f"{name} did not finish within {budget:g}s; retry, or use a smaller request"
            ) from None
        rec.exit_code = getattr(out, "exit_code", None)
        if spec.audit_bytes:
            rec.bytes = getattr(out, spec.audit_bytes, None)
        for out_field in spec.audit_fields:
            rec.extra[out_field] = str(getattr(out, out_field))
        structured = out.model_dump(mode="json")
        text = spec.render(out) if spec.render else out.model_dump_json()
        return Outcome(ok=True, text=text, structured=structured)
    except SSHMCPError as exc:
        outcome, error = exc.outcome, type(exc).__name__
        return Outcome(ok=False, text=" ".join(str(exc).split()))
    except _InputRequired as req:
        outcome = "input_required"
        text = "waiting for a human to confirm this command"
        return Outcome(ok=False, text=text, input_required=(req.message, req.state))
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
        "bytes": rec.bytes,
        **rec.extra,
    }
    try:
        app.audit.write(record)
    except (OSError, TypeError, ValueError):
        log.exception("audit write failed for call %s", rec.id)
