"""Dangerous tier, group ``shell``: a persistent shell whose state carries between commands.

Each command passes the command policy and deny-pattern confirmation in
dispatch like ``ssh_exec_run``'s; only the shell around it persists (``cd``,
``export``, variables). No PTY: interactive programs that want a terminal do
not belong here.
"""

from __future__ import annotations

import time
from typing import Annotated

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import (
    CHANGES,
    CHANGES_IDEMPOTENT,
    HOST,
    READS_LOCAL,
    CommandText,
    Output,
    ShellRef,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import CapExceeded, RemoteError
from ssh_mcp.state.shells import ShellEntry, new_shell_id
from ssh_mcp.tools._fields import UNLISTED, Cwd, command_field, timeout_field
from ssh_mcp.tools._pages import LimitInput, truncated_field
from ssh_mcp.tools.exec.run import ExecResult, exec_result, render_exec

SESSION_ID = Field(
    description="From ssh_shell_open or ssh_shell_list.",
    pattern=r"^s[0-9a-f]{16}$",
    json_schema_extra=UNLISTED,
)


class ShellOpenInput(StrictInput):
    host: str = HOST
    cwd: Cwd = None


class ShellOpened(Output):
    session_id: str = Field(description="Pass to ssh_shell_exec and ssh_shell_close.")
    host: str = Field(description="Alias of the host the shell runs on.")


async def shell_open(ctx: ToolContext, args: ShellOpenInput) -> ShellOpened:
    await ctx.shells.sweep()
    cap = ctx.limits.shell_max_sessions
    if len(ctx.shells.all()) >= cap:
        raise CapExceeded(
            f"{cap} shell sessions are open (SSH_SHELL_MAX_SESSIONS); close one with "
            "ssh_shell_close first"
        )
    assert ctx.host is not None
    shell = await ctx.open_shell(args.cwd)
    entry = ShellEntry(new_shell_id(), ctx.host.alias, shell, args.cwd)
    ctx.shells.add(entry)
    return ShellOpened(session_id=entry.id, host=entry.host)


class ShellExecInput(StrictInput):
    session_id: Annotated[str, ShellRef(), SESSION_ID]
    command: Annotated[
        str,
        CommandText(),
        command_field(
            (
                "Shell command line; cd, export and variables persist. Allowlist as for "
                "ssh_exec_run."
            ),
            details=(
                "stdin is /dev/null. Under a command allowlist, builtins such as cd do not run, "
                "and redirection targets must be absolute or ~/ paths."
            ),
            listed=False,
        ),
    ]
    timeout: float | None = timeout_field("Seconds before it is stopped, ending the session.")


class ShellExecResult(ExecResult):
    cwd: str | None = Field(description="The shell's working directory after the command.")
    session_open: bool = Field(
        description="False when the session ended (exit, timeout, cancel): open a new one."
    )


async def shell_exec(ctx: ToolContext, args: ShellExecInput) -> ShellExecResult:
    entry = ctx.shells.get(args.session_id)
    if entry is None:
        raise RemoteError("this shell session has ended; open a new one with ssh_shell_open")
    limits = ctx.limits
    entry.last_used = time.monotonic()
    try:
        done = await entry.shell.run(
            args.command,
            timeout=args.timeout or ctx.command_timeout,
            stdout_cap=limits.stdout_cap,
            stderr_cap=limits.stderr_cap,
        )
    finally:
        entry.last_used = time.monotonic()
    entry.cwd = done.cwd or entry.cwd
    if done.closed:
        await ctx.shells.close(entry.id)
    base = exec_result(done.process)
    return ShellExecResult(**base.model_dump(), cwd=entry.cwd, session_open=not done.closed)


def render_shell(out: ShellExecResult) -> str:
    state = f"cwd {out.cwd}" if out.session_open else "session ended"
    return render_exec(out) + f"\n[{state}]"


class ShellCloseInput(StrictInput):
    session_id: Annotated[str, ShellRef(), SESSION_ID]


class ShellClosed(Output):
    session_id: str = Field(description="The session.")
    closed: bool = Field(description="True once the shell has ended.")


async def shell_close(ctx: ToolContext, args: ShellCloseInput) -> ShellClosed:
    await ctx.shells.close(args.session_id)
    return ShellClosed(session_id=args.session_id, closed=True)


class ShellInfo(Output):
    session_id: str = Field(description="The session.")
    host: str = Field(description="Alias of its host.")
    cwd: str | None = Field(description="Working directory after its last command, if known.")
    idle_seconds: float = Field(description="Seconds since its last command.")


class ShellList(Output):
    sessions: list[ShellInfo] = Field(description="Open sessions, oldest first.")
    truncated: bool = truncated_field()


async def shell_list(ctx: ToolContext, args: LimitInput) -> ShellList:
    await ctx.shells.sweep()
    now = time.monotonic()
    shells = [e for e in ctx.shells.all() if ctx.sees_host(e.host)]
    return ShellList(
        sessions=[
            ShellInfo(
                session_id=e.id, host=e.host, cwd=e.cwd, idle_seconds=round(now - e.last_used, 1)
            )
            for e in shells[: args.limit]
        ],
        truncated=len(shells) > args.limit,
    )


TOOLS = (
    ToolSpec(
        name="ssh_shell_open",
        title="Open a shell session",
        description=(
            "Open a persistent sh for ssh_shell_exec, which keeps cd, exports and variables. No "
            "terminal: no editors or password prompts."
        ),
        details=(
            "Returns its session_id. Close it with ssh_shell_close; it also ends after "
            "SSH_SHELL_IDLE_TIMEOUT unused. For one-off commands use ssh_exec_run."
        ),
        tier=Tier.DANGEROUS,
        group=Group.SHELL,
        input=ShellOpenInput,
        output=ShellOpened,
        annotations=CHANGES,
        handler=shell_open,
    ),
    ToolSpec(
        name="ssh_shell_exec",
        title="Run in a shell session",
        description=(
            "Run a command in an open shell session; returns its output, exit_code and cwd. A "
            "timeout ends the session."
        ),
        details=(
            "A timeout or cancel stops the command by ending the whole session (INT, TERM, KILL)."
        ),
        tier=Tier.DANGEROUS,
        group=Group.SHELL,
        input=ShellExecInput,
        output=ShellExecResult,
        annotations=CHANGES,
        handler=shell_exec,
        render=render_shell,
    ),
    ToolSpec(
        name="ssh_shell_close",
        title="Close a shell session",
        description="End a shell session.",
        details="EOF, then the stop ladder (INT, TERM, KILL) if it lingers.",
        tier=Tier.DANGEROUS,
        group=Group.SHELL,
        input=ShellCloseInput,
        output=ShellClosed,
        annotations=CHANGES_IDEMPOTENT,
        handler=shell_close,
    ),
    ToolSpec(
        name="ssh_shell_list",
        title="List shell sessions",
        description="List open shell sessions with host, cwd and idle time.",
        tier=Tier.DANGEROUS,
        group=Group.SHELL,
        input=LimitInput,
        output=ShellList,
        annotations=READS_LOCAL,
        handler=shell_list,
    ),
)
