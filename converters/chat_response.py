"""OpenAI Chat Completion (non-streaming JSON) -> Anthropic Message.

Pure: dict in, dict out. Claude Code falls back to this path whenever a stream fails, so it has
to be as careful as the streaming one: blocks in Anthropic order (thinking, text, tool_use), no
empty text block (anthropics/claude-code#88536), ids in Anthropic's alphabet, a non-null stop_reason.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import json_repair
import orjson

from converters.thinking import SYNTHETIC_SIGNATURE
from converters.tool_names import anthropic_tool_id, new_tool_id
from converters.stop_reasons import FINISH_TO_STOP
from converters.usage import anthropic_usage, empty_usage

__all__ = ["to_messages_response", "parse_tool_arguments"]

_NO_NAMES: Mapping[str, str] = MappingProxyType({})
_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
# json_repair is pure Python (1-3 microseconds per character here): an upstream's megabytes of
# broken arguments would stall the event loop for every other stream, so only short ones (up to
# ~50 ms of work) are tried; longer ones keep the raw text.
_MAX_REPAIR = 16 * 1024


def to_messages_response(
    body: dict[str, Any], *, model: str, tool_names: Mapping[str, str] = _NO_NAMES
) -> dict[str, Any]:
    """Chat completion -> Anthropic message; ``model`` is the name the client asked for.

    ``tool_names`` maps shortened tool names back to the client's (``tool_names.restore_map``).
    Raises ValueError when the body has no choice to translate (the proxy answers 502).
    """
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        error = body.get("error")
        detail = error.get("message") if isinstance(error, dict) else None
        raise ValueError(f"upstream response has no choices{': ' + detail if detail else ''}")
    choice = choices[0]
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content = [*_thinking_blocks(message), *_text_blocks(message)]
    tool_uses = _tool_use_blocks(message, tool_names)
    content.extend(tool_uses)
    stop_reason, stop_sequence = _stop(choice, bool(tool_uses), message.get("refusal"))
    upstream_id = body.get("id")
    return {
        "id": "msg_" + (_BAD_ID_CHARS.sub("_", upstream_id) if isinstance(upstream_id, str) and upstream_id
                        else secrets.token_hex(12)),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": anthropic_usage(body.get("usage")) or empty_usage(),
    }


def _thinking_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    # DeepSeek, Z.ai and vLLM send `reasoning_content`; OpenRouter, Groq and Ollama send `reasoning`
    # (fixtures deepseek-reasoning-content.json, groq-reasoning.json); Mistral's magistral puts
    # {"type":"thinking"} parts inside `content` (fixture mistral-stream-thinking.json).
    texts: list[str] = []
    for key in ("reasoning_content", "reasoning"):
        if isinstance(text := message.get(key), str) and text.strip():
            texts.append(text)
            break
    parts = message.get("content")
    for part in parts if isinstance(parts, list) else ():
        if isinstance(part, dict) and part.get("type") == "thinking":
            if (text := _joined_text(part.get("thinking"))).strip():
                texts.append(text)
    return [{"type": "thinking", "thinking": text, "signature": SYNTHETIC_SIGNATURE} for text in texts]


def _text_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    texts = [content if isinstance(content, str) else _joined_text(content)]
    # OpenAI structured outputs put a refusal in `refusal`, with content null
    # (fixture openai-refusal-structured-output.json).
    if isinstance(refusal := message.get("refusal"), str):
        texts.append(refusal)
    return [{"type": "text", "text": text} for text in texts if text.strip()]


def _joined_text(parts: Any) -> str:
    """The text parts of a content-part list, joined; a plain string stays as it is."""
    if isinstance(parts, str):
        return parts
    if not isinstance(parts, list):
        return ""
    return "".join(
        text
        for part in parts
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(text := part.get("text"), str)
    )


def _tool_use_blocks(message: dict[str, Any], tool_names: Mapping[str, str]) -> list[dict[str, Any]]:
    calls = message.get("tool_calls")
    if not isinstance(calls, list) or not calls:
        legacy = message.get("function_call")  # pre-tools OpenAI dialect, still sent by some hosts
        calls = [{"function": legacy}] if isinstance(legacy, dict) else []
    blocks: list[dict[str, Any]] = []
    seen: set[str] = set()
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        # Gemini sends "" ids (fixture gemini-openai-tool-call-empty-id.json); Anthropic also needs
        # ids unique within a message (anthropics/claude-code#21083).
        tool_id = anthropic_tool_id(call.get("id"))
        if tool_id in seen:
            tool_id = new_tool_id()
        seen.add(tool_id)
        name = function.get("name")
        name = name if isinstance(name, str) else ""
        blocks.append({
            "type": "tool_use",
            "id": tool_id,
            "name": tool_names.get(name, name),
            "input": parse_tool_arguments(function.get("arguments")),
        })
    return blocks


def parse_tool_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments as an object: parsed, else repaired, else ``{"_raw_arguments": raw}``.

    Never a silent ``{}`` for arguments that were sent: an empty input makes Claude Code report
    "Invalid tool parameters" with no trace of what the model wrote (LiteLLM #25321).
    """
    if isinstance(arguments, dict):  # some hosts (Ollama's native shape) send an object already
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        if len(arguments) > _MAX_REPAIR:
            return {"_raw_arguments": arguments}
        repaired = json_repair.repair_json(arguments, return_objects=True)
        # json_repair turns hopeless text into {} or "": only a non-empty object is a real repair.
        if isinstance(repaired, dict) and repaired:
            return repaired
        return {"_raw_arguments": arguments}
    return parsed if isinstance(parsed, dict) else {"_raw_arguments": arguments}


def _stop(choice: dict[str, Any], has_tool_use: bool, refusal: Any) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) for the choice; never None, so Claude Code does not hang."""
    finish = choice.get("finish_reason")
    reason = FINISH_TO_STOP.get(finish) if isinstance(finish, str) else None
    if reason is None or reason == "end_turn":
        # Some hosts say "stop" (or nothing) after tool calls; Claude Code only runs tools on tool_use.
        reason = "tool_use" if has_tool_use else "end_turn"
    if reason == "end_turn":
        # vLLM names the matched stop string in choice["stop_reason"] (an int is a stop token id).
        matched = choice.get("stop_reason")
        if isinstance(matched, str) and matched:
            return "stop_sequence", matched
        if isinstance(refusal, str) and refusal.strip():
            return "refusal", None
    return reason, None
