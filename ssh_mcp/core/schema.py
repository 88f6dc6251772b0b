"""The JSON Schema a client is sent: pydantic's, without the bytes that tell a model nothing.

Every client pays for tools/list in every conversation, so the schemas in it are pydantic's
own (the same models validate every call) rewritten losslessly (DECISIONS.md 60):

* the ``title`` pydantic derives from each field and model name is dropped;
* ``anyOf: [X, {"type": "null"}]`` becomes X with ``"type": [X's type, "null"]`` (and
  ``null`` in its ``enum``), which JSON Schema defines to mean the same;
* a ``"default": null`` is dropped: a field outside ``required`` that admits null already
  says so;
* an ``enum`` drops the ``type`` its values already have;
* a ``$defs`` entry referenced once is inlined where it is used;
* a field's ``details`` (its longer text, for TOOLS.md) is left out, and so is the
  description of a field marked ``said_once`` or ``name_says`` (see :data:`SAID_ONCE`,
  :data:`NAME_SAYS`).

An input schema is then sent as a caller needs it (:func:`input_schema`): without the
limits no model comes near, which the server goes on enforcing, and without a default that is
its type's zero (``false``, ``0``), which is what a caller assumes of an omitted flag or
offset; tests/test_catalog.py lists each such difference with its reason.

An output schema gives the shape of a result (names, types, what may be null) and no more:
its field descriptions and ``required`` lists are left out. Every output field is always
present, and what a result means is said by the tool's description, and per field in
TOOLS.md, which is rendered from the models, not from this, so it keeps every word.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel

from ssh_mcp import __version__
from ssh_mcp.state.schema_cache import SchemaCache, code_key

#: The JSON Schema keyword of a field's longer text, which only TOOLS.md shows.
DETAILS = "details"
#: Marks a field whose description tools/list leaves out because another tool's says it
#: once for every tool (``host``: ssh_host_list's); TOOLS.md keeps it.
SAID_ONCE = "said_once"
#: Marks a field whose name and type, with its tool's description, say what a caller needs
#: (``offset``, ``limit``, ``overwrite``, ``cwd``...): tools/list sends it without its
#: description; TOOLS.md keeps it (DECISIONS.md 67).
NAME_SAYS = "name_says"
#: Either marker: the field's description is TOOLS.md's only.
UNLISTED = (SAID_ONCE, NAME_SAYS)
_NULL = {"type": "null"}
#: Pydantic's generated titles, the definitions (inlined or hoisted) and TOOLS.md's long text.
_DROPPED = frozenset({"title", "$defs", DETAILS, *UNLISTED})
#: Keywords whose values are data, not schemas: nothing in them is rewritten.
_DATA = frozenset({"default", "enum", "const", "examples", "required"})


def _nullable(branch: dict[str, Any]) -> dict[str, Any] | None:
    """``branch`` admitting null too, as one schema; None when only anyOf can say it."""
    kind = branch.get("type")
    if "$ref" in branch:
        return None
    if kind is None and isinstance(branch.get("enum"), list):
        return {**branch, "enum": [*branch["enum"], None]}
    if not isinstance(kind, str):
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
        unlisted = key == "description" and any(node.get(m) for m in UNLISTED)
        if key in drop or key in _DROPPED or unlisted:
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
    if "enum" in out and "type" in out and _enum_typed(out["enum"], out["type"]):
        del out["type"]
    return out


_JSON_TYPES: dict[type, tuple[str, ...]] = {
    str: ("string",),
    bool: ("boolean",),
    int: ("integer", "number"),
    float: ("number",),
    type(None): ("null",),
}


def _enum_typed(values: list[Any], kind: str | list[str]) -> bool:
    """Whether every value of an ``enum`` is of ``kind``, which then refuses nothing more."""
    kinds = {kind} if isinstance(kind, str) else set(kind)
    return all(set(_JSON_TYPES.get(type(v), ())) & kinds for v in values)


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


#: Strings this long are limits no argument a model writes comes near (a hostname's 253, a
#: path's 4,096, a command's 65,536): they guard the server, not the model.
LONG = 253


def validation_only(key: str, value: Any) -> bool:
    """Whether an input schema's ``key: value`` refuses only what no model sends: an empty
    string, one of ``LONG`` characters or more, a negative number or zero seconds. The
    server keeps enforcing it (the same pydantic model validates every call) and its error
    names the limit, so tools/list leaves it out (DECISIONS.md 60)."""
    if key == "minLength":
        return bool(value == 1)
    if key == "maxLength":
        return isinstance(value, int) and value >= LONG
    return key in ("minimum", "exclusiveMinimum") and value == 0


def obvious_default(value: Any) -> bool:
    """Whether an optional argument's ``default`` is its type's zero (``false``, ``0``): what a
    caller assumes when it omits a flag or an offset, so tools/list leaves it out."""
    return value is False or (type(value) in (int, float) and value == 0)


def _loosen(node: Any) -> Any:
    if isinstance(node, list):
        return [_loosen(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _loosen(v) for name, v in value.items()}
        elif key in _DATA:
            out[key] = value
        elif not validation_only(key, value):
            out[key] = _loosen(value)
    return out


def _omittable(prop: dict[str, Any]) -> dict[str, Any]:
    """An optional argument whose default is null, without the null: a caller omits it."""
    out = dict(prop)
    kind = out.get("type")
    if isinstance(kind, list) and "null" in kind:
        rest = [k for k in kind if k != "null"]
        out["type"] = rest[0] if len(rest) == 1 else rest
    if isinstance(out.get("enum"), list):
        out["enum"] = [v for v in out["enum"] if v is not None]
    return out


_SHAPE_ONLY = frozenset({"description", "required"})
_built: dict[tuple[type[BaseModel], str], dict[str, Any]] = {}
_cache = SchemaCache(None, "")


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The compact JSON Schema of a tool's input model, built once per model, as a caller
    needs it: without validation-only limits, without ``additionalProperties: false`` (an
    unknown argument is still refused, by name), an optional argument whose default is
    null without the null (omitting it means null; the server still accepts a null), and
    without the defaults :func:`obvious_default` names."""
    return _once(model, "in", _caller_view)


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The compact JSON Schema of a tool's output model: its shape only, built once."""
    return _once(model, "out", lambda m: compact(m.model_json_schema(), _SHAPE_ONLY))


