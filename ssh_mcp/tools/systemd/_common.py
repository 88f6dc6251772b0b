"""What the systemd tools share: the unit field, the fixed systemctl argv, and the rule that
an exit code systemctl uses for an answer is data while any other one is an error."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Annotated

from pydantic import Field

from ssh_mcp.core.remote import ProcessResult
from ssh_mcp.core.spec import HOST, Name, Output, StrictInput, ToolContext
from ssh_mcp.errors import RemoteError
from ssh_mcp.tools._fields import field_details
from ssh_mcp.tools._hygiene import clean
from ssh_mcp.tools._text import decode

_UNIT_DETAILS = field_details(
    "A name without a type means .service. Letters, digits and : _ . \\ - with one @ for an "
    "instance; a leading - or any other character is refused before anything runs."
)
#: A unit name, checked by dispatch against systemd's naming rules (policy/names.py).
Unit = Annotated[
    str,
    Name("unit"),
    Field(
        min_length=1,
        max_length=255,
        description="Unit, e.g. nginx.service.",
        json_schema_extra=_UNIT_DETAILS,
    ),
]
#: The same, optional (a filter).
OptionalUnit = Annotated[
    str | None,
    Name("unit"),
    Field(
        min_length=1,
        max_length=255,
        description="Only this unit.",
        json_schema_extra=_UNIT_DETAILS,
    ),
]

#: Every systemctl run: no pager, and never a polkit password prompt that would hang.
SYSTEMCTL = ("systemctl", "--no-pager", "--no-ask-password")


class UnitInput(StrictInput):
    host: str = HOST
    unit: Unit


def systemctl(verb: str, *options: str, units: Sequence[str] = ()) -> list[str]:
    """``systemctl VERB OPTIONS -- UNITS``: the operands can never be read as options."""
    return [*SYSTEMCTL, verb, *options, "--", *units]


def first_line(result: ProcessResult, limit: int = 300) -> str:
    """systemctl's own message: its first non-empty stderr (else stdout) line, cut."""
    for stream in (result.stderr, result.stdout):
        for line in decode(stream).splitlines():
            if line.strip():
                return line.strip()[:limit]
    return ""


def failed(what: str, result: ProcessResult) -> RemoteError:
    if result.timed_out:
        return RemoteError(f"{what} did not finish in time; retry with a larger timeout")
    if result.exit_code == 127:
        return RemoteError(f"{what}: the program is not installed on this host (exit 127)")
    message = first_line(result) or "no message"
    return RemoteError(f"{what} failed (exit {result.exit_code}): {message}")


def answered(what: str, result: ProcessResult, data_codes: Collection[int]) -> ProcessResult:
    """``result`` when its exit code is one the program uses for an answer, else the error."""
    if result.exit_code in data_codes and not result.timed_out:
        return result
    raise failed(what, result)


class Text(Output):
    """A unit's text as systemctl prints it."""

    exit_code: int | None = Field(description="systemctl's exit code.")
    text: str = Field(description="Output; head and tail kept when over SSH_STDOUT_CAP_BYTES.")
    truncated: bool = Field(description="True when the middle of the output was cut.")
    note: str | None = Field(description="What the text hides or may mislead with, if anything.")


def shown_text(result: ProcessResult, fallback: str = "") -> tuple[str, str | None]:
    """stdout for the model: terminal sequences removed, and a note on what could mislead
    (log lines and descriptions are anyone's text: bidi controls, chat markers)."""
    text, warnings = clean(decode(result.stdout) or fallback, "output")
    return text, "; ".join(warnings) or None


def text_result(result: ProcessResult, fallback: str = "") -> Text:
    text, note = shown_text(result, fallback)
    return Text(
        exit_code=result.exit_code,
        text=text,
        truncated=result.stdout.truncated,
        note=note,
    )


def render_text(out: Text) -> str:
    return out.text.rstrip("\n")


async def unit_state(ctx: ToolContext, unit: str) -> dict[str, str]:
    """ActiveState, SubState, UnitFileState and LoadState of ``unit`` (no root needed)."""
    result = await ctx.run(
        systemctl("show", "--property=LoadState,ActiveState,SubState,UnitFileState", units=[unit])
    )
    answered(f"systemctl show {unit}", result, (0,))
    return properties(decode(result.stdout))


def properties(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines as systemctl show prints them."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            out[key] = value
    return out
