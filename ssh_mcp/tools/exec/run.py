"""Dangerous tier, group ``exec``: run one command, at once or streaming its output as progress."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import ProcessResult
from ssh_mcp.core.spec import (
    CHANGES,
    HOST,
    CommandText,
    Output,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.tools._fields import Cwd, command_field, timeout_field
from ssh_mcp.tools._hygiene import clean
from ssh_mcp.tools._text import decode


class ExecRunInput(StrictInput):
    host: str = HOST
    command: Annotated[
        str,
        CommandText(),
        command_field(
            "Under a command allowlist: no builtins (use cwd, not cd), $(…) or sh -c.",
            details=(
                "Under a command allowlist every simple command must start with an allowed "
                "program and runs as an external program, never a shell builtin; $(…), backticks "
                "and sh -c/eval wrappers are refused, and files written by redirections must be "
                "inside the path allowlist."
            ),
        ),
    ]
    timeout: float | None = timeout_field(
        "Seconds before it is stopped.",
        details="Default SSH_COMMAND_TIMEOUT. Stopped with INT, then TERM, then KILL.",
    )
    cwd: Cwd = None


class ExecResult(Output):
    stdout: str = Field(
        description="Standard output (UTF-8, invalid bytes replaced, terminal escapes removed)."
    )
    stderr: str = Field(
        description="Standard error (UTF-8, invalid bytes replaced, terminal escapes removed)."
    )
    exit_code: int | None = Field(description="Exit status; null when killed by a signal.")
    signal: str | None = Field(description="Signal name that ended the process, if any.")
    timed_out: bool = Field(description="True when the timeout stopped the command.")
    stdout_truncated: bool = Field(description="True when stdout exceeded SSH_STDOUT_CAP_BYTES.")
    stderr_truncated: bool = Field(description="True when stderr exceeded SSH_STDERR_CAP_BYTES.")
    duration_ms: int = Field(description="Wall time of the command in milliseconds.")
    output_warnings: list[str] = Field(
        description="What was removed from the output, and what it contains that could "
        "mislead a reader (bidi controls, zero-width characters, chat-protocol markers)."
    )


def exec_result(result: ProcessResult) -> ExecResult:
    """The model-facing result of one process: decoded, cleaned, flagged."""
    stdout, out_warnings = clean(decode(result.stdout), "stdout")
    stderr, err_warnings = clean(decode(result.stderr), "stderr")
    return ExecResult(
        stdout=stdout,
        stderr=stderr,
        output_warnings=out_warnings + err_warnings,
        exit_code=result.exit_code,
        signal=result.signal,
        timed_out=result.timed_out,
        stdout_truncated=result.stdout.truncated,
        stderr_truncated=result.stderr.truncated,
        duration_ms=result.duration_ms,
    )


async def exec_run(ctx: ToolContext, args: ExecRunInput) -> ExecResult:
    timeout = args.timeout or ctx.command_timeout
    return exec_result(await ctx.run(args.command, timeout=timeout, cwd=args.cwd))


def render_exec(out: ExecResult) -> str:
    status = (
        "timed out"
        if out.timed_out
        else f"signal {out.signal}"
        if out.signal
        else f"exit {out.exit_code}"
    )
    parts = [f"[{status}, {out.duration_ms} ms]"]
    if out.stdout:
        parts.append(out.stdout.rstrip("\n"))
    if out.stderr:
        parts.append("[stderr]\n" + out.stderr.rstrip("\n"))
    parts += [f"[warning] {w}" for w in out.output_warnings]
    return "\n".join(parts)


#: Seconds between two streaming progress reports, and the text each may carry.
STREAM_INTERVAL = 0.5
STREAM_TAIL_CHARS = 600


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
        name="ssh_exec_run",
        title="Run a command",
        description=(
            "Run a shell command; returns stdout, stderr and exit_code. Prefer the sftp tools "
            "to read files or list directories."
        ),
        details=(
            "A non-zero exit_code is a result, not an error. On timeout or cancel the remote "
            "process group is stopped (INT, then TERM, then KILL). Output beyond the caps keeps "
            "its head and tail."
        ),
        tier=Tier.DANGEROUS,
        group=Group.EXEC,
        input=ExecRunInput,
        output=ExecResult,
        annotations=CHANGES,
        handler=exec_run,
        render=render_exec,
    ),
    ToolSpec(
        name="ssh_exec_run_streaming",
        title="Run a command, streaming progress",
        description=(
            "Run a command like ssh_exec_run, reporting its newest output as progress. For "
            "builds and installs."
        ),
        details=(
            "Progress carries the bytes so far and the last lines, twice a second at most. "
            "The final result is the same as ssh_exec_run's."
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
