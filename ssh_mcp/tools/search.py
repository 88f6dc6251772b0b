"""Search mode's own tools (``SSH_TOOL_MODE=search``): find, describe and call the rest.

They exist only in search mode, where tools/list shows them with ssh_host_list and
ssh_host_ping instead of the whole catalogue (DECISIONS.md 62). They see exactly the tools
the tiers and groups leave visible: a hidden tool is never found or described, and
ssh_tool_call is unwrapped by dispatch into a call of the named tool, which then passes
every step as a direct call would; its handler runs only when nothing was unwrapped.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from ssh_mcp.core.access import Group, Tier, ToolMode, unknown_tool
from ssh_mcp.core.search import (
    TOOL_CALL,
    CallInput,
    argument_notes,
    entry,
    rank,
    summary,
    tool_name_field,
)
from ssh_mcp.core.spec import (
    CHANGES,
    READS_LOCAL,
    SEARCH_ONLY,
    Output,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import InvalidArguments, ToolNotAvailable
from ssh_mcp.tools._pages import limit_field, truncated_field

TOOL_SEARCH = "ssh_tool_search"
TOOL_DESCRIBE = "ssh_tool_describe"


class SearchInput(StrictInput):
    query: str = Field(
        max_length=500, description="Words for what you want done, e.g. 'disk usage'."
    )
    limit: int = limit_field(10, 50)


class Found(Output):
    name: str = Field(description="Name to pass to ssh_tool_describe and ssh_tool_call.")
    title: str = Field(description="Short human title.")
    tier: str = Field(description="Access tier: read, low-access, dangerous or sudo.")
    group: str = Field(description="Tool group.")
    summary: str = Field(description="First sentence of the tool's description.")
    score: float = Field(description="Match score; higher is better.")


class SearchResult(Output):
    tools: list[Found] = Field(description="Matching tools, best first.")
    total: int = Field(description="Tools that matched.")
    truncated: bool = truncated_field()


async def tool_search(ctx: ToolContext, args: SearchInput) -> SearchResult:
    # The search tools themselves are listed already; the catalogue is the rest.
    hits = rank((s for s in ctx.catalog() if ToolMode.FULL in s.listed_in), args.query)
    return SearchResult(
        tools=[
            Found(
                name=h.spec.name,
                title=h.spec.title,
                tier=h.spec.tier.value,
                group=h.spec.group.value,
                summary=summary(h.spec.description),
                score=h.score,
            )
            for h in hits[: args.limit]
        ],
        total=len(hits),
        truncated=len(hits) > args.limit,
    )


class DescribeInput(StrictInput):
    name: str = tool_name_field()


class Described(Output):
    name: str = Field(description="The tool's name.")
    title: str = Field(description="Short human title.")
    tier: str = Field(description="Access tier.")
    group: str = Field(description="Tool group.")
    description: str = Field(description="What it does and returns, as tools/list says it.")
    input_schema: dict[str, Any] = Field(description="JSON Schema of its arguments.")
    output_schema: dict[str, Any] = Field(description="JSON Schema of its structured result.")
    annotations: dict[str, bool] = Field(description="MCP hints (readOnlyHint, ...).")
    details: str = Field(description="Its longer notes from TOOLS.md; may be empty.")
    arguments: dict[str, str] = Field(description="Each argument's full description.")


def _visible(ctx: ToolContext, name: str) -> ToolSpec[Any, Any]:
    for spec in ctx.catalog():
        if spec.name == name:
            return spec
    raise ToolNotAvailable(unknown_tool(name, ToolMode.SEARCH))


async def tool_describe(ctx: ToolContext, args: DescribeInput) -> Described:
    spec = _visible(ctx, args.name)
    listed = entry(spec)
    return Described(
        name=spec.name,
        title=spec.title,
        tier=spec.tier.value,
        group=spec.group.value,
        description=spec.description,
        input_schema=listed["inputSchema"],
        output_schema=listed["outputSchema"],
        annotations=listed["annotations"],
        details=spec.details,
        arguments=argument_notes(spec),
    )


class AnyResult(Output):
    """The called tool's own structured result, whatever its shape."""

    model_config = ConfigDict(extra="allow", frozen=True)


async def tool_call(ctx: ToolContext, args: CallInput) -> AnyResult:
    # Dispatch unwraps every well-formed ssh_tool_call; what reaches here named itself.
    raise InvalidArguments(
        f"{TOOL_CALL} cannot call {args.name[:64]!r}; call {TOOL_CALL} with another tool's name"
    )


TOOLS = (
    ToolSpec(
        name=TOOL_SEARCH,
        title="Find tools",
        description=(
            "Find the tools for a task by keywords; returns names, tiers and one-line "
            "summaries, best match first. Then call ssh_tool_describe for a tool's arguments."
        ),
        details=(
            "Only tools this server offers are found: closed tiers and disabled groups "
            "hide theirs. A query with no meaningful word lists every tool, up to limit."
        ),
        tier=Tier.READ,
        group=Group.HOST,
        input=SearchInput,
        output=SearchResult,
        annotations=READS_LOCAL,
        handler=tool_search,
        listed_in=SEARCH_ONLY,
    ),
    ToolSpec(
        name=TOOL_DESCRIBE,
        title="Describe a tool",
        description=(
            "Return one tool's description, input and output JSON Schemas and hints: what "
            "you need to call it with ssh_tool_call."
        ),
        details="The text tools/list would send in full mode, plus the tool's TOOLS.md notes.",
        tier=Tier.READ,
        group=Group.HOST,
        input=DescribeInput,
        output=Described,
        annotations=READS_LOCAL,
        handler=tool_describe,
        listed_in=SEARCH_ONLY,
    ),
    ToolSpec(
        name=TOOL_CALL,
        title="Call a tool",
        description=(
            "Call a tool found with ssh_tool_search by name, with its arguments; returns "
            "exactly what that tool returns. Its policy, confirmation and audit apply."
        ),
        details=(
            "The same as calling the tool directly: a tool you may not use is refused as "
            "unknown, and the audit line names the tool called (with via: ssh_tool_call)."
        ),
        tier=Tier.READ,
        group=Group.HOST,
        input=CallInput,
        output=AnyResult,
        # Not read-only: a client that runs read-only tools unasked must ask before this one,
        # which may call any tool the tiers open.
        annotations=CHANGES,
        handler=tool_call,
        listed_in=SEARCH_ONLY,
    ),
)
