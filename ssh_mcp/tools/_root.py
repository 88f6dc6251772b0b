"""Run a fixed program as root for a typed operations tool (systemctl, apt, docker).

A login that is root runs it directly. Any other login goes through the sudo machinery
(password from the host's ``sudo_password_cmd`` over stdin, never argv), which the operator
opens with the sudo tier: without it the call is refused before anything runs, naming the
setting. A program run this way is the tool's own fixed argv, validated by the tool, never
an agent's command text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ssh_mcp.core.access import Tier
from ssh_mcp.core.remote import ProcessResult, sudo_refusal
from ssh_mcp.core.spec import ToolContext
from ssh_mcp.errors import PolicyDenied


def login_is_root(ctx: ToolContext) -> bool:
    host = ctx.host
    return host is not None and host.user == "root"


def require_root_path(ctx: ToolContext, what: str) -> None:
    """Refuse, before anything runs, a change that needs root the server cannot reach."""
    if login_is_root(ctx) or Tier.SUDO.value in ctx.server_facts().open_tiers:
        return
    raise PolicyDenied(
        f"{what} needs root and the login user is not root: set ALLOW_SUDO=true (with "
        "ALLOW_DANGEROUS_TOOLS=true) and the host's sudo_password_cmd, or log in as root"
    )


async def run_as_root(
    ctx: ToolContext,
    argv: Sequence[str],
    *,
    what: str,
    timeout: float | None = None,
    stdin: bytes | None = None,
    on_output: Callable[[str, bytes], None] | None = None,
) -> ProcessResult:
    """``argv`` run as root, directly or through sudo; a sudo refusal is the call's error.
    ``on_output`` sees the output as it arrives, as for ``ctx.run``."""
    require_root_path(ctx, what)
    if login_is_root(ctx):
        return await ctx.run(argv, timeout=timeout, stdin=stdin, on_output=on_output)
    result = await ctx.run(argv, timeout=timeout, stdin=stdin, on_output=on_output, sudo=True)
    if result.elevated is False:
        raise sudo_refusal(result)
    return result
