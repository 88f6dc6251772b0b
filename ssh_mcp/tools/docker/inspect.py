"""Read tier, group ``docker``: ``docker inspect`` with secrets masked.

Environment values are secrets until shown otherwise: every ``Env`` value is replaced, the
name kept. So is any string under a key named like a secret (``password``, ``token``, the
rules of ``ssh_read_redacted``), and command lines (``Cmd``, ``Entrypoint``, ``Args``) and
label values go through ``ssh_read_redacted``'s text redaction. The markers are the same
keyed ``[REDACTED:hmac-sha256:…]``, so equal values match across both tools in one run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import HOST, READS, Output, StrictInput, ToolContext, ToolSpec
from ssh_mcp.errors import CapExceeded
from ssh_mcp.tools._text import decode
from ssh_mcp.tools.docker._common import DockerObjects, docker
from ssh_mcp.tools.docker._common import details as docker_details
from ssh_mcp.tools.sftp_read._redact import PROCESS_KEY, marker, redact, secret_label

_COMMAND_KEYS = {"Cmd", "Entrypoint", "Args", "Test"}


@dataclass
class _Count:
    key: bytes
    count: int = 0
    kinds: dict[str, None] = field(default_factory=dict)

    def mask(self, value: str, kind: str) -> str:
        self.count += 1
        self.kinds[kind] = None
        return marker(value, self.key)

    def text(self, value: str) -> str:
        found = redact(value, self.key)
        self.count += found.count
        self.kinds.update(dict.fromkeys(found.kinds))
        return found.text


def _env(items: list[Any], sink: _Count) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, str) and "=" in item:
            name, value = item.split("=", 1)
            out.append(f"{name}={sink.mask(value, 'env') if value else ''}")
        else:
            out.append(item)
    return out


def _label(name: str, value: Any, sink: _Count) -> Any:
    if not isinstance(value, str) or not value:
        return value
    label = secret_label(name)
    return sink.mask(value, f"key:{label}") if label else sink.text(value)


def _walk(node: Any, sink: _Count, key: str = "") -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            label = secret_label(k)
            if k == "Env" and isinstance(v, list):
                out[k] = _env(v, sink)
            elif label is not None and isinstance(v, str) and v:
                out[k] = sink.mask(v, f"key:{label}")
            elif k == "Labels" and isinstance(v, dict):
                out[k] = {lk: _label(lk, lv, sink) for lk, lv in v.items()}
            else:
                out[k] = _walk(v, sink, k)
        return out
    if isinstance(node, list):
        return [_walk(v, sink, key) for v in node]
    if isinstance(node, str) and key in _COMMAND_KEYS:
        return sink.text(node)
    return node


def redact_inspect(
    objects: list[Any], key: bytes = PROCESS_KEY
) -> tuple[list[Any], int, tuple[str, ...]]:
    """``docker inspect``'s objects with secrets masked, how many, and their kinds."""
    sink = _Count(key)
    out = [_walk(obj, sink) for obj in objects]
    return out, sink.count, tuple(sink.kinds)


class InspectInput(StrictInput):
    host: str = HOST
    names: Annotated[DockerObjects, Field(min_length=1, max_length=50, description="Names or ids.")]
    type: Literal["container", "image", "volume", "network"] = Field(
        "container", description="What names are."
    )


class Inspected(Output):
    objects: list[dict[str, Any]] = Field(description="docker inspect's objects, secrets masked.")
    redactions: int = Field(description="Values replaced by [REDACTED:hmac-sha256:<12 hex>].")
    kinds: list[str] = Field(description="Kinds replaced: env, key:<name>, token:<kind>...")


async def inspect(ctx: ToolContext, args: InspectInput) -> Inspected:
    result = await docker(ctx, "inspect", "--type", args.type, "--", *args.names)
    if result.stdout.truncated:
        raise CapExceeded(
            "docker inspect printed more than SSH_STDOUT_CAP_BYTES; inspect fewer names"
        )
    objects = json.loads(decode(result.stdout))
    masked, count, kinds = redact_inspect(objects if isinstance(objects, list) else [objects])
    return Inspected(objects=masked, redactions=count, kinds=list(kinds))


def render(out: Inspected) -> str:
    head = f"{out.redactions} value(s) masked ({', '.join(out.kinds) or 'none'})"
    return head + "\n" + json.dumps(out.objects, indent=1)


TOOLS = (
    ToolSpec(
        name="ssh_docker_inspect",
        title="Inspect docker objects",
        description="Return docker inspect's JSON, every Env value and secret masked.",
        details=docker_details(
            "Env values are all masked, names kept. So are strings under keys named like a "
            "secret (password, token, api_key...), and secrets found in Cmd, Entrypoint, Args "
            "and label values, with ssh_read_redacted's rules and markers. There is no switch "
            "to unmask: the values never leave the server."
        ),
        tier=Tier.READ,
        group=Group.DOCKER,
        input=InspectInput,
        output=Inspected,
        annotations=READS,
        handler=inspect,
        render=render,
        audit_fields=("redactions",),
    ),
)
