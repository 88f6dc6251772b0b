"""Dispatch's confirmation step: a human's yes before a deny-pattern command or a change
to a sensitive file (DECISIONS.md 29 and 42).

Commands are matched as the agent sent them; paths as given, as resolved, and as
the login user's ``~/…``. Confirmation is asked through the ``Confirmer`` the MCP
layer supplies: pushed, on a retried call (a one-shot token), or not at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import anyio.to_thread
from pydantic import BaseModel

from ssh_mcp.core.app import App
from ssh_mcp.core.call import Call, InputRequired
from ssh_mcp.core.context import Target
from ssh_mcp.core.spec import CommandText, RemotePath, ToolSpec
from ssh_mcp.core.terminals import DeviceCommands
from ssh_mcp.errors import NotConfirmed
from ssh_mcp.policy.confirm import confirm_message
from ssh_mcp.policy.terminal import config_mode

_REFUSALS = {
    "declined": "a human declined to run this command ({label}); do not retry it unchanged",
    "cancelled": "the confirmation was cancelled, so the command did not run ({label})",
    "timeout": "no human answered the confirmation in time, so the command did not run ({label})",
    "unsupported": (
        "this command matches a deny pattern ({label}) and needs a human's confirmation, "
        "but this MCP client cannot ask (no elicitation support); ask the operator to run "
        "it, or to set ALLOW_UNCONFIRMED=true"
    ),
    "no_channel": (
        "this command matches a deny pattern ({label}) and needs a human's confirmation, "
        "but this server's stateless HTTP gives a client on a protocol before 2026-07-28 no "
        "channel to be asked on; ask the operator to run it, to connect with a 2026-07-28 "
        "client or over stdio, or to set ALLOW_UNCONFIRMED=true"
    ),
}


def _deny_match(
    app: App,
    spec: ToolSpec[Any, Any],
    args: BaseModel,
    raw: Mapping[str, Any],
    writes: Sequence[str] = (),
    also: Sequence[str] = (),
    targets: Mapping[str, Target] | None = None,
) -> tuple[str, str, str, tuple[int, int] | None] | None:
    """(label, what is shown, verb, where it matched) of the first deny-pattern match. A path
    counts as given and as resolved: a symlinked ~/.ssh/authorized_keys is still one.
    Commands are matched as the agent sent them (``raw``), not as rewritten to run;
    ``writes`` are the files their redirections write."""
    cwd = getattr(args, "cwd", None)
    for name in spec.marked_fields(DeviceCommands):
        for cli in (t.host.cli for t in (targets or {}).values() if t.host.cli is not None):
            if (line := config_mode(getattr(args, name), cli)) is not None:
                return "a device configuration mode", line, "run this", None
    for name in spec.marked_fields(CommandText):
        given = raw.get(name)
        command: str | None = given if isinstance(given, str) else getattr(args, name)
        if command is None:  # a terminal's login shell
            continue
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


async def confirmation(call: Call) -> None:
    """A command matching a deny pattern, or a change to a sensitive file (sudoers,
    authorized_keys, ...), goes ahead only once a human says yes."""
    app, spec, args, targets = call.app, call.spec, call.model, call.targets
    rec, raw, writes = call.rec, call.arguments, call.commands.writes
    # Matching is linear, but a megabyte script still takes about a second of Python:
    # keep it off the event loop then, so other calls carry on.
    big = any(len(str(getattr(args, n))) > 65536 for n in spec.marked_fields(CommandText))
    also = [s for t in targets.values() for s in t.also]
    if big:
        found = await anyio.to_thread.run_sync(
            _deny_match, app, spec, args, raw, writes, also, targets
        )
    else:
        found = _deny_match(app, spec, args, raw, writes, also, targets)
    if found is None:
        return
    label, subject, what, span = found
    call.lease.close()  # no slot stays reserved while a human decides
    rec.extra["deny_pattern"] = label
    hosts = list(dict.fromkeys(t.host.alias for t in targets.values()))
    message = confirm_message(spec.name, hosts, label, subject, what, span)
    arguments = args.model_dump_json()
    if app.caller is not None:
        # An HTTP token's confirmation is its own: another token cannot redeem it.
        arguments = f"{app.caller}\n{arguments}"

    def redeem(token: str | None) -> bool:
        return app.confirm_tokens.redeem(token, spec.name, arguments)

    decision: str
    try:
        async with asyncio.timeout(app.settings.ssh_confirm_timeout):
            decision = await call.confirm(message, redeem)
    except TimeoutError:
        decision = "timeout"
    if decision in ("unsupported", "no_channel") and app.settings.allow_unconfirmed:
        decision = "unconfirmed_allowed"
    rec.extra["confirmation"] = decision
    if decision == "requested":
        raise InputRequired(message, app.confirm_tokens.issue(spec.name, arguments))
    if decision not in ("confirmed", "unconfirmed_allowed"):
        raise NotConfirmed(_REFUSALS.get(decision, _REFUSALS["cancelled"]).format(label=label))
