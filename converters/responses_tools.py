"""Responses API ``tools`` / ``tool_choice`` -> Anthropic ``tools`` / ``tool_choice``, and the ToolMap back.

The tools half of converters.responses_request. Pure: new dicts, the input is never mutated
(a tool's ``parameters`` schema is shared with the input, never written to). Rules that are
choices rather than translations:

- ``function`` tools keep name, description and parameters; ``strict`` is dropped (Anthropic's
  strict tool use has its own schema limits, and a Responses client never relies on it).
- ``custom`` (freeform) tools, e.g. Codex's ``apply_patch``, are called with raw text, not JSON.
  Anthropic has no such tool, so each becomes a tool with one required string property ``input``;
  the description says to put the raw text there and, for a grammar format, carries the grammar
  definition so the model can follow it. Answers name the tool again through the ToolMap.
- Tools come from ``tools`` and from ``additional_tools`` input items (Codex's newest models get
  their tools that way, in the conversation, so tools can be added as it goes). Anthropic has one
  tool list, so both are merged in order; an additional tool declared again (Codex re-sends the
  whole input each turn) replaces the earlier definition of that name.
- ``namespace`` tools are flattened: each inner tool becomes ``{namespace}__{name}`` (the form
  Anthropic clients know from MCP tools), its description prefixed with the namespace's.
- Every hub name is shortened to 64 characters (converters.tool_names). Two tools with the same
  hub name are a 400.
- ``web_search`` / ``web_search_preview`` -> Anthropic's web search server tool, with
  ``filters.allowed_domains``, ``user_location`` and the request's ``max_tool_calls`` (its only
  built-in tool) as ``max_uses``; ``search_context_size`` and ``external_web_access`` have no
  Anthropic form and only tune how much is searched.
- A hosted ``tool_search`` is dropped: it lets the model load ``defer_loading`` tools on demand,
  and every tool is sent up front instead, so the model can call the same tools. A client-run
  tool search (``execution: client``) is refused: its tools are not in the request.
- Every other tool type (file_search, code_interpreter, computer use, image_generation, mcp,
  local_shell, shell, apply_patch...) is refused with a 400 naming ``tools.N.type``: each runs on
  OpenAI's side or needs an item type Anthropic cannot produce, so dropping it would change
  what the model can do.
"""

from __future__ import annotations

from typing import Any

from converters.errors import ConversionError
from converters.tool_names import ClientTool, shorten_tool_name

__all__ = ["WEB_SEARCH_TYPES", "ADDITIONAL_TOOLS", "hub_tool_name", "has_web_search", "declared_tools",
           "to_anthropic_tools", "to_anthropic_tool_choice"]

WEB_SEARCH_TYPES = frozenset({"web_search", "web_search_2025_08_26", "web_search_preview",
                              "web_search_preview_2025_03_11"})
_WEB_SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search"}
_LOCATION_FIELDS = ("city", "region", "country", "timezone")
ADDITIONAL_TOOLS = "additional_tools"   # an input item that declares tools
_TOOL_CHOICE = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
_RAW_INPUT = "The tool's whole input as raw text, exactly as the tool reads it (not JSON)."


def hub_tool_name(name: str, namespace: str | None = None) -> str:
    """The name a client tool (or a call to it) has in the hub request."""
    return shorten_tool_name(f"{namespace}__{name}" if namespace else name)


def has_web_search(body: dict[str, Any]) -> bool:
    return any(isinstance(t, dict) and t.get("type") in WEB_SEARCH_TYPES for _, t, _ in declared_tools(body))


