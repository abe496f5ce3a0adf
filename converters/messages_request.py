"""Anthropic Messages request -> OpenAI Chat Completions request.

Pure: dict in, dict out; the input is never mutated. The output is built from an allow-list, so
Anthropic-only fields (``cache_control``, ``context_management``, ``thinking``, ``container``,
``mcp_servers``, ``service_tier``, ``betas``, ``top_k``, tool ``defer_loading`` ...) and any field a
future client adds are dropped rather than forwarded: strict OpenAI-compatible hosts answer 400 to
keys they do not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from converters.chat_messages import ConversionError, to_chat_messages
from converters.gemini_schema import clean_gemini_schema
from converters.identifiers import short_id
from converters.reasoning import thinking_effort
from converters.openai_options import openai_tool_choice, output_schema
from converters.tool_names import shorten_tool_name

__all__ = ["ChatTarget", "ConversionError", "to_chat_request"]



@dataclass(frozen=True, slots=True)
class ChatTarget:
    """Where the translated request goes: the upstream model and what that provider accepts."""

    model: str
    max_tokens: int | None = None  # route ceiling: min(client value, this)
    default_max_tokens: int | None = None  # used when the client sent no max_tokens
    # Many OpenAI-compatible models reject `reasoning_effort`, and DeepSeek rejects it while its
    # thinking is off (anthropics/claude-code#65863), so it is opt-in per route.
    reasoning_effort: bool = False
    max_tokens_field: str = "max_tokens"  # Azure / o-series want "max_completion_tokens"
    gemini_schemas: bool = False  # clean tool schemas for Gemini's OpenAI endpoint (gemini_schema.py)
    reasoning_passback: bool = False  # thinking back as reasoning_content on tool turns (DeepSeek)
    # PDFs as Chat `file` parts (OpenAI, and hosts that copy its file inputs); without it a PDF is
    # a 400 naming the block, never silently left out.
    file_parts: bool = False


def to_chat_request(body: dict[str, Any], target: ChatTarget) -> dict[str, Any]:
    """Anthropic Messages request body -> Chat Completions request body for ``target``."""
    out: dict[str, Any] = {"model": target.model,
                           "messages": to_chat_messages(body, target.reasoning_passback, target.file_parts)}
    if (max_tokens := _max_tokens(body.get("max_tokens"), target)) is not None:
        out[target.max_tokens_field] = max_tokens
    for key in ("temperature", "top_p"):
        if isinstance(value := body.get(key), (int, float)) and not isinstance(value, bool):
            out[key] = value
    if stop := [s for s in body.get("stop_sequences") or () if isinstance(s, str) and s]:
        out["stop"] = stop
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(user := metadata.get("user_id"), str) and user:
        out["user"] = short_id(user)
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}  # usage comes in a last, choice-less chunk
    tools = _tools(body.get("tools"), target.gemini_schemas)
    if tools:
        # With no tools, tool_choice is an upstream 400 ("tool_choice may only be specified while
        # providing tools"); Claude Code's web search sends exactly that (LiteLLM #25477).
        out["tools"] = tools
        out.update(openai_tool_choice(body.get("tool_choice"), {t["function"]["name"] for t in tools}, "chat"))
    if target.reasoning_effort and (effort := thinking_effort(body)) is not None:
        out["reasoning_effort"] = effort
    if (schema := output_schema(body)) is not None:
        out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}
    return out


def _max_tokens(value: Any, target: ChatTarget) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return target.default_max_tokens
    return value if target.max_tokens is None else min(value, target.max_tokens)


def _tools(tools: Any, gemini_schemas: bool = False) -> list[dict[str, Any]]:
    """Client tools as Chat functions; Anthropic server tools (``web_search_*``, ``bash_*``) are dropped."""
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools if isinstance(tools, list) else ()):
        if not isinstance(tool, dict) or tool.get("type") not in (None, "custom"):
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise ConversionError("every tool needs a non-empty name", f"tools.{i}.name")
        # Built from name/description/schema only: defer_loading, input_examples, strict and
        # cache_control must not reach the function object.
        function: dict[str, Any] = {"name": shorten_tool_name(name)}
        if isinstance(description := tool.get("description"), str) and description:
            function["description"] = description
        # The schema is shared with the input, not copied: nothing here writes to it.
        schema = tool.get("input_schema")
        if gemini_schemas:
            function["parameters"] = clean_gemini_schema(schema, name, f"tools.{i}.input_schema")  # a cleaned copy
        else:
            function["parameters"] = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
        out.append({"type": "function", "function": function})
    return out
