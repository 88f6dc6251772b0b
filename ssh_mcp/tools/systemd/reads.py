"""Read tier, group ``systemd``: what a unit is doing, as the login user (no root needed)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import HOST, READS, Name, Output, StrictInput, ToolContext, ToolSpec
from ssh_mcp.errors import RemoteError
from ssh_mcp.tools._pages import limit_field, truncated_field
from ssh_mcp.tools._text import decode
from ssh_mcp.tools.systemd._common import (
    Text,
    UnitInput,
    answered,
    failed,
    first_line,
    properties,
    render_text,
    systemctl,
    text_result,
)

# -- ssh_systemctl_status ------------------------------------------------------------


class StatusInput(UnitInput):
    lines: int = Field(10, ge=0, le=200, description="Log lines to show.")


async def systemctl_status(ctx: ToolContext, args: StatusInput) -> Text:
    argv = systemctl("status", f"--lines={args.lines}", units=[args.unit])
    # 3: not running (inactive, failed); 4: no such unit. Both are answers.
    result = answered(f"systemctl status {args.unit}", await ctx.run(argv), (0, 3, 4))
    return text_result(result, fallback=first_line(result))


# -- ssh_systemctl_is_active / _is_enabled / _is_failed --------------------------------


class Check(Output):
    answer: bool = Field(description="The yes/no answer (systemctl exit 0).")
    state: str = Field(description="The state systemctl printed.")
    exit_code: int | None = Field(description="systemctl's exit code.")


def _checker(verb: str, no_codes: tuple[int, ...]) -> Callable[[ToolContext, UnitInput], Any]:
    async def check(ctx: ToolContext, args: UnitInput) -> Check:
        result = await ctx.run(systemctl(verb, units=[args.unit]))
        state = decode(result.stdout).strip()
        if not state and result.exit_code in no_codes and b"No such file" in result.stderr.kept:
            state = "not-found"  # is-enabled prints nothing for a unit without a file
        if not state:  # nothing printed: systemctl could not answer (no bus, no systemd)
            raise failed(f"systemctl {verb} {args.unit}", result)
        answered(f"systemctl {verb} {args.unit}", result, (0, *no_codes))
        return Check(answer=result.exit_code == 0, state=state, exit_code=result.exit_code)

    return check


# -- ssh_systemctl_list_units ----------------------------------------------------------

_STATE = re.compile(r"[a-z][a-z-]{0,31}")


def _state_words(words: list[str]) -> list[str]:
    for word in words:
        if not _STATE.fullmatch(word):
            raise ValueError(f"{word[:40]!r} is not a unit state word (e.g. failed, running)")
    return words


class ListUnitsInput(StrictInput):
    host: str = HOST
    pattern: Annotated[
        str | None,
        Name("unit_pattern"),
        Field(min_length=1, max_length=255, description="Glob, e.g. *.timer."),
    ] = None
    state: Annotated[list[Annotated[str, Field(max_length=32)]], AfterValidator(_state_words)] = (
        Field(default_factory=list, max_length=16, description="e.g. failed, running, inactive.")
    )
    limit: int = limit_field()


class UnitRow(Output):
    unit: str
    active: str
    sub: str
    description: str


class UnitList(Output):
    units: list[UnitRow] = Field(description="unit, active, sub, description.")
    truncated: bool = truncated_field()


def unit_rows(text: str) -> list[UnitRow]:
    """list-units output as rows: JSON, or the plain table of a systemd older than 250."""
    if text.lstrip().startswith("["):
        rows = json.loads(text)
        return [
            UnitRow.model_validate({k: r.get(k, "") for k in UnitRow.model_fields}) for r in rows
        ]
    out = []
    for line in text.splitlines():
        cells = line.split(None, 4)
        if len(cells) >= 4:
            unit, _load, active, sub = cells[:4]
            description = cells[4] if len(cells) == 5 else ""
            out.append(UnitRow(unit=unit, active=active, sub=sub, description=description))
    return out


async def systemctl_list_units(ctx: ToolContext, args: ListUnitsInput) -> UnitList:
    # JSON since systemd 250; an older one ignores it and prints the plain table.
    options = ["--output=json", "--plain", "--no-legend"]
    if args.state:
        options.append(f"--state={','.join(args.state)}")
    units = [args.pattern] if args.pattern else []
    result = answered(
        "systemctl list-units", await ctx.run(systemctl("list-units", *options, units=units)), (0,)
    )
    if result.stdout.truncated:
        raise RemoteError(
            "the unit list is larger than SSH_STDOUT_CAP_BYTES; narrow it with pattern, type "
            "or state"
        )
    keep = unit_rows(decode(result.stdout))
    return UnitList(units=keep[: args.limit], truncated=len(keep) > args.limit)


# -- ssh_systemctl_show ----------------------------------------------------------------

#: What show returns unless asked for other properties.
DEFAULT_PROPERTIES = (
    "Id",
    "Description",
    "LoadState",
    "ActiveState",
    "SubState",
    "UnitFileState",
    "FragmentPath",
    "MainPID",
    "ExecMainStatus",
    "Result",
    "NRestarts",
    "ActiveEnterTimestamp",
    "MemoryCurrent",
)
_PROPERTY = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")


def _property_names(names: list[str]) -> list[str]:
    for name in names:
        if not _PROPERTY.fullmatch(name):
            raise ValueError(f"{name[:40]!r} is not a property name (e.g. MainPID)")
    return names


class ShowInput(UnitInput):
    properties: Annotated[
        list[Annotated[str, Field(max_length=64)]], AfterValidator(_property_names)
    ] = Field(
        default_factory=list,
        max_length=64,
        description="Names, e.g. MainPID; default: a summary.",
        json_schema_extra={"details": "The default: " + ", ".join(DEFAULT_PROPERTIES) + "."},
    )


class Shown(Output):
    properties: dict[str, str] = Field(description="Name to value; unknown names left out.")


async def systemctl_show(ctx: ToolContext, args: ShowInput) -> Shown:
    wanted = args.properties or DEFAULT_PROPERTIES
    argv = systemctl("show", f"--property={','.join(wanted)}", units=[args.unit])
    result = answered(f"systemctl show {args.unit}", await ctx.run(argv), (0,))
    return Shown(properties=properties(decode(result.stdout)))


# -- ssh_systemctl_cat -----------------------------------------------------------------


async def systemctl_cat(ctx: ToolContext, args: UnitInput) -> Text:
    result = answered(
        f"systemctl cat {args.unit}", await ctx.run(systemctl("cat", units=[args.unit])), (0,)
    )
    return text_result(result)


def _check_spec(verb: str, no_codes: tuple[int, ...], question: str) -> ToolSpec[Any, Any]:
    name = verb.replace("-", "_")
    return ToolSpec(
        name=f"ssh_systemctl_{name}",
        title=f"systemctl {verb}",
        description=f"Ask whether a unit is {question}: answer and state; no root needed.",
        details=f"Runs `systemctl {verb} -- UNIT`. Exit codes "
        f"{', '.join(str(c) for c in no_codes)} are the answer no, not errors.",
        tier=Tier.READ,
        group=Group.SYSTEMD,
        input=UnitInput,
        output=Check,
        annotations=READS,
        handler=_checker(verb, no_codes),
    )


TOOLS = (
    ToolSpec(
        name="ssh_systemctl_status",
        title="systemctl status",
        description="Show a unit's status and newest log lines.",
        details="Runs `systemctl status --lines=N -- UNIT` as the login user. Exit 3 (not "
        "running) and 4 (no such unit) are answers, not errors. For properties as data use "
        "ssh_systemctl_show; for more log lines, ssh_journalctl.",
        tier=Tier.READ,
        group=Group.SYSTEMD,
        input=StatusInput,
        output=Text,
        annotations=READS,
        handler=systemctl_status,
        render=render_text,
    ),
    _check_spec("is-active", (3,), "active (running)"),
    _check_spec("is-enabled", (1,), "enabled at boot"),
    _check_spec("is-failed", (1,), "failed"),
    ToolSpec(
        name="ssh_systemctl_list_units",
        title="systemctl list-units",
        description="List units by glob and state.",
        details="Runs `systemctl list-units --output=json`. Without state it shows what "
        "systemctl does by default: active units, and failed ones or ones with a job; ask "
        "state=[inactive] for the rest.",
        tier=Tier.READ,
        group=Group.SYSTEMD,
        input=ListUnitsInput,
        output=UnitList,
        annotations=READS,
        handler=systemctl_list_units,
    ),
    ToolSpec(
        name="ssh_systemctl_show",
        title="systemctl show",
        description="Get unit properties as name/value pairs.",
        details="Runs `systemctl show --property=... -- UNIT`. A unit that does not exist "
        "answers LoadState=not-found.",
        tier=Tier.READ,
        group=Group.SYSTEMD,
        input=ShowInput,
        output=Shown,
        annotations=READS,
        handler=systemctl_show,
    ),
    ToolSpec(
        name="ssh_systemctl_cat",
        title="systemctl cat",
        description="Read a unit's files as systemd loads them, drop-ins included.",
        details="Runs `systemctl cat -- UNIT`; a unit without files is an error.",
        tier=Tier.READ,
        group=Group.SYSTEMD,
        input=UnitInput,
        output=Text,
        annotations=READS,
        handler=systemctl_cat,
        render=render_text,
    ),
)
