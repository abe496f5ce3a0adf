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
  OpenRouter's provider-routing options go in a route's ``extra_body``.
"""

from __future__ import annotations

from typing import Any

from converters.messages_request import ChatTarget

from .routing import Target

__all__ = ["chat_target", "with_extra_body"]


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
    )


def with_extra_body(request: dict[str, Any], target: Target) -> dict[str, Any]:
    """The route's extra_body under the translated request: it adds fields, never replaces one."""
    extra = target.route.extra_body
    return {**extra, **request} if extra else request
