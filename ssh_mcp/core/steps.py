"""The steps of dispatch, each a function of one :class:`~ssh_mcp.core.call.Call`.

:data:`ssh_mcp.core.dispatch.STEPS` lists them in the order they run; the
confirmation step lives in :mod:`ssh_mcp.core.confirm_step`, the path and
command policies' remote work in :mod:`ssh_mcp.core.confine` and
:mod:`ssh_mcp.core.command_step`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import anyio
from pydantic import BaseModel, ValidationError

from ssh_mcp.core.access import Group, unknown_tool
from ssh_mcp.core.app import App
from ssh_mcp.core.call import Call, InputRequired, Outcome
from ssh_mcp.core.command_step import check_commands
from ssh_mcp.core.confine import Resolver, confine_paths
from ssh_mcp.core.context import CallContext, Elevations, Target
from ssh_mcp.core.spec import CommandText, HandleRef, HostSet, Name, ToolSpec
from ssh_mcp.core.terminals import DeviceCommands
from ssh_mcp.errors import (
    CommandNotAllowed,
    HostNotAllowed,
    InvalidArguments,
    OperationTimeout,
    SSHMCPError,
    ToolNotAvailable,
    did_you_mean,
    shown,
)
from ssh_mcp.policy import hosts as host_policy
from ssh_mcp.policy import names as name_policy
from ssh_mcp.policy.terminal import device_refusal
from ssh_mcp.ssh.process import STOP_GRACE

log = logging.getLogger("ssh_mcp")


async def visibility(call: Call) -> None:
    """Tier and group: a hidden tool is an unknown tool (DECISIONS.md 3)."""
    call.tool = call.app.tool(call.name)
    if call.tool is None:
        raise ToolNotAvailable(unknown_tool(call.name, call.app.settings.ssh_tool_mode))
    call.rec.tier = call.tool.tier.value


def _validation_message(tool: str, exc: ValidationError, known: Iterable[str] = ()) -> str:
    # A location is the caller's own key and a custom validator's text may quote a value:
    # both are shown escaped and cut, never the input itself (pydantic's ``input``).
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(shown(p, 64, quote="") for p in err["loc"]) or "(arguments)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field" + (did_you_mean(str(err["loc"][-1]), known) or "; remove it")
        parts.append(f"{loc}: {shown(msg, 200, quote='')}")
    return f"invalid arguments for {tool}: " + "; ".join(parts) + " (see the tool's inputSchema)"


async def validation(call: Call) -> None:
    """The input model, strict (``extra="forbid"``): the field and the reason, never the value."""
    try:
        call.args = call.spec.input.model_validate(dict(call.arguments))
    except ValidationError as exc:
        known = call.spec.input.model_fields
        raise InvalidArguments(_validation_message(call.name, exc, known)) from None
    check_names(call)


def check_names(call: Call) -> None:
    """Every ``Name`` field hashed into the audit, then held to its kind's rule: a name that
    could become an option, a second line or shell syntax is refused before anything runs."""
    spec, args = call.spec, call.model
    for field in spec.marked_fields(Name):
        marker = spec.field_marker(field, Name)
        value: str | list[str] | None = getattr(args, field)
        if value is None or marker is None:
            continue
        items = [value] if isinstance(value, str) else list(value)
        if value:
            call.rec.extra[f"{field}_hash"] = call.app.audit.digest("\n".join(items))
        for item in items:  # an empty string is checked too: no kind accepts one
            if why := name_policy.problem(marker.kind, item):
                raise InvalidArguments(
                    f"invalid arguments for {call.name}: {field} {shown(item, 64)}: {why}"
                )


_HANDLE_HINTS = {
    "job": "finished jobs expire after SSH_JOB_TTL",
    "shell": "shell sessions end on close, exit, timeout, or SSH_SHELL_IDLE_TIMEOUT",
    "pty": "terminal sessions end on close or SSH_PTY_IDLE_TIMEOUT",
    "forward": "forwards end on close, when their connection drops, or when the server stops",
}
#: The groups whose tools reach a network device host (hosts.toml ``cli``): no POSIX shell.
_DEVICE_GROUPS = frozenset({Group.TERMINAL, Group.HOST, Group.SESSION, Group.FORWARD})


async def host(call: Call) -> None:
    """Every host field to a Target; the first names the audit's host."""
    app, spec, args, rec = call.app, call.spec, call.model, call.rec
    targets = call.targets
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
            found = host_policy.resolve_host(wanted, app.inventory, app.settings)
            targets[f"{name}:{found.alias}"] = Target(found, app.connect_spec(found))
            aliases.append(found.alias)
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
        found = host_policy.resolve_host(alias, app.inventory, app.settings)
        rec.set_host("host", True, found.alias, found.hostname)
        targets["host"] = Target(found, app.connect_spec(found))
    for i, name in enumerate(spec.host_fields):
        requested: str = getattr(args, name)
        # Kept when resolution fails, so denials show what was asked.
        rec.set_host(name, i == 0, requested[:253], None)
        found = host_policy.resolve_host(requested, app.inventory, app.settings)
        rec.set_host(name, i == 0, found.alias, found.hostname)
        targets[name] = Target(found, app.connect_spec(found))
    for target in targets.values():
        why = device_refusal(target.host, spec.name)
        if why is not None and spec.group not in _DEVICE_GROUPS:
            raise CommandNotAllowed(why)


