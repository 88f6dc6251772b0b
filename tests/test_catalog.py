"""tools/list stays cheap: a byte budget, and schemas compacted without changing what they admit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from harness import make_settings, refused, serve
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from pydantic import BaseModel, Field

from ssh_mcp.core.access import ToolMode
from ssh_mcp.core.schema import (
    NAME_SAYS,
    UNLISTED,
    compact,
    input_schema,
    obvious_default,
    output_schema,
)
from ssh_mcp.core.spec import ToolSpec
from ssh_mcp.tools import ALL_TOOLS

#: Average bytes per tool of tools/list, every tier and group open, as compact JSON (issue 10).
AVERAGE_BUDGET = 700
#: Bytes any one tool may take.
PER_TOOL_CEILING = 1_200
IDS = [t.name for t in ALL_TOOLS]
#: What full mode lists: every tool but search mode's own (ssh_tool_search, ...).
FULL = [t.name for t in ALL_TOOLS if ToolMode.FULL in t.listed_in]
#: Bytes of the whole search-mode tools/list, every tier open (issue 10).
SEARCH_LISTING_BUDGET = 8 * 1024
#: Values of every JSON type, and strings around the length limits tools declare.
PROBES: list[Any] = [
    *(None, True, 0, -1, 7, 1.5, 3601, "", "x", "0644", [], ["a"], {}),
    *("a" * n for n in (65, 254, 256, 4097, 65537)),
]

#: Where an input schema in tools/list may differ from pydantic's, and why a model loses
#: nothing by it (DECISIONS.md 60): the keyword, which of its values, and the reason. The
#: server validates with pydantic's model, so it still refuses each, naming the limit.
ALLOWED_DIFFERENCES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "minLength": (lambda v: v == 1, "no model sends an empty host, path or command"),
    "maxLength": (lambda v: v >= 253, "no model writes a hostname, path or command that long"),
    "minimum": (lambda v: v == 0, "no model sends a negative offset or wait"),
    "exclusiveMinimum": (lambda v: v == 0, "no model sends a timeout of zero or less"),
    "null": (
        lambda v: True,
        "an optional argument whose default is null is omitted, not sent as null "
        "(which the server still accepts)",
    ),
    "additionalProperties": (
        lambda v: v is False,
        "on the arguments object: an unknown argument is refused by name",
    ),
    "default": (
        obvious_default,
        "false or 0 is what a caller assumes of an omitted flag or offset (checked apart: a "
        "default does not change what a schema admits)",
    ),
}
_SAID_BY_HOST_LIST = "ssh_host_list's description says it once for every tool"
_SAID_BY_TOOL = "its tool's description says what it is or names it"
_NAME_SAYS = "its name and type say it"
#: Input fields tools/list sends without their description, and where a model reads it
#: (DECISIONS.md 60, 67). TOOLS.md keeps every description.
UNDESCRIBED = {
    "host": "ssh_host_list's description says its aliases are what host takes",
    "src_host": "the same alias as host, as ssh_transfer's description says",
    "dst_host": "ssh_transfer's description names it beside src_host",
    **dict.fromkeys(("path", "src_path", "dst_path", "cwd", "timeout"), _SAID_BY_HOST_LIST),
    **dict.fromkeys(
        (
            "local_path",
            "target_path",
            "link_path",
            "content_text",
            "content_base64",
            "overwrite",
            "recursive",
            "dry_run",
            "parents",
            "symbolic",
            "new_string",
            "occurrence",
            "unified_diff",
            "signal",
            "command",
            "hosts",
            "group",
            "text",
        ),
        _SAID_BY_TOOL,
    ),
    **dict.fromkeys(
        ("offset", "limit", "mode", "job_id", "session_id", "kind", "max_depth", "algorithm"),
        _NAME_SAYS,
    ),
    # The docker tools: names and references of the objects their tool names.
    **dict.fromkeys(("container", "names", "image", "images"), _SAID_BY_TOOL),
    **dict.fromkeys(("host_path", "file"), _SAID_BY_HOST_LIST),
}


def size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


async def _listed(tmp_path: Path, mode: ToolMode = ToolMode.FULL) -> list[dict[str, Any]]:
    settings = make_settings(
        tmp_path,
        "",
        tmp_path / "known_hosts",
        allow_low_access_tools=True,
        allow_dangerous_tools=True,
        allow_sudo=True,
        ssh_tool_mode=mode,
    )
    async with serve(settings) as (client, _app):
        tools = (await client.list_tools()).tools
    return [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in tools]


@pytest.mark.anyio
async def test_tools_list_stays_within_its_byte_budget(tmp_path: Path) -> None:
    tools = await _listed(tmp_path)
    assert [t["name"] for t in tools] == FULL, "every tool is listed"
    average = size(tools) / len(tools)
    assert average <= AVERAGE_BUDGET, f"tools/list averages {average:.0f} B per tool"
    over = {t["name"]: size(t) for t in tools if size(t) > PER_TOOL_CEILING}
    assert not over, f"over {PER_TOOL_CEILING} B: {over}"


@pytest.mark.anyio
async def test_every_entry_keeps_title_annotations_and_both_schemas(tmp_path: Path) -> None:
    by_name = {t.name: t for t in ALL_TOOLS}
    for tool in await _listed(tmp_path):
        spec = by_name[tool["name"]]
        assert tool["title"] == spec.title and tool["description"] == spec.description
        assert tool["inputSchema"]["type"] == "object" == tool["outputSchema"]["type"]
        hints = tool["annotations"]
        # A hint left out means MCP's default: not read-only, destructive, not idempotent,
        # open-world.
        assert hints.get("readOnlyHint", False) is spec.annotations.read_only
        if not spec.annotations.read_only:
            assert hints.get("destructiveHint", True) is spec.annotations.destructive
            assert hints.get("idempotentHint", False) is spec.annotations.idempotent
        assert hints.get("openWorldHint", True) is spec.annotations.open_world
        text = json.dumps(tool)
        assert '"details"' not in text and (not spec.details or spec.details not in text)


@pytest.mark.anyio
async def test_search_mode_lists_a_small_fixed_set_within_8_kb(tmp_path: Path) -> None:
    tools = await _listed(tmp_path, ToolMode.SEARCH)
    names = [t["name"] for t in tools]
    assert names == [
        "ssh_host_list",
        "ssh_host_ping",
        "ssh_tool_search",
        "ssh_tool_describe",
        "ssh_tool_call",
    ]
    assert size(tools) <= SEARCH_LISTING_BUDGET, f"search mode lists {size(tools)} B"


def _keys(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    own = set(node) - {"properties"}
    subs = list(node.values()) if "properties" not in node else list(node["properties"].values())
    subs += [v for k, v in node.items() if k != "properties"]
    return own | set().union(*(_keys(v) for v in subs))


@pytest.mark.parametrize("spec", ALL_TOOLS, ids=IDS)
def test_schemas_drop_what_tells_a_model_nothing(spec: ToolSpec[Any, Any]) -> None:
    inp, out = input_schema(spec.input), output_schema(spec.output)
    assert not _keys(inp) & {"title", "details"}
    assert not _keys(out) & {"title", "details", "description", "required"}
    for schema in (inp, out):
        assert '{"type": "null"}' not in json.dumps(schema), "nullable types are type lists"
    full = spec.input.model_json_schema()["properties"]
    for name, prop in inp["properties"].items():
        unlisted = any(full[name].get(marker) for marker in UNLISTED)
        assert not unlisted or name in UNDESCRIBED, f"{name} needs a reason in UNDESCRIBED"
        assert bool(prop.get("description")) is not unlisted, f"input field {name}'s description"


def _agree(full: dict[str, Any], compact: dict[str, Any], where: str) -> None:
    """Both schemas accept and refuse the same probe values, field by field."""
    full_defs, compact_defs = full.get("$defs", {}), compact.get("$defs", {})
    assert list(full["properties"]) == list(compact["properties"]), where
    for name, prop in full["properties"].items():
        a = Draft202012Validator({"$defs": full_defs, **prop})
        b = Draft202012Validator({"$defs": compact_defs, **compact["properties"][name]})
        for probe in PROBES:
            assert a.is_valid(probe) == b.is_valid(probe), f"{where}.{name} on {probe!r}"


def _allowed(full: dict[str, Any]) -> dict[str, Any]:
    """pydantic's input schema less ALLOWED_DIFFERENCES, written out apart from schema.py's
    own rules, so that a difference nobody listed fails the test."""

    def dropped(key: str, value: Any) -> bool:
        rule = ALLOWED_DIFFERENCES.get(key)
        return rule is not None and not isinstance(value, dict) and rule[0](value)

    def loosen(node: Any) -> Any:
        if isinstance(node, list):
            return [loosen(v) for v in node]
        if not isinstance(node, dict):
            return node
        return {
            k: v if k in ("enum", "default", "const") else loosen(v)
            for k, v in node.items()
            if not dropped(k, v)
        }

    props = {}
    for name, prop in full["properties"].items():
        prop = loosen(prop)
        optional = name not in full.get("required", [])
        if "null" in ALLOWED_DIFFERENCES and optional and prop.get("default", 0) is None:
            branches = [b for b in prop.pop("anyOf", [prop]) if b != {"type": "null"}]
            prop = {**prop, **branches[0]}
        props[name] = prop
    rest = {k: loosen(v) for k, v in full.items() if k != "properties" and not dropped(k, v)}
    return {**rest, "properties": props}


@pytest.mark.parametrize("spec", ALL_TOOLS, ids=IDS)
def test_compact_schemas_admit_exactly_what_pydantic_s_admit(spec: ToolSpec[Any, Any]) -> None:
    full_in = spec.input.model_json_schema()
    _agree(full_in, compact(full_in), spec.input.__name__)
    _agree(_allowed(full_in), input_schema(spec.input), spec.input.__name__)
    assert input_schema(spec.input).get("required", []) == full_in.get("required", [])
    sent = input_schema(spec.input)["properties"]
    for name, prop in full_in["properties"].items():
        default = prop.get("default")
        if default is None or ALLOWED_DIFFERENCES["default"][0](default):
            assert "default" not in sent[name], f"{name}'s default {default!r} is implied"
        else:
            assert sent[name]["default"] == default, f"{name}'s default is sent as it is"
    assert full_in.get("additionalProperties") is False, "the server refuses unknown arguments"
    assert "additionalProperties" not in input_schema(spec.input)
    _agree(spec.output.model_json_schema(), output_schema(spec.output), spec.output.__name__)


def test_compact_keeps_shared_definitions_and_rewrites_only_schema_keywords() -> None:
    class Part(BaseModel):
        title: str = Field(description="A field named title stays.")

    class Whole(BaseModel):
        a: Part
        b: Part | None = None
        kind: Literal["x", "y"] | None = None
        tags: list[str] = Field(
            default=["keep"], description="d", json_schema_extra={"details": "long"}
        )
        limit: int = Field(5, description="Said by its name.", json_schema_extra={NAME_SAYS: True})

    out = compact(Whole.model_json_schema())
    assert out["$defs"]["Part"]["properties"]["title"] == {
        "description": "A field named title stays.",
        "type": "string",
    }
    assert out["properties"]["a"] == {"$ref": "#/$defs/Part"}
    assert out["properties"]["b"] == {"anyOf": [{"$ref": "#/$defs/Part"}, {"type": "null"}]}
    assert out["properties"]["kind"] == {"enum": ["x", "y", None]}, "an enum implies its type"
    assert out["properties"]["tags"] == {
        "default": ["keep"],
        "description": "d",
        "items": {"type": "string"},
        "type": "array",
    }
    assert out["properties"]["limit"] == {"default": 5, "type": "integer"}, "name_says: no text"
    _agree(Whole.model_json_schema(), out, "Whole")


@pytest.mark.anyio
async def test_the_server_still_refuses_what_tools_list_leaves_out(tmp_path: Path) -> None:
    """Each ALLOWED_DIFFERENCES limit is enforced at the call, before any host is reached,
    by a one-line error that names the argument."""
    settings = make_settings(
        tmp_path, "", tmp_path / "known_hosts", allow_dangerous_tools=True, allow_sudo=True
    )
    calls: list[tuple[str, dict[str, Any], str]] = [
        ("ssh_exec_run", {"host": "", "command": "true"}, "host"),
        ("ssh_exec_run", {"host": "h" * 254, "command": "true"}, "host"),
        ("ssh_exec_run", {"host": "h", "command": ""}, "command"),
        ("ssh_exec_run", {"host": "h", "command": "x" * 65537}, "command"),
        ("ssh_exec_run", {"host": "h", "command": "true", "timeout": 0}, "timeout"),
        ("ssh_exec_run", {"host": "h", "command": "true", "cwd": "/" + "d" * 4096}, "cwd"),
        ("ssh_job_status", {"job_id": "j" + "0" * 16, "since_offset": -1}, "since_offset"),
        ("ssh_sftp_list", {"host": "h", "path": "/", "bogus": 1}, "bogus"),
    ]
    async with serve(settings) as (client, _app):
        for tool, args, name in calls:
            await refused(client, tool, args, name)
