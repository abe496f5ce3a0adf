"""The OpenAI Responses API dialect, both sides: Codex CLI, the Agents SDK and ``client.responses``
apps, and providers with ``protocol: responses`` (OpenAI's newest models are served only there).

``previous_response_id`` names a stored conversation. A Responses provider keeps its own, so an
id dragoman does not know goes to it as it is; an id dragoman issued (an answer it translated,
kept by proxy/response_store.py) is expanded into the items it stands for, whichever provider
answers next. A translated request naming an id dragoman does not have is a 400.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson
from multidict import CIMultiDictProxy

from converters.chat_request import MessagesTarget
from converters.errors import ConversionError
from converters.messages_to_responses import ResponsesTarget, to_responses_request
from converters.responses_items import reasoning_requested, response_echo
from converters.responses_request import to_messages_request
from converters.responses_response import to_messages_response, to_responses_response
from converters.tool_names import ToolMap, restore_map
from streaming.pump import Decoder, Encoder
from streaming.responses_decoder import ResponsesEventDecoder
from streaming.responses_encoder import ResponsesEncoder

from .. import passthrough
from ..conditions import Facts, responses_facts
from ..fallback import Outbound
from ..flavors import prompt_cache_key, with_extra_body
from ..response_store import ResponseStore
from ..routing import Dialect, Target
from ..upstream import Upstream
from ..validation import parse_responses_request
from . import Reply
from .chat import DEFAULT_MAX_TOKENS

__all__ = ["ResponsesClient", "ResponsesProvider"]


class _ResponsesReply(Reply):
    __slots__ = ("id", "model", "created_at", "tool_map", "reasoning", "echo", "store", "conversation")

    def __init__(self, model: str, tool_map: ToolMap, reasoning: bool, echo: dict[str, Any],
                 store: ResponseStore | None, conversation: bytes) -> None:
        self.id = "resp_" + secrets.token_hex(24)
        self.model, self.created_at = model, int(time.time())
        self.tool_map, self.reasoning, self.echo = tool_map, reasoning, echo
        self.store, self.conversation = store, conversation   # where and what to remember, if asked

    def encoder(self) -> Encoder:
        return ResponsesEncoder(self.id, self.model, self.created_at, self.tool_map, self.reasoning, self.echo)

    def render(self, message: dict[str, Any]) -> dict[str, Any]:
        response = to_responses_response(message, response_id=self.id, model=self.model, created_at=self.created_at,
                                         tool_map=self.tool_map, reasoning_requested=self.reasoning, echo=self.echo)
        self._remember(response)
        return response

    def finish(self, encoder: Encoder) -> None:
        if self.store is not None and isinstance(encoder, ResponsesEncoder) and encoder.response is not None:
            self._remember(encoder.response)

    def _remember(self, response: dict[str, Any]) -> None:
        if self.store is not None and response.get("status") in ("completed", "incomplete"):
            self.store.put(self.id, self.conversation, response.get("output") or [])


class ResponsesClient:
    dialect: Dialect = "responses"

    def __init__(self, store: ResponseStore) -> None:
        self._store = store

    def parse(self, raw: bytes) -> dict[str, Any]:
        return parse_responses_request(raw)

    def facts(self, body: dict[str, Any]) -> Facts:
        return responses_facts(body)

    def passthrough(self, raw: bytes, body: dict[str, Any], target: Target,
                    headers: CIMultiDictProxy[str]) -> tuple[bytes, dict[str, str]]:
        items = self._history(body)
        forwarded = passthrough.openai_headers(headers, target.provider)
        if items is None:  # no id, or the provider's own: it resolves it
            return passthrough.model_request(raw, body, target), forwarded
        request = {k: v for k, v in body.items() if k != "previous_response_id"}
        return orjson.dumps({**request, "model": target.upstream_model, "input": items}), forwarded

    def to_hub(self, raw: bytes, body: dict[str, Any], target: Target) -> tuple[dict[str, Any], Reply]:
        items = self._history(body)
        if items is None:
            if (previous := body.get("previous_response_id")) is not None:
                raise ConversionError(f"previous_response_id {previous!r} is unknown or expired: dragoman keeps "
                                      "recent responses for a while, in this process only (responses_store); "
                                      "send the conversation as input instead", "previous_response_id")
            items = _input_items(body.get("input"))
        request = {k: v for k, v in body.items() if k != "previous_response_id"}
        request["input"] = items
        route = target.route
        limits = MessagesTarget(
            model=target.upstream_model, max_tokens=route.max_tokens,
            default_max_tokens=min(route.default_max_tokens or DEFAULT_MAX_TOKENS, route.max_tokens or DEFAULT_MAX_TOKENS),
            system_prompt=route.system_prompt)
        hub, tool_map = to_messages_request(request, limits)
        store = self._store if self._store.enabled and body.get("store") is not False else None
        conversation = orjson.dumps(items) if store is not None else b""
        return hub, _ResponsesReply(target.response_model, tool_map, reasoning_requested(body), response_echo(body),
                                    store, conversation)

    def conversation(self, body: dict[str, Any], headers: CIMultiDictProxy[str]) -> str | None:
        """Codex's session: its prompt_cache_key, else its session-id header, else the user."""
        for value in (body.get("prompt_cache_key"), headers.get("session-id"), body.get("user"),
                      body.get("safety_identifier")):
            if isinstance(value, str) and value:
                return value
        return None

    def _history(self, body: dict[str, Any]) -> list[Any] | None:
        """The input with the stored conversation ``previous_response_id`` names in front; None
        when there is no id, or it is not one dragoman keeps."""
        previous = body.get("previous_response_id")
        if not isinstance(previous, str) or (stored := self._store.get(previous)) is None:
            return None
        return stored + _input_items(body.get("input"))


def _input_items(value: Any) -> list[Any]:
    """``input`` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return list(value) if isinstance(value, list) else []


class ResponsesProvider:
    def url(self, upstream: Upstream, target: Target) -> Any:
        return upstream.responses_url

    def request(self, hub: dict[str, Any], target: Target, upstream: Upstream,
                conversation: str | None) -> tuple[Outbound, dict[str, str]]:
        route = target.route
        body = to_responses_request(hub, ResponsesTarget(model=target.upstream_model, max_tokens=route.max_tokens,
                                                         default_max_tokens=route.default_max_tokens))
        if (key := prompt_cache_key(target, conversation)) is not None:
            body["prompt_cache_key"] = key
        return (Outbound(upstream.responses_url, orjson.dumps(with_extra_body(body, target)),
                         stream=hub.get("stream") is True),
                restore_map(hub.get("tools")))

    def decoder(self, tool_names: dict[str, str]) -> Decoder:
        return ResponsesEventDecoder(tool_names)

    def message(self, payload: Any, target: Target, tool_names: dict[str, str]) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ValueError("upstream response is not an object")
        return to_messages_response(payload, model=target.response_model, tool_names=tool_names)
