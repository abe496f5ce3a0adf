"""Anthropic ``system`` + ``messages`` -> OpenAI Chat ``messages`` (the conversation half of a request).

Pure: builds new dicts and never mutates the input. Only the fields OpenAI knows are copied, so
Anthropic-only keys (``cache_control``, ``citations``, signatures) cannot leak upstream.
"""

from __future__ import annotations

from typing import Any

import orjson

from converters.errors import ConversionError
from converters.media import document_text, image_url
from converters.tool_names import shorten_tool_name

__all__ = ["ConversionError", "to_chat_messages"]

_EMPTY_TOOL_RESULT = "(empty result)"
_TOOL_ERROR_PREFIX = "[tool error] "
_IMAGE_BELOW = "[image attached below]"


def to_chat_messages(body: dict[str, Any], reasoning_passback: bool = False) -> list[dict[str, Any]]:
    """The request's system prompt and turns as Chat messages, in order.

    ``reasoning_passback``: assistant thinking goes back as ``reasoning_content`` on tool-call turns,
    which DeepSeek's thinking mode requires ("Missing reasoning_content field in the assistant
    message", ANCHORS §3 #19); everywhere else thinking is dropped, never sent as text.
    """
    out: list[dict[str, Any]] = []
    system = _text_of(_without_billing_header(body.get("system")), "\n\n")
    if system:
        out.append({"role": "system", "content": system})
    for i, message in enumerate(body.get("messages") or ()):
        if not isinstance(message, dict):
            raise ConversionError("each message must be an object", f"messages.{i}")
        role = message.get("role")
        content = message.get("content")
        if role == "user":
            out.extend(_user_turn(content, f"messages.{i}.content"))
        elif role == "assistant":
            if (turn := _assistant_turn(content, f"messages.{i}.content", reasoning_passback)) is not None:
                out.append(turn)
        elif role == "system":
            # Claude Code puts role:"system" messages inside `messages`; keep them where they are.
            if text := _text_of(content, "\n\n"):
                out.append({"role": "system", "content": text})
        else:
            raise ConversionError(f"unsupported message role {role!r}", f"messages.{i}.role")
    return out


def _without_billing_header(system: Any) -> Any:
    """Claude Code opens its system prompt with an ``x-anthropic-billing-header`` block whose hash
    changes on every run. It means nothing to other providers, and as the first bytes of the
    prompt it would defeat their automatic prefix caching (OpenAI, DeepSeek) for every session.
    """
    if isinstance(system, list) and system and isinstance(first := system[0], dict):
        text = first.get("text")
        if isinstance(text, str) and text.startswith("x-anthropic-billing-header:"):
            return system[1:]
    return system


def _text_of(content: Any, sep: str) -> str:
    """A string, or the non-blank text blocks of a block list joined by ``sep``."""
    if isinstance(content, str):
        return content if content.strip() else ""
    if not isinstance(content, list):
        return ""
    return sep.join(
        text
        for block in content
        if isinstance(block, dict) and block.get("type") == "text"
        and isinstance(text := block.get("text"), str) and text.strip()
    )


def _user_turn(content: Any, param: str) -> list[dict[str, Any]]:
    """Tool messages first (OpenAI wants them right after the assistant's tool_calls), then the rest."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}] if content.strip() else []
    tools: list[dict[str, Any]] = []
    tool_images: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content if isinstance(content, list) else ()):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_result":
            tools.append(_tool_message(block, tool_images, f"{param}.{j}"))
        elif kind == "text" or kind == "document":
            text = block.get("text") if kind == "text" else document_text(block)
            if isinstance(text, str) and text.strip():
                parts.append({"type": "text", "text": text})
        elif kind == "image":
            parts.append(_image_part(block, f"{param}.{j}.source"))
        # Anything else (server tool results, search results, unknown kinds) has no Chat form.
    parts = tool_images + parts
    if not parts:
        return tools
    if all(part["type"] == "text" for part in parts):
        # Text-only content as a plain string: the form every OpenAI-compatible host accepts.
        user: dict[str, Any] = {"role": "user", "content": "\n\n".join(p["text"] for p in parts)}
    else:
        user = {"role": "user", "content": parts}
    return [*tools, user]


def _tool_message(block: dict[str, Any], images: list[dict[str, Any]], param: str) -> dict[str, Any]:
    """One role:tool message; images go to ``images`` because most hosts reject them in role:tool."""
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise ConversionError("tool_result needs the tool_use_id of the tool_use it answers",
                              f"{param}.tool_use_id")
    content = block.get("content")
    texts: list[str] = []
    n_images = 0
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, part in enumerate(content):
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            text = part.get("text") if kind == "text" else document_text(part) if kind == "document" else None
            if isinstance(text, str) and text:
                texts.append(text)
            elif kind == "image":
                images.append(_image_part(part, f"{param}.content.{k}.source"))
                n_images += 1
    text = "\n".join(texts)
    if not text.strip():
        text = "" if n_images else _EMPTY_TOOL_RESULT
    if n_images:
        text = f"{text}\n{_IMAGE_BELOW}" if text else _IMAGE_BELOW
    if block.get("is_error") is True:
        text = _TOOL_ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": tool_use_id, "content": text}


def _image_part(block: dict[str, Any], param: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": image_url(block, param)}}


def _assistant_turn(content: Any, param: str, reasoning_passback: bool = False) -> dict[str, Any] | None:
    """Text and tool calls; thinking is dropped (OpenAI hosts cannot verify or use signatures),
    unless ``reasoning_passback`` asks for it back as ``reasoning_content`` on a tool-call turn."""
    if isinstance(content, str):
        return {"role": "assistant", "content": content} if content.strip() else None
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content if isinstance(content, list) else ()):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if isinstance(text, str) and text.strip():
                texts.append(text)
        elif kind == "tool_use":
            calls.append(_tool_call(block, f"{param}.{j}"))
        elif kind == "thinking" and reasoning_passback:
            thought = block.get("thinking")
            if isinstance(thought, str) and thought.strip():
                thoughts.append(thought)
    if not texts and not calls:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
        if thoughts:
            message["reasoning_content"] = "\n\n".join(thoughts)
    return message


def _tool_call(block: dict[str, Any], param: str) -> dict[str, Any]:
    tool_id, name = block.get("id"), block.get("name")
    if not isinstance(tool_id, str) or not tool_id:
        raise ConversionError("tool_use needs an id", f"{param}.id")
    if not isinstance(name, str) or not name:
        raise ConversionError("tool_use needs a name", f"{param}.name")
    tool_input = block.get("input")
    return {
        "id": tool_id,
        "type": "function",
        "function": {
            "name": shorten_tool_name(name),
            "arguments": orjson.dumps(tool_input if tool_input is not None else {}).decode(),
        },
    }
