"""Sudo tier, group ``sudo``: run a command as root.

Opened by ``ALLOW_SUDO`` together with ``ALLOW_DANGEROUS_TOOLS``. The command
passes the same command policy and deny-pattern confirmation as
``ssh_exec_run`` (dispatch applies both to the ``command`` field) and comes
back as the same result. The sudo password comes from the host's
``sudo_password_cmd`` and reaches sudo over stdin only.
"""

from __future__ import annotations

from ssh_mcp.access import Group, Tier
from ssh_mcp.errors import RemoteError
from ssh_mcp.spec import ToolContext, ToolSpec
from ssh_mcp.ssh.process import ProcessResult
from ssh_mcp.tools.exec import ExecResult, ExecRunInput, exec_result, render_exec
from ssh_mcp.tools.exec_more import EXEC, ScriptInput

#: sudo's own words, and what the operator should do about each.
_REFUSALS = (
    ("a password is required", "it needs a password: set sudo_password_cmd for this host"),
    ("incorrect password", "it rejected the password from sudo_password_cmd"),
    ("no password was provided", "it got no password: check sudo_password_cmd"),
    ("not in the sudoers", "the login user is not in sudoers"),
    ("is not allowed to", "sudoers does not allow the login user to run this as root"),
    ("may not run sudo", "sudoers does not allow the login user to run sudo here"),
    ("command not found", "sudo is not installed on the host"),
)


def _refusal(result: ProcessResult) -> RemoteError:
    text = bytes(result.stderr.head + result.stderr.tail).decode("utf-8", "replace")
    for needle, why in _REFUSALS:
        if needle in text:
            return RemoteError(f"sudo did not run the command: {why}; nothing ran as root")
    last = (text.strip().splitlines() or ["no message"])[-1][:200]
    return RemoteError(f"sudo did not run the command ({last}); nothing ran as root")


async def sudo_exec(ctx: ToolContext, args: ExecRunInput) -> ExecResult:
    timeout = args.timeout or ctx.command_timeout
    result = await ctx.run(args.command, timeout=timeout, sudo=True, cwd=args.cwd)
    if result.elevated is False and not result.timed_out:
        raise _refusal(result)
    return exec_result(result)


async def sudo_script(ctx: ToolContext, args: ScriptInput) -> ExecResult:
    result = await ctx.run(
        ["sh", "-s"],
        stdin=args.script.encode("utf-8"),
        timeout=args.timeout or ctx.command_timeout,
        sudo=True,
        cwd=args.cwd,
    )
    if result.elevated is False and not result.timed_out:
        raise _refusal(result)
    return exec_result(result)


TOOLS = (
    ToolSpec(
        name="ssh_sudo_exec",
        title="Run a command as root",
        description=(
            "Run one shell command as root through sudo on a host and return stdout, stderr, "
            "exit_code and flags as ssh_exec_run does. The operator's sudo password reaches "
            "sudo over stdin, never argv. If sudo refuses (no password configured, wrong "
            "password, not in sudoers) the call fails and nothing runs. On timeout or cancel "
            "the root process group is stopped (INT, TERM, KILL). Prefer ssh_exec_run for "
            "anything that does not need root."
        ),
        tier=Tier.SUDO,
        group=Group.SUDO,
        input=ExecRunInput,
        output=ExecResult,
        annotations=EXEC,
        handler=sudo_exec,
        render=render_exec,
    ),
    ToolSpec(
        name="ssh_sudo_run_script",
        title="Run a script as root",
        description=(
            "Run a multi-line POSIX sh script as root through sudo: the sudo password line, "
            "then the script, go over stdin to `sudo … sh -s` (never argv, never the audit "
            "log; only the script's hash is logged). Returns what ssh_exec_run returns. Under a "
            "command allowlist every line is checked like a command. Use ssh_exec_script when "
            "root is not needed."
        ),
        tier=Tier.SUDO,
        group=Group.SUDO,
        input=ScriptInput,
        output=ExecResult,
        annotations=EXEC,
        handler=sudo_script,
        render=render_exec,
    ),
)
