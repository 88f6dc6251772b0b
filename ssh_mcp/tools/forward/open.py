"""Dangerous tier, group ``forward``: open local, SOCKS and remote port forwards.

Policy lives in the context (DECISIONS.md 68): each destination must match the host's
``forward_allowlist``, listeners here bind SSH_FORWARD_BIND, and every connection a
forward opens or refuses is audited with its destination hashed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import ADDS, HOST, Output, StrictInput, ToolContext, ToolSpec
from ssh_mcp.state.forwards import ForwardWant
from ssh_mcp.tools._fields import field_details

ALLOWLIST = "Refused unless the host's forward_allowlist in hosts.toml admits it."


def _in_range(low: int) -> Callable[[int], int]:
    def check(port: int) -> int:
        if not low <= port <= 65535:
            raise ValueError(f"a port is {low}..65535")
        return port

    return check


#: Ports; the range is checked without being spelled out in every schema.
Port = Annotated[
    int,
    AfterValidator(_in_range(1)),
    Field(description="Its port.", json_schema_extra=field_details("1-65535.")),
]
AnyPort = Annotated[
    int,
    AfterValidator(_in_range(0)),
    Field(description="0: any.", json_schema_extra=field_details("0-65535; 0: any free one.")),
]


def _dest_host(description: str, details: str) -> Any:
    extra = field_details(details)
    return Field(min_length=1, max_length=253, description=description, json_schema_extra=extra)


class ForwardOpened(Output):
    forward_id: str = Field(description="Pass to ssh_forward_close.")
    address: str = Field(description="host:port of the listener.")


def _opened(entry_id: str, address: str) -> ForwardOpened:
    return ForwardOpened(forward_id=entry_id, address=address)


class LocalInput(StrictInput):
    host: str = HOST
    remote_host: str = _dest_host(
        "As the host sees it.",
        "A name or IP address, matched as given against the plain patterns of the host's "
        "forward_allowlist.",
    )
    remote_port: Port
    local_port: AnyPort = 0


async def forward_local(ctx: ToolContext, args: LocalInput) -> ForwardOpened:
    want = ForwardWant("local", args.local_port, (args.remote_host, args.remote_port))
    entry = await ctx.open_forward(want)
    return _opened(entry.id, entry.forward.address)


class SocksInput(StrictInput):
    host: str = HOST
    local_port: AnyPort = 0


async def forward_socks(ctx: ToolContext, args: SocksInput) -> ForwardOpened:
    entry = await ctx.open_forward(ForwardWant("socks", args.local_port))
    return _opened(entry.id, entry.forward.address)


class RemoteInput(StrictInput):
    host: str = HOST
    remote_port: AnyPort
    local_host: str = _dest_host(
        "On this side.",
        "A name or IP address; it must match a server:host:port pattern of the host's "
        "forward_allowlist.",
    )
    local_port: Port


async def forward_remote(ctx: ToolContext, args: RemoteInput) -> ForwardOpened:
    want = ForwardWant("remote", args.remote_port, (args.local_host, args.local_port))
    entry = await ctx.open_forward(want)
    return _opened(entry.id, entry.forward.address)


def _spec(
    name: str,
    title: str,
    description: str,
    details: str,
    handler: Callable[[ToolContext, Any], Awaitable[ForwardOpened]],
    model: type[StrictInput],
) -> ToolSpec[Any, ForwardOpened]:
    return ToolSpec(
        name=name,
        title=title,
        description=description,
        details=details,
        tier=Tier.DANGEROUS,
        group=Group.FORWARD,
        input=model,
        output=ForwardOpened,
        annotations=ADDS,
        handler=handler,
        audit_fields=("forward_id",),
    )


TOOLS = (
    _spec(
        "ssh_forward_local",
        "Local port forward",
        "Listen here, reaching remote_host:remote_port from the host.",
        f"{ALLOWLIST} The listener binds SSH_FORWARD_BIND. It lives until ssh_forward_close or "
        "the server stops; each connection through it is audited with its destination hashed.",
        forward_local,
        LocalInput,
    ),
    _spec(
        "ssh_forward_socks",
        "Open a SOCKS5 proxy",
        "Open a local SOCKS5 proxy whose connections leave from the host.",
        "No authentication, CONNECT only; names are resolved on the host and matched as given."
        " A refused destination gets SOCKS reply 2 and an audit line.",
        forward_socks,
        SocksInput,
    ),
    _spec(
        "ssh_forward_remote",
        "Remote port forward",
        "Host listens on its remote_port, reaching local_host:local_port here.",
        "The host listens on its 127.0.0.1 only. The destination must match a "
        "'server:host:port' entry of the host's forward_allowlist.",
        forward_remote,
        RemoteInput,
    ),
)
