"""Group ``docker``: start, stop and restart (low-access: reversible); remove, prune and pull
(dangerous: they destroy or fetch)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

import ssh_mcp.policy.docker as rules
from ssh_mcp.core.access import Tier
from ssh_mcp.core.spec import (
    CHANGES,
    CHANGES_IDEMPOTENT,
    HOST,
    StrictInput,
    ToolContext,
)
from ssh_mcp.tools._fields import timeout_field
from ssh_mcp.tools.docker._common import (
    Containers,
    DockerText,
    Image,
    Images,
    bounded,
    docker,
    text_result,
    text_tool,
)


class ContainersInput(StrictInput):
    host: str = HOST
    names: Containers


class StopInput(StrictInput):
    host: str = HOST
    names: Containers
    wait: Annotated[int, bounded(0, 600)] = Field(10, description="Seconds before KILL.")


async def start(ctx: ToolContext, args: ContainersInput) -> DockerText:
    return text_result(await docker(ctx, "start", "--", *args.names))


async def stop(ctx: ToolContext, args: StopInput) -> DockerText:
    timeout = ctx.command_timeout + args.wait
    return text_result(
        await docker(ctx, "stop", "-t", str(args.wait), "--", *args.names, timeout=timeout)
    )


async def restart(ctx: ToolContext, args: StopInput) -> DockerText:
    timeout = ctx.command_timeout + args.wait
    return text_result(
        await docker(ctx, "restart", "-t", str(args.wait), "--", *args.names, timeout=timeout)
    )


class RmInput(StrictInput):
    host: str = HOST
    names: Containers
    force: bool = Field(False, description="Kill running ones first.")
    volumes: bool = Field(False, description="And their anonymous volumes.")


async def rm(ctx: ToolContext, args: RmInput) -> DockerText:
    flags = [*(["--force"] if args.force else []), *(["--volumes"] if args.volumes else [])]
    return text_result(await docker(ctx, "rm", *flags, "--", *args.names))


class RmiInput(StrictInput):
    host: str = HOST
    images: Images
    force: bool = Field(False, description="Remove even if tagged more than once.")


async def rmi(ctx: ToolContext, args: RmiInput) -> DockerText:
    flags = ["--force"] if args.force else []
    return text_result(await docker(ctx, "rmi", *flags, "--", *args.images))


class PruneInput(StrictInput):
    host: str = HOST
    what: Literal["container", "image", "volume", "network", "system"] = Field(
        description="What to prune."
    )
    all_images: bool = Field(False, description="image, system: all unused, not just dangling.")
    label: Annotated[
        str | None,
        Field(None, description="Only with this label (key or key=value)."),
        AfterValidator(lambda v: v if v is None else rules.check(rules.LABEL, v, "label")),
    ]


async def prune(ctx: ToolContext, args: PruneInput) -> DockerText:
    extra = ["--all"] if args.all_images and args.what in ("image", "system") else []
    extra += ["--filter", f"label={args.label}"] if args.label else []
    return text_result(await docker(ctx, args.what, "prune", "--force", *extra))


class PullInput(StrictInput):
    host: str = HOST
    image: Image
    timeout: float | None = timeout_field("Seconds before it is stopped.")


async def pull(ctx: ToolContext, args: PullInput) -> DockerText:
    timeout = args.timeout or ctx.command_timeout
    return text_result(await docker(ctx, "pull", "--quiet", "--", args.image, timeout=timeout))


LOW = Tier.LOW_ACCESS
TOOLS = (
    text_tool("ssh_docker_start", "Start containers", "Start stopped containers.", LOW,
          ContainersInput, start, CHANGES_IDEMPOTENT),
    text_tool("ssh_docker_stop", "Stop containers", "Stop containers: TERM, then KILL after wait.",
          LOW, StopInput, stop, CHANGES_IDEMPOTENT),
    text_tool("ssh_docker_restart", "Restart containers", "Restart containers (stop, then start).",
          LOW, StopInput, restart, CHANGES),
    text_tool("ssh_docker_rm", "Remove containers", "Remove containers; force=true stops them.",
          Tier.DANGEROUS, RmInput, rm, CHANGES),
    text_tool("ssh_docker_rmi", "Remove images", "Remove images by reference or id.",
          Tier.DANGEROUS, RmiInput, rmi, CHANGES),
    text_tool("ssh_docker_prune", "Prune unused objects",
          "Remove unused containers, images, volumes or networks.",
          Tier.DANGEROUS, PruneInput, prune, CHANGES,
          details="volume prune deletes data. system prune does all but volumes."),
    text_tool("ssh_docker_pull", "Pull an image", "Pull an image from its registry.",
          Tier.DANGEROUS, PullInput, pull, CHANGES_IDEMPOTENT,
          details="The host needs the registry reachable and logged in; credentials stay "
          "with docker on the host."),
)  # fmt: skip
