"""Anthropic Message (non-streaming JSON) -> OpenAI ``chat.completion``.

Pure: dict in, dict out. Text blocks become ``content`` and thinking blocks ``reasoning_content``
(the field DeepSeek and OpenRouter clients read). Adjacent text blocks are joined with nothing
between them, since Anthropic splits one answer into several around citations; a text or thinking
block that follows a block of another kind, after earlier text of its kind, starts with a blank
line (``BLOCK_SEPARATOR``), so the text before and after a server tool call stays two paragraphs.
Signatures, ``redacted_thinking`` (opaque), citations and server-tool blocks
(``server_tool_use``, ``web_search_tool_result``...: the upstream already ran them, and OpenAI
has no form for them) are skipped. The streaming path (streaming/messages_decoder.py and
chat_encoder.py) applies the same rules and shares ``BLOCK_SEPARATOR`` and the error table here;
stop reasons and usage are mapped by converters/stop_reasons.py and converters/usage.py.
"""

from __future__ import annotations

from typing import Any

import orjson

from converters.stop_reasons import STOP_TO_FINISH
from converters.usage import chat_usage

__all__ = ["ERROR_TYPE_TO_OPENAI", "BLOCK_SEPARATOR", "to_chat_completion", "openai_error"]

# Anthropic error type -> OpenAI error type (429 is "rate_limit_exceeded", overload a server
# error); the Anthropic type itself travels in ``code`` for clients that want the finer reason.
ERROR_TYPE_TO_OPENAI: dict[str, str] = {
    "invalid_request_error": "invalid_request_error", "authentication_error": "authentication_error",
    "permission_error": "permission_error", "not_found_error": "not_found_error",
    "request_too_large": "invalid_request_error", "rate_limit_error": "rate_limit_exceeded",
    "timeout_error": "timeout", "overloaded_error": "server_error", "api_error": "server_error",
}


def openai_error(error_type: str, message: str, param: str | None = None) -> dict[str, Any]:
    """The ``{"error": {...}}`` body OpenAI clients read, for an Anthropic-style error type."""
    return {"error": {"message": message, "type": ERROR_TYPE_TO_OPENAI.get(error_type, "server_error"),
                      "param": param, "code": error_type}}


BLOCK_SEPARATOR = "\n\n"


def to_chat_completion(message: dict[str, Any], *, model: str, created: int) -> dict[str, Any]:
    """Anthropic message -> chat completion; ``model`` is the name the client asked for.

    Raises ValueError when ``message`` has no content list (the proxy answers 502).
    """
    parts: dict[str, list[str]] = {"text": [], "thinking": []}
    calls: list[dict[str, Any]] = []
    previous = ""
    content = message.get("content")
    if not isinstance(content, list):
        # Every Anthropic message has a content list. Anything else (an error body sent with a 200,
        # an OpenAI-shaped answer) would otherwise become an empty "stop" completion, a silent
        # success; the ValueError makes it a 502 (chat_response.py does the same without choices).
        raise ValueError("upstream response has no content list")
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in parts and isinstance(text := block.get(kind), str):
            pieces = parts[kind]
            if previous != kind and "".join(pieces).strip():
                pieces.append(BLOCK_SEPARATOR)
            pieces.append(text)
        elif kind == "tool_use":
            calls.append(_tool_call(block))
        previous = kind if isinstance(kind, str) else ""
    text, thinking = "".join(parts["text"]), "".join(parts["thinking"])
    reply: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None, "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    if thinking:
        reply["reasoning_content"] = thinking
    stop_reason = message.get("stop_reason")
    return {
        "id": "chatcmpl-" + str(message.get("id") or ""),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": reply,
            "finish_reason": STOP_TO_FINISH.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop",
            "logprobs": None,
        }],
        "usage": chat_usage(message.get("usage")),
        "system_fingerprint": None,
    }


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    tool_input = block.get("input")
    return {
        "id": block.get("id") or "",
        "type": "function",
        "function": {
            "name": block.get("name") or "",
            "arguments": orjson.dumps(tool_input if tool_input is not None else {}).decode(),
        },
    }
