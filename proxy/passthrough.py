"""Same-dialect pass-through: a client on a provider that speaks its own dialect.

The request goes upstream as the client sent it with only the route's model and the provider's
auth and headers in place of the client's; on the Anthropic path dragoman's own thinking
signatures are also removed (a real Anthropic upstream rejects them), the route's max_tokens
ceiling applied. The client's protocol headers are kept (anthropic-version / anthropic-beta; on
the OpenAI paths its betas and Codex's session headers), never its credentials.

The answer goes back byte for byte, never re-encoded (so no ``response_model`` rename either),
but checked on its way: a 2xx body that is not the dialect's JSON is a 502, and a stream is
relayed event by event through streaming/passthrough.py, which ends a broken stream with the
dialect's error frame instead of letting it look whole. Error answers keep their status and
body; the client is told not to retry what a retry cannot fix.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from converters.thinking import SYNTHETIC_SIGNATURE_PREFIX, is_synthetic_signature
from streaming.passthrough import Dialect, PassthroughCheck

from .config import Provider, ServerConfig
from .errors import UpstreamFailure, redact, retryable, upstream_error
from .exchange import read_all, releasing
from .middlewares import ACCESS, AccessRecord
from .routing import Target
from .streams import stream_answer
from .upstream import Upstream

__all__ = ["anthropic_request", "model_request", "anthropic_headers", "openai_headers", "without_synthetic_thinking",
           "respond"]

# The upstream's headers the client gets back; nothing else of them is relayed.
_RELAYED_HEADERS = ("Content-Type", "Retry-After", "Retry-After-Ms", "X-Should-Retry")
_SYNTHETIC = SYNTHETIC_SIGNATURE_PREFIX.encode()
_MIN_THINKING_BUDGET = 1024  # Anthropic's minimum budget_tokens
# What a 2xx JSON answer must be, per dialect: (key, value) of its top level.
_ANSWER_SHAPE = {"anthropic": ("type", "message"), "openai": ("object", "chat.completion"),
                 "responses": ("object", "response")}
_COUNT_TOKENS_SHAPE = "input_tokens"


def anthropic_request(raw: bytes, body: dict[str, Any], target: Target) -> bytes:
    """A Messages or count_tokens request (``raw``, parsed as ``body``) for an Anthropic provider;
    ``raw`` itself when nothing needs changing."""
    out = {**body, "model": target.upstream_model}
    changed = target.upstream_model != body["model"]
    ceiling, max_tokens = target.route.max_tokens, body.get("max_tokens")
    if ceiling is not None and type(max_tokens) is int and max_tokens > ceiling:
        out["max_tokens"] = ceiling
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and type(budget := thinking.get("budget_tokens")) is int and budget >= ceiling:
            # the clamp must not make a valid request invalid: budget_tokens < max_tokens
            out["thinking"] = {**thinking, "budget_tokens": max(_MIN_THINKING_BUDGET, ceiling - 1)}
        changed = True
    if _SYNTHETIC in raw and (messages := without_synthetic_thinking(body["messages"])) is not None:
        out["messages"] = messages
        changed = True
    return orjson.dumps(out) if changed else raw


def model_request(raw: bytes, body: dict[str, Any], target: Target) -> bytes:
    """A Chat Completions or Responses request for a provider of that dialect: only the model replaced."""
    if target.upstream_model == body["model"]:
        return raw
    return orjson.dumps({**body, "model": target.upstream_model})


def anthropic_headers(client: CIMultiDictProxy[str], provider: Provider) -> dict[str, str]:
    """The client's anthropic-version (it wins over the provider's) and anthropic-beta values
    (added to the provider's ``anthropic_beta``); no other client header goes upstream."""
    headers: dict[str, str] = {}
    if version := client.get("anthropic-version"):
        headers["anthropic-version"] = version
    betas = list(provider.anthropic_beta)
    for value in client.getall("anthropic-beta", ()):
        for beta in value.split(","):
            if (beta := beta.strip()) and beta not in betas:
                betas.append(beta)
    if len(betas) > len(provider.anthropic_beta):
        headers["anthropic-beta"] = ",".join(betas)
    return headers


# The OpenAI-dialect protocol headers a client's own vendor would see: betas, and Codex's session
# and turn headers (OpenAI routes a session's turns to a warm prompt cache by them; the Responses
# "lite" shape of Codex's newest models is announced in one). Never the organisation or project
# (they choose whose account the provider's key bills) nor anything carrying a credential.
_OPENAI_HEADERS = frozenset({"openai-beta", "session_id", "session-id", "thread-id", "originator",
                             "x-client-request-id"})
_OPENAI_PREFIXES = ("x-openai-", "x-codex-")


def openai_headers(client: CIMultiDictProxy[str], provider: Provider) -> dict[str, str]:
    """The client's OpenAI protocol headers, for a Chat or Responses pass-through; the provider's
    configured ``headers:`` win over them."""
    configured = {name.lower() for name in provider.headers}
    headers: dict[str, str] = {}
    for name, value in client.items():
        lower = name.lower()
        if (lower in _OPENAI_HEADERS or lower.startswith(_OPENAI_PREFIXES)) and lower not in configured:
            headers[lower] = value
    return headers


def without_synthetic_thinking(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """``messages`` without the thinking blocks whose signature dragoman wrote (no Anthropic
    upstream can verify them); None if there are none."""
    kept: list[dict[str, Any]] = []
    changed = False
    for message in messages:
        content = message.get("content")
        if message.get("role") == "assistant" and isinstance(content, list) and any(map(_synthetic, content)):
            changed = True
            blocks = [block for block in content if not _synthetic(block)]
            if not blocks:
                continue  # a turn that was only made-up thinking: nothing of it is left to send
            message = {**message, "content": blocks}
        kept.append(message)
    return kept if changed else None


def _synthetic(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "thinking" and is_synthetic_signature(block.get("signature"))


async def respond(request: web.Request, response: aiohttp.ClientResponse, dialect: Dialect,
                  upstream: Upstream, server: ServerConfig, *, count_tokens: bool = False) -> web.StreamResponse:
    """The upstream's answer, checked and relayed: an SSE body event by event, any other body whole."""
    record = request[ACCESS]
    provider = upstream.provider
    headers = {name: response.headers[name] for name in _RELAYED_HEADERS if name in response.headers}
    if response.status < 300 and "text/event-stream" in response.headers.get("Content-Type", ""):
        check = PassthroughCheck(dialect, server.max_event_bytes)
        return await stream_answer(request, response, check, dialect, server,
                                   content_type=response.headers["Content-Type"])
    async with releasing(response):
        body = await read_all(response, upstream)
    record.first_byte()
    if response.status >= 300:  # the client gets the upstream's own error body
        error = upstream_error(provider.name, response.status, body, secrets=provider.api_keys)
        record.error, record.upstream_cause = error.error_type, error.detail
        if not retryable(response.status) and "X-Should-Retry" not in headers:
            headers["x-should-retry"] = "false"
        return web.Response(status=response.status, body=body, headers=headers)
    payload = _checked_json(body, dialect, provider.name, count_tokens)
    _note_usage(record, payload, dialect)
    return web.Response(status=response.status, body=body, headers=headers)


def _checked_json(body: bytes, dialect: Dialect, provider: str, count_tokens: bool) -> dict[str, Any]:
    """A 2xx body must be the dialect's answer: an HTML error page or a truncated body sent with
    a 200 is a 502, not a success."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    key, value = _ANSWER_SHAPE[dialect]
    if isinstance(payload, dict) and (payload.get(key) == value if not count_tokens
                                      else isinstance(payload.get(_COUNT_TOKENS_SHAPE), int)):
        return payload
    raise UpstreamFailure(502, f"Upstream provider '{provider}' answered with a status of success but a "
                               "body that is not a valid answer.", phase="body", provider=provider,
                          detail=redact(f"bad 2xx body: {body[:200].decode('utf-8', 'replace')!r}"))


def _note_usage(record: AccessRecord, payload: dict[str, Any], dialect: Dialect) -> None:
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return
    keys = ("prompt_tokens", "completion_tokens") if dialect == "openai" else ("input_tokens", "output_tokens")
    record.input_tokens = usage.get(keys[0]) if type(usage.get(keys[0])) is int else None
    record.output_tokens = usage.get(keys[1]) if type(usage.get(keys[1])) is int else None
