"""The dialects, as the one flow (proxy/flow.py) sees them: a client side and a provider side each.

Requests meet in the middle: a client's request is turned into the hub, an Anthropic Messages
request (``ClientSide.to_hub``), and the hub into the provider's dialect (``ProviderSide.request``);
a client on a provider of its own dialect skips both and is passed through. Answers do the same
in reverse: a provider's whole answer becomes an Anthropic message (``ProviderSide.message``),
rendered for the client by the ``Reply`` its side made at planning time; a stream goes through
the provider's decoder into the internal events and out through the client's encoder. So each
dialect is written once per side, and every rule that two dialects share lives in converters/.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog
from multidict import CIMultiDictProxy

from converters.chat_request import MessagesTarget, dropped_options, to_messages_request
from converters.chat_response import to_messages_response
from converters.messages_request import to_chat_request
from converters.messages_response import to_chat_completion
from converters.token_count import estimate_input_tokens
from converters.tool_names import restore_map
from streaming.chat_decoder import ChatChunkDecoder
from streaming.chat_encoder import ChatChunkEncoder
from streaming.messages_decoder import MessagesEventDecoder
from streaming.messages_encoder import MessagesEncoder
from streaming.pump import Decoder, Encoder

from . import passthrough
from .conditions import Facts, anthropic_facts, openai_facts
from .fallback import Outbound
from .flavors import chat_target, with_extra_body
from .routing import Dialect, Target
from .upstream import Upstream
from .validation import parse_chat_request, parse_messages_request

__all__ = ["Reply", "ClientSide", "ProviderSide", "CLIENTS", "PROVIDERS"]

log = structlog.get_logger("dragoman")
_DEFAULT_MAX_TOKENS = 16384   # Anthropic requires max_tokens; OpenAI clients often send none


class Reply(Protocol):
    """What answering one client request needs, fixed when the request was planned."""

    def encoder(self) -> Encoder: ...
    def render(self, message: dict[str, Any]) -> dict[str, Any]:
        """The hub (Anthropic) message as the client's whole answer."""


class ClientSide(Protocol):
    dialect: Dialect

    def parse(self, raw: bytes) -> dict[str, Any]: ...
    def facts(self, body: dict[str, Any]) -> Facts: ...
    def passthrough(self, raw: bytes, body: dict[str, Any], target: Target,
                    headers: CIMultiDictProxy[str]) -> tuple[bytes, dict[str, str]]:
        """The request for a provider of the client's own dialect: (body, extra headers)."""
    def to_hub(self, raw: bytes, body: dict[str, Any], target: Target) -> tuple[dict[str, Any], Reply]:
        """(the request as an Anthropic Messages request, what answering will need)."""


class ProviderSide(Protocol):
    def url(self, upstream: Upstream, target: Target) -> Any: ...
    def request(self, hub: dict[str, Any], target: Target, upstream: Upstream) -> tuple[Outbound, dict[str, str]]:
        """(the upstream request, shortened tool name -> the client's name)."""
    def decoder(self, tool_names: dict[str, str]) -> Decoder: ...
    def message(self, payload: Any, target: Target, tool_names: dict[str, str]) -> dict[str, Any]:
        """The provider's whole answer as an Anthropic message; ValueError when it is not one."""


# -- Anthropic Messages ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _MessagesReply:
    model: str
    input_estimate: int

    def encoder(self) -> Encoder:
        return MessagesEncoder("msg_" + secrets.token_hex(12), self.model, self.input_estimate)

    def render(self, message: dict[str, Any]) -> dict[str, Any]:
        return message


class _AnthropicClient:
    dialect: Dialect = "anthropic"

    def parse(self, raw: bytes) -> dict[str, Any]:
        return parse_messages_request(raw)

    def facts(self, body: dict[str, Any]) -> Facts:
        return anthropic_facts(body)

    def passthrough(self, raw: bytes, body: dict[str, Any], target: Target,
                    headers: CIMultiDictProxy[str]) -> tuple[bytes, dict[str, str]]:
        return passthrough.anthropic_request(raw, body, target), passthrough.anthropic_headers(headers, target.provider)

    def to_hub(self, raw: bytes, body: dict[str, Any], target: Target) -> tuple[dict[str, Any], Reply]:
        return body, _MessagesReply(target.response_model, estimate_input_tokens(len(raw), body))


