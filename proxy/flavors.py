"""Provider flavors: each OpenAI-compatible provider's quirks, as the converter settings they imply.

The converters know the quirks as plain switches (converters.messages_request.ChatTarget); this
table says which provider needs which, so no converter ever asks which provider it talks to.
URL and auth-header differences (Azure) live with the connection, in proxy/upstream.py.

- gemini: tool schemas cleaned of the JSON Schema keywords Gemini's endpoint rejects;
- vertex: Gemini on Vertex AI's OpenAI-compatible endpoint: the same schema cleaning, and a
  Google access token from Application Default Credentials (proxy/google_auth.py) as the key;
- deepseek: assistant thinking sent back as reasoning_content on tool-call turns;
- azure: deployment URLs and the api-key header (upstream.py); o-series deployments want
  ``max_tokens_field: max_completion_tokens``;
- openrouter, groq, ollama, vllm: their reasoning fields are read by the decoders already;
  OpenRouter's provider-routing options go in a route's ``extra_body``;
- openai, azure, openrouter: documents (PDF) go as ``file`` content parts.
"""

from __future__ import annotations

from typing import Any

from converters.identifiers import short_id
from converters.messages_request import ChatTarget

from .routing import Target

__all__ = ["chat_target", "with_extra_body", "prompt_cache_key"]

# Flavors whose Chat endpoint reads PDFs sent as ``file`` content parts (OpenAI's own API, Azure
# OpenAI, and OpenRouter, which converts them for the models it routes to); elsewhere a document
# is refused with a 400 rather than dropped.
_READS_FILES = frozenset({"openai", "azure", "openrouter"})
# Flavors that take OpenAI's ``prompt_cache_key`` (routing requests that share a prefix to the
# same cache); strict hosts answer 400 to a field they don't know (Azure AI Foundry does).
_CACHE_KEYS = frozenset({"openai"})


def chat_target(target: Target) -> ChatTarget:
    provider, route = target.provider, target.route
    return ChatTarget(
        model=target.upstream_model,
        max_tokens=route.max_tokens,
        default_max_tokens=route.default_max_tokens,
        reasoning_effort=provider.reasoning_effort,
        max_tokens_field=provider.max_tokens_field,
        gemini_schemas=provider.flavor in ("gemini", "vertex"),
        reasoning_passback=provider.flavor == "deepseek",
        file_parts=provider.flavor in _READS_FILES,
    )


def with_extra_body(request: dict[str, Any], target: Target) -> dict[str, Any]:
    """The route's extra_body under the translated request: it adds fields, never replaces one."""
    extra = target.route.extra_body
    return {**extra, **request} if extra else request


def prompt_cache_key(target: Target, conversation: str | None) -> str | None:
    """The ``prompt_cache_key`` for a translated request to an OpenAI-dialect provider that takes
    one: the conversation's own key (Codex's session, Claude Code's user and session), short."""
    if conversation is None or (target.provider.protocol == "openai" and target.provider.flavor not in _CACHE_KEYS):
        return None
    return short_id(conversation, "cache-")
