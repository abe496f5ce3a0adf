"""Anthropic ``system`` + ``messages`` (the hub) -> Responses API ``instructions`` + ``input`` items.

The conversation half of converters.messages_to_responses. Pure: builds new dicts and never
mutates the input; only fields the Responses API knows are copied, so Anthropic-only keys
(``cache_control``, ``citations``, signatures) cannot leak upstream. Rules that are choices:

- ``system`` text joined with blank lines -> ``instructions``; Claude Code's billing-header block
  is dropped (the rule of converters.chat_messages). A ``role: system`` message inside
  ``messages`` (Claude Code sends them) stays where it is, as a system message item.
- A user turn's tool_result blocks become ``function_call_output`` items ahead of its other
  content (the Responses API wants the output right after the call). An output with images or
  documents is a list of parts, otherwise a string; an error result gets the text prefix
  converters.chat_messages uses, and an empty one its placeholder.
- Assistant text -> ``message`` items with ``output_text`` parts; tool_use -> ``function_call``.
- Thinking whose signature carries Responses reasoning (a reasoning item this provider family
  issued) -> a ``reasoning`` item with its id and encrypted content, and the item after it (a
  message or function_call) gets back the id it had, which the signature carries too. The API
  pairs a reasoning item with the item that followed it by that item's id; a reasoning item
  followed by an item without it is a 400 ("... was provided without its required following
  item", recorded in tests/fixtures/openai-responses-error-400-orphan-reasoning-item.json), so a
  reasoning item that cannot be paired (the history was edited) is dropped instead. Other
  thinking (Anthropic-signed, synthetic) is dropped: this provider cannot read it; so are
  redacted_thinking and ``_SERVER_TOOL_BLOCKS``.
- Any other block type is refused with a 400 naming it.
"""

from __future__ import annotations

from typing import Any


from converters.chat_messages import EMPTY_TOOL_RESULT, TOOL_ERROR_PREFIX, tool_call_parts, without_billing_header
from converters.errors import ConversionError
from converters.media import document_source, document_text, image_url, said_as_text
from converters.thinking import responses_in_signature

__all__ = ["to_responses_input"]

# Anthropic server tools ran on Anthropic's side; their calls and results have no Responses item
# a client may send (the provider's own web_search_call items need its item ids). What the model
# made of them is in the text that follows, so they are dropped, as the Chat converter drops them.
_SERVER_TOOL_BLOCKS = frozenset({
    "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
    "bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result",
    "mcp_tool_use", "mcp_tool_result", "container_upload",
})
_DROPPED_BLOCKS = _SERVER_TOOL_BLOCKS | {"redacted_thinking"}


