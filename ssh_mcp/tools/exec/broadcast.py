"""Dangerous tier, group ``exec``: one command on many hosts at once."""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field, model_validator

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import (
    CHANGES,
    CommandText,
    HostSet,
    Output,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import SSHMCPError
from ssh_mcp.tools._fields import command_field, field_details, timeout_field
from ssh_mcp.tools.exec.run import ExecResult, exec_result


class BroadcastInput(StrictInput):
    command: Annotated[
        str,
        CommandText(),
        command_field("Shell command line; each host's allowlist applies.", listed=False),
    ]
    hosts: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=253)]] | None,
        HostSet(),
        Field(
            description="Aliases or allowlisted hostnames; or give group.",
            json_schema_extra=field_details("Give this or `group`, not both.", listed=False),
            min_length=1,
            max_length=500,
        ),
    ] = None
    group: str | None = Field(
        None,
        description="A hosts.toml [groups] name; or give hosts.",
        json_schema_extra=field_details("Give this or `hosts`, not both.", listed=False),
        min_length=1,
        max_length=253,
    )
    timeout: float | None = timeout_field(
        "Seconds per host.", details="Default SSH_COMMAND_TIMEOUT."
    )

    @model_validator(mode="after")
    def _one_target(self) -> BroadcastInput:
        if (self.hosts is None) == (self.group is None):
            raise ValueError("give exactly one of hosts or group")
        return self


class HostError(Output):
    error: str = Field(description="Why this host did not run the command (one line).")


class BroadcastResult(Output):
    results: dict[str, ExecResult | HostError] = Field(
        description="Per host alias: the ssh_exec_run fields, or an error."
    )
    ok: int = Field(description="Hosts where the command ran (any exit code).")
    failed: int = Field(description="Hosts that could not run it.")
    succeeded_hosts: list[str] = Field(description="Aliases where the command ran and exited 0.")
    failed_hosts: list[str] = Field(
        description="Aliases where it could not run, exited non-zero, or timed out."
    )


async def broadcast(ctx: ToolContext, args: BroadcastInput) -> BroadcastResult:
    hosts = ctx.fanout("hosts")
    # Unset: every host at once. The pool keeps handshakes to one sshd (or jump host)
    # under its MaxStartups, which is what a fixed default used to protect.
    gate = asyncio.Semaphore(ctx.limits.broadcast_concurrency or max(1, len(hosts)))
    timeout = args.timeout or ctx.command_timeout

    async def one(target: ToolContext | str) -> ExecResult | HostError:
        if isinstance(target, str):
            return HostError(error=target)
        async with gate:
            try:
                return exec_result(await target.run(args.command, timeout=timeout))
            except SSHMCPError as exc:
                return HostError(error=" ".join(str(exc).split()))

    outcomes = await asyncio.gather(*(one(t) for _, t in hosts))
    results = {alias: out for (alias, _), out in zip(hosts, outcomes, strict=True)}
    failed = sum(isinstance(r, HostError) for r in results.values())
    good = [a for a, r in results.items() if isinstance(r, ExecResult) and r.exit_code == 0]
    return BroadcastResult(
        results=results,
        ok=len(results) - failed,
        failed=failed,
        succeeded_hosts=good,
        failed_hosts=[a for a in results if a not in good],
    )


def render_broadcast(out: BroadcastResult) -> str:
    lines = [f"[{out.ok} ran, {out.failed} failed]"]
    for alias, r in out.results.items():
        if isinstance(r, HostError):
            lines.append(f"{alias}: error: {r.error}")
        else:
            status = "timed out" if r.timed_out else f"exit {r.exit_code}"
            first = r.stdout.strip().splitlines()[:1]
            lines.append(f"{alias}: {status}" + (f": {first[0][:200]}" if first else ""))
    return "\n".join(lines)


TOOLS = (
    ToolSpec(
        name="ssh_broadcast",
        title="Run a command on many hosts",
        description=(
            "Run one command on the hosts, or a hosts.toml group, in parallel; returns per alias "
            "ssh_exec_run's fields or an error."
        ),
        details=(
            "An unknown host or group fails the call before anything runs. Every host at "
            "once, or at most SSH_BROADCAST_CONCURRENCY when set. A host that was unreachable, "
            "or whose allowlist refused the command, gets an error entry."
        ),
        tier=Tier.DANGEROUS,
        group=Group.EXEC,
        input=BroadcastInput,
        output=BroadcastResult,
        annotations=CHANGES,
        handler=broadcast,
        render=render_broadcast,
    ),
)