def _caller_view(model: type[BaseModel]) -> dict[str, Any]:
    schema: dict[str, Any] = _loosen(compact(model.model_json_schema()))
    if schema.get("additionalProperties") is False:
        del schema["additionalProperties"]
    required = set(schema.get("required", []))
    props = {
        name: prop if name in required or "default" in prop else _omittable(prop)
        for name, prop in schema.get("properties", {}).items()
    }
    schema["properties"] = {
        name: {k: v for k, v in prop.items() if k != "default" or not obvious_default(v)}
        for name, prop in props.items()
    }
    return schema


def _once(
    model: type[BaseModel], side: str, make: Callable[[type[BaseModel]], dict[str, Any]]
) -> dict[str, Any]:
    """``make(model)``, once per process, and once per code version with the cache."""
    key = (model, side)
    if key not in _built:
        name = f"{model.__module__}.{model.__qualname__}:{side}"
        schema = _cache.get(name)
        if schema is None:
            schema = make(model)
            _cache.put(name, schema)
        _built[key] = schema
    return _built[key]


def use_cache(path: Path) -> SchemaCache:
    """Take schemas from the cache at ``path`` and add new ones to it (DECISIONS.md 83); the
    caller saves it. Without a call, schemas are generated every run."""
    global _cache
    package = Path(__file__).resolve().parent.parent
    _cache = SchemaCache(path, code_key(package, __version__, pydantic.VERSION))
    return _cache
