"""Group ``docker``: compose projects. Reads in the read tier, start/stop/restart low-access,
up/down/pull dangerous.

Compose v2 (``docker compose``) is tried first, then v1 (``docker-compose``, what Debian 12
ships); with a ``docker_cmd`` such as ``["sudo", "-n", "docker"]`` v1 is
``["sudo", "-n", "docker-compose"]`` (DECISIONS.md 80). The compose file is a path argument:
resolved on the host and confined by the path allowlist before anything runs. Service names
are validated (no leading ``-``), so they follow the options without ``--``, which compose
v1's argument parser does not take everywhere. ``up`` first checks the project's normalized
configuration against ssh_docker_run's refusals, then runs on that checked text, fed on
stdin, so a file rewritten in between changes nothing (DECISIONS.md 84).
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable
from typing import Annotated

from pydantic import Field

import ssh_mcp.policy.docker as rules
from ssh_mcp.core.access import Tier
from ssh_mcp.core.remote import ProcessResult
from ssh_mcp.core.spec import (
    CHANGES,
    CHANGES_IDEMPOTENT,
    HOST,
    READS,
    RemotePath,
    StrictInput,
    ToolContext,
)
from ssh_mcp.errors import PolicyDenied, RemoteError
from ssh_mcp.tools._fields import CONFINED, PATH_MAX, field_details
from ssh_mcp.tools._text import decode
from ssh_mcp.tools.docker._common import (
    DockerText,
    Project,
    Services,
    bounded,
    docker_argv,
    failure,
    resolved,
    text_result,
    text_tool,
)


async def compose_command(ctx: ToolContext) -> list[str]:
    """The host's compose: v2 when ``docker compose`` answers, else v1. v1 is not probed:
    a Python program that takes seconds to start; a missing one is exit 127 (``_compose``)."""
    v2 = docker_argv(ctx, "compose")
    if (await ctx.run([*v2, "version"])).exit_code == 0:
        return v2
    base = docker_argv(ctx)
    return [*base[:-1], f"{base[-1]}-compose"]


class ComposeInput(StrictInput):
    host: str = HOST
    file: Annotated[
        str,
        RemotePath(),
        Field(
            min_length=1,
            max_length=PATH_MAX,
            description="Compose file (absolute or ~/).",
            json_schema_extra=field_details(CONFINED, listed=False),
        ),
    ]
    project: Annotated[Project, Field(None, description="Default: the file's directory.")] = None
    services: Services


class ComposeLogsInput(ComposeInput):
    tail: Annotated[int, bounded(1, 100_000)] = Field(200, description="Lines per service.")


class ComposeDownInput(ComposeInput):
    volumes: bool = Field(False, description="Remove its named volumes too.")


async def _run(
    ctx: ToolContext,
    prefix: list[str],
    args: ComposeInput,
    *sub: str,
    checked: bytes | None = None,
) -> ProcessResult:
    """Run compose on the file, or with ``checked`` on that configuration, fed on stdin.
    From stdin, v1 takes the project directory (relative paths, ``.env``, the default
    project name) from its working directory and ignores ``--project-directory``, which v2
    takes: both are the file's directory, as when compose reads the file."""
    where = posixpath.dirname(args.file)
    argv = [*prefix, "--file", args.file]
    if checked is not None:
        argv = [*prefix, "--file", "-", "--project-directory", where]
    argv += ["--project-name", args.project] if args.project else []
    argv += sub
    result = await ctx.run(
        argv,
        timeout=ctx.command_timeout,
        stdin=checked,
        cwd=where if checked is not None else None,
    )
    if result.exit_code == 127:
        raise RemoteError(
            f"compose is not installed on the host: `{' '.join(docker_argv(ctx, 'compose'))}` "
            f"(v2) does not answer and `{' '.join(prefix)}` (v1) is not found; install either"
        )
    if result.exit_code != 0:
        raise failure(argv, result)
    return result


async def _compose(
    ctx: ToolContext, args: ComposeInput, *sub: str, services: bool = True
) -> DockerText:
    prefix = await compose_command(ctx)
    return text_result(await _run(ctx, prefix, args, *sub, *(args.services if services else [])))


def _refused(why: str) -> PolicyDenied:
    return PolicyDenied(
        f"ssh_docker_compose_up refused: {why}; the operator allows it with {rules.SETTING}=true"
    )