class _AnthropicProvider:
    def url(self, upstream: Upstream, target: Target) -> Any:
        return upstream.messages_url

    def request(self, hub: dict[str, Any], target: Target, upstream: Upstream) -> tuple[Outbound, dict[str, str]]:
        body = {**hub, "model": target.upstream_model}
        if (messages := passthrough.without_synthetic_thinking(hub["messages"])) is not None:
            body["messages"] = messages  # thinking dragoman signed: no Anthropic upstream can verify it
        return Outbound(upstream.messages_url, orjson.dumps(body), stream=hub.get("stream") is True), {}

    def decoder(self, tool_names: dict[str, str]) -> Decoder:
        return MessagesEventDecoder()

    def message(self, payload: Any, target: Target, tool_names: dict[str, str]) -> dict[str, Any]:
        if not isinstance(payload, dict) or not isinstance(payload.get("content"), list):
            # an error body sent with a 200, or an OpenAI-shaped answer: not a silent empty success
            raise ValueError("upstream response has no content list")
        return {**payload, "model": target.response_model}


# -- OpenAI Chat Completions --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _ChatReply:
    model: str
    created: int
    include_usage: bool

    def encoder(self) -> Encoder:
        return ChatChunkEncoder("chatcmpl-" + secrets.token_hex(12), self.model, self.created, self.include_usage)

    def render(self, message: dict[str, Any]) -> dict[str, Any]:
        return to_chat_completion(message, model=self.model, created=self.created)


class _ChatClient:
    dialect: Dialect = "openai"

    def parse(self, raw: bytes) -> dict[str, Any]:
        return parse_chat_request(raw)

    def facts(self, body: dict[str, Any]) -> Facts:
        return openai_facts(body)

    def passthrough(self, raw: bytes, body: dict[str, Any], target: Target,
                    headers: CIMultiDictProxy[str]) -> tuple[bytes, dict[str, str]]:
        return passthrough.model_request(raw, body, target), {}

    def to_hub(self, raw: bytes, body: dict[str, Any], target: Target) -> tuple[dict[str, Any], Reply]:
        route = target.route
        limits = MessagesTarget(
            model=target.upstream_model, max_tokens=route.max_tokens,
            default_max_tokens=min(route.default_max_tokens or _DEFAULT_MAX_TOKENS,
                                   route.max_tokens or _DEFAULT_MAX_TOKENS),
            system_prompt=route.system_prompt)
        hub = to_messages_request(body, limits)
        if dropped := dropped_options(body):
            log.debug("options dropped", options=dropped, model=body["model"])
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return hub, _ChatReply(target.response_model, int(time.time()), include_usage)


class _ChatProvider:
    def url(self, upstream: Upstream, target: Target) -> Any:
        return upstream.chat_url(target.upstream_model)

    def request(self, hub: dict[str, Any], target: Target, upstream: Upstream) -> tuple[Outbound, dict[str, str]]:
        payload = orjson.dumps(with_extra_body(to_chat_request(hub, chat_target(target)), target))
        return (Outbound(upstream.chat_url(target.upstream_model), payload, stream=hub.get("stream") is True),
                restore_map(hub.get("tools")))

    def decoder(self, tool_names: dict[str, str]) -> Decoder:
        return ChatChunkDecoder(tool_names)

    def message(self, payload: Any, target: Target, tool_names: dict[str, str]) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ValueError("upstream response is not an object")
        return to_messages_response(payload, model=target.response_model, tool_names=tool_names)


CLIENTS: dict[str, ClientSide] = {"anthropic": _AnthropicClient(), "openai": _ChatClient()}
PROVIDERS: dict[str, ProviderSide] = {"anthropic": _AnthropicProvider(), "openai": _ChatProvider()}
