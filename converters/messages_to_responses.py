"""Anthropic Messages request (the hub) -> OpenAI Responses API request (``protocol: responses`` providers).

Anthropic clients reach a Responses provider directly through this; Chat clients through the hub
(converters.chat_request, then this). Pure: dict in, dict out; the input is never mutated. The
output is built from an allow-list, so Anthropic-only fields (``cache_control``,
``context_management``, ``container``, ``mcp_servers``, ``top_k``, ``service_tier``...) and any
field a future client adds are dropped rather than forwarded. The conversation's rules are in
converters.responses_input; here, the rules that are choices rather than translations:

- ``store: false`` always: dragoman keeps no state on the provider. Reasoning travels in the
  conversation instead (the encrypted content a thinking signature carries), so a thinking
  request also asks for ``include: ["reasoning.encrypted_content"]``.
- thinking (enabled or adaptive) -> ``reasoning: {effort, summary: "auto"}`` through
  converters.reasoning.thinking_effort; thinking off sends no reasoning settings (the model's
  default applies: non-reasoning models reject them).
- Client tools -> ``function`` tools with ``strict: false``. The Responses API treats an omitted
  ``strict`` as "strict when the schema allows", which makes every optional parameter required
  (open-webui/open-webui#27750, vercel/ai#15889), and an explicit ``strict: true`` is refused for
  schemas with optional parameters; Anthropic clients expect neither.
- Anthropic's web search server tool -> the ``web_search`` tool (allowed domains, user location,
  and ``max_uses`` as ``max_tool_calls``: the only built-in tool); ``blocked_domains`` has no
  Responses form and is dropped. Other server tools run only on Anthropic and are dropped, as
  the Chat converter drops them; a tool_choice naming a dropped tool leaves the choice to the model.
- ``temperature`` / ``top_p`` as given, but not with thinking on: Anthropic then accepts only
  temperature 1 and top_p >= 0.95 (the defaults, near enough), and OpenAI's reasoning models
  reject both parameters.
- ``stop_sequences`` is refused: the Responses API has no stop sequences.
- ``max_tokens`` -> ``max_output_tokens`` (both count reasoning), under the route ceiling and at
  least 16, the API's minimum (a smaller value is a 400, vectorize-io/hindsight#58).
- ``metadata.user_id`` -> ``safety_identifier`` (a long one hashed, as for Chat's ``user``) and
  ``prompt_cache_key`` (a hash of it: Claude Code's user_id carries its session id, so prompt
  caching follows the session).
- ``output_config.format`` (or the legacy ``output_format``) json_schema -> ``text.format``
  json_schema, strict (the guarantee Anthropic's structured outputs give).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from converters.errors import ConversionError
from converters.identifiers import short_id
from converters.reasoning import thinking_effort
from converters.responses_input import to_responses_input
from converters.openai_options import openai_tool_choice, output_schema
from converters.tool_names import shorten_tool_name

__all__ = ["ResponsesTarget", "ConversionError", "to_responses_request"]

_MIN_OUTPUT_TOKENS = 16
_LOCATION_FIELDS = ("city", "region", "country", "timezone")


@dataclass(frozen=True, slots=True)
class ResponsesTarget:
    """Where the translated request goes: the upstream model and the route's limits."""

    model: str
    max_tokens: int | None = None  # route ceiling: min(client value, this)
    default_max_tokens: int | None = None  # used when the client sent no usable max_tokens


def to_responses_request(body: dict[str, Any], target: ResponsesTarget) -> dict[str, Any]:
    """Anthropic Messages request body -> Responses API request body for ``target``."""
    if stop := body.get("stop_sequences"):
        if isinstance(stop, list) and any(isinstance(s, str) and s for s in stop):
            raise ConversionError("stop sequences are not supported by this provider (the Responses API "
                                  "has none)", "stop_sequences")
    instructions, items = to_responses_input(body)
    out: dict[str, Any] = {"model": target.model}
    if instructions:
        out["instructions"] = instructions
    out["input"] = items
    if (max_tokens := _max_output_tokens(body.get("max_tokens"), target)) is not None:
        out["max_output_tokens"] = max_tokens
    effort = thinking_effort(body)
    for key in ("temperature", "top_p"):
        if effort is None and isinstance(value := body.get(key), (int, float)) and not isinstance(value, bool):
            out[key] = value
    tools, max_tool_calls = _tools(body.get("tools"))
    if tools:  # with no tools, a tool_choice is an upstream 400
        out["tools"] = tools
        out.update(openai_tool_choice(body.get("tool_choice"), {t["name"] for t in tools if t["type"] == "function"},
                                      "responses"))
        if max_tool_calls is not None:
            out["max_tool_calls"] = max_tool_calls
    if effort is not None:
        out["reasoning"] = {"effort": effort, "summary": "auto"}
        out["include"] = ["reasoning.encrypted_content"]
    if (schema := output_schema(body)) is not None:
        out["text"] = {"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": True}}
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(user := metadata.get("user_id"), str) and user:
        out["safety_identifier"] = short_id(user)
        out["prompt_cache_key"] = "cache-" + hashlib.sha256(user.encode()).hexdigest()[:32]
    out["store"] = False
    if body.get("stream") is True:
        out["stream"] = True
    return out


def _max_output_tokens(value: Any, target: ResponsesTarget) -> int | None:
    valid = isinstance(value, int) and not isinstance(value, bool) and value > 0
    tokens = value if valid else target.default_max_tokens
    if tokens is None:
        return None
    if target.max_tokens is not None:
        tokens = min(tokens, target.max_tokens)
    return max(tokens, _MIN_OUTPUT_TOKENS)


def _tools(tools: Any) -> tuple[list[dict[str, Any]], int | None]:
    """(Responses tools, max_tool_calls from the web search tool's max_uses)."""
    out: list[dict[str, Any]] = []
    max_tool_calls = None
    for i, tool in enumerate(tools if isinstance(tools, list) else ()):
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        if kind in (None, "custom"):
            out.append(_function(tool, f"tools.{i}"))
        elif isinstance(kind, str) and kind.startswith("web_search_"):
            if not any(t["type"] == "web_search" for t in out):  # a second one adds nothing
                search, max_tool_calls = _web_search(tool)
                out.append(search)
        # Any other server tool (bash, code execution, text editor, web fetch...) runs only on Anthropic.
    return out, max_tool_calls


def _function(tool: dict[str, Any], param: str) -> dict[str, Any]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise ConversionError("every tool needs a non-empty name", f"{param}.name")
    # Built from name/description/schema only: cache_control, defer_loading, input_examples and
    # Anthropic's own strict must not reach the function.
    function: dict[str, Any] = {"type": "function", "name": shorten_tool_name(name)}
    if isinstance(description := tool.get("description"), str) and description:
        function["description"] = description
    schema = tool.get("input_schema")  # shared with the input, not copied: nothing writes to it
    function["parameters"] = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
    function["strict"] = False
    return function


def _web_search(tool: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    search: dict[str, Any] = {"type": "web_search"}
    domains = tool.get("allowed_domains")
    if isinstance(domains, list) and (domains := [d for d in domains if isinstance(d, str) and d]):
        search["filters"] = {"allowed_domains": domains}
    location = tool.get("user_location")
    if isinstance(location, dict):
        fields = {k: location[k] for k in _LOCATION_FIELDS if isinstance(location.get(k), str) and location[k]}
        if fields:
            search["user_location"] = {"type": "approximate", **fields}
    max_uses = tool.get("max_uses")
    valid = isinstance(max_uses, int) and not isinstance(max_uses, bool) and max_uses > 0
    return search, max_uses if valid else None