async def _check_project(ctx: ToolContext, prefix: list[str], args: ComposeInput) -> bytes:
    """The project's configuration, checked: compose's own normalized configuration
    (extends, overrides and variables resolved) is refused when it gives a container the
    host, as ssh_docker_run would, every bind source resolved on the host too; or when
    reading it again would look variables up again (DECISIONS.md 84). The text returned
    is the one checked, for ``up`` to run."""
    v2 = prefix == docker_argv(ctx, "compose")
    result = await _run(ctx, prefix, args, "config", *(["--format", "json"] if v2 else []))
    if result.stdout.truncated:
        raise _refused("its configuration passed SSH_STDOUT_CAP_BYTES and cannot be checked")
    text = decode(result.stdout)
    try:
        config = rules.compose_config(text)
    except ValueError as exc:
        raise _refused(str(exc)) from None
    if (why := rules.compose_refusal(config) or rules.compose_reread_refusal(config)) is not None:
        raise _refused(why)
    binds = rules.compose_binds(config)
    if binds:
        for (who, _), source in zip(binds, await resolved(ctx, [p for _, p in binds]), strict=True):
            if (reason := rules.bind_refusal(source)) is not None:
                raise _refused(f"{who}: a bind mount {reason} (symlinks followed)")
    return text.encode()


async def compose_up(ctx: ToolContext, args: ComposeInput) -> DockerText:
    prefix = await compose_command(ctx)
    up = ("up", "--detach", *args.services)
    if ctx.limits.docker_run_privileged:  # the operator's leave: nothing to check, the file
        return text_result(await _run(ctx, prefix, args, *up))
    # The checked text, not the file: a file rewritten since the check is not read again.
    checked = await _check_project(ctx, prefix, args)
    return text_result(await _run(ctx, prefix, args, *up, checked=checked))


def _handler(*sub: str) -> Callable[[ToolContext, ComposeInput], Awaitable[DockerText]]:
    async def run(ctx: ToolContext, args: ComposeInput) -> DockerText:
        return await _compose(ctx, args, *sub)

    return run


async def compose_logs(ctx: ToolContext, args: ComposeLogsInput) -> DockerText:
    return await _compose(ctx, args, "logs", "--no-color", "--tail", str(args.tail))


async def compose_down(ctx: ToolContext, args: ComposeDownInput) -> DockerText:
    extra = ["--volumes"] if args.volumes else []
    return await _compose(ctx, args, "down", "--remove-orphans", *extra, services=False)


LOW, DANGER = Tier.LOW_ACCESS, Tier.DANGEROUS
TOOLS = (
    text_tool(
        "ssh_docker_compose_ps",
        "Compose ps",
        "List a compose project's containers.",
        Tier.READ,
        ComposeInput,
        _handler("ps"),
        READS,
    ),
    text_tool(
        "ssh_docker_compose_logs",
        "Compose logs",
        "Return a compose project's newest log lines.",
        Tier.READ,
        ComposeLogsInput,
        compose_logs,
        READS,
    ),
    text_tool(
        "ssh_docker_compose_start",
        "Compose start",
        "Start a compose project's stopped services.",
        LOW,
        ComposeInput,
        _handler("start"),
        CHANGES_IDEMPOTENT,
    ),
    text_tool(
        "ssh_docker_compose_stop",
        "Compose stop",
        "Stop a compose project's services.",
        LOW,
        ComposeInput,
        _handler("stop"),
        CHANGES_IDEMPOTENT,
    ),
    text_tool(
        "ssh_docker_compose_restart",
        "Compose restart",
        "Restart a compose project's services.",
        LOW,
        ComposeInput,
        _handler("restart"),
        CHANGES,
    ),
    text_tool(
        "ssh_docker_compose_up",
        "Compose up",
        "Create and start a compose project, detached.",
        DANGER,
        ComposeInput,
        compose_up,
        CHANGES,
        details="Refused unless SSH_DOCKER_RUN_PRIVILEGED=true: a service with what "
        "ssh_docker_run refuses (privileged, cap_add, devices, security_opt, host namespaces, "
        "bind mounts of /, the docker socket or system directories, secret and config files "
        "included, symlinks resolved; volumes_from), read "
        "from compose's own normalized configuration of the file. All services are checked, and "
        "up runs that checked configuration (on stdin), not the file read again.",
    ),
    text_tool(
        "ssh_docker_compose_down",
        "Compose down",
        "Stop and remove a compose project's containers and networks.",
        DANGER,
        ComposeDownInput,
        compose_down,
        CHANGES,
    ),
    text_tool(
        "ssh_docker_compose_pull",
        "Compose pull",
        "Pull a compose project's images.",
        DANGER,
        ComposeInput,
        _handler("pull"),
        CHANGES_IDEMPOTENT,
    ),
)
