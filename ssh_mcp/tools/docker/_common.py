"""What the docker tools share: the host's docker command, name fields, and the result shapes.

Every tool runs the host's ``docker_cmd`` (hosts.toml, default ``docker``) with a fixed
subcommand and validated operands after ``--``, through ``ctx.run(argv)`` (shlex-joined).
Those are the tool's own argv, not agent command text; only ssh_docker_exec and
ssh_docker_run carry agent commands, and those go through the command policy.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, Field

import ssh_mcp.policy.docker as rules
from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import ProcessResult
from ssh_mcp.core.spec import Annotations, Name, Output, StrictInput, ToolContext, ToolSpec
from ssh_mcp.errors import PolicyDenied, RemoteError
from ssh_mcp.tools._fields import UNLISTED
from ssh_mcp.tools._hygiene import clean
from ssh_mcp.tools._text import decode

# The grammar bounds the length; max_length only bounds what is parsed at all (a limit this
# long is not sent in tools/list: core/schema.py). Dispatch checks each name against its
# kind's rule in policy/names.py (DECISIONS.md 70), a list item by item.
_Bounded = Annotated[str, Field(max_length=512)]

#: Container, volume or network names, or image references (ssh_docker_inspect).
DockerObjects = Annotated[list[_Bounded], Name("docker_object")]

#: One container, by name or id.
Container = Annotated[
    _Bounded,
    Name("container"),
    Field(description="Container name or id.", json_schema_extra=UNLISTED),
]
#: An optional container (a filter); the marker must sit outside the ``| None``.
MaybeContainer = Annotated[_Bounded | None, Name("container")]
MaybeImage = Annotated[_Bounded | None, Name("image")]
#: Several containers.
Containers = Annotated[
    list[_Bounded],
    Name("container"),
    Field(
        min_length=1,
        max_length=50,
        description="Container names or ids.",
        json_schema_extra=UNLISTED,
    ),
]
#: An image reference such as ``busybox:1.36`` or an image id.
Image = Annotated[
    _Bounded,
    Name("image"),
    Field(description="Image reference, e.g. nginx:1.25.", json_schema_extra=UNLISTED),
]
Images = Annotated[
    list[_Bounded],
    Name("image"),
    Field(min_length=1, max_length=50, description="Image references.", json_schema_extra=UNLISTED),
]
#: Compose services; empty means all of the project's.
Services = Annotated[
    list[_Bounded],
    Name("compose_service"),
    Field(default_factory=list, max_length=50, description="Services; empty: all."),
]
#: A compose project name.
Project = Annotated[_Bounded | None, Name("compose_project")]
#: docker's --since/--until time.
Since = Annotated[
    str | None,
    Field(None, description="Duration (10m) or RFC 3339 time."),
    AfterValidator(lambda v: v if v is None else rules.check(rules.TIME, v, "time")),
]


#: Every docker tool's TOOLS.md text ends with this (DECISIONS.md 79).
ROOT_NOTE = (
    "Whoever reaches the docker daemon (the docker group, or the host's docker_cmd) is root "
    "on that host; see CONFIGURATION.md, Containers and the docker group."
)


def details(text: str = "") -> str:
    """A docker tool's longer text, with the note that the docker group is root."""
    return f"{text} {ROOT_NOTE}".strip()


class DockerRows(Output):
    rows: list[dict[str, Any]] = Field(description="One object per item, docker's own fields.")
    truncated: bool = Field(description="True when output passed SSH_STDOUT_CAP_BYTES.")


class DockerText(Output):
    text: str = Field(
        description="docker's output, then [stderr] and its standard error (escapes removed)."
    )
    truncated: bool = Field(description="True when the output was cut (head and tail kept).")


class DockerExec(DockerText):
    exit_code: int | None = Field(description="Exit status; null when stopped or killed.")


def bounded(low: int, high: int) -> AfterValidator:
    """A range checked without schema keywords (tools/list stays small); the error says it."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}")
        return value

    return AfterValidator(check)


def docker_argv(ctx: ToolContext, *args: str) -> list[str]:
    """The host's docker command with ``args``."""
    host = ctx.host
    return [*(host.docker_cmd if host else ("docker",)), *args]


