"""Responses API ``instructions`` + ``input`` -> Anthropic ``system`` blocks and user/assistant turns.

The conversation half of converters.responses_request (whose docstring states the rules). Pure:
builds new dicts and never mutates its input. Item by item:

- messages (``type: message``, or no type but a ``role``): system / developer -> system text
  blocks; user -> the user turn; assistant -> the assistant turn. Parts: ``input_text`` /
  ``output_text`` / ``refusal`` -> text (blank text makes no block), ``input_image`` -> image,
  ``input_file`` -> document (converters.media); a ``file_id`` needs OpenAI's file store: a 400.
- ``reasoning`` / ``function_call`` / ``custom_tool_call`` join the assistant turn as thinking /
  tool_use blocks, in order; ``function_call_output`` / ``custom_tool_call_output`` become
  tool_result blocks of the next user turn, ahead of its other content.
- A reasoning item's thinking text is its summary (else its reasoning text); its signature says
  who can read it (converters.thinking): the Anthropic signature dragoman wrapped, else the
  OpenAI encrypted content wrapped, else the synthetic signature. With no text and nothing
  encrypted it makes no block; an assistant turn with nothing but thinking is left out.
- ``_DROPPED_ITEMS`` are dropped; ``additional_tools`` items join the tool list
  (converters.responses_tools); ``item_reference`` and every other item type are refused.
"""

from __future__ import annotations

from typing import Any


from converters.anthropic_options import valid_anthropic_turns
from converters.errors import ConversionError
from converters.media import document_block, image_block
from converters.responses_items import partner_id
from converters.responses_tools import ADDITIONAL_TOOLS, hub_tool_name
from converters.thinking import SYNTHETIC_SIGNATURE, anthropic_in_encrypted, signature_from_responses
from converters.tool_names import anthropic_tool_id, call_arguments

__all__ = ["to_anthropic_turns"]

# A provider's own web search in history: the search ran on that provider, its results reached the
# model only there, and what the model made of them is in the assistant messages that follow.
# Anthropic takes no foreign search results, so the item is dropped (as converters drop server-tool
# blocks they cannot carry).
_DROPPED_ITEMS = frozenset({"web_search_call"})
_CALL_ITEMS = frozenset({"function_call", "custom_tool_call"})
_RESULT_ITEMS = frozenset({"function_call_output", "custom_tool_call_output"})
_TEXT_PARTS = {"input_text": "text", "output_text": "text", "refusal": "refusal"}


class _Turn:
    """One turn being built; a user turn keeps its tool results apart so they go first."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.results: list[dict[str, Any]] = []
        self.blocks: list[dict[str, Any]] = []

    def content(self) -> list[dict[str, Any]]:
        return self.results + self.blocks


def to_anthropic_turns(instructions: Any, items: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system text blocks, user/assistant turns) for Anthropic."""
    if instructions is not None and not isinstance(instructions, str):
        raise ConversionError("instructions must be a string", "instructions")
    system = [{"type": "text", "text": instructions}] if instructions and instructions.strip() else []
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise ConversionError("input must be a string or a non-empty list of items", "input")
    turns: list[_Turn] = []
    open_calls: dict[str, str] = {}  # unanswered tool_use id -> param of the call
    for i, item in enumerate(items):
        param = f"input.{i}"
        if not isinstance(item, dict):
            raise ConversionError("each input item must be an object", param)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            _message(item, param, system, turns, open_calls)
        elif kind == "reasoning":
            following = partner_id(items[i + 1]) if i + 1 < len(items) else ""
            if (thinking := _thinking(item, following)) is not None:
                _assistant_turn(turns, open_calls).blocks.append(thinking)
        elif kind in _CALL_ITEMS:
            turn = _assistant_turn(turns, open_calls)  # before the call opens: it checks earlier ones
            turn.blocks.append(_tool_use(item, param, open_calls))
        elif kind in _RESULT_ITEMS:
            result = _tool_result(item, param, open_calls)
            if not turns or turns[-1].role != "user":
                turns.append(_Turn("user"))
            turns[-1].results.append(result)
        elif kind in _DROPPED_ITEMS or kind == ADDITIONAL_TOOLS:
            continue   # additional_tools: collected into the tool list (converters.responses_tools)
        elif kind == "item_reference":
            raise ConversionError("item_reference needs a stored response, and dragoman keeps none: "
                                  "send the item itself", f"{param}.type")
        else:
            raise ConversionError(f"input item type {kind!r} is not supported by this model", f"{param}.type")
    _check_answered(open_calls)
    return system, _finish(turns)


def _message(item: dict[str, Any], param: str, system: list[dict[str, Any]], turns: list[_Turn],
             open_calls: dict[str, str]) -> None:
    role = item.get("role")
    if role not in ("system", "developer", "user", "assistant"):
        raise ConversionError(f"unsupported message role {role!r}", f"{param}.role")
    blocks = _blocks(item.get("content"), f"{param}.content", media=role == "user")
    if role in ("system", "developer"):
        system.extend(blocks)
    elif role == "assistant" and blocks:
        _assistant_turn(turns, open_calls).blocks.extend(blocks)
    elif blocks:
        if not turns or turns[-1].role != "user":
            turns.append(_Turn("user"))
        turns[-1].blocks.extend(blocks)


