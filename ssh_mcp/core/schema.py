"""The JSON Schema a client is sent: pydantic's, without the bytes that tell a model nothing.

Every client pays for tools/list in every conversation, so the schemas in it are pydantic's
own (the same models validate every call) rewritten losslessly (DECISIONS.md 60):

* the ``title`` pydantic derives from each field and model name is dropped;
* ``anyOf: [X, {"type": "null"}]`` becomes X with ``"type": [X's type, "null"]`` (and
  ``null`` in its ``enum``), which JSON Schema defines to mean the same;
* a ``"default": null`` is dropped: a field outside ``required`` that admits null already
  says so;
* a ``$defs`` entry referenced once is inlined where it is used;
* a field's ``details`` (its longer text, for TOOLS.md) is left out.

An output schema gives the shape of a result (names, types, what may be null) and no more:
its field descriptions and ``required`` lists are left out. Every output field is always
present, and what a result means is said by the tool's description, and per field in
TOOLS.md, which is rendered from the models, not from this, so it keeps every word.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

#: The JSON Schema keyword of a field's longer text, which only TOOLS.md shows.
DETAILS = "details"
_NULL = {"type": "null"}
#: Pydantic's generated titles, the definitions (inlined or hoisted) and TOOLS.md's long text.
_DROPPED = frozenset({"title", "$defs", DETAILS})
#: Keywords whose values are data, not schemas: nothing in them is rewritten.
_DATA = frozenset({"default", "enum", "const", "examples", "required"})


def _nullable(branch: dict[str, Any]) -> dict[str, Any] | None:
    """``branch`` admitting null too, as one schema; None when only anyOf can say it."""
    kind = branch.get("type")
    if not isinstance(kind, str) or "$ref" in branch:
        return None
    merged = {**branch, "type": [kind, "null"]}
    if "enum" in branch:
        merged["enum"] = [*branch["enum"], None]
    if "const" in branch:
        merged["enum"] = [merged.pop("const"), None]
    return merged


def _compact(node: Any, defs: dict[str, Any], once: set[str], drop: frozenset[str]) -> Any:
    if isinstance(node, list):
        return [_compact(v, defs, once, drop) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in once:
        # Keywords beside the $ref (a description) stay with the inlined schema.
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return _compact({**defs[ref[8:]], **rest}, defs, once, drop)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in drop or key in _DROPPED:
            continue
        if key == "default" and value is None:
            continue
        if key == "properties":
            out[key] = {name: _compact(v, defs, once, drop) for name, v in value.items()}
        elif key in _DATA:
            out[key] = value
        else:
            out[key] = _compact(value, defs, once, drop)
    branches = out.get("anyOf")
    if isinstance(branches, list) and len(branches) == 2 and _NULL in branches:
        merged = _nullable(branches[1 - branches.index(_NULL)])
        if merged is not None and not set(merged) & (set(out) - {"anyOf"}):
            del out["anyOf"]
            out = {**merged, **out}
    return out


def compact(schema: dict[str, Any], drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``schema`` (a pydantic model's) rewritten as the module docstring says, without the
    keywords in ``drop`` (at any depth)."""
    defs: dict[str, Any] = schema.get("$defs", {})
    text = json.dumps(schema)
    once = {
        name
        for name, d in defs.items()
        if text.count(f'"#/$defs/{name}"') == 1 and f'"#/$defs/{name}"' not in json.dumps(d)
    }
    out = _compact(schema, defs, once, drop)
    kept = {name: _compact(d, defs, once, drop) for name, d in defs.items() if name not in once}
    if kept:
        out = {"$defs": kept, **out}
    assert isinstance(out, dict)
    return out


_SHAPE_ONLY = frozenset({"description", "required"})
_built: dict[tuple[type[BaseModel], bool], dict[str, Any]] = {}


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The compact JSON Schema of a tool's input model, built once per model."""
    return _cached(model, output=False)


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The compact JSON Schema of a tool's output model: its shape only, built once."""
    return _cached(model, output=True)


def _cached(model: type[BaseModel], *, output: bool) -> dict[str, Any]:
    key = (model, output)
    if key not in _built:
        drop = _SHAPE_ONLY if output else frozenset()
        _built[key] = compact(model.model_json_schema(), drop)
    return _built[key]