def failure(argv: list[str], result: ProcessResult) -> RemoteError:
    """docker's own error, one line, naming the subcommand."""
    err = " ".join(decode(result.stderr).split())[:300] or "no error text"
    status = "timed out" if result.timed_out else f"exit {result.exit_code}"
    return RemoteError(f"`{' '.join(argv[:3])}` failed on the host ({status}): {err}")


async def docker(
    ctx: ToolContext, *args: str, timeout: float | None = None, stdin: bytes | None = None
) -> ProcessResult:
    """Run docker with ``args``; a non-zero exit is the call's error."""
    argv = docker_argv(ctx, *args)
    result = await ctx.run(argv, timeout=timeout, stdin=stdin)
    if result.exit_code != 0:
        raise failure(argv, result)
    return result


async def resolved(ctx: ToolContext, paths: Sequence[str]) -> list[str]:
    """Host paths with symlinks followed (``realpath -m``), in order: a bind source that
    resolves into the host's root is refused like one that names it."""
    result = await ctx.run(["realpath", "-m", "--", *paths])
    lines = decode(result.stdout).splitlines()
    if result.exit_code != 0 or len(lines) != len(paths):
        raise PolicyDenied("refused: bind mount sources could not be resolved on the host")
    return lines


def rows(result: ProcessResult) -> DockerRows:
    """docker's ``--format '{{json .}}'`` lines as objects (a line cut by the cap is dropped)."""
    out: list[dict[str, Any]] = []
    for line in decode(result.stdout).splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return DockerRows(rows=out, truncated=result.stdout.truncated)


def text_result(result: ProcessResult, max_bytes: int | None = None) -> DockerText:
    """docker's output as cleaned text; ``max_bytes`` keeps only the newest bytes."""
    stdout = decode(result.stdout)
    cut = result.stdout.truncated
    if max_bytes is not None and len(stdout.encode()) > max_bytes:
        stdout = stdout.encode()[-max_bytes:].decode("utf-8", "ignore")
        cut = True
    text, warnings = clean(stdout, "stdout")
    stderr, err_warnings = clean(decode(result.stderr), "stderr")
    notes = (["[timed out]"] if result.timed_out else []) + [
        f"[warning] {w}" for w in warnings + err_warnings
    ]
    err = "\n".join([stderr.rstrip("\n"), *notes]).strip("\n")
    return DockerText(
        text="\n".join(p for p in (text.rstrip("\n"), "[stderr]", err) if p) if err else text,
        truncated=cut or result.stderr.truncated,
    )


def exec_result(result: ProcessResult) -> DockerExec:
    """``text_result`` with the exit status, for a command whose status is its result."""
    return DockerExec(**text_result(result).model_dump(), exit_code=result.exit_code)


def render_text(out: DockerText) -> str:
    code = getattr(out, "exit_code", 0)
    parts = [] if code == 0 else [f"[exit {code}]"]
    parts += [out.text.rstrip("\n")] if out.text else []
    if out.truncated:
        parts.append("[output truncated]")
    return "\n".join(parts) or "(no output)"


def render_rows(out: DockerRows) -> str:
    lines = [json.dumps(r, separators=(",", ":")) for r in out.rows]
    return "\n".join(lines + (["[output truncated]"] if out.truncated else [])) or "(none)"


_docker_details = details  # text_tool's parameter takes the name


def text_tool(
    name: str,
    title: str,
    description: str,
    tier: Tier,
    input: type[StrictInput],
    handler: Callable[[ToolContext, Any], Awaitable[DockerText]],
    annotations: Annotations,
    details: str = "",
) -> ToolSpec[Any, DockerText]:
    """A docker tool whose result is the CLI's text (lifecycle and compose changes)."""
    return ToolSpec(
        name=name,
        title=title,
        description=description,
        details=_docker_details(details),
        tier=tier,
        group=Group.DOCKER,
        input=input,
        output=DockerText,
        annotations=annotations,
        handler=handler,
        render=render_text,
    )
