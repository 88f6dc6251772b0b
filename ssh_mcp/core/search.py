"""What a client is told about a tool, and the ranking behind ``ssh_tool_search``.

:func:`entry` is a tool's tools/list entry as plain JSON (the MCP layer sends it as a
``Tool``, and ``ssh_tool_describe`` returns the same schemas and hints), so that a tool
described in search mode is exactly the tool listed in full mode. :func:`rank` is a small
lexical score over name, title, group and description (DECISIONS.md 62): catalogues here
are tens of tools, named by what they do, so words shared with the query rank them well
enough without a dependency.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from ssh_mcp.core.schema import DETAILS, input_schema, output_schema
from ssh_mcp.core.spec import Annotations, StrictInput, ToolSpec

#: The meta tool dispatch unwraps into a call of the tool it names (ssh_mcp.tools.search).
TOOL_CALL = "ssh_tool_call"


def tool_name_field() -> Any:
    return Field(min_length=1, max_length=128, description="Tool name, from ssh_tool_search.")


class CallInput(StrictInput):
    """The arguments of ``ssh_tool_call``, declared here because dispatch reads them."""

    name: str = tool_name_field()
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="The tool's arguments, as its input_schema from ssh_tool_describe says.",
    )


def hints(a: Annotations) -> dict[str, bool]:
    """The annotation hints as MCP names them, only where they differ from MCP's defaults
    (not read-only, destructive, not idempotent, open-world) (DECISIONS.md 60)."""
    out = {"readOnlyHint": True} if a.read_only else {}
    # The first two only mean anything for a tool that is not read-only.
    if not (a.read_only or a.destructive):
        out["destructiveHint"] = False
    if not a.read_only and a.idempotent:
        out["idempotentHint"] = True
    if not a.open_world:
        out["openWorldHint"] = False
    return out


def entry(spec: ToolSpec[Any, Any]) -> dict[str, Any]:
    """The tools/list entry of one declaration, as the wire spells it: the compact schemas
    of :mod:`ssh_mcp.core.schema`, the title once, and no ``details`` (TOOLS.md's)."""
    return {
        "name": spec.name,
        "title": spec.title,
        "description": spec.description,
        "inputSchema": input_schema(spec.input),
        "outputSchema": output_schema(spec.output),
        "annotations": hints(spec.annotations),
    }


def argument_notes(spec: ToolSpec[Any, Any]) -> dict[str, str]:
    """Each argument's full text, as TOOLS.md gives it: its description, including those
    tools/list leaves out (:data:`~ssh_mcp.core.schema.UNLISTED`), and its longer notes."""
    notes: dict[str, str] = {}
    for name, field in spec.input.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        more = extra.get(DETAILS)
        text = " ".join(t for t in (field.description, more) if isinstance(t, str) and t)
        if text:
            notes[name] = text
    return notes


def summary(description: str, limit: int = 160) -> str:
    """The first sentence of a description, cut to ``limit`` characters."""
    first = re.split(r"(?<=[.;:])\s", description.strip(), maxsplit=1)[0]
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


#: Words that say nothing about which tool is meant (every tool name starts with ssh_).
_STOP = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by do for from how i in is it me my of on or the this to use "
        "what with ssh tool tools",
    )
)
#: Where a word counts, and how much: the name says most, the description least.
_WEIGHTS = (("name", 6.0), ("title", 4.0), ("group", 3.0), ("description", 1.0))


def words(text: str) -> list[str]:
    """Lower-case words of ``text``; ``_`` and ``-`` separate words too."""
    return re.findall(r"[a-z0-9]+", text.lower())


def _matches(term: str, word: str) -> float:
    """1 for the same word; 0.5 when one begins the other (dir, directory; process,
    processes) and the shorter has at least 3 letters; else 0."""
    if term == word:
        return 1.0
    short, long_ = sorted((term, word), key=len)
    return 0.5 if len(short) >= 3 and long_.startswith(short) else 0.0


@dataclass(frozen=True)
class Hit:
    spec: ToolSpec[Any, Any]
    score: float


def score(spec: ToolSpec[Any, Any], terms: Iterable[str]) -> float:
    """The sum, over the query's terms, of each field's weight times its best match."""
    fields = {
        "name": words(spec.name),
        "title": words(spec.title),
        "group": words(spec.group.value),
        "description": words(spec.description),
    }
    total = 0.0
    for term in terms:
        for field, weight in _WEIGHTS:
            total += weight * max((_matches(term, w) for w in fields[field]), default=0.0)
    return total


def rank(specs: Iterable[ToolSpec[Any, Any]], query: str) -> list[Hit]:
    """The tools matching ``query``, best first (registry order among equals). A query of no
    meaningful word matches every tool, in registry order, with score 0."""
    terms = list(dict.fromkeys(w for w in words(query) if w not in _STOP))
    exact = query.strip().lower()
    hits = []
    for spec in specs:
        if not terms:
            hits.append(Hit(spec, 0.0))
            continue
        value = score(spec, terms) + (10.0 if spec.name == exact else 0.0)
        if value > 0:
            hits.append(Hit(spec, round(value, 1)))
    return sorted(hits, key=lambda h: -h.score)