async def elevation(call: Call) -> None:
    """How the call runs as root on each host: sudo with the password from the host's
    ``sudo_password_cmd``, read when first needed (a root path, a zone resolved by root,
    a command run with ``sudo``) and then kept for the call, so the command runs at most
    once per call and never for a call refused before it needs root."""
    call.elevations = Elevations()
    call.resolver = Resolver(call.app, call.elevations, call.lease)


async def paths(call: Call) -> None:
    """Every path field canonical on its host and admitted by the path policy."""
    call.updates = await confine_paths(
        call.app, call.spec, call.model, call.targets, call.rec, call.resolver
    )


async def commands(call: Call) -> None:
    """The command policy for every command field, and the targets of its redirections."""
    app, spec, args = call.app, call.spec, call.model
    for name in spec.marked_fields(CommandText):
        if (command := getattr(args, name)) is not None:  # None: a terminal's login shell
            call.rec.command_hash = app.audit.digest(command)  # as given
    for name in spec.marked_fields(DeviceCommands):
        call.rec.command_hash = app.audit.digest("\n".join(getattr(args, name)))
    step = await check_commands(
        app, spec, args, call.targets, call.updates.get("cwd"), call.resolver
    )
    call.commands = step
    updates = {**call.updates, **step.updates}
    if updates:
        call.args = args.model_copy(update=updates)


def _deadline(
    app: App, spec: ToolSpec[Any, Any], targets: dict[str, Target], args: BaseModel
) -> float:
    s = app.settings
    hops = 1 + max((len(t.host.proxy_jump) for t in targets.values()), default=0)
    if spec.long_running:
        work = s.ssh_transfer_timeout
    else:
        work = getattr(args, "timeout", None) or s.ssh_command_timeout
    # Slack for the stop ladder and reply, so a handler's own timeout always fires first.
    return s.ssh_connect_timeout * hops + work + 3 * STOP_GRACE + 1.0


async def handler(call: Call) -> None:
    """The tool's handler, under one deadline, with a context bound to the call's hosts."""
    spec, args, rec = call.spec, call.model, call.rec
    # The handler reuses the slot dispatch reserved, but reserves none to keep: a handler
    # that waits between operations (a job's status) holds no slot while it waits.
    call.lease.settle()
    ctx = CallContext(
        call.app,
        call.targets,
        call.progress,
        denials=call.commands.denials,
        elevations=call.elevations,
        lease=call.lease,
    )
    budget = _deadline(call.app, spec, call.targets, args)
    try:
        async with asyncio.timeout(budget):
            out = await spec.handler(ctx, args)
    except TimeoutError:
        raise OperationTimeout(
            f"{call.name} did not finish within {budget:g}s; retry, or use a smaller request"
        ) from None
    rec.exit_code = getattr(out, "exit_code", None)
    if spec.audit_bytes:
        rec.bytes = getattr(out, spec.audit_bytes, None)
    for out_field in spec.audit_fields:
        rec.extra[out_field] = str(getattr(out, out_field))
    # Rendered here, so that a rendering failure is the handler's, audited as such.
    structured = out.model_dump(mode="json")
    text = spec.render(out) if spec.render else out.model_dump_json()
    call.out = Outcome(ok=True, text=text, structured=structured)


def _classified(failure: BaseException | None) -> tuple[str, str | None]:
    """The audit's ``outcome`` and ``error`` for how the call ended."""
    if failure is None:
        return "ok", None
    if isinstance(failure, SSHMCPError):
        return failure.outcome, type(failure).__name__
    if isinstance(failure, InputRequired):
        return "input_required", None
    if isinstance(failure, anyio.get_cancelled_exc_class()):
        return "error", "Cancelled"
    return "error", type(failure).__name__


async def audit(call: Call) -> None:
    """Exactly one audit record per call, denials and failures included (DECISIONS.md 5)."""
    rec = call.rec
    outcome, error = _classified(call.failure)
    record = {
        "id": rec.id,
        "tool": rec.tool,
        "tier": rec.tier,
        "host": rec.host,
        "hostname": rec.hostname,
        "outcome": outcome,
        "duration_ms": int((time.monotonic() - call.started) * 1000),
        "exit_code": rec.exit_code,
        "error": error,
        "path_hash": rec.path_hash,
        "command_hash": rec.command_hash,
        "bytes": rec.bytes,
        **rec.extra,
    }
    if call.app.caller is not None:
        record["token"] = call.app.caller  # the token's name; the token itself never
    try:
        call.app.audit.write(record)
    except (OSError, TypeError, ValueError):
        log.exception("audit write failed for call %s", rec.id)


async def error_mapping(call: Call) -> None:
    """The result: the handler's output, or one line for a refusal or failure (cause and
    remedy); anything outside the error tree is an internal error with an id, its
    traceback only in the server log."""
    failure = call.failure
    if failure is None and call.out is not None:
        call.outcome = call.out
    elif isinstance(failure, SSHMCPError):
        call.outcome = Outcome(ok=False, text=" ".join(str(failure).split()))
    elif isinstance(failure, InputRequired):
        text = "waiting for a human to confirm this command"
        call.outcome = Outcome(ok=False, text=text, input_required=(failure.message, failure.state))
    elif not isinstance(failure, anyio.get_cancelled_exc_class()):
        log.error("internal error in %s (id %s)", call.name, call.rec.id, exc_info=failure)
        text = f"internal error (id {call.rec.id}); the server log has the details"
        call.outcome = Outcome(ok=False, text=text)
