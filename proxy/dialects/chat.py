"""The OpenAI Chat Completions dialect, both sides: OpenAI-SDK apps, and every OpenAI-compatible
provider (OpenAI, Azure, OpenRouter, DeepSeek, Gemini, Groq, Ollama, vLLM...)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from multidict import CIMultiDictProxy

from converters.chat_request import MessagesTarget, dropped_options, to_messages_request
from converters.chat_response import to_messages_response
from converters.messages_request import to_chat_request
from converters.messages_response import to_chat_completion
from converters.tool_names import restore_map
from streaming.chat_decoder import ChatChunkDecoder
from streaming.chat_encoder import ChatChunkEncoder
from streaming.pump import Decoder, Encoder

from .. import passthrough
from ..conditions import Facts, openai_facts
from ..fallback import Outbound
from ..flavors import chat_target, prompt_cache_key, with_extra_body
from ..routing import Dialect, Target
from ..upstream import Upstream
from ..validation import parse_chat_request
from . import Reply

__all__ = ["ChatClient", "ChatProvider", "DEFAULT_MAX_TOKENS"]

log = structlog.get_logger("dragoman")
DEFAULT_MAX_TOKENS = 16384   # Anthropic requires max_tokens; OpenAI clients often send none


@dataclass(frozen=True, slots=True)
class _ChatReply(Reply):
    model: str
    created: int
    include_usage: bool

    def encoder(self) -> Encoder:
        return ChatChunkEncoder("chatcmpl-" + secrets.token_hex(12), self.model, self.created, self.include_usage)

    def render(self, message: dict[str, Any]) -> dict[str, Any]:
        return to_chat_completion(message, model=self.model, created=self.created)


class ChatClient:
    dialect: Dialect = "openai"

    def parse(self, raw: bytes) -> dict[str, Any]:
        return parse_chat_request(raw)

    def facts(self, body: dict[str, Any]) -> Facts:
        return openai_facts(body)

    def passthrough(self, raw: bytes, body: dict[str, Any], target: Target,
                    headers: CIMultiDictProxy[str]) -> tuple[bytes, dict[str, str]]:
        return passthrough.model_request(raw, body, target), passthrough.openai_headers(headers, target.provider)

    def to_hub(self, raw: bytes, body: dict[str, Any], target: Target) -> tuple[dict[str, Any], Reply]:
        route = target.route
        limits = MessagesTarget(
            model=target.upstream_model, max_tokens=route.max_tokens,
            default_max_tokens=min(route.default_max_tokens or DEFAULT_MAX_TOKENS,
                                   route.max_tokens or DEFAULT_MAX_TOKENS),
            system_prompt=route.system_prompt)
        hub = to_messages_request(body, limits)
        if dropped := dropped_options(body):
            log.debug("options dropped", options=dropped, model=body["model"])
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return hub, _ChatReply(target.response_model, int(time.time()), include_usage)

    def conversation(self, body: dict[str, Any], headers: CIMultiDictProxy[str]) -> str | None:
        for key in ("prompt_cache_key", "user", "safety_identifier"):
            if isinstance(value := body.get(key), str) and value:
                return value
        return None


class ChatProvider:
    def url(self, upstream: Upstream, target: Target) -> Any:
        return upstream.chat_url(target.upstream_model)

    def request(self, hub: dict[str, Any], target: Target, upstream: Upstream,
                conversation: str | None) -> tuple[Outbound, dict[str, str]]:
        request = to_chat_request(hub, chat_target(target))
        if (key := prompt_cache_key(target, conversation)) is not None:
            request["prompt_cache_key"] = key
        payload = orjson.dumps(with_extra_body(request, target))
        return (Outbound(upstream.chat_url(target.upstream_model), payload, stream=hub.get("stream") is True),
                restore_map(hub.get("tools")))

    def decoder(self, tool_names: dict[str, str]) -> Decoder:
        return ChatChunkDecoder(tool_names)

    def message(self, payload: Any, target: Target, tool_names: dict[str, str]) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ValueError("upstream response is not an object")
        return to_messages_response(payload, model=target.response_model, tool_names=tool_names)