def declared_tools(body: dict[str, Any]) -> list[tuple[str, Any, bool]]:
    """(param, tool, declared in the input) for every tool of a Responses request: ``tools``, then
    those of each ``additional_tools`` input item, in order. Malformed containers are a 400."""
    tools, items = body.get("tools"), body.get("input")
    if tools is not None and not isinstance(tools, list):
        raise ConversionError("tools must be a list", "tools")
    found = [(f"tools.{i}", tool, False) for i, tool in enumerate(tools or ())]
    for i, item in enumerate(items if isinstance(items, list) else ()):
        if isinstance(item, dict) and item.get("type") == ADDITIONAL_TOOLS:
            more = item.get("tools")
            if not isinstance(more, list):
                raise ConversionError("an additional_tools item needs a list of tools", f"input.{i}.tools")
            found += [(f"input.{i}.tools.{j}", tool, True) for j, tool in enumerate(more)]
    return found


def to_anthropic_tools(body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, ClientTool]]:
    """(Anthropic tools, hub name -> client tool) for a Responses request's tools."""
    max_tool_calls = body.get("max_tool_calls")
    out: list[dict[str, Any]] = []
    tool_map: dict[str, ClientTool] = {}
    for param, tool, additional in declared_tools(body):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind in ("function", "custom"):
            _add(out, tool_map, _client_tool(tool, None, "", param), param, additional)
        elif kind == "namespace":
            for converted in _namespace(tool, param):
                _add(out, tool_map, converted, param, additional)
        elif kind in WEB_SEARCH_TYPES:
            if "web_search" in tool_map:
                raise ConversionError("a tool named 'web_search' cannot be sent with the web_search tool",
                                      f"{param}.type")
            if not any(t["name"] == "web_search" for t in out):  # a second web search tool adds nothing
                out.append(_web_search(tool, max_tool_calls))
        elif kind == "tool_search" and tool.get("execution") != "client":
            continue  # see the module docstring
        else:
            raise ConversionError(f"tool type {kind!r} is not supported by this model; "
                                  "send function, custom, namespace or web_search tools", f"{param}.type")
    return out, tool_map


def _add(out: list[dict[str, Any]], tool_map: dict[str, ClientTool],
         converted: tuple[dict[str, Any], ClientTool], param: str, additional: bool) -> None:
    tool, client = converted
    for n, earlier in enumerate(out):
        if earlier["name"] == tool["name"]:
            if not additional:
                raise ConversionError(f"two tools are named {tool['name']!r} (namespaced tools are named "
                                      "namespace__name)", f"{param}.name")
            out[n] = tool   # declared again further on in the conversation: the newer definition
            tool_map[tool["name"]] = client
            return
    out.append(tool)
    tool_map[tool["name"]] = client


def _namespace(tool: dict[str, Any], param: str) -> list[tuple[dict[str, Any], ClientTool]]:
    namespace = tool.get("name")
    if not isinstance(namespace, str) or not namespace:
        raise ConversionError("a namespace tool needs a name", f"{param}.name")
    inner = tool.get("tools")
    if not isinstance(inner, list):
        raise ConversionError("a namespace tool needs a list of tools", f"{param}.tools")
    description = tool.get("description")
    prefix = description if isinstance(description, str) else ""
    converted = []
    for j, member in enumerate(inner):
        kind = member.get("type") if isinstance(member, dict) else None
        if kind not in ("function", "custom"):
            raise ConversionError(f"a namespace may hold function and custom tools, not {kind!r}",
                                  f"{param}.tools.{j}.type")
        converted.append(_client_tool(member, namespace, prefix, f"{param}.tools.{j}"))
    return converted


def _client_tool(tool: dict[str, Any], namespace: str | None, prefix: str,
                 param: str) -> tuple[dict[str, Any], ClientTool]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise ConversionError("every tool needs a name", f"{param}.name")
    own = tool.get("description")
    parts = [text for text in (prefix, own if isinstance(own, str) else "") if text.strip()]
    converted: dict[str, Any] = {"name": hub_tool_name(name, namespace)}
    if tool["type"] == "function":
        schema = tool.get("parameters")
        schema = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
        schema = schema if "type" in schema else {"type": "object", **schema}
        client = ClientTool(name, "function", namespace)
    else:
        guide, field = _custom_format(tool.get("format"), f"{param}.format")
        parts.append(guide)
        schema = {"type": "object", "properties": {"input": {"type": "string", "description": field}},
                  "required": ["input"], "additionalProperties": False}
        client = ClientTool(name, "custom", namespace)
    if parts:
        converted["description"] = "\n\n".join(parts)
    converted["input_schema"] = schema
    return converted, client


