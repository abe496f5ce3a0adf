"""The Anthropic Messages dialect, both sides: Claude Code and Anthropic-SDK apps, and Anthropic
(or Anthropic-compatible) providers. It is also the hub, so its own conversions are nearly none."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import CIMultiDictProxy

from converters.token_count import estimate_input_tokens
from streaming.messages_decoder import MessagesEventDecoder
from streaming.messages_encoder import MessagesEncoder
from streaming.pump import Decoder, Encoder

from .. import passthrough
from ..conditions import Facts, anthropic_facts
from ..fallback import Outbound
from ..routing import Dialect, Target
from ..upstream import Upstream
from ..validation import parse_messages_request
from . import Reply

__all__ = ["AnthropicClient", "AnthropicProvider"]


@dataclass(frozen=True, slots=True)
class _MessagesReply(Reply):
    model: str
    input_estimate: int

    def encoder(self) -> Encoder:
        return MessagesEncoder("msg_" + secrets.token_hex(12), self.model, self.input_estimate)

    def render(self, message: dict[str, Any]) -> dict[str, Any]:
        return message


class AnthropicClient:
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

    def conversation(self, body: dict[str, Any], headers: CIMultiDictProxy[str]) -> str | None:
        """Claude Code's session: its session header, else ``metadata.user_id`` (which embeds it)."""
        if session := headers.get("x-claude-code-session-id"):
            return session
        metadata = body.get("metadata")
        user = metadata.get("user_id") if isinstance(metadata, dict) else None
        return user if isinstance(user, str) and user else None


class AnthropicProvider:
    def url(self, upstream: Upstream, target: Target) -> Any:
        return upstream.messages_url

    def request(self, hub: dict[str, Any], target: Target, upstream: Upstream,
                conversation: str | None) -> tuple[Outbound, dict[str, str]]:
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
