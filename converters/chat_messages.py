"""Anthropic ``system`` + ``messages`` -> OpenAI Chat ``messages`` (the conversation half of a request).

Pure: builds new dicts and never mutates the input. Only the fields OpenAI knows are copied, so
Anthropic-only keys (``cache_control``, ``citations``, signatures) cannot leak upstream.

Nothing is dropped silently: every block type has a rule, and a block without one is a
ConversionError naming it (a 400 the client can act on) rather than a conversation quietly missing
a part.
- user turns: text; images as ``image_url`` parts; documents: text documents as text, PDFs as
  ``file`` parts when the target reads them (``file_parts``) and a 400 otherwise (a PDF by URL is a
  400 too: Chat file parts take base64 data only); ``search_result`` blocks as text (title, source,
  then their text);
- tool results become role:tool messages. Their text, search results and tool references stay
  there; their images and PDFs move to the user message that follows (most hosts reject them in
  role:tool), with "[image attached below]" / "[document attached below]" in their place.
  "(empty result)" is said only for a result that had no content;
- assistant turns: text and tool calls; ``thinking`` / ``redacted_thinking`` are dropped (other
  hosts cannot verify the signatures) unless ``reasoning_passback`` sends thinking back as
  ``reasoning_content`` (DeepSeek);
- server-tool traffic of earlier Anthropic turns (``SERVER_TOOL_BLOCKS``) is dropped in either role:
  the upstream already ran those tools, and the text the model wrote about their results stays;
- anything else -- a type this code does not know, or a known one in the wrong role -- is refused.
"""

from __future__ import annotations

from typing import Any

import orjson

from converters.errors import ConversionError
from converters.media import document_source, document_text, image_url, said_as_text
from converters.tool_names import shorten_tool_name

__all__ = ["ConversionError", "SERVER_TOOL_BLOCKS", "EMPTY_TOOL_RESULT", "TOOL_ERROR_PREFIX", "to_chat_messages",
           "without_billing_header", "tool_call_parts"]

EMPTY_TOOL_RESULT = "(empty result)"
TOOL_ERROR_PREFIX = "[tool error] "
_IMAGE_BELOW = "[image attached below]"
_DOCUMENT_BELOW = "[document attached below]"
_OPENAI_FILE_INPUTS = "https://developers.openai.com/api/docs/guides/file-inputs"

# Blocks of Anthropic server tools (web search and fetch, code execution, tool search, MCP
# connector, container uploads) that a client sends back in the history of an earlier Anthropic
# turn. The tools already ran upstream and another provider could neither run nor read them; the
# model's own text about their results is kept, so dropping the blocks loses no conversation.
SERVER_TOOL_BLOCKS = frozenset({
    "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
    "bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result",
    "mcp_tool_use", "mcp_tool_result", "container_upload",
})
_THINKING = frozenset({"thinking", "redacted_thinking"})


def to_chat_messages(body: dict[str, Any], reasoning_passback: bool = False,
                     file_parts: bool = False) -> list[dict[str, Any]]:
    """The request's system prompt and turns as Chat messages, in order.

    ``reasoning_passback``: assistant thinking goes back as ``reasoning_content`` on tool-call turns,
    which DeepSeek's thinking mode requires (it answers 400 "Missing reasoning_content field in the
    assistant message" otherwise); everywhere else thinking is dropped, never sent as text.
    ``file_parts``: the target reads PDFs as Chat ``file`` content parts.
    """
    out: list[dict[str, Any]] = []
    system = _text_of(without_billing_header(body.get("system")), "\n\n")
    if system:
        out.append({"role": "system", "content": system})
    for i, message in enumerate(body.get("messages") or ()):
        if not isinstance(message, dict):
            raise ConversionError("each message must be an object", f"messages.{i}")
        role = message.get("role")
        content = message.get("content")
        if role == "user":
            out.extend(_user_turn(content, f"messages.{i}.content", file_parts))
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


def without_billing_header(system: Any) -> Any:
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