def _custom_format(spec: Any, param: str) -> tuple[str, str]:
    """(what the tool description adds, the ``input`` property's description) for a custom tool."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    guide = ("This tool takes raw text, not JSON arguments: put its whole input in the `input` "
             "string, exactly as the tool reads it.")
    if spec is None or kind == "text":
        return guide, _RAW_INPUT
    if kind != "grammar":
        raise ConversionError(f"unsupported custom tool format {kind!r}", f"{param}.type")
    syntax, definition = spec.get("syntax"), spec.get("definition")
    if syntax not in ("lark", "regex"):
        raise ConversionError(f"unsupported grammar syntax {syntax!r}; send lark or regex", f"{param}.syntax")
    if not isinstance(definition, str) or not definition.strip():
        raise ConversionError("a grammar format needs its definition", f"{param}.definition")
    what = "Lark grammar" if syntax == "lark" else "regular expression"
    return (f"{guide} The input must match this {what}:\n```\n{definition}\n```",
            f"{_RAW_INPUT} It must match the {what} in the tool description.")


def _web_search(tool: dict[str, Any], max_tool_calls: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict(_WEB_SEARCH_TOOL)
    filters = tool.get("filters")
    domains = filters.get("allowed_domains") if isinstance(filters, dict) else None
    if isinstance(domains, list) and (domains := [d for d in domains if isinstance(d, str) and d]):
        out["allowed_domains"] = domains
    location = tool.get("user_location")
    if isinstance(location, dict):
        fields = {k: location[k] for k in _LOCATION_FIELDS if isinstance(location.get(k), str) and location[k]}
        if fields:
            out["user_location"] = {"type": "approximate", **fields}
    if isinstance(max_tool_calls, int) and not isinstance(max_tool_calls, bool) and max_tool_calls > 0:
        out["max_uses"] = max_tool_calls
    return out


def to_anthropic_tool_choice(choice: Any, parallel: Any, tools: list[dict[str, Any]],
                             tool_map: dict[str, ClientTool]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(the tools left, Anthropic tool_choice or None for the upstream default)."""
    names = {t["name"] for t in tools}
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif isinstance(choice, str) and choice in _TOOL_CHOICE:
        result = dict(_TOOL_CHOICE[choice])
    elif isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
        name = choice.get("name")
        hub = hub_tool_name(name, _str(choice.get("namespace"))) if isinstance(name, str) and name else None
        if hub not in names:
            raise ConversionError(f"tool_choice names {name!r}, which is not in tools", "tool_choice.name")
        result = {"type": "tool", "name": hub}
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("tools")
        keep = _allowed(allowed if isinstance(allowed, list) else [], tool_map)
        tools = [t for t in tools if t["name"] in keep]
        result = dict(_TOOL_CHOICE["required" if choice.get("mode") == "required" else "auto"])
    else:
        raise ConversionError(f"unsupported tool_choice {choice!r}", "tool_choice")
    if parallel is False and (result is None or result["type"] != "none"):
        result = {**(result or _TOOL_CHOICE["auto"]), "disable_parallel_tool_use": True}
    return tools, result


def _allowed(entries: list[Any], tool_map: dict[str, ClientTool]) -> set[str]:
    """The hub names an ``allowed_tools`` list names (unknown entries name nothing)."""
    keep: set[str] = set()
    for entry in entries:
        kind = entry.get("type") if isinstance(entry, dict) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        if kind in ("function", "custom") and isinstance(name, str) and name:
            keep.add(hub_tool_name(name, _str(entry.get("namespace"))))
        elif kind == "namespace" and isinstance(name, str) and name:
            keep.update(hub for hub, client in tool_map.items() if client.namespace == name)
        elif kind in WEB_SEARCH_TYPES:
            keep.add("web_search")
    return keep


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
