"""Dangerous tier, group ``forward``: list the open forwards and close one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import (
    CHANGES_IDEMPOTENT,
    READS_LOCAL,
    HandleRef,
    Output,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.state.forwards import ForwardEntry
from ssh_mcp.tools._pages import LimitInput, truncated_field


@dataclass(frozen=True)
class ForwardRef(HandleRef):
    """A port forward id (:mod:`ssh_mcp.state.forwards`)."""

    kind = "forward"


FORWARD_ID = Field(description="From ssh_forward_list.", pattern=r"^f[0-9a-f]{16}$")


class ForwardCounts(Output):
    forward_id: str = Field(description="The forward.")
    conns: int = Field(description="Connections opened through it.")
    bytes_out: int = Field(description="Bytes sent towards the destination.")
    bytes_in: int = Field(description="Bytes received from the destination.")


class ForwardInfo(ForwardCounts):
    host: str = Field(description="Alias of the host it goes through.")
    address: str = Field(description="Its listener; on the host for remote.")
    dest: str | None = Field(
        description="Where connections go: host:port from the host, server:host:port on this "
        "server's side (remote forwards), null for socks (clients name it)."
    )


def info(entry: ForwardEntry) -> ForwardInfo:
    t = entry.forward.traffic
    return ForwardInfo(
        forward_id=entry.id,
        host=entry.host,
        address=entry.forward.address,
        dest=("server:" if entry.kind == "remote" and entry.dest else "") + (entry.dest or "")
        or None,
        conns=t.connections,
        bytes_out=t.bytes_to_dest,
        bytes_in=t.bytes_from_dest,
    )


class ForwardList(Output):
    forwards: list[ForwardInfo] = Field(description="Open forwards, oldest first.")
    truncated: bool = truncated_field()


async def forward_list(ctx: ToolContext, args: LimitInput) -> ForwardList:
    entries = [e for e in ctx.forwards.all() if ctx.sees_host(e.host)]
    return ForwardList(
        forwards=[info(e) for e in entries[: args.limit]], truncated=len(entries) > args.limit
    )


class CloseInput(StrictInput):
    forward_id: Annotated[str, ForwardRef(), FORWARD_ID]


async def forward_close(ctx: ToolContext, args: CloseInput) -> ForwardCounts:
    entry = ctx.forwards.get(args.forward_id)
    assert entry is not None  # dispatch found it (ForwardRef)
    await ctx.forwards.close(args.forward_id)
    t = entry.forward.traffic
    return ForwardCounts(
        forward_id=entry.id,
        conns=t.connections,
        bytes_out=t.bytes_to_dest,
        bytes_in=t.bytes_from_dest,
    )


TOOLS = (
    ToolSpec(
        name="ssh_forward_list",
        title="List port forwards",
        description="List open port forwards and their traffic.",
        tier=Tier.DANGEROUS,
        group=Group.FORWARD,
        input=LimitInput,
        output=ForwardList,
        annotations=READS_LOCAL,
        handler=forward_list,
    ),
    ToolSpec(
        name="ssh_forward_close",
        title="Close a port forward",
        description="Close a port forward and every connection through it; returns its totals.",
        tier=Tier.DANGEROUS,
        group=Group.FORWARD,
        input=CloseInput,
        output=ForwardCounts,
        annotations=CHANGES_IDEMPOTENT,
        handler=forward_close,
        audit_bytes="bytes_out",
    ),
)
