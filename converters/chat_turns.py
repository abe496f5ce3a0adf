"""OpenAI Chat ``messages`` -> Anthropic ``system`` blocks and user/assistant turns.

The conversation half of converters.chat_request (whose docstring states the rules): pure, builds
new dicts, never mutates its input.
"""

from __future__ import annotations

from typing import Any


from converters.anthropic_options import valid_anthropic_turns
from converters.errors import ConversionError
from converters.media import document_block, image_block
from converters.tool_names import anthropic_tool_id, call_arguments

__all__ = ["to_anthropic_turns"]

def to_anthropic_turns(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system text blocks, user/assistant turns) for Anthropic."""
    if not isinstance(messages, list) or not messages:
        raise ConversionError("messages must be a non-empty list", "messages")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    open_calls: dict[str, tuple[str, str]] = {}  # unanswered tool_use id -> (name, param of the call)
    for i, message in enumerate(messages):
        param = f"messages.{i}"
        if not isinstance(message, dict):
            raise ConversionError("each message must be an object", param)
        role = message.get("role")
        if role in ("system", "developer"):
            blocks = _blocks(message.get("content"), f"{param}.content")
            if any(block["type"] != "text" for block in blocks):
                raise ConversionError(f"{role} messages may only contain text", f"{param}.content")
            system.extend(blocks)
        elif role in ("tool", "function"):
            result = _tool_result(message, param, open_calls)
            if turns[-1]["role"] == "user":  # earlier results of the same assistant turn
                turns[-1]["content"].append(result)
            else:
                turns.append({"role": "user", "content": [result]})
        elif role in ("user", "assistant"):
            _check_answered(open_calls)
            if role == "user":
                blocks = _blocks(message.get("content"), f"{param}.content")
            else:
                blocks = _assistant_blocks(message, i, open_calls)
            if blocks and turns and turns[-1]["role"] == role:
                turns[-1]["content"].extend(blocks)  # our own list: merging is safe
            elif blocks:
                turns.append({"role": role, "content": blocks})
        else:
            raise ConversionError(f"unsupported message role {role!r}", f"{param}.role")
    _check_answered(open_calls)
    return system, valid_anthropic_turns(turns, "messages")


def _check_answered(open_calls: dict[str, tuple[str, str]]) -> None:
    if open_calls:
        tool_id, (_name, param) = next(iter(open_calls.items()))
        raise ConversionError(f"tool call {tool_id!r} has no tool message answering it", f"{param}.id")


def _assistant_blocks(message: dict[str, Any], i: int, open_calls: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """Text, then one tool_use per tool call; an empty or null content makes no text block."""
    param = f"messages.{i}"
    blocks = _blocks(message.get("content"), f"{param}.content")
    refusal = message.get("refusal")
    if not blocks and isinstance(refusal, str) and refusal.strip():
        blocks.append({"type": "text", "text": refusal})
    calls = message.get("tool_calls")
    for m, call in enumerate(calls if isinstance(calls, list) else ()):
        call = call if isinstance(call, dict) else {}
        if call.get("type", "function") != "function":
            raise ConversionError("only function tool calls can be sent to Anthropic models",
                                  f"{param}.tool_calls.{m}.type")
        blocks.append(_tool_use(call.get("id"), call.get("function"), f"{param}.tool_calls.{m}", open_calls))
    if isinstance(legacy := message.get("function_call"), dict):
        blocks.append(_tool_use(f"call_legacy_{i}", legacy, f"{param}.function_call", open_calls))
    return blocks


def _tool_use(call_id: Any, function: Any, param: str, open_calls: dict[str, tuple[str, str]]) -> dict[str, Any]:
    if not isinstance(call_id, str) or not call_id:
        raise ConversionError("a tool call needs an id", f"{param}.id")
    fparam = param if param.endswith("function_call") else f"{param}.function"
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or not name:
        raise ConversionError("a tool call needs a function name", f"{fparam}.name")
    tool_input = call_arguments(function.get("arguments"))
    if tool_input is None:
        raise ConversionError(f"the arguments of tool call {call_id!r} are not a JSON object",
                              f"{fparam}.arguments")
    tool_id = anthropic_tool_id(call_id)  # deterministic: the tool message's id maps the same way
    if tool_id in open_calls:
        raise ConversionError(f"duplicate tool call id {call_id!r}", f"{param}.id")
    open_calls[tool_id] = (name, param)
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def _tool_result(message: dict[str, Any], param: str, open_calls: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A role "tool" (or legacy "function") message -> a tool_result for a call still unanswered."""
    if message.get("role") == "tool":
        call_id = message.get("tool_call_id")
        tool_id = anthropic_tool_id(call_id) if isinstance(call_id, str) and call_id else None
        id_param = f"{param}.tool_call_id"
    else:  # legacy: answers the open call of that name
        call_id = message.get("name")
        tool_id = next((k for k, (name, _) in open_calls.items() if name == call_id), None)
        id_param = f"{param}.name"
    if tool_id is None or open_calls.pop(tool_id, None) is None:
        raise ConversionError(f"tool message for {call_id!r} does not answer a tool call of the "
                              "preceding assistant message", id_param)
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id}
    if content := _blocks(message.get("content"), f"{param}.content"):
        result["content"] = content
    return result


def _blocks(content: Any, param: str) -> list[dict[str, Any]]:
    """A message's content as Anthropic blocks; empty and whitespace-only text makes none."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    if not isinstance(content, list):
        raise ConversionError("content must be a string or a list of content parts", param)
    return [block for j, part in enumerate(content) if (block := _part(part, f"{param}.{j}")) is not None]


def _part(part: Any, param: str) -> dict[str, Any] | None:
    kind = part.get("type") if isinstance(part, dict) else None
    block: dict[str, Any] | None
    if kind in ("text", "refusal"):
        text = part.get(kind)
        block = {"type": "text", "text": text} if isinstance(text, str) and text.strip() else None
    elif kind == "image_url":
        block = _image(part.get("image_url"), f"{param}.image_url")
    elif kind == "file":
        block = _document(part.get("file"), f"{param}.file")
    elif kind == "input_audio":
        raise ConversionError("audio input is not supported by Anthropic models", param)
    else:
        raise ConversionError(f"unsupported content part type {kind!r}", f"{param}.type")
    if block is not None and isinstance(cache := part.get("cache_control"), dict):
        block["cache_control"] = cache  # an extension some OpenAI clients send for Claude
    return block


def _image(spec: Any, param: str) -> dict[str, Any]:
    return image_block(spec.get("url") if isinstance(spec, dict) else spec, f"{param}.url")


def _document(spec: Any, param: str) -> dict[str, Any]:
    spec = spec if isinstance(spec, dict) else {}
    data = spec.get("file_data")
    return document_block(data, spec.get("filename"), f"{param}.file_data" if isinstance(data, str) else param)
