"""Dangerous tier, group ``docker``: run a command in a container, start a new container, and
copy files between a container and the host.

The command text of ssh_docker_exec and ssh_docker_run is agent command text: dispatch puts
it through the command policy, deny patterns and confirmation as for ssh_exec_run, and a host
with ``exec = false`` refuses it. It runs under the container's ``sh -c``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

import ssh_mcp.policy.docker as rules
from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import (
    CHANGES,
    HOST,
    CommandText,
    RemotePath,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import OperationTimeout, PolicyDenied
from ssh_mcp.tools._fields import CONFINED, PATH_MAX, command_field, field_details, timeout_field
from ssh_mcp.tools.docker._common import (
    Container,
    DockerExec,
    DockerText,
    Image,
    MaybeContainer,
    docker,
    docker_argv,
    exec_result,
    failure,
    render_text,
    resolved,
    text_result,
)
from ssh_mcp.tools.docker._common import (
    details as docker_details,
)
from ssh_mcp.tools.docker._exec import exec_argv, new_mark, stop_exec

_COMMAND = "Shell command for sh -c inside; the command allowlist applies."


class DockerExecInput(StrictInput):
    host: str = HOST
    container: Container
    command: Annotated[str, CommandText(), command_field(_COMMAND)]
    timeout: float | None = timeout_field("Seconds before it is stopped.")


async def docker_exec(ctx: ToolContext, args: DockerExecInput) -> DockerExec:
    mark = new_mark()
    timeout = args.timeout or ctx.command_timeout
    try:
        result = await ctx.run(exec_argv(ctx, args.container, mark, args.command), timeout=timeout)
    except BaseException:  # a cancel or a lost connection: the command may still run inside
        await stop_exec(ctx, args.container, mark)
        raise
    if result.timed_out:
        how = await stop_exec(ctx, args.container, mark)
        raise OperationTimeout(f"ssh_docker_exec timed out after {timeout:g} s; {how}")
    return exec_result(result)


def _env_line(name: str, value: str) -> str:
    rules.check(rules.ENV_NAME, name, "environment variable name")
    if any(c in value for c in "\0\n\r"):
        raise ValueError("environment values must be one line")
    return f"{name}={value}\n"


def _check_env(env: dict[str, str] | None) -> dict[str, str] | None:
    for name, value in (env or {}).items():
        _env_line(name, value)
    return env


Env = Annotated[
    dict[str, str] | None,
    Field(None, description="Environment (sent over stdin)."),
    AfterValidator(_check_env),
]


class DockerRunInput(StrictInput):
    host: str = HOST
    image: Image
    name: MaybeContainer = Field(None, description="Container name.")
    command: Annotated[
        str | None,
        CommandText(),
        Field(None, min_length=1, max_length=65536, description="Shell command; default: image's."),
    ]
    options: list[Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=list,
        max_length=100,
        description='Options as argv, e.g. ["-p","127.0.0.1:80:80"].',
    )
    env: Env = None


async def docker_run(ctx: ToolContext, args: DockerRunInput) -> DockerText:
    allowed = ctx.limits.docker_run_privileged
    try:
        opts = rules.run_options(args.options, privileged_ok=allowed)
    except ValueError as exc:
        raise PolicyDenied(f"ssh_docker_run: {exc}") from None
    if opts.bind_sources and not allowed:
        for source in await resolved(ctx, opts.bind_sources):
            if (why := rules.bind_refusal(source)) is not None:
                raise PolicyDenied(
                    f"refused: a bind mount {why}; the operator allows it with {rules.SETTING}=true"
                )
    argv = ["run", "--detach", *opts.argv]
    argv += ["--name", args.name] if args.name else []
    stdin = None
    if args.env:
        argv += ["--env-file", "/dev/stdin"]
        stdin = "".join(_env_line(k, v) for k, v in args.env.items()).encode()
    argv += ["--entrypoint", "sh"] if args.command else []
    argv += ["--", args.image, *(["-c", args.command] if args.command else [])]
    return text_result(await docker(ctx, *argv, stdin=stdin))


class DockerCpInput(StrictInput):
    host: str = HOST
    container: Container
    in_container: Annotated[
        str,
        Field(min_length=1, max_length=PATH_MAX, description="Absolute path inside."),
        AfterValidator(rules.container_path),
    ]
    host_path: Annotated[
        str,
        RemotePath(create=True),
        Field(
            min_length=1,
            max_length=PATH_MAX,
            description="Host path (absolute or ~/).",
            json_schema_extra=field_details(CONFINED, listed=False),
        ),
    ]
    direction: Literal["to_host", "to_container"] = Field(description="Which way.")


async def docker_cp(ctx: ToolContext, args: DockerCpInput) -> DockerText:
    inside = f"{args.container}:{args.in_container}"
    ends = [inside, args.host_path] if args.direction == "to_host" else [args.host_path, inside]
    argv = docker_argv(ctx, "cp", "--", *ends)
    result = await ctx.run(argv)
    if result.exit_code != 0:
        raise failure(argv, result)
    return text_result(result)


TOOLS = (
    ToolSpec(
        name="ssh_docker_exec",
        title="Run a command in a container",
        description="Run a shell command in a running container; a non-zero exit_code is a "
        "result, not an error.",
        details=docker_details(
            "On timeout (an error) or cancel, the command's processes inside the container, "
            "found by the SSH_MCP_EXEC_ID mark in their environment, get TERM, then KILL "
            "through a second docker exec; one that clears its environment escapes that."
        ),
        tier=Tier.DANGEROUS,
        group=Group.DOCKER,
        input=DockerExecInput,
        output=DockerExec,
        annotations=CHANGES,
        handler=docker_exec,
        render=render_text,
    ),
    ToolSpec(
        name="ssh_docker_run",
        title="Run a new container",
        description="Start a container from an image, detached; returns its id.",
        details=docker_details(
            "Refused unless SSH_DOCKER_RUN_PRIVILEGED=true: --privileged, --cap-add, "
            "--device, --security-opt, --network/--pid/--ipc/--uts/--userns/--cgroupns=host, and "
            "bind mounts of /, the docker socket or system directories (/etc, /root, /proc, /sys, "
            "/dev, /run, /usr...), symlinks resolved. Options outside a known list are refused. "
            "env values travel over stdin (--env-file /dev/stdin), never on a command line."
        ),
        tier=Tier.DANGEROUS,
        group=Group.DOCKER,
        input=DockerRunInput,
        output=DockerText,
        annotations=CHANGES,
        handler=docker_run,
        render=render_text,
    ),
    ToolSpec(
        name="ssh_docker_cp",
        title="Copy to or from a container",
        description="Copy a file or directory between a container and the host.",
        details=docker_details("The host path is confined by the path allowlist."),
        tier=Tier.DANGEROUS,
        group=Group.DOCKER,
        input=DockerCpInput,
        output=DockerText,
        annotations=CHANGES,
        handler=docker_cp,
        render=render_text,
    ),
)
