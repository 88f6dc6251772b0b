"""The one path from a tool call to a handler: a fixed list of named steps.

Every call runs :data:`STEPS` in order (DECISIONS.md 4 and 56): visibility
(tier and group), validation, host resolution, elevation, path policy,
command policy, human confirmation, the handler under a deadline; then,
however the call ended, exactly one audit record and the mapping of the
result or error to what the client sees. A step that raises ends the call's
way through the first eight; the last two always run. Nothing else calls a
handler, so no tool can skip a step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
from pydantic import ValidationError

from ssh_mcp.core import steps
from ssh_mcp.core.app import App
from ssh_mcp.core.call import (
    Call,
    Confirmer,
    Decision,
    Outcome,
    Redeem,
    Step,
    cannot_ask,
    no_progress,
)
from ssh_mcp.core.confirm_step import confirmation
from ssh_mcp.core.context import ProgressFn
from ssh_mcp.core.search import TOOL_CALL, CallInput

__all__ = ["STEPS", "Confirmer", "Decision", "Outcome", "Redeem", "dispatch", "run_call"]

STEPS: tuple[Step, ...] = (
    Step("visibility", steps.visibility),
    Step("validation", steps.validation),
    Step("host", steps.host),
    Step("elevation", steps.elevation),
    Step("paths", steps.paths),
    Step("commands", steps.commands),
    Step("confirmation", confirmation),
    Step("handler", steps.handler),
    Step("audit", steps.audit, always=True),
    Step("error mapping", steps.error_mapping, always=True),
)


async def run_call(
    app: App,
    name: str,
    arguments: Mapping[str, Any] | None,
    progress: ProgressFn = no_progress,
    confirm: Confirmer = cannot_ask,
    steps: tuple[Step, ...] = STEPS,
    via: str | None = None,
) -> Call:
    """Run one call through ``steps`` and return it, with the steps it passed through;
    ``via`` names the meta tool (ssh_tool_call) the call came through, for the audit."""
    call = Call(app, name, arguments or {}, progress, confirm)
    if via is not None:
        call.rec.extra["via"] = via
    try:
        for step in steps:
            if not step.always:
                await step.run(call)
                call.passed.append(step.name)
    except anyio.get_cancelled_exc_class() as exc:
        call.failure = exc
        raise
    except Exception as exc:
        call.failure = exc
    finally:
        call.lease.close()
        # Neither closing step awaits anything, so both run in full under cancellation too.
        for step in steps:
            if step.always:
                await step.run(call)
                call.passed.append(step.name)
    return call


def unwrapped(
    app: App, name: str, arguments: Mapping[str, Any] | None
) -> tuple[str, Mapping[str, Any]] | None:
    """The tool and arguments an ``ssh_tool_call`` names, when it is offered here (search
    mode) and well-formed; else None, and the call runs as itself, so that a malformed one
    is refused and audited by its own validation step (DECISIONS.md 62)."""
    if name != TOOL_CALL or app.tool(TOOL_CALL) is None:
        return None
    try:
        wrapped = CallInput.model_validate(dict(arguments or {}))
    except ValidationError:
        return None
    if wrapped.name == TOOL_CALL:
        return None  # it would only unwrap again: its handler refuses it
    return wrapped.name, wrapped.arguments


async def dispatch(
    app: App,
    name: str,
    arguments: Mapping[str, Any] | None,
    progress: ProgressFn = no_progress,
    confirm: Confirmer = cannot_ask,
) -> Outcome:
    """Run one tool call through every step; never raises except on cancellation.

    An ``ssh_tool_call`` runs as a call of the tool it names, through every step, with one
    audit record under that tool's name, marked ``via``."""
    via = None
    if (inner := unwrapped(app, name, arguments)) is not None:
        via, (name, arguments) = name, inner
    call = await run_call(app, name, arguments, progress, confirm, via=via)
    if call.outcome is None:  # pragma: no cover - error mapping always sets one
        raise RuntimeError("dispatch ended without an outcome")
    return call.outcome
