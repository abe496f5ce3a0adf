"""The Responses API's output items and Response object, built in one place for the streaming
encoder (streaming/responses_encoder.py) and the non-streaming converter
(converters/responses_response.py), so a client gets the same items either way.

Rules that are choices:
- Item ids are derived from the response id and the item's output index
  (``msg_<response id body>_<index>``; prefixes msg, rs, fc, ctc as the API uses), so the two
  paths agree and an id is unique wherever the response id is. A reasoning item that carries a
  Responses provider's own encrypted reasoning keeps that provider's item id: the API wants its
  reasoning items returned whole.
- A thinking block becomes a ``reasoning`` item whose one summary part is the thinking text (none
  when the text is empty). Its ``encrypted_content`` follows converters/thinking.py: an Anthropic
  signature is wrapped (``dragoman:an:``), a ``dragoman:rs:`` signature is unwrapped back to the
  provider's encrypted content, the synthetic signature gives none (nothing a provider could read).
- A ``redacted_thinking`` block becomes a reasoning item with an empty summary whose
  encrypted_content is ``encrypted_from_anthropic("redacted_thinking:" + data)``
  (``encrypted_from_redacted``): Anthropic needs the block back verbatim in the next turn, and
  the marker cannot collide with a real signature (those are base64, without a colon). Whoever
  unwraps encrypted content must test ``redacted_in_encrypted`` before ``anthropic_in_encrypted``.
- A tool the client declared as ``custom`` (freeform) is called with ``input``: the hub's JSON
  input ``{"input": "..."}`` is unwrapped (``custom_input``); other JSON is passed as its text.
- The echo (``response_echo``): the Response fields that repeat the request, with the defaults
  the API reports when the client left them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from converters.thinking import (
    encrypted_from_anthropic,
    is_synthetic_signature,
    responses_in_signature,
)
from converters.tool_names import ClientTool, ToolMap

_PARTNERS = frozenset({"message", "function_call", "custom_tool_call"})

__all__ = [
    "partner_id",
    "item_id", "output_text", "message_item", "reasoning_item", "function_call_item", "custom_tool_call_item",
    "client_tool", "custom_input", "reasoning_encryption", "encrypted_from_redacted", "redacted_in_encrypted",
    "REDACTED_PREFIX", "response_echo", "reasoning_requested", "response_core",
]

REDACTED_PREFIX = "redacted_thinking:"

# Response fields that repeat the request, and the value the API reports when the request left
# them out (as recorded: tests/fixtures/openai-responses-*.json).
_ECHO_DEFAULTS: dict[str, Any] = {
    "background": False,
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "prompt_cache_key": None,
    "reasoning": {"effort": None, "summary": None},
    "safety_identifier": None,
    "service_tier": "auto",
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [],
    "top_logprobs": 0,
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
}
# Echoed only when the client sent them (no default worth inventing).
_ECHO_IF_SENT = ("prompt_cache_retention", "conversation", "prompt")


def item_id(prefix: str, response_id: str, index: int) -> str:
    body = response_id.partition("_")[2] or response_id
    return f"{prefix}_{body}_{index}"


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def message_item(id_: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"id": id_, "type": "message", "status": status, "role": "assistant", "content": [output_text(text)]}


def reasoning_item(id_: str, summary: str, encrypted: str | None, status: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": id_, "type": "reasoning",
                            "summary": [{"type": "summary_text", "text": summary}] if summary else []}
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    if status is not None:
        item["status"] = status
    return item


def function_call_item(id_: str, call_id: str, tool: ClientTool, arguments: str, status: str) -> dict[str, Any]:
    item: dict[str, Any] = {"id": id_, "type": "function_call", "status": status, "arguments": arguments,
                            "call_id": call_id, "name": tool.name}
    if tool.namespace is not None:
        item["namespace"] = tool.namespace
    return item


def custom_tool_call_item(id_: str, call_id: str, tool: ClientTool, input_: str) -> dict[str, Any]:
    item: dict[str, Any] = {"id": id_, "type": "custom_tool_call", "call_id": call_id, "name": tool.name,
                            "input": input_}
    if tool.namespace is not None:
        item["namespace"] = tool.namespace
    return item


def client_tool(tool_map: ToolMap, name: str) -> ClientTool:
    """The client's tool a hub tool name stands for; a plain function of that name when unknown."""
    tool = tool_map.get(name)
    return tool if tool is not None else ClientTool(name)


def custom_input(arguments: str) -> str:
    """A custom tool's raw input from the hub's JSON input ``{"input": "..."}``."""
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(parsed, dict) and isinstance(value := parsed.get("input"), str):
        return value
    return arguments


def partner_id(item: Any) -> str:
    """The id a returned reasoning item is paired with: the item after it, when it is one dragoman
    carries across dialects (a message or a call); "" for a server-side item (a web search...),
    which the other dialect never sees, so the reasoning cannot go back paired."""
    if isinstance(item, Mapping) and item.get("type") in _PARTNERS and isinstance(item.get("id"), str):
        return str(item["id"])
    return ""


def reasoning_encryption(signature: str) -> tuple[str | None, str | None]:
    """(the provider's reasoning item id, encrypted_content) for a thinking block's signature."""
    if not signature:
        return None, None
    carried = responses_in_signature(signature)
    if carried is not None:
        return carried.item_id, carried.encrypted
    if is_synthetic_signature(signature):
        return None, None
    return None, encrypted_from_anthropic(signature)


def encrypted_from_redacted(data: str) -> str:
    """A redacted_thinking block's data as a reasoning item's encrypted_content."""
    return encrypted_from_anthropic(REDACTED_PREFIX + data)


def redacted_in_encrypted(encrypted_content: object) -> str | None:
    """The redacted_thinking data an encrypted_content carries; None when it carries none."""
    marker = encrypted_from_anthropic(REDACTED_PREFIX)
    if isinstance(encrypted_content, str) and encrypted_content.startswith(marker):
        return encrypted_content[len(marker):]
    return None


def response_echo(request: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a Response that repeat the client's request (defaults where it sent none)."""
    echo: dict[str, Any] = {}
    for key, default in _ECHO_DEFAULTS.items():
        value = request.get(key)
        echo[key] = default if value is None else value
    reasoning = request.get("reasoning")
    if isinstance(reasoning, dict):
        echo["reasoning"] = {**_ECHO_DEFAULTS["reasoning"], **reasoning}
    text = request.get("text")
    if isinstance(text, dict):
        echo["text"] = {**_ECHO_DEFAULTS["text"], **text}
    for key in _ECHO_IF_SENT:
        if request.get(key) is not None:
            echo[key] = request[key]
    return echo


def reasoning_requested(request: Mapping[str, Any]) -> bool:
    """Whether a Responses request asked for reasoning (Codex sends ``reasoning: {summary: auto}``)."""
    reasoning = request.get("reasoning")
    return isinstance(reasoning, dict) and reasoning.get("effort") != "none"


def response_core(response_id: str, model: str, created_at: int, status: str, output: list[dict[str, Any]],
                  usage: dict[str, Any] | None, error: dict[str, Any] | None = None,
                  incomplete_reason: str | None = None) -> dict[str, Any]:
    """The Response fields that are not the echo."""
    return {
        "id": response_id, "object": "response", "created_at": created_at, "status": status,
        "error": error, "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "model": model, "output": output, "usage": usage,
    }
