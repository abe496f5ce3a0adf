"""The Gemini schema cleaner: an allow-list, applied recursively, to a copy."""

from __future__ import annotations

import copy
import json

from converters.gemini_schema import clean_gemini_schema

from .conftest import load_capture

ALLOWED = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
           "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
           "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum"}


def schema_keys(node, out: set[str]) -> set[str]:
    """Every schema keyword used (property names excluded)."""
    if isinstance(node, dict):
        for key, value in node.items():
            out.add(key)
            if key == "properties":
                for sub in value.values():
                    schema_keys(sub, out)
            elif key in ("items",):
                schema_keys(value, out)
            elif key == "anyOf":
                for sub in value:
                    schema_keys(sub, out)
    return out


def test_claude_code_tools_are_cleaned_and_left_untouched() -> None:
    tools = load_capture("01_main_first_request.json")["request"]["body"]["tools"]
    before = copy.deepcopy(tools)
    cleaned = [clean_gemini_schema(tool["input_schema"]) for tool in tools]
    assert tools == before
    used = set().union(*(schema_keys(schema, set()) for schema in cleaned))
    assert used <= ALLOWED, used - ALLOWED
    originals = set().union(*(schema_keys(tool["input_schema"], set()) for tool in tools))
    assert {"$schema", "additionalProperties"} <= originals  # the capture really had them
    bash = cleaned[[t["name"] for t in tools].index("Bash")]
    assert bash["required"] == ["command"] and bash["properties"]["command"]["type"] == "string"


def test_rewrites() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "additionalProperties": False,
        "properties": {
            "mode": {"const": "fast"},
            "count": {"type": ["integer", "null"], "exclusiveMinimum": 0, "enum": [1, 2]},
            "url": {"type": "string", "format": "uri"},
            "when": {"type": "string", "format": "date-time"},
            "kind": {"oneOf": [{"type": "string"}, {"type": "number"}]},
            "node": {"$ref": "#/$defs/node"},
            "tags": {"type": "array", "items": {"type": "string", "propertyNames": {"pattern": "x"}}},
        },
        "required": ["mode", "missing"],
        "$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}},
    }
    out = clean_gemini_schema(schema)
    props = out["properties"]
    assert out["type"] == "object" and "additionalProperties" not in out and "$schema" not in out
    assert props["mode"] == {"type": "string", "enum": ["fast"]}
    assert props["count"] == {"type": "integer", "nullable": True}
    assert props["url"] == {"type": "string"}
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["kind"] == {"anyOf": [{"type": "string"}, {"type": "number"}]}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert out["required"] == ["mode"]
    # a recursive $ref is inlined to a bounded depth, then ends in a plain object
    depth, node = 0, props["node"]
    while "properties" in node:
        node, depth = node["properties"]["child"], depth + 1
    assert 1 < depth <= 9 and node["type"] == "object"
    assert json.dumps(out).count("$ref") == 0


def test_missing_schema_becomes_an_empty_object() -> None:
    assert clean_gemini_schema(None) == {"type": "object", "properties": {}}
