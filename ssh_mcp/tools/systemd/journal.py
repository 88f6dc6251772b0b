"""Read tier, group ``systemd``: ssh_journalctl, journal lines with every filter an argument.

``since``/``until`` are held to systemd.time(7)'s syntax here, before anything runs; an RFC
3339 time (the style every tool sends, DECISIONS.md 53) is rewritten to the form journalctl
252 parses. ``grep`` is journalctl's own ``--grep=PATTERN``, one argv word, never a shell.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import HOST, READS, Output, StrictInput, ToolContext, ToolSpec
from ssh_mcp.errors import RemoteError
from ssh_mcp.tools._fields import field_details
from ssh_mcp.tools._text import decode
from ssh_mcp.tools.systemd._common import OptionalUnit, failed, shown_text

#: Most lines one call returns; the output cap (head and tail) applies as well.
MAX_LINES = 5000

_SPAN = (
    r"(?:usec|us|msec|ms|seconds?|sec|s|minutes?|min|m|hours?|hr|h|days?|d|weeks?|w"
    r"|months?|M|years?|y)"
)
_SPANS = rf"(?:\d{{1,9}}(?:\.\d{{1,6}})?[ ]*{_SPAN}[ ]*){{1,8}}"
#: Relative to now: signed (-1h, +5min) or with ago/left (30 min ago); a bare 1h is refused.
_RELATIVE = re.compile(rf"[+-][ ]*{_SPANS}|{_SPANS}[ ](?:ago|left)", re.ASCII)
_DAY = r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]{0,6}[ ]+)?"
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?"
_ABSOLUTE = re.compile(
    rf"{_DAY}(?:\d{{4}}-\d{{2}}-\d{{2}}(?:[ ]+{_CLOCK})?|{_CLOCK})(?:[ ]+UTC)?", re.ASCII
)
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})", re.ASCII
)
_WORDS = frozenset({"now", "today", "yesterday", "tomorrow"})
_EPOCH = re.compile(r"@\d{1,12}(?:\.\d{1,6})?", re.ASCII)


def systemd_time(value: str) -> str:
    """``value`` as journalctl's --since/--until take it, or a ValueError saying the forms.
    Spaces only, ASCII digits only: nothing else reaches journalctl."""
    if _RFC3339.fullmatch(value):
        stamp = datetime.fromisoformat(value).astimezone(UTC)
        return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")
    if (
        value in _WORDS
        or _EPOCH.fullmatch(value)
        or _RELATIVE.fullmatch(value)
        or _ABSOLUTE.fullmatch(value)
    ):
        return value
    raise ValueError(
        "not a systemd time: use e.g. 2026-01-31 12:00:00, 2026-01-31T12:00:00Z, -1h, "
        "'30 min ago', today, yesterday or @EPOCH"
    )


def grep_pattern(value: str) -> str:
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf"):
            raise ValueError("control characters (newlines included) are not allowed")
    return value


Priority = Literal["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]


def _time(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > 64:
        raise ValueError("longer than 64 characters")
    return systemd_time(value)


def _grep(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > 512:
        raise ValueError("longer than 512 characters")
    return grep_pattern(value)


Time = Annotated[str | None, AfterValidator(_time)]
_TIME_DETAILS = field_details(
    "systemd.time(7): 2026-01-31 12:00[:00] [UTC], HH:MM, -1h, '30 min ago', today, "
    "yesterday, now, @EPOCH; RFC 3339 with Z or an offset is converted to UTC."
)


class JournalInput(StrictInput):
    host: str = HOST
    unit: OptionalUnit = None
    since: Time = Field(
        None, description="Start, e.g. -1h or 2026-01-31 12:00.", json_schema_extra=_TIME_DETAILS
    )
    until: Time = Field(None, description="End.")
    lines: int = Field(100, ge=1, le=MAX_LINES, description="Newest lines.")
    priority: Priority | None = Field(None, description="Or more urgent.")
    grep: Annotated[str | None, AfterValidator(_grep)] = Field(
        None, min_length=1, description="PCRE2 regex on messages."
    )


class Journal(Output):
    text: str = Field(description="Lines (UTC ISO times), oldest first; '' when none matched.")
    truncated: bool = Field(description="True when the middle was cut (SSH_STDOUT_CAP_BYTES).")
    note: str | None = Field(
        description="Why some messages are not visible, or what the text may mislead with."
    )


def journal_argv(args: JournalInput) -> list[str]:
    argv = ["journalctl", "--no-pager", "--utc", "--output=short-iso"]
    argv.append(f"--lines={args.lines}")
    if args.unit:
        argv.append(f"--unit={args.unit}")
    if args.since:
        argv.append(f"--since={args.since}")
    if args.until:
        argv.append(f"--until={args.until}")
    if args.priority:
        argv.append(f"--priority={args.priority}")
    if args.grep:
        argv.append(f"--grep={args.grep}")
    return argv


_NO_ENTRIES = "-- No entries --"
_PARTIAL = (
    "the login user sees only its own messages: add it to group systemd-journal (or adm) on "
    "the host, or log in as root"
)


async def journalctl(ctx: ToolContext, args: JournalInput) -> Journal:
    result = await ctx.run(journal_argv(args))
    stderr = decode(result.stderr)
    if "insufficient permissions" in stderr:
        raise RemoteError(f"journalctl: no journal readable; {_PARTIAL}")
    # journalctl's hint about a partial view is a "Hint:" line and indented ones after it.
    errors = [ln for ln in stderr.splitlines() if ln.strip() and not ln[:1].isspace()]
    errors = [ln for ln in errors if not ln.startswith("Hint:")]
    # Exit 1 with no error line is journalctl's "no entries" (a grep without a match).
    if result.timed_out or result.exit_code not in (0, 1) or (result.exit_code == 1 and errors):
        raise failed("journalctl", result)
    text, hygiene = shown_text(result)
    if text.strip() == _NO_ENTRIES:
        text = ""
    notes = [_PARTIAL] if "not seeing messages from other users" in stderr else []
    note = "; ".join(notes + ([hygiene] if hygiene else [])) or None
    return Journal(text=text, truncated=result.stdout.truncated, note=note)


TOOLS = (
    ToolSpec(
        name="ssh_journalctl",
        title="journalctl",
        description="Read the newest journal lines.",
        details="Runs `journalctl --utc --output=short-iso` with each filter as one argument "
        f"(`--grep=PATTERN`), at most {MAX_LINES} lines, then the output cap keeps head and "
        "tail. The login user needs group systemd-journal or adm (or be root) to read the "
        "system journal.",
        tier=Tier.READ,
        group=Group.SYSTEMD,
        input=JournalInput,
        output=Journal,
        annotations=READS,
        handler=journalctl,
        render=lambda out: out.text.rstrip("\n"),
    ),
)
