"""Sudo tier, group ``sudo``: run a command as root.

Opened by ``ALLOW_SUDO`` together with ``ALLOW_DANGEROUS_TOOLS``. The command
passes the same command policy and deny-pattern confirmation as
``ssh_exec_run`` (dispatch applies both to the ``command`` field) and comes
back as the same result. The sudo password comes from the host's
``sudo_password_cmd`` and reaches sudo over stdin only.
"""

from __future__ import annotations

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import ProcessResult, sudo_refusal
from ssh_mcp.core.spec import CHANGES, ToolContext, ToolSpec
from ssh_mcp.tools.exec.run import ExecResult, ExecRunInput, exec_result, render_exec
from ssh_mcp.tools.exec.script import SCRIPT_ARGV, ScriptInput


def _root_result(result: ProcessResult) -> ExecResult:
    """The command's result (a timeout too, once it ran as root), or why it never ran."""
    if result.elevated is False:
        raise sudo_refusal(result)
    return exec_result(result)


async def sudo_exec(ctx: ToolContext, args: ExecRunInput) -> ExecResult:
    timeout = args.timeout or ctx.command_timeout
    return _root_result(await ctx.run(args.command, timeout=timeout, sudo=True, cwd=args.cwd))


async def sudo_script(ctx: ToolContext, args: ScriptInput) -> ExecResult:
    result = await ctx.run(
        SCRIPT_ARGV,
        stdin=args.script.encode("utf-8"),
        timeout=args.timeout or ctx.command_timeout,
        sudo=True,
        cwd=args.cwd,
    )
    return _root_result(result)


TOOLS = (
    ToolSpec(
        name="ssh_sudo_exec",
        title="Run a command as root",
        description="Run a command as root through sudo; returns ssh_exec_run's fields.",
        details=(
            "If sudo refuses, the call fails and nothing runs. Use ssh_exec_run where root is not "
            "needed. The call also fails, running nothing, when sudo does not start the command in "
            "time. The operator's sudo password reaches sudo over stdin, never argv. sudo refuses "
            "when no password is configured, the password is wrong or the user is not in sudoers. "
            "On timeout or cancel once it runs, the root process group is stopped (INT, TERM, "
            "KILL)."
        ),
        tier=Tier.SUDO,
        group=Group.SUDO,
        input=ExecRunInput,
        output=ExecResult,
        annotations=CHANGES,
        handler=sudo_exec,
        render=render_exec,
    ),
    ToolSpec(
        name="ssh_sudo_run_script",
        title="Run a script as root",
        description="Run a POSIX sh script as root through sudo; returns ssh_exec_run's fields.",
        details=(
            "Never in argv or the audit log. Use ssh_exec_script where root is not needed. The "
            "sudo password line, then the script, go over stdin to `sudo … sh`; only the "
            "script's hash is logged. Under a command allowlist every line is checked like a "
            "command."
        ),
        tier=Tier.SUDO,
        group=Group.SUDO,
        input=ScriptInput,
        output=ExecResult,
        annotations=CHANGES,
        handler=sudo_script,
        render=render_exec,
    ),
)