def to_responses_input(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(instructions, input items) for the request's system prompt and turns."""
    instructions = _text_of(without_billing_header(body.get("system")))
    items: list[dict[str, Any]] = []
    messages = body.get("messages")
    for i, message in enumerate(messages if isinstance(messages, list) else ()):
        param = f"messages.{i}"
        if not isinstance(message, dict):
            raise ConversionError("each message must be an object", param)
        role, content = message.get("role"), message.get("content")
        if role == "user":
            items.extend(_user_items(content, f"{param}.content"))
        elif role == "assistant":
            items.extend(_assistant_items(content, f"{param}.content"))
        elif role == "system":
            if text := _text_of(content):
                items.append({"type": "message", "role": "system", "content": [_input_text(text)]})
        else:
            raise ConversionError(f"unsupported message role {role!r}", f"{param}.role")
    return instructions, items


def _text_of(content: Any) -> str:
    """A string, or the non-blank text blocks of a block list joined by blank lines."""
    if isinstance(content, str):
        return content if content.strip() else ""
    return "\n\n".join(
        text for block in content if isinstance(block, dict) and block.get("type") == "text"
        and isinstance(text := block.get("text"), str) and text.strip()
    ) if isinstance(content, list) else ""


def _input_text(text: str) -> dict[str, Any]:
    return {"type": "input_text", "text": text}


def _blocks(content: Any) -> list[tuple[int, dict[str, Any]]]:
    """(index, block) of a string or block-list content; a string is one text block."""
    if isinstance(content, str):
        return [(0, {"type": "text", "text": content})]
    if not isinstance(content, list):
        return []
    return [(j, block) for j, block in enumerate(content) if isinstance(block, dict)]


def _user_items(content: Any, param: str) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in _blocks(content):
        kind = block.get("type")
        if kind == "tool_result":
            outputs.append(_function_call_output(block, f"{param}.{j}"))
        elif kind not in _DROPPED_BLOCKS:
            if (part := _media_part(block, f"{param}.{j}")) is not None:
                parts.append(part)
    if parts:
        outputs.append({"type": "message", "role": "user", "content": parts})
    return outputs


def _media_part(block: dict[str, Any], param: str, in_tool_result: bool = False) -> dict[str, Any] | None:
    """A text, image or document block (or one said as text) as an input part (None for blank text)."""
    kind = block.get("type")
    if kind == "text" or (said := said_as_text(block, in_tool_result)) is not None:
        text = block.get("text") if kind == "text" else said
        return _input_text(text) if isinstance(text, str) and text.strip() else None
    if kind == "image":
        return {"type": "input_image", "image_url": image_url(block, f"{param}.source"), "detail": "auto"}
    if kind == "document":
        if (text := document_text(block)) is not None:
            return _input_text(text) if text.strip() else None
        source = document_source(block, f"{param}.source")
        if source is None:
            return None
        url, filename = source
        key = "file_data" if url.startswith("data:") else "file_url"
        return {"type": "input_file", key: url, "filename": filename}
    raise ConversionError(f"content block type {kind!r} cannot be sent to this provider", f"{param}.type")


def _function_call_output(block: dict[str, Any], param: str) -> dict[str, Any]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise ConversionError("tool_result needs the tool_use_id of the tool_use it answers", f"{param}.tool_use_id")
    texts: list[str] = []
    media: list[dict[str, Any]] = []
    for k, part in _blocks(block.get("content")):
        if (converted := _media_part(part, f"{param}.content.{k}", in_tool_result=True)) is None:
            continue
        if converted["type"] == "input_text":
            texts.append(converted["text"])
        else:
            media.append(converted)
    text = "\n".join(texts)
    if not text.strip():
        text = "" if media else EMPTY_TOOL_RESULT
    if block.get("is_error") is True:
        text = TOOL_ERROR_PREFIX + text
    output: str | list[dict[str, Any]] = [_input_text(text), *media] if text and media else media or text
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def _assistant_items(content: Any, param: str) -> list[dict[str, Any]]:
    """Reasoning, message and function_call items in block order. The item after a reasoning
    item gets back the id it had (the signature carries it), so the API can pair them."""
    items: list[dict[str, Any]] = []
    following: str | None = None   # the id the next item must have, after a reasoning item
    for j, block in _blocks(content):
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str) or not text.strip():
                continue
            if items and items[-1]["type"] == "message" and following is None:
                items[-1]["content"].append(_output_text(text))
            else:
                items.append(_pair({"type": "message", "role": "assistant", "content": [_output_text(text)]},
                                   following, status="completed"))
                following = None
        elif kind == "tool_use":
            items.append(_pair(_function_call(block, f"{param}.{j}"), following))
            following = None
        elif kind == "thinking":
            if (carried := responses_in_signature(block.get("signature"))) is not None and carried.item_id:
                thought = block.get("thinking")
                summary = [{"type": "summary_text", "text": thought}] if isinstance(thought, str) and thought else []
                items.append({"type": "reasoning", "id": carried.item_id, "summary": summary,
                              "encrypted_content": carried.encrypted})
                following = carried.following
        elif kind not in _DROPPED_BLOCKS:
            raise ConversionError(f"content block type {kind!r} cannot be sent to this provider", f"{param}.{j}.type")
    return [_as_output(item) for n, item in enumerate(items) if item["type"] != "reasoning" or _paired(items, n)]


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text}


def _as_output(item: dict[str, Any]) -> dict[str, Any]:
    """A message item that goes back with its id is the provider's own output message, whose
    text parts carry (empty) annotations."""
    if item["type"] != "message" or "id" not in item:
        return item
    return {**item, "content": [{**part, "annotations": []} for part in item["content"]]}


def _pair(item: dict[str, Any], following: str | None, **extra: Any) -> dict[str, Any]:
    """The item that follows a reasoning item, with the id it had when the provider sent it."""
    return {**item, "id": following, **extra} if following else item


def _paired(items: list[dict[str, Any]], n: int) -> bool:
    """A reasoning item may go back only with the item that followed it (or, when none did, as
    the turn's last item); otherwise the API refuses the whole request."""
    nxt = items[n + 1] if n + 1 < len(items) else None
    return nxt.get("id") is not None if nxt is not None else True


def _function_call(block: dict[str, Any], param: str) -> dict[str, Any]:
    tool_id, name, arguments = tool_call_parts(block, param)
    return {"type": "function_call", "call_id": tool_id, "name": name, "arguments": arguments}
