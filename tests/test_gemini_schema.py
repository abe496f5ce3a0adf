"""The Gemini schema cleaner: an allow-list, applied recursively, to a copy."""

from __future__ import annotations

import copy
import json

import pytest

from converters import gemini_schema
from converters.errors import ConversionError
from converters.gemini_schema import MAX_SCHEMA_DEPTH, MAX_SCHEMA_NODES, clean_gemini_schema
from converters.messages_request import ChatTarget, to_chat_request

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


def fan_out_schema(definitions: int = 8, references: int = 10) -> dict:
    """Each definition references the previous one ``references`` times: ~10**8 nodes once inlined."""
    defs: dict = {"d0": {"type": "string"}}
    for i in range(1, definitions):
        defs[f"d{i}"] = {"type": "object",
                         "properties": {f"p{j}": {"$ref": f"#/$defs/d{i - 1}"} for j in range(references)}}
    return {"type": "object", "properties": {"root": {"$ref": f"#/$defs/d{definitions - 1}"}}, "$defs": defs}


def test_ref_fan_out_schema_is_refused_within_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = fan_out_schema()
    assert len(json.dumps(schema)) < 3000
    built = 0
    normalise = gemini_schema._normalise

    def counting(node: dict) -> dict:  # called once for every node the cleaner builds
        nonlocal built
        built += 1
        return normalise(node)

    monkeypatch.setattr(gemini_schema, "_normalise", counting)
    with pytest.raises(ConversionError) as caught:
        clean_gemini_schema(schema, "Search", "tools.3.input_schema")
    assert caught.value.param == "tools.3.input_schema"
    assert str(caught.value).startswith("the schema of tool 'Search' expands past 10,000 nodes for Gemini")
    assert built == MAX_SCHEMA_NODES == 10_000  # it stopped at the budget, not after 10**8 nodes
    # a smaller fan-out (3 definitions x 10 references: 112 nodes) is inlined in full
    small = clean_gemini_schema(fan_out_schema(definitions=3))
    assert small["properties"]["root"]["properties"]["p9"]["properties"]["p0"] == {"type": "string"}
    assert json.dumps(small).count('"string"') == 100


def test_deep_plain_nesting_is_refused_not_recursion_error() -> None:
    def nested(levels: int) -> dict:
        node: dict = {"type": "string"}
        for _ in range(levels - 1):
            node = {"type": "object", "properties": {"a": node}}
        return node

    assert clean_gemini_schema(nested(MAX_SCHEMA_DEPTH)) == nested(MAX_SCHEMA_DEPTH)  # 64 levels: kept
    for levels in (MAX_SCHEMA_DEPTH + 1, 5000):  # 5000 would overflow Python's recursion limit
        with pytest.raises(ConversionError) as caught:
            clean_gemini_schema(nested(levels), "Deep", "tools.0.input_schema")
        assert caught.value.param == "tools.0.input_schema"
        assert str(caught.value).startswith("the schema of tool 'Deep' nests deeper than 64 levels")
    # items and anyOf count as levels too
    node: dict = {"type": "string"}
    for level in range(100):
        node = {"type": "array", "items": node} if level % 2 else {"anyOf": [node]}
    with pytest.raises(ConversionError):
        clean_gemini_schema(node)


def test_schema_errors_name_the_tool_in_the_request() -> None:
    tools = [{"name": "ok", "input_schema": {"type": "object"}},
             {"name": "web_search", "type": "web_search_20250305"},
             {"name": "fan_out", "input_schema": fan_out_schema()}]
    body = {"model": "x", "max_tokens": 10, "messages": [{"role": "user", "content": "go"}], "tools": tools}
    with pytest.raises(ConversionError) as caught:
        to_chat_request(body, ChatTarget(model="gemini-2.5-pro", gemini_schemas=True))
    assert caught.value.param == "tools.2.input_schema"
    assert "'fan_out'" in str(caught.value)
    assert "fan_out" in to_chat_request(body, ChatTarget(model="gpt-4o"))["tools"][1]["function"]["name"]
