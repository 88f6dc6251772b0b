"""Read tier, group ``docker``: containers, images and volumes as docker reports them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

import ssh_mcp.policy.docker as rules
from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import HOST, READS, StrictInput, ToolContext, ToolSpec
from ssh_mcp.tools._pages import limit_field
from ssh_mcp.tools.docker._common import (
    Container,
    DockerRows,
    DockerText,
    MaybeContainer,
    MaybeImage,
    Since,
    bounded,
    docker,
    render_rows,
    render_text,
    rows,
    text_result,
)
from ssh_mcp.tools.docker._common import (
    details as docker_details,
)

JSON = "{{json .}}"


def _limited(out: DockerRows, limit: int) -> DockerRows:
    if len(out.rows) <= limit:
        return out
    return DockerRows(rows=out.rows[:limit], truncated=True)


class PsInput(StrictInput):
    host: str = HOST
    all: bool = Field(False, description="Stopped ones too.")
    name: MaybeContainer = Field(None, description="Only names containing this.")
    limit: int = limit_field()


async def ps(ctx: ToolContext, args: PsInput) -> DockerRows:
    argv = ["ps", "--no-trunc", "--format", JSON, *(["--all"] if args.all else [])]
    if args.name:
        argv += ["--filter", f"name={args.name}"]
    return _limited(rows(await docker(ctx, *argv)), args.limit)


class LogsInput(StrictInput):
    host: str = HOST
    container: Container
    tail: Annotated[int, bounded(1, 100_000)] = Field(200, description="Newest lines.")
    since: Since = None
    max_bytes: Annotated[int, bounded(1024, 1 << 20)] = Field(65536, description="Byte cap.")


async def logs(ctx: ToolContext, args: LogsInput) -> DockerText:
    argv = ["logs", "--tail", str(args.tail)]
    argv += ["--since", args.since] if args.since else []
    return text_result(await docker(ctx, *argv, "--", args.container), args.max_bytes)


class StatsInput(StrictInput):
    host: str = HOST
    container: MaybeContainer = Field(None, description="One container; default all running.")


async def stats(ctx: ToolContext, args: StatsInput) -> DockerRows:
    tail = ["--", args.container] if args.container else []
    return rows(await docker(ctx, "stats", "--no-stream", "--format", JSON, *tail))


class TopInput(StrictInput):
    host: str = HOST
    container: Container


async def top(ctx: ToolContext, args: TopInput) -> DockerText:
    return text_result(await docker(ctx, "top", "--", args.container))


class EventsInput(StrictInput):
    host: str = HOST
    since: Annotated[str, AfterValidator(lambda v: rules.check(rules.TIME, v, "time"))] = Field(
        "10m", description="Window start: 10m, or RFC 3339."
    )
    container: MaybeContainer = Field(None, description="Only this container's events.")
    limit: int = limit_field()


async def events(ctx: ToolContext, args: EventsInput) -> DockerRows:
    # --until bounds the window at "now": without it docker events follows forever.
    argv = ["events", "--since", args.since, "--until", "0s", "--format", JSON]
    if args.container:
        argv += ["--filter", f"container={args.container}"]
    out = rows(await docker(ctx, *argv))
    if len(out.rows) > args.limit:  # the newest events matter most
        return DockerRows(rows=out.rows[-args.limit :], truncated=True)
    return out


class ImagesInput(StrictInput):
    host: str = HOST
    reference: MaybeImage = Field(None, description="Only images matching this reference.")
    limit: int = limit_field()


async def images(ctx: ToolContext, args: ImagesInput) -> DockerRows:
    tail = ["--", args.reference] if args.reference else []
    return _limited(rows(await docker(ctx, "images", "--format", JSON, *tail)), args.limit)


class ListInput(StrictInput):
    host: str = HOST
    limit: int = limit_field()


async def volumes(ctx: ToolContext, args: ListInput) -> DockerRows:
    return _limited(rows(await docker(ctx, "volume", "ls", "--format", JSON)), args.limit)


class HostInput(StrictInput):
    host: str = HOST


async def system_df(ctx: ToolContext, args: HostInput) -> DockerRows:
    return rows(await docker(ctx, "system", "df", "--format", JSON))


def _read(
    name: str,
    title: str,
    description: str,
    input: type[StrictInput],
    handler: Callable[[ToolContext, Any], Awaitable[Any]],
    output: Literal["rows", "text"] = "rows",
    details: str = "",
) -> ToolSpec[Any, Any]:
    return ToolSpec(
        name=name,
        title=title,
        description=description,
        details=docker_details(details),
        tier=Tier.READ,
        group=Group.DOCKER,
        input=input,
        output=DockerRows if output == "rows" else DockerText,
        annotations=READS,
        handler=handler,
        render=render_rows if output == "rows" else render_text,
    )


TOOLS = (
    _read(
        "ssh_docker_ps",
        "List containers",
        "List containers as docker's JSON rows.",
        PsInput,
        ps,
        details="`name` filters by name substring, as `docker ps --filter name=` does.",
    ),
    _read(
        "ssh_docker_logs",
        "Container logs",
        "Return a container's newest log lines, at most max_bytes from the end.",
        LogsInput,
        logs,
        "text",
        details="`text` holds the container's stdout, then [stderr] and its stderr.",
    ),
    _read(
        "ssh_docker_stats",
        "Container resource use",
        "Return one sample of CPU, memory, network and block I/O per running container.",
        StatsInput,
        stats,
    ),
    _read(
        "ssh_docker_top",
        "Processes in a container",
        "List the processes running in a container (docker top).",
        TopInput,
        top,
        "text",
    ),
    _read(
        "ssh_docker_events",
        "Recent docker events",
        "Return docker events from since to now, newest kept.",
        EventsInput,
        events,
    ),
    _read(
        "ssh_docker_images",
        "List images",
        "List local images as docker's JSON rows.",
        ImagesInput,
        images,
    ),
    _read("ssh_docker_volumes", "List volumes", "List volumes.", ListInput, volumes),
    _read(
        "ssh_docker_system_df",
        "Docker disk use",
        "Return disk used by images, containers, volumes and build cache, and what is reclaimable.",
        HostInput,
        system_df,
    ),
)