def _assistant_turn(turns: list[_Turn], open_calls: dict[str, str]) -> _Turn:
    """The assistant turn to add to: the current one, or a new one once every call is answered."""
    if not turns or turns[-1].role != "assistant":
        _check_answered(open_calls)
        turns.append(_Turn("assistant"))
    return turns[-1]


def _check_answered(open_calls: dict[str, str]) -> None:
    if open_calls:
        tool_id, param = next(iter(open_calls.items()))
        raise ConversionError(f"tool call {tool_id!r} has no output answering it", f"{param}.call_id")


def _finish(built: list[_Turn]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for turn in built:
        content = turn.content()
        if turn.role == "assistant" and all(block["type"] == "thinking" for block in content):
            continue  # reasoning that led to nothing the conversation kept
        if turns and turns[-1]["role"] == turn.role:
            turns[-1]["content"].extend(content)  # our own lists: merging is safe
        else:
            turns.append({"role": turn.role, "content": content})
    return valid_anthropic_turns(turns, "input")


def _thinking(item: dict[str, Any], following: str) -> dict[str, Any] | None:
    """A reasoning item as a thinking block; ``following`` is the id of the item after it, which a
    Responses provider needs back beside it."""
    summary = _texts(item.get("summary"), "summary_text") or _texts(item.get("content"), "reasoning_text")
    thinking = "\n\n".join(summary)
    encrypted = item.get("encrypted_content")
    encrypted = encrypted if isinstance(encrypted, str) and encrypted else None
    if not thinking.strip() and encrypted is None:
        return None
    if encrypted is None:
        signature = SYNTHETIC_SIGNATURE
    else:
        item_id = item.get("id")
        signature = anthropic_in_encrypted(encrypted) or signature_from_responses(
            item_id if isinstance(item_id, str) else "", encrypted, following)
    return {"type": "thinking", "thinking": thinking, "signature": signature}


def _texts(parts: Any, kind: str) -> list[str]:
    # Kept exactly as sent: an Anthropic signature covers the text it signed.
    return [part["text"] for part in parts if isinstance(part, dict) and part.get("type") == kind
            and isinstance(part.get("text"), str) and part["text"]] if isinstance(parts, list) else []


def _tool_use(item: dict[str, Any], param: str, open_calls: dict[str, str]) -> dict[str, Any]:
    call_id, name = item.get("call_id"), item.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise ConversionError("a tool call needs a call_id", f"{param}.call_id")
    if not isinstance(name, str) or not name:
        raise ConversionError("a tool call needs a name", f"{param}.name")
    tool_input: dict[str, Any] | None
    if item["type"] == "custom_tool_call":
        if not isinstance(raw := item.get("input"), str):
            raise ConversionError(f"the input of custom tool call {call_id!r} must be a string", f"{param}.input")
        tool_input = {"input": raw}
    else:
        tool_input = call_arguments(item.get("arguments"))
        if tool_input is None:
            raise ConversionError(f"the arguments of tool call {call_id!r} are not a JSON object",
                                  f"{param}.arguments")
    tool_id = anthropic_tool_id(call_id)  # deterministic: the output's call_id maps the same way
    if tool_id in open_calls:
        raise ConversionError(f"duplicate tool call id {call_id!r}", f"{param}.call_id")
    open_calls[tool_id] = param
    namespace = item.get("namespace")
    hub_name = hub_tool_name(name, namespace if isinstance(namespace, str) and namespace else None)
    return {"type": "tool_use", "id": tool_id, "name": hub_name, "input": tool_input}


def _tool_result(item: dict[str, Any], param: str, open_calls: dict[str, str]) -> dict[str, Any]:
    call_id = item.get("call_id")
    tool_id = anthropic_tool_id(call_id) if isinstance(call_id, str) and call_id else None
    if tool_id is None or open_calls.pop(tool_id, None) is None:
        raise ConversionError(f"output for {call_id!r} does not answer a tool call of the preceding "
                              "assistant items", f"{param}.call_id")
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id}
    if content := _blocks(item.get("output"), f"{param}.output", media=True):
        result["content"] = content
    return result


def _blocks(content: Any, param: str, *, media: bool) -> list[dict[str, Any]]:
    """Message content or a tool output as Anthropic blocks; blank text makes none.
    ``media``: images and files are allowed (user content and tool outputs only)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    if not isinstance(content, list):
        raise ConversionError("content must be a string or a list of content parts", param)
    return [block for j, part in enumerate(content) if (block := _part(part, f"{param}.{j}", media)) is not None]


def _part(part: Any, param: str, media: bool) -> dict[str, Any] | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in _TEXT_PARTS:
        text = part.get(_TEXT_PARTS[kind])
        return {"type": "text", "text": text} if isinstance(text, str) and text.strip() else None
    if kind in ("input_image", "input_file") and not media:
        raise ConversionError("only user messages and tool outputs may hold images and files", param)
    if kind in ("input_image", "input_file") and part.get("file_id") is not None:
        raise ConversionError("file ids need OpenAI's file store; send the content as a URL or a data URL",
                              f"{param}.file_id")
    if kind == "input_image":
        return image_block(part.get("image_url"), f"{param}.image_url")
    if kind == "input_file":
        key = "file_data" if part.get("file_data") is not None else "file_url"
        return document_block(part.get(key), part.get("filename"), f"{param}.{key}")
    if kind == "input_audio":
        raise ConversionError("audio input is not supported by this model", param)
    raise ConversionError(f"unsupported content part type {kind!r}", f"{param}.type")
