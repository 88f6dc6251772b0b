"""Read tier tools answered from the server's own state: no host is contacted."""

from __future__ import annotations

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import (
    EVERY_MODE,
    READS_LOCAL,
    Output,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.tools._fields import utc_stamp
from ssh_mcp.tools._pages import (
    LimitInput,
    PageInput,
    next_offset_field,
    page,
    truncated_field,
)


class NoInput(StrictInput):
    """This tool takes no arguments."""


class HostEntry(Output):
    alias: str = Field(description="Name to pass as `host` to other tools.")
    hostname: str = Field(description="DNS name or address.")
    port: int = Field(description="SSH port.")
    user: str | None = Field(description="Login user; null means the server's local user.")
    auth_method: str = Field(description="agent, key or password.")
    proxy_jump: list[str] = Field(description="Jump hosts, in order.")
    notes: str | None = Field(description="Operator notes from hosts.toml.")


class HostList(Output):
    hosts: list[HostEntry] = Field(description="Configured hosts, by alias.")
    total: int = Field(description="Hosts configured.")
    next_offset: int | None = next_offset_field()


async def host_list(ctx: ToolContext, args: PageInput) -> HostList:
    hosts, next_offset = page(sorted(ctx.hosts(), key=lambda h: h.alias), args.offset, args.limit)
    return HostList(
        hosts=[
            HostEntry(
                alias=h.alias,
                hostname=h.hostname,
                port=h.port,
                user=h.user,
                auth_method=h.auth_method,
                proxy_jump=list(h.proxy_jump),
                notes=h.notes,
            )
            for h in hosts
        ],
        total=len(ctx.hosts()),
        next_offset=next_offset,
    )


class Session(Output):
    host: str = Field(description="Alias of the pooled target.")
    hostname: str = Field(description="Resolved hostname.")
    port: int = Field(description="SSH port.")
    user: str | None = Field(description="Login user.")
    opened_at: str = Field(description="When the connection opened (RFC 3339 UTC).")
    idle_seconds: float = Field(description="Seconds since last use; 0 while busy.")
    busy_channels: int = Field(description="Channels in use now.")
    max_channels: int = Field(description="Channel slots of this connection.")
    sftp_open: bool = Field(description="True when an SFTP session is open on it.")


class SessionList(Output):
    sessions: list[Session] = Field(description="Open pooled connections.")
    truncated: bool = truncated_field()


async def session_list(ctx: ToolContext, args: LimitInput) -> SessionList:
    sessions = ctx.sessions()
    return SessionList(
        sessions=[
            Session(
                host=s.key,
                hostname=s.host,
                port=s.port,
                user=s.user,
                opened_at=utc_stamp(s.opened_at) or "",
                idle_seconds=s.idle_seconds,
                busy_channels=s.busy_channels,
                max_channels=s.max_channels,
                sftp_open=s.sftp_open,
            )
            for s in sessions[: args.limit]
        ],
        truncated=len(sessions) > args.limit,
    )


class ServerInfo(Output):
    name: str = Field(description="Server name.")
    version: str = Field(description="ssh-mcp version.")
    open_tiers: list[str] = Field(description="Access tiers open in this process.")
    enabled_groups: list[str] = Field(description="Tool groups offered.")
    tool_count: int = Field(description="Tools visible to this client.")
    host_count: int = Field(description="Hosts configured in hosts.toml.")


async def server_info(ctx: ToolContext, args: NoInput) -> ServerInfo:
    f = ctx.server_facts()
    return ServerInfo(
        name=f.name,
        version=f.version,
        open_tiers=list(f.open_tiers),
        enabled_groups=list(f.enabled_groups),
        tool_count=f.tool_count,
        host_count=f.host_count,
    )


TOOLS = (
    ToolSpec(
        name="ssh_host_list",
        title="List hosts",
        description=(
            "List configured hosts. Start here: `host` takes an alias; paths are absolute or "
            "~/; timeouts are seconds."
        ),
        details=(
            "A page at a time. Each host has its alias, hostname, port, user, auth method, jump "
            "hosts and the operator's notes."
        ),
        tier=Tier.READ,
        group=Group.HOST,
        input=PageInput,
        output=HostList,
        annotations=READS_LOCAL,
        handler=host_list,
        listed_in=EVERY_MODE,
    ),
    ToolSpec(
        name="ssh_session_list",
        title="List pooled connections",
        description="List this server's open SSH connections.",
        details=(
            "Each with its idle time and busy channels. Connections open lazily on first use "
            "and close after SSH_IDLE_TIMEOUT."
        ),
        tier=Tier.READ,
        group=Group.SESSION,
        input=LimitInput,
        output=SessionList,
        annotations=READS_LOCAL,
        handler=session_list,
    ),
    ToolSpec(
        name="ssh_server_info",
        title="Server info",
        description="Return this server's version, open tiers and groups, and tool count.",
        details="A tool that is not listed is in a closed tier or a disabled group.",
        tier=Tier.READ,
        group=Group.HOST,
        input=NoInput,
        output=ServerInfo,
        annotations=READS_LOCAL,
        handler=server_info,
    ),
)