def _user_turn(content: Any, param: str, file_parts: bool) -> list[dict[str, Any]]:
    """Tool messages first (OpenAI wants them right after the assistant's tool_calls), then the rest."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}] if content.strip() else []
    tools: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []  # images and PDFs moved out of tool results
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content if isinstance(content, list) else ()):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_result":
            tools.append(_tool_message(block, attachments, f"{param}.{j}", file_parts))
        elif kind in SERVER_TOOL_BLOCKS or kind in _THINKING:
            continue  # see SERVER_TOOL_BLOCKS; thinking has no place in a user turn and no Chat form
        elif (part := _content_part(block, f"{param}.{j}", file_parts, "a user turn")) is not None:
            parts.append(part)
    parts = attachments + parts
    if not parts:
        return tools
    if all(part["type"] == "text" for part in parts):
        # Text-only content as a plain string: the form every OpenAI-compatible host accepts.
        user: dict[str, Any] = {"role": "user", "content": "\n\n".join(p["text"] for p in parts)}
    else:
        user = {"role": "user", "content": parts}
    return [*tools, user]


def _content_part(block: dict[str, Any], param: str, file_parts: bool, where: str) -> dict[str, Any] | None:
    """One user-side block (of a turn or of a tool result) as a Chat part; None when it holds
    no text. Refuses what has no Chat form."""
    kind = block.get("type")
    text: Any = None
    if kind == "text":
        text = block.get("text")
    elif kind == "image":
        return {"type": "image_url", "image_url": {"url": image_url(block, f"{param}.source")}}
    elif kind == "document":
        if (found := document_source(block, f"{param}.source")) is not None:
            return _file_part(found, param, file_parts)
        text = document_text(block)
    elif (said := said_as_text(block, where == "a tool result")) is not None:
        text = said
    else:
        raise ConversionError(f"content block type {kind!r} in {where} cannot be sent to this provider "
                              "(it has no OpenAI Chat form)", param)
    return {"type": "text", "text": text} if isinstance(text, str) and text.strip() else None


def _file_part(found: tuple[str, str], param: str, file_parts: bool) -> dict[str, Any]:
    url, filename = found
    if not file_parts:
        raise ConversionError("this provider cannot read documents (PDF); send the document's text "
                              "instead, or use a provider that reads PDF files", param)
    if not url.startswith("data:"):
        raise ConversionError("a PDF given by URL cannot be sent to an OpenAI-compatible provider (Chat file "
                              f"parts take base64 data only, {_OPENAI_FILE_INPUTS}); send it as base64",
                              f"{param}.source")
    if not url.startswith("data:application/pdf;"):
        raise ConversionError("only PDF documents can be sent as files to an OpenAI-compatible provider",
                              f"{param}.source.media_type")
    return {"type": "file", "file": {"filename": filename, "file_data": url}}


def _tool_message(block: dict[str, Any], attachments: list[dict[str, Any]], param: str,
                  file_parts: bool) -> dict[str, Any]:
    """One role:tool message; images and PDFs go to ``attachments`` (for the following user
    message) because most hosts reject them in role:tool."""
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise ConversionError("tool_result needs the tool_use_id of the tool_use it answers",
                              f"{param}.tool_use_id")
    content = block.get("content")
    texts: list[str] = []
    markers: dict[str, str] = {}  # at most one marker per kind, in order
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, item in enumerate(content):
            if not isinstance(item, dict):
                continue
            part = _content_part(item, f"{param}.content.{k}", file_parts, "a tool result")
            if part is None:
                continue
            if part["type"] == "text":
                texts.append(part["text"])
            else:
                attachments.append(part)
                markers.setdefault(part["type"], _IMAGE_BELOW if part["type"] == "image_url" else _DOCUMENT_BELOW)
    text = "\n".join(texts)
    if markers:
        text = "\n".join([text, *markers.values()]) if text.strip() else "\n".join(markers.values())
    elif not text.strip():
        text = EMPTY_TOOL_RESULT  # the result really had no content
    if block.get("is_error") is True:
        text = TOOL_ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": tool_use_id, "content": text}


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
        elif kind == "thinking":
            thought = block.get("thinking")
            if reasoning_passback and isinstance(thought, str) and thought.strip():
                thoughts.append(thought)
        elif kind != "redacted_thinking" and kind not in SERVER_TOOL_BLOCKS:
            raise ConversionError(f"content block type {kind!r} in an assistant turn cannot be sent to this "
                                  "provider (it has no OpenAI Chat form)", f"{param}.{j}")
    if not texts and not calls:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
        if thoughts:
            message["reasoning_content"] = "\n\n".join(thoughts)
    return message


def tool_call_parts(block: dict[str, Any], param: str) -> tuple[str, str, str]:
    """A ``tool_use`` block's (id, function name as sent upstream, arguments as JSON text), for
    either OpenAI dialect."""
    tool_id, name = block.get("id"), block.get("name")
    if not isinstance(tool_id, str) or not tool_id:
        raise ConversionError("tool_use needs an id", f"{param}.id")
    if not isinstance(name, str) or not name:
        raise ConversionError("tool_use needs a name", f"{param}.name")
    tool_input = block.get("input")
    return tool_id, shorten_tool_name(name), orjson.dumps(tool_input if tool_input is not None else {}).decode()


def _tool_call(block: dict[str, Any], param: str) -> dict[str, Any]:
    tool_id, name, arguments = tool_call_parts(block, param)
    return {"id": tool_id, "type": "function", "function": {"name": name, "arguments": arguments}}
