"""Tool parameter schemas cleaned for Gemini's OpenAI-compatible endpoint.

Gemini takes a select subset of the OpenAPI 3.0 Schema object (the ``Schema`` type of its
``v1beta`` REST API) and answers 400 to the rest, which Claude Code's draft 2020-12 schemas are full
of: ``$schema``, ``additionalProperties``, ``propertyNames``, ``const``, ``exclusiveMinimum``,
``format: uri`` (musistudio/claude-code-router#187, router-for-me/CLIProxyAPI#97 and #1375,
zed-industries/zed#44875). So the cleaner
works from an allow-list, recursively, and builds new dicts: the schema other providers get is
never touched. What it rewrites rather than drops:

- ``const: x`` -> ``enum: [x]`` (a string const) ;
- ``type: [T, "null"]`` -> ``type: T, nullable: true``; other type lists -> ``anyOf``;
- local ``$ref`` (``#/$defs/...`` or ``#/definitions/...``) -> the referenced schema, inlined to
  a bounded depth (recursive schemas end in a plain object);
- ``oneOf`` -> ``anyOf``; ``allOf`` with a single member -> that member;
- ``format`` is kept only where Gemini gives it a meaning (``enum`` and ``date-time`` on strings,
  ``int32``/``int64`` on integers, ``float``/``double`` on numbers);
- ``enum`` is kept only on strings (Gemini's enums are strings), with non-string values dropped.

The work is bounded. Inlining multiplies: a 2 kB schema whose definitions each reference the
previous one ten times expands to tens of megabytes, all built synchronously on the event loop.
So the cleaner counts the nodes it builds and refuses a schema past ``MAX_SCHEMA_NODES`` (10,000
per tool) or nested deeper than ``MAX_SCHEMA_DEPTH`` (64 levels, inlined ones included, which also
keeps the recursion far from Python's limit) with a ConversionError naming the tool: a 400 the
client can act on, rather than a stalled proxy or a schema silently cut short.
"""

from __future__ import annotations

from typing import Any

from converters.errors import ConversionError

__all__ = ["clean_gemini_schema", "MAX_SCHEMA_NODES", "MAX_SCHEMA_DEPTH"]

MAX_SCHEMA_NODES = 10_000
MAX_SCHEMA_DEPTH = 64

_KEPT = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
    "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum",
})
_FORMATS = {"string": {"enum", "date-time"}, "integer": {"int32", "int64"}, "number": {"float", "double"}}
_MAX_REF_DEPTH = 8


def clean_gemini_schema(schema: Any, tool: str = "", param: str = "input_schema") -> dict[str, Any]:
    """A new schema Gemini accepts; the input is not modified.

    ``tool`` and ``param`` name the schema in the ConversionError raised when it expands past
    ``MAX_SCHEMA_NODES`` nodes or ``MAX_SCHEMA_DEPTH`` levels.
    """
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    definitions = {**_dict(schema.get("definitions")), **_dict(schema.get("$defs"))}
    return _Cleaner(definitions, tool, param).clean(schema, 0, 1)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class _Cleaner:
    """One schema's cleaning: its definitions and the count of nodes built so far."""

    __slots__ = ("definitions", "nodes", "tool", "param")

    def __init__(self, definitions: dict[str, Any], tool: str, param: str) -> None:
        self.definitions = definitions
        self.nodes = 0
        self.tool, self.param = tool, param

    def clean(self, node: dict[str, Any], refs: int, level: int) -> dict[str, Any]:
        """``refs``: $refs inlined on the way here; ``level``: depth of the node being built."""
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = self.definitions.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/") else None
            if isinstance(target, dict) and refs < _MAX_REF_DEPTH:
                merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
                return self.clean(merged, refs + 1, level)  # replaces this node: same level
        self._count(level)
        if isinstance(ref, str):
            return {"type": "object", "description": node.get("description") or f"(see {ref})"}
        node = _normalise(node)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in _KEPT:
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: self.clean(sub, refs, level + 1)
                            for name, sub in value.items() if isinstance(sub, dict)}
            elif key == "items" and isinstance(value, dict):
                out[key] = self.clean(value, refs, level + 1)
            elif key == "anyOf" and isinstance(value, list):
                out[key] = [self.clean(sub, refs, level + 1) for sub in value if isinstance(sub, dict)]
            elif key == "required" and isinstance(value, list):
                names = set(_dict(node.get("properties")))
                out[key] = [name for name in value if name in names]
            else:
                out[key] = value
        kind = out.get("type")
        if "format" in out and out["format"] not in _FORMATS.get(kind if isinstance(kind, str) else "", ()):
            del out["format"]
        if "enum" in out:
            values = [v for v in out["enum"] if isinstance(v, str)] if isinstance(out["enum"], list) else []
            if kind == "string" and values:
                out["enum"] = values
            else:
                del out["enum"]
        if not out.get("required"):
            out.pop("required", None)
        return out

    def _count(self, level: int) -> None:
        """Count one node built at ``level``; past either limit, refuse the schema."""
        self.nodes += 1
        if self.nodes > MAX_SCHEMA_NODES:
            raise ConversionError(
                f"{self._what()} expands past {MAX_SCHEMA_NODES:,} nodes for Gemini, which takes no $ref: every "
                "reference is inlined, and these multiply; reduce how often its definitions reference "
                "each other", self.param)
        if level > MAX_SCHEMA_DEPTH:
            raise ConversionError(
                f"{self._what()} nests deeper than {MAX_SCHEMA_DEPTH} levels (after inlining its $refs), more than "
                "the schema cleaning for Gemini follows; flatten it", self.param)

    def _what(self) -> str:
        return f"the schema of tool {self.tool!r}" if self.tool else "the tool schema"


def _normalise(node: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema spellings Gemini lacks, rewritten into ones it has."""
    node = dict(node)
    if "const" in node and "enum" not in node:
        node["enum"] = [node["const"]]
        node.setdefault("type", "string" if isinstance(node["const"], str) else None)
        if node["type"] is None:
            del node["type"]
    if "oneOf" in node and "anyOf" not in node:
        node["anyOf"] = node["oneOf"]
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        node = {**all_of[0], **{k: v for k, v in node.items() if k != "allOf"}}
    kind = node.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if isinstance(t, str)]
        non_null = [t for t in types if t != "null"]
        if len(non_null) == 1:
            node["type"] = non_null[0]
            if "null" in types:
                node["nullable"] = True
        else:
            del node["type"]
            node["anyOf"] = [{"type": t} for t in non_null]
            if "null" in types:
                node["nullable"] = True
    return node
