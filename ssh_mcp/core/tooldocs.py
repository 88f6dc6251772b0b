"""TOOLS.md, generated from the registry; CI fails when the committed copy is stale.

It says everything about each tool: the description tools/list sends, then the tool's and
its fields' ``details``, which tools/list leaves out to stay cheap (DECISIONS.md 60). One
tool's section (:func:`tool_doc`) is also served alone, as the resource
``ssh-mcp://tools/{name}``, so the text a model reads there is TOOLS.md's.
"""

from __future__ import annotations

from typing import Any

from ssh_mcp.core.schema import DETAILS
from ssh_mcp.core.spec import EVERY_MODE, SEARCH_ONLY, ToolSpec
from ssh_mcp.tools import ALL_TOOLS

_FLAGS = {
    "read": "always open",
    "low-access": "ALLOW_LOW_ACCESS_TOOLS=true",
    "dangerous": "ALLOW_DANGEROUS_TOOLS=true",
    "sudo": "ALLOW_DANGEROUS_TOOLS=true and ALLOW_SUDO=true",
}

#: What TOOLS.md says of a tool listed other than in full mode only (DECISIONS.md 62).
_MODES = {
    EVERY_MODE: " Listed in search mode (`SSH_TOOL_MODE=search`) too.",
    SEARCH_ONLY: " Only in search mode (`SSH_TOOL_MODE=search`), whatever "
    "`SSH_ENABLED_GROUPS` says.",
}

#: What holds for every tool, said once here (tools/list: once, in ssh_host_list's description).
CONVENTIONS = (
    "What every tool has in common:",
    "",
    "- `host` (and `src_host`, `dst_host`, `hosts`): an alias from hosts.toml "
    "(see `ssh_host_list`), or a hostname that SSH_HOSTS_ALLOWLIST admits.",
    "- A remote path is absolute or starts with `~/`. Symlinks are resolved (the final one "
    "too, unless the tool says it acts on a link itself), and the result must lie inside "
    "the host's path allowlist and outside its restricted zones.",
    "- `cwd` is confined like any path; the command allowlist applies to the command, not "
    "to `cwd`. Default: the login user's home.",
    "- Every field of a result is always present; tools/list sends result schemas without "
    "field descriptions, which are given here.",
)


def _type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list[{_type(schema.get('items', {}))}]"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    return str(schema.get("type", "any"))


def _fields(model: type[Any], inputs: bool) -> list[str]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        text = " ".join(str(prop[k]) for k in ("description", DETAILS) if prop.get(k))
        desc = text.replace("|", "\\|").replace("\n", " ")
        if inputs:
            default = "required" if name in required else f"`{prop.get('default')!r}`"
            rows.append(f"| `{name}` | {_type(prop)} | {default} | {desc} |")
        else:
            rows.append(f"| `{name}` | {_type(prop)} | {desc} |")
    return rows


def _tool(spec: ToolSpec[Any, Any]) -> list[str]:
    a = spec.annotations
    hints = ", ".join(
        name
        for name, on in (
            ("readOnly", a.read_only),
            ("destructive", a.destructive),
            ("idempotent", a.idempotent),
            ("openWorld", a.open_world),
        )
        if on
    )
    lines = [
        f"## `{spec.name}`: {spec.title}",
        "",
        f"Tier **{spec.tier.value}** ({_FLAGS[spec.tier.value]}), group **{spec.group.value}**. "
        f"Hints: {hints or 'none'}.{_MODES.get(spec.listed_in, '')}",
        "",
        spec.description,
        "",
    ]
    if spec.details:
        lines += [spec.details, ""]
    inputs = _fields(spec.input, inputs=True)
    if inputs:
        lines += ["| argument | type | default | description |", "|---|---|---|---|", *inputs, ""]
    else:
        lines += ["No arguments.", ""]
    lines += ["Returns:", "", "| field | type | description |", "|---|---|---|"]
    lines += [*_fields(spec.output, inputs=False), ""]
    return lines


def tool_doc(spec: ToolSpec[Any, Any]) -> str:
    """One tool's TOOLS.md section, exactly as TOOLS.md has it."""
    return "\n".join(_tool(spec)).rstrip("\n") + "\n"


def render_tools_md(tools: tuple[ToolSpec[Any, Any], ...] = ALL_TOOLS) -> str:
    """The whole TOOLS.md text."""
    out = [
        "# Tools",
        "",
        "Generated from the tool registry by `ssh-mcp docs`; do not edit by hand. "
        "CI runs `ssh-mcp docs --check`.",
        "",
        *CONVENTIONS,
        "",
        "| tool | tier | group | title |",
        "|---|---|---|---|",
    ]
    out += [f"| `{t.name}` | {t.tier.value} | {t.group.value} | {t.title} |" for t in tools]
    out.append("")
    for spec in tools:
        out += _tool(spec)
    return "\n".join(out).rstrip("\n") + "\n"
