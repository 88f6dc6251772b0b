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
) -> Call:
    """Run one call through ``steps`` and return it, with the steps it passed through."""
    call = Call(app, name, arguments or {}, progress, confirm)
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


async def dispatch(
    app: App,
    name: str,
    arguments: Mapping[str, Any] | None,
    progress: ProgressFn = no_progress,
    confirm: Confirmer = cannot_ask,
) -> Outcome:
    """Run one tool call through every step; never raises except on cancellation."""
    call = await run_call(app, name, arguments, progress, confirm)
    if call.outcome is None:  # pragma: no cover - error mapping always sets one
        raise RuntimeError("dispatch ended without an outcome")
    return call.outcome
