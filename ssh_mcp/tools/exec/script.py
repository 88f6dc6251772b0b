"""Dangerous tier, group ``exec``: a multi-line script, sent over stdin.

It reuses ``ssh_exec_run``'s machinery: the same command policy (applied by
dispatch to the ``script`` field, line by line), caps, stop ladder and result.
"""

from __future__ import annotations

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
from ssh_mcp.tools._fields import Cwd, field_details, timeout_field
from ssh_mcp.tools.exec.run import ExecResult, exec_result, render_exec


class ScriptInput(StrictInput):
    host: str = HOST
    script: Annotated[
        str,
        CommandText(),
        Field(
            description="Under a command allowlist: no if/for/while, $(…) or wrappers.",
            json_schema_extra=field_details(
                "Sent to `sh` over stdin and read whole before it runs (never in argv, never "
                "in the audit log; only its hash is). Each simple command must start with an "
                "allowed program. Under a command allowlist each line is checked like a command."
            ),
            min_length=1,
            max_length=1_048_576,
        ),
    ]
    timeout: float | None = timeout_field(
        ("Seconds before the script is stopped."),
        details="Stopped with INT, then TERM, then KILL.",
    )
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


TOOLS = (
    ToolSpec(
        name="ssh_exec_script",
        title="Run a script",
        description=(
            "Run a multi-line POSIX sh script over stdin; returns ssh_exec_run's fields. Use it "
            "instead of long `;`-joined lines."
        ),
        details=(
            "Never in argv or the audit log. The script is read whole before it runs; its commands "
            "get an empty stdin."
        ),
        tier=Tier.DANGEROUS,
        group=Group.EXEC,
        input=ScriptInput,
        output=ExecResult,
        annotations=CHANGES,
        handler=exec_script,
        render=render_exec,
    ),
)
