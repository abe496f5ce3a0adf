"""Request bodies checked against the official SDKs' request types, so a shape mistake fails a test.

The SDK types are TypedDicts: pydantic validates their ``Iterable`` fields lazily (it returns
iterators) and drops keys it does not know. So the validated value is walked to the end, which
validates every nested item, and must equal the body: a dropped (unknown) or coerced key fails.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from anthropic.types.message_create_params import MessageCreateParamsNonStreaming, MessageCreateParamsStreaming
from openai.types.responses.response_create_params import (
    ResponseCreateParamsNonStreaming,
    ResponseCreateParamsStreaming,
)
from pydantic import TypeAdapter

_ANTHROPIC: dict[bool, TypeAdapter[Any]] = {False: TypeAdapter(MessageCreateParamsNonStreaming), True: TypeAdapter(MessageCreateParamsStreaming)}
_RESPONSES: dict[bool, TypeAdapter[Any]] = {False: TypeAdapter(ResponseCreateParamsNonStreaming), True: TypeAdapter(ResponseCreateParamsStreaming)}
# The SDK lists no id-less assistant message with output_text parts among the input items,
# though the API takes one (it is how stateless clients replay answers); such items are checked
# as the SDK's output message, with the id and fields it requires filled in and taken out again.
_PLACEHOLDERS = {"id": "msg_placeholder", "status": "completed"}
# anthropic 2.15's request types list no sampling options, though chat_request has always sent them
# (by the rules in converters.anthropic_options); they are checked apart.
_SAMPLING = ("temperature", "top_p", "top_k")


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _walk(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, Iterator)):
        return [_walk(item) for item in value]
    return value


def _difference(validated: Any, body: Any, path: str = "") -> str | None:
    """Where the validated value first differs from the body (a key the SDK does not know, a coercion)."""
    if isinstance(body, dict) and isinstance(validated, dict):
        for key in body:
            if key not in validated:
                return f"{path}.{key}: not in the SDK type"
            if (found := _difference(validated[key], body[key], f"{path}.{key}")) is not None:
                return found
        return None
    if isinstance(body, list) and isinstance(validated, list) and len(body) == len(validated):
        return next((found for i, (v, b) in enumerate(zip(validated, body, strict=True))
                     if (found := _difference(v, b, f"{path}.{i}")) is not None), None)
    return None if validated == body and type(validated) is type(body) else f"{path}: {body!r} became {validated!r}"


def assert_anthropic_request(body: dict[str, Any]) -> None:
    sampling = {key: body[key] for key in _SAMPLING if key in body}
    assert all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in sampling.values())
    rest = {key: value for key, value in body.items() if key not in sampling}
    validated = _walk(_ANTHROPIC[body.get("stream") is True].validate_python(rest))
    assert (difference := _difference(validated, rest)) is None, difference


def assert_responses_request(body: dict[str, Any]) -> None:
    patched = copy.deepcopy(body)
    anonymous = [n for n, item in enumerate(patched.get("input", ()))
                 if item.get("type") == "message" and item.get("role") == "assistant" and "id" not in item]
    for n in anonymous:
        patched["input"][n].update(_PLACEHOLDERS)
        for part in patched["input"][n]["content"]:
            part["annotations"] = []
    validated = _walk(_RESPONSES[body.get("stream") is True].validate_python(patched))
    for n in anonymous:
        item = validated["input"][n]
        for key in _PLACEHOLDERS:
            del item[key]
        for part in item["content"]:
            del part["annotations"]
    assert (difference := _difference(validated, body)) is None, difference
