"""Dangerous tier, group ``exec``: scripts over stdin and commands that stream progress.

Both reuse ``ssh_exec_run``'s machinery: the same command policy (applied by
dispatch to the ``script``/``command`` field), caps, stop ladder and result.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import (
    CHANGES,
    HOST,
    CommandText,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.tools._fields import Cwd, timeout_field
from ssh_mcp.tools._hygiene import clean
from ssh_mcp.tools.exec import ExecResult, ExecRunInput, exec_result, render_exec

#: Seconds between two streaming progress reports, and the text each may carry.
STREAM_INTERVAL = 0.5
STREAM_TAIL_CHARS = 600


class ScriptInput(StrictInput):
    host: str = HOST
    script: Annotated[
        str,
        CommandText(),
        Field(
            description=(
                "POSIX sh script, sent to `sh` over stdin and read whole before it runs (never "
                "in argv, never in the "
                "audit log; only its hash is). Under a command allowlist every line is "
                "checked like a command: each simple command must start with an allowed "
                "program, and if/for/while blocks, $(…) and wrappers are refused."
            ),
            min_length=1,
            max_length=1_048_576,
        ),
    ]
    timeout: float | None = timeout_field("Seconds before the script is stopped (INT, TERM, KILL).")
    cwd: Cwd = None


#: How a script runs: the shell reads all of it from stdin before it runs any of it, and
#: its commands get /dev/null. Under ``sh -s`` a command that reads stdin (``head -c N``)
#: would eat script text the policy checked as data, and the shell would go on parsing in
#: the middle of it (DECISIONS 51).
SCRIPT_ARGV = (
    "sh",
    "-c",
    '__ssh_mcp_s=$(cat; echo .) && exec </dev/null && eval "${__ssh_mcp_s%.}"',
)


async def exec_script(ctx: ToolContext, args: ScriptInput) -> ExecResult:
    result = await ctx.run(
        SCRIPT_ARGV,
        stdin=args.script.encode("utf-8"),
        timeout=args.timeout or ctx.command_timeout,
        cwd=args.cwd,
    )
    return exec_result(result)


class _Tail:
    """The newest output, reported as MCP progress at most every STREAM_INTERVAL."""

    def __init__(self, ctx: ToolContext) -> None:
        self._ctx = ctx
        self._text = ""
        self._bytes = 0
        self._last = 0.0
        self._pending: asyncio.Task[None] | None = None

    def __call__(self, stream: str, chunk: bytes) -> None:
        self._bytes += len(chunk)
        text = chunk.decode("utf-8", "replace")
        prefix = "[stderr] " if stream == "stderr" else ""
        self._text = (self._text + prefix + text)[-STREAM_TAIL_CHARS:]
        now = time.monotonic()
        if now - self._last < STREAM_INTERVAL:
            return
        if self._pending is not None and not self._pending.done():
            return
        self._last = now
        self._pending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        lines, _ = clean(self._text, "output")
        await self._ctx.progress(self._bytes, None, lines[-STREAM_TAIL_CHARS:])

    async def finish(self) -> None:
        if self._pending is not None:
            await self._pending


async def exec_streaming(ctx: ToolContext, args: ExecRunInput) -> ExecResult:
    tail = _Tail(ctx)
    try:
        result = await ctx.run(
            args.command, timeout=args.timeout or ctx.command_timeout, on_output=tail, cwd=args.cwd
        )
    finally:
        await tail.finish()
    return exec_result(result)


TOOLS = (
    ToolSpec(
        name="ssh_exec_script",
        title="Run a script",
        description=(
            "Run a multi-line POSIX sh script on a host, sent over stdin to `sh` (read whole "
            "first; its commands get an empty stdin), and return "
            "stdout, stderr, exit_code and flags as ssh_exec_run does. Use it instead of long "
            "`;`-joined command lines. The script never appears in argv or the audit log."
        ),
        tier=Tier.DANGEROUS,
        group=Group.EXEC,
        input=ScriptInput,
        output=ExecResult,
        annotations=CHANGES,
        handler=exec_script,
        render=render_exec,
    ),
    ToolSpec(
        name="ssh_exec_run_streaming",
        title="Run a command, streaming progress",
        description=(
            "Run one shell command like ssh_exec_run, and while it runs send MCP progress "
            "notifications carrying the newest output (bytes so far, last lines), twice a "
            "second at most. Use it for builds, installs and other commands that print as "
            "they go; the final result is the same as ssh_exec_run's."
        ),
        tier=Tier.DANGEROUS,
        group=Group.EXEC,
        input=ExecRunInput,
        output=ExecResult,
        annotations=CHANGES,
        handler=exec_streaming,
        render=render_exec,
    ),
)
