"""Dangerous tier, group ``systemd``: every change of a unit's state, run as root.

Each tool runs one fixed ``systemctl VERB -- UNIT`` through :mod:`ssh_mcp.tools._root`: a
root login directly, any other login through sudo (the sudo tier open, the password over
stdin), else refused before anything runs. A non-zero exit is an error carrying systemctl's
message: the change did not happen as asked. The answer is the unit's state afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import (
    CHANGES,
    CHANGES_IDEMPOTENT,
    Annotations,
    Output,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.tools._root import run_as_root
from ssh_mcp.tools.systemd._common import UnitInput, failed, systemctl, unit_state


class Changed(Output):
    active_state: str = Field(description="ActiveState afterwards (active, inactive, failed).")
    sub_state: str = Field(description="SubState afterwards (running, dead, ...).")
    unit_file_state: str = Field(description="UnitFileState afterwards (enabled, masked, ...).")
    exit_code: int | None = Field(description="systemctl's exit code (0).")


def _changer(verb: str) -> Callable[[ToolContext, UnitInput], Awaitable[Changed]]:
    async def change(ctx: ToolContext, args: UnitInput) -> Changed:
        what = f"systemctl {verb} {args.unit}"
        argv = systemctl(verb, units=[args.unit])
        result = await run_as_root(ctx, argv, what=f"ssh_systemctl_{verb.replace('-', '_')}")
        if result.exit_code != 0 or result.timed_out:
            raise failed(what, result)
        state = await unit_state(ctx, args.unit)
        return Changed(
            active_state=state.get("ActiveState", ""),
            sub_state=state.get("SubState", ""),
            unit_file_state=state.get("UnitFileState", ""),
            exit_code=result.exit_code,
        )

    return change


#: verb: what it does (the description's words), its annotations.
_VERBS: dict[str, tuple[str, Annotations]] = {
    "start": ("Start a unit", CHANGES_IDEMPOTENT),
    "stop": ("Stop a unit", CHANGES_IDEMPOTENT),
    "restart": ("Restart a unit (start it if stopped)", CHANGES),
    "reload": ("Reload a unit's configuration without a restart", CHANGES),
    "enable": ("Enable a unit at boot (does not start it)", CHANGES_IDEMPOTENT),
    "disable": ("Disable a unit at boot (does not stop it)", CHANGES_IDEMPOTENT),
    "mask": ("Mask a unit so nothing can start it", CHANGES_IDEMPOTENT),
    "unmask": ("Unmask a unit", CHANGES_IDEMPOTENT),
    "reset-failed": ("Clear a unit's failed state", CHANGES_IDEMPOTENT),
}


def _spec(verb: str, doing: str, annotations: Annotations) -> ToolSpec[UnitInput, Changed]:
    return ToolSpec(
        name=f"ssh_systemctl_{verb.replace('-', '_')}",
        title=f"systemctl {verb}",
        description=f"{doing}, as root; returns its state after.",
        details=f"Runs `systemctl {verb} -- UNIT` as root: directly for a root login, else "
        "through sudo, which needs ALLOW_SUDO=true and the host's sudo_password_cmd. A "
        "non-zero exit is an error with systemctl's message.",
        tier=Tier.DANGEROUS,
        group=Group.SYSTEMD,
        input=UnitInput,
        output=Changed,
        annotations=annotations,
        handler=_changer(verb),
    )


TOOLS = tuple(_spec(verb, doing, notes) for verb, (doing, notes) in _VERBS.items())
