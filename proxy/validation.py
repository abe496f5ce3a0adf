"""Inbound request bodies: parsed and checked once, so a bad request gets a 400 naming the field.

orjson parses (the fastest parser, and the one every other body goes through); TypedDicts with
``extra="allow"`` then validate the shape the converters rely on and return plain dicts that keep
every unknown key: a field a new Claude Code release adds is accepted, not rejected. Block
contents are not validated beyond "a list of objects", for the same reason. The body's size and
number of JSON values were bounded before it got here (proxy/exchange.py ``read_body``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

import orjson

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

from .errors import ProxyError

__all__ = ["parse_messages_request", "parse_count_tokens_request", "parse_chat_request", "parse_responses_request"]

_Blocks = list[dict[str, Any]]


@with_config(ConfigDict(extra="allow"))
class _Message(TypedDict):
    role: Literal["user", "assistant", "system"]
    content: str | _Blocks


@with_config(ConfigDict(extra="allow"))
class _Tool(TypedDict):
    name: Annotated[str, Field(min_length=1)]


@with_config(ConfigDict(extra="allow"))
class _CountTokensRequest(TypedDict):
    model: Annotated[str, Field(min_length=1)]
    messages: Annotated[list[_Message], Field(min_length=1)]
    system: NotRequired[str | _Blocks]
    tools: NotRequired[list[_Tool]]


@with_config(ConfigDict(extra="allow"))
class _MessagesRequest(_CountTokensRequest):
    max_tokens: Annotated[int, Field(ge=1)]
    stream: NotRequired[StrictBool]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    top_k: NotRequired[int]
    stop_sequences: NotRequired[list[str]]
    tool_choice: NotRequired[dict[str, Any]]
    metadata: NotRequired[dict[str, Any]]
    thinking: NotRequired[dict[str, Any]]


@with_config(ConfigDict(extra="allow"))
class _ChatMessage(TypedDict):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: NotRequired[str | _Blocks | None]


@with_config(ConfigDict(extra="allow"))
class _ChatRequest(TypedDict):
    model: Annotated[str, Field(min_length=1)]
    messages: Annotated[list[_ChatMessage], Field(min_length=1)]
    stream: NotRequired[StrictBool | None]
    max_tokens: NotRequired[Annotated[int, Field(ge=1)] | None]
    max_completion_tokens: NotRequired[Annotated[int, Field(ge=1)] | None]
    temperature: NotRequired[float | None]
    top_p: NotRequired[float | None]
    n: NotRequired[int | None]
    stop: NotRequired[str | list[str] | None]
    tools: NotRequired[list[dict[str, Any]] | None]
    tool_choice: NotRequired[str | dict[str, Any] | None]
    stream_options: NotRequired[dict[str, Any] | None]


@with_config(ConfigDict(extra="allow"))
class _ResponsesRequest(TypedDict):
    model: Annotated[str, Field(min_length=1)]
    input: NotRequired[Annotated[str, Field(min_length=1)] | Annotated[_Blocks, Field(min_length=1)]]
    instructions: NotRequired[str | _Blocks | None]
    stream: NotRequired[StrictBool | None]
    store: NotRequired[StrictBool | None]
    previous_response_id: NotRequired[Annotated[str, Field(min_length=1)] | None]
    max_output_tokens: NotRequired[Annotated[int, Field(ge=1)] | None]
    temperature: NotRequired[float | None]
    top_p: NotRequired[float | None]
    tools: NotRequired[list[dict[str, Any]] | None]
    tool_choice: NotRequired[str | dict[str, Any] | None]
    parallel_tool_calls: NotRequired[StrictBool | None]
    reasoning: NotRequired[dict[str, Any] | None]
    text: NotRequired[dict[str, Any] | None]


_MESSAGES = TypeAdapter(_MessagesRequest)
_RESPONSES = TypeAdapter(_ResponsesRequest)
_CHAT = TypeAdapter(_ChatRequest)
_COUNT_TOKENS = TypeAdapter(_CountTokensRequest)


def parse_messages_request(raw: bytes) -> dict[str, Any]:
    return _parse(_MESSAGES, raw)


def parse_count_tokens_request(raw: bytes) -> dict[str, Any]:
    return _parse(_COUNT_TOKENS, raw)


def parse_chat_request(raw: bytes) -> dict[str, Any]:
    return _parse(_CHAT, raw)


def parse_responses_request(raw: bytes) -> dict[str, Any]:
    body = _parse(_RESPONSES, raw)
    if "input" not in body and not body.get("previous_response_id"):
        raise ProxyError(400, "input: Field required", param="input")
    return body


def _parse(adapter: TypeAdapter[Any], raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise ProxyError(400, "Request body is empty; expected a JSON object.")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProxyError(400, f"Request body is not valid JSON: {exc}.") from None
    try:
        return adapter.validate_python(payload)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise _bad_request(exc) from None


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "dict", "list"})


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and (
        part in _TYPE_TAGS or "[" in part or part.startswith(("function-", "constrained-", "typed-dict")))


def _bad_request(exc: ValidationError) -> ProxyError:
    err = exc.errors(include_url=False)[0]
    # drop pydantic's union-member tags ("str", "list[...]", "function-..."), keeping real fields
    # whose names merely start like one ("stream")
    loc = ".".join(str(p) for p in err["loc"] if not _is_union_tag(p))
    kind = err["type"]
    if not loc:
        return ProxyError(400, "Request body must be a JSON object.")
    if kind == "missing":
        return ProxyError(400, f"{loc}: Field required", param=loc)
    if kind == "too_short" and loc == "messages":
        return ProxyError(400, "messages: at least one message is required", param=loc)
    if loc.endswith(("content", "system")) and kind in ("string_type", "list_type"):
        return ProxyError(400, f"{loc}: expected a string or a list of content blocks", param=loc)
    return ProxyError(400, f"{loc}: {err['msg']}", param=loc)
