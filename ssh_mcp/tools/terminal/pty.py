"""Dangerous tier, group ``terminal``: a program on a pseudo-terminal, driven by keystrokes.

For programs that want a terminal: ``top``, ``less``, installers that prompt,
REPLs. The command allowlist decides what starts; what is typed afterwards is not
checked, which is why a login shell needs the host's ``pty_allow_shell`` under an
allowlist (DECISIONS.md 73). Reads return the screen as a person would see it.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from pydantic import Field, field_validator

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import (
    ADDS,
    CHANGES,
    CHANGES_IDEMPOTENT,
    HOST,
    READS_LOCAL,
    CommandText,
    HandleRef,
    Output,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import RemoteError
from ssh_mcp.state.ptys import PtyEntry, new_pty_id
from ssh_mcp.tools._fields import TEXT_MAX, command_field, field_details
from ssh_mcp.tools._pages import LimitInput, truncated_field


class PtyRef(HandleRef):
    """A terminal session id (:mod:`ssh_mcp.state.ptys`)."""

    kind = "pty"


SESSION_ID = Field(description="From ssh_pty_open.", pattern=r"^p[0-9a-f]{16}$")
Session = Annotated[str, PtyRef(), SESSION_ID]
Cols = Annotated[int, Field(ge=20, le=500, description="Columns.")]
Rows = Annotated[int, Field(ge=5, le=200, description="Rows.")]


class PtyOpenInput(StrictInput):
    host: str = HOST
    command: Annotated[
        str | None,
        CommandText(absent_is_shell=True),
        command_field(
            "Program to run (allowlist applies); omit for a login shell.",
            details=(
                "Checked like ssh_exec_run's. A login shell is refused while a command "
                "allowlist is in force unless the host sets pty_allow_shell: keystrokes into a "
                "shell cannot be checked."
            ),
        ),
    ] = None
    cols: Cols = 120
    rows: Rows = 40
    term: str = Field("xterm-256color", pattern=r"^[\w.+-]{1,32}$", description="TERM.")


class PtyOpened(Output):
    session_id: str = Field(description="For the other ssh_pty_* tools.")
    host: str = Field(description="Host alias.")


async def pty_open(ctx: ToolContext, args: PtyOpenInput) -> PtyOpened:
    table, terminals = ctx.terminals.table, ctx.terminals
    assert ctx.host is not None
    async with table.opening():
        pty = await terminals.open(args.command, term=args.term, cols=args.cols, rows=args.rows)
        entry = PtyEntry(new_pty_id(), ctx.host.alias, pty, args.command, args.term)
        table.add(entry)
    return PtyOpened(session_id=entry.id, host=entry.host)


def _entry(ctx: ToolContext, session_id: str) -> PtyEntry:
    entry = ctx.terminals.table.get(session_id)
    if entry is None:
        raise RemoteError("this terminal session has ended; open a new one with ssh_pty_open")
    entry.last_used = time.monotonic()
    return entry


class PtySendInput(StrictInput):
    session_id: Session
    text: str = Field(
        min_length=1,
        max_length=TEXT_MAX,
        description="Text to type; \\n ends a line.",
        json_schema_extra=field_details("Keystrokes are not checked by the command allowlist."),
    )


#: Named keys as a terminal sends them; ``ctrl-a`` .. ``ctrl-z`` besides.
KEYS: dict[str, bytes] = {
    "enter": b"\r",
    "tab": b"\t",
    "esc": b"\x1b",
    "backspace": b"\x7f",
    "space": b" ",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "home": b"\x1b[H",
    "end": b"\x1b[F",
    "pgup": b"\x1b[5~",
    "pgdn": b"\x1b[6~",
    "delete": b"\x1b[3~",
}


class PtyKeyInput(StrictInput):
    session_id: Session
    key: str = Field(
        pattern="^(ctrl-[a-z]|" + "|".join(KEYS) + ")$",
        description="Key name, e.g. ctrl-c, enter, up.",
    )


class PtySent(Output):
    sent: int = Field(description="Bytes written.")


def _write(ctx: ToolContext, session_id: str, data: bytes) -> PtySent:
    entry = _entry(ctx, session_id)
    if not entry.pty.alive:
        raise RemoteError("the program on this terminal has ended; read it, then close it")
    entry.pty.write(data)
    return PtySent(sent=len(data))


async def pty_send(ctx: ToolContext, args: PtySendInput) -> PtySent:
    return _write(ctx, args.session_id, args.text.encode())


async def pty_key(ctx: ToolContext, args: PtyKeyInput) -> PtySent:
    key = args.key
    data = bytes([ord(key[-1]) & 0x1F]) if key.startswith("ctrl-") else KEYS[key]
    return _write(ctx, args.session_id, data)


class PtyReadInput(StrictInput):
    session_id: Session
    wait_for: str | None = Field(
        None,
        max_length=500,
        description="Regex to await in the new text or screen.",
    )
    timeout: float = Field(
        5.0,
        gt=0,
        le=600,
        description="Seconds at most.",
        json_schema_extra=field_details("Without wait_for, the read returns once output pauses."),
    )

    @field_validator("wait_for")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value, re.MULTILINE)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class PtyRead(Output):
    output: str = Field(description="Plain text since the last read.")
    screen: str = Field(description="The screen now.")
    bytes: int = Field(description="Raw bytes since the last read.")
    matched: bool | None = Field(description="false: timed out.")
    ended: bool = Field(description="The program exited.")
    exit_code: int | None = Field(description="Once ended.")


async def pty_read(ctx: ToolContext, args: PtyReadInput) -> PtyRead:
    entry = _entry(ctx, args.session_id)
    pattern = re.compile(args.wait_for, re.MULTILINE) if args.wait_for is not None else None
    async with entry.lock:
        got = await entry.pty.read(pattern, args.timeout)
    entry.last_used = time.monotonic()
    text, cap = got.text, ctx.limits.stdout_cap
    if got.dropped or len(text) > cap:
        text = f"[{got.dropped + max(len(text) - cap, 0)} earlier bytes left out]\n" + text[-cap:]
    return PtyRead(
        output=text,
        screen=got.screen,
        bytes=got.dropped + len(got.data),
        matched=got.matched,
        ended=got.ended,
        exit_code=got.exit_code,
    )


def render_read(out: PtyRead) -> str:
    state = "matched" if out.matched else "timed out" if out.matched is False else "read"
    if out.ended:
        state += f", ended (exit {out.exit_code})"
    return f"{out.screen}\n[{state}; {out.bytes} bytes]"


class PtyResizeInput(StrictInput):
    session_id: Session
    cols: Cols
    rows: Rows


async def pty_resize(ctx: ToolContext, args: PtyResizeInput) -> PtySent:
    entry = _entry(ctx, args.session_id)
    entry.pty.resize(args.cols, args.rows)
    return PtySent(sent=0)


class PtyCloseInput(StrictInput):
    session_id: Session


class PtyClosed(Output):
    closed: bool = Field(description="True: its processes are gone.")


async def pty_close(ctx: ToolContext, args: PtyCloseInput) -> PtyClosed:
    await ctx.terminals.table.close(args.session_id)
    return PtyClosed(closed=True)


class PtyInfo(Output):
    session_id: str
    host: str
    command: str | None = Field(description="null: a login shell.")
    ended: bool = Field(description="The program exited.")
    idle_seconds: float


class PtyList(Output):
    sessions: list[PtyInfo] = Field(description="Oldest first.")
    truncated: bool = truncated_field()


async def pty_list(ctx: ToolContext, args: LimitInput) -> PtyList:
    table = ctx.terminals.table
    await table.sweep()
    now = time.monotonic()
    entries = [e for e in table.all("pty") if ctx.sees_host(e.host)]
    return PtyList(
        sessions=[
            PtyInfo(
                session_id=e.id,
                host=e.host,
                command=e.command,
                ended=e.pty.ended,
                idle_seconds=round(now - e.last_used, 1),
            )
            for e in entries[: args.limit]
        ],
        truncated=len(entries) > args.limit,
    )


def _spec(name: str, title: str, description: str, **kw: Any) -> ToolSpec[Any, Any]:
    return ToolSpec(
        name=name,
        title=title,
        description=description,
        tier=Tier.DANGEROUS,
        group=Group.TERMINAL,
        **kw,
    )


TOOLS = (
    _spec(
        "ssh_pty_open",
        "Open a terminal session",
        "Run a program (or login shell) on a terminal; returns session_id. Only for programs "
        "needing one (top, less, prompts, REPLs); else ssh_exec_run.",
        details=(
            "It ends on ssh_pty_close, with the server, or after SSH_PTY_IDLE_TIMEOUT unused; "
            "its whole session is stopped then (HUP, TERM, KILL). At most "
            "SSH_PTY_MAX_SESSIONS are open."
        ),
        input=PtyOpenInput,
        output=PtyOpened,
        annotations=CHANGES,
        handler=pty_open,
        audit_fields=("session_id",),
    ),
    _spec(
        "ssh_pty_send",
        "Type into a terminal",
        "Type text into a terminal session; read the reply with ssh_pty_read.",
        input=PtySendInput,
        output=PtySent,
        annotations=CHANGES,
        handler=pty_send,
        audit_bytes="sent",
    ),
    _spec(
        "ssh_pty_key",
        "Press a key in a terminal",
        "Press a named key (ctrl-c, esc, arrows, enter...) in a terminal session.",
        input=PtyKeyInput,
        output=PtySent,
        annotations=CHANGES,
        handler=pty_key,
        audit_bytes="sent",
    ),
    _spec(
        "ssh_pty_read",
        "Read a terminal",
        "Return the screen and the text since the last read; with wait_for, once it matches "
        "or at timeout (matched says which).",
        details=(
            "The regex is searched in the last 16 KiB of new text and in the screen. Control "
            "sequences are interpreted by a terminal emulator for the screen."
        ),
        input=PtyReadInput,
        output=PtyRead,
        annotations=ADDS,
        handler=pty_read,
        render=render_read,
        audit_bytes="bytes",
    ),
    _spec(
        "ssh_pty_resize",
        "Resize a terminal",
        "Change a terminal session's size; the program is told (SIGWINCH).",
        input=PtyResizeInput,
        output=PtySent,
        annotations=CHANGES_IDEMPOTENT,
        handler=pty_resize,
    ),
    _spec(
        "ssh_pty_close",
        "Close a terminal session",
        "End a terminal session and stop every process it started.",
        input=PtyCloseInput,
        output=PtyClosed,
        annotations=CHANGES_IDEMPOTENT,
        handler=pty_close,
    ),
    _spec(
        "ssh_pty_list",
        "List terminal sessions",
        "List open terminal sessions.",
        input=LimitInput,
        output=PtyList,
        annotations=READS_LOCAL,
        handler=pty_list,
    ),
)
