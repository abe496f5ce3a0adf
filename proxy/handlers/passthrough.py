"""Same-dialect pass-through: Anthropic clients on an Anthropic provider, OpenAI clients on an
OpenAI provider.

The request goes upstream as the client sent it with only the route's model and the provider's
auth and headers in place of the client's; on the Anthropic path dragoman's synthetic thinking
blocks are also removed (a real Anthropic upstream rejects them), the route's max_tokens ceiling
applied, and the client's anthropic-version / anthropic-beta headers kept. The answer, whatever
its status, goes back byte for byte, never re-encoded (so no ``response_model`` rename either),
while a UsageTap reads its usage for the access log.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from converters.thinking import SYNTHETIC_SIGNATURE_PREFIX, is_synthetic_signature
from streaming.chat_encoder import openai_error_frame
from streaming.messages_encoder import anthropic_error_frame
from streaming.usage_tap import UsageTap, json_usage

from ..config import Provider
from ..errors import upstream_error
from ..exchange import read_all, releasing
from ..middlewares import ACCESS, AccessRecord
from ..routing import Dialect, Target

__all__ = ["anthropic_request", "openai_request", "anthropic_headers", "respond"]

# The upstream's headers the client gets back; nothing else of them is relayed.
_RELAYED_HEADERS = ("Content-Type", "Retry-After", "Retry-After-Ms", "X-Should-Retry")
_SYNTHETIC = SYNTHETIC_SIGNATURE_PREFIX.encode()
_MIN_THINKING_BUDGET = 1024  # Anthropic's minimum budget_tokens


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
    if _SYNTHETIC in raw and (messages := _without_synthetic_thinking(body["messages"])) is not None:
        out["messages"] = messages
        changed = True
    return orjson.dumps(out) if changed else raw


def openai_request(raw: bytes, body: dict[str, Any], target: Target) -> bytes:
    """A Chat Completions request for an OpenAI-compatible provider: only the model replaced."""
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


async def respond(request: web.Request, response: aiohttp.ClientResponse, dialect: Dialect,
                  provider: str) -> web.StreamResponse:
    """The upstream's answer, status and body as they are: an SSE body streamed read by read,
    any other body (a JSON message, an error) whole."""
    record = request[ACCESS]
    headers = {name: response.headers[name] for name in _RELAYED_HEADERS if name in response.headers}
    async with releasing(response):
        if response.status < 300 and "text/event-stream" in response.headers.get("Content-Type", ""):
            return await _stream(request, response, headers, dialect)
        body = await read_all(response, provider)
    record.first_byte()
    if response.status < 300:
        _note_usage(record, json_usage(body, dialect))
    else:  # the type the translating path would log; the client gets the upstream's own body
        record.error = upstream_error(provider, response.status, body).error_type
    return web.Response(status=response.status, body=body, headers=headers)


async def _stream(request: web.Request, response: aiohttp.ClientResponse, headers: dict[str, str],
                  dialect: Dialect) -> web.StreamResponse:
    record = request[ACCESS]
    client = web.StreamResponse(status=response.status, headers=headers)
    await client.prepare(request)
    record.first_byte()
    tap = UsageTap(dialect)
    content = response.content
    failure: tuple[str, str] | None = None
    while True:
        try:
            chunk = await content.readany()
        except TimeoutError:
            failure = ("timeout_error", "The upstream provider stopped sending data (read timeout).")
            break
        except aiohttp.ClientError:
            failure = ("api_error", "The connection to the upstream provider was lost mid-stream.")
            break
        if not chunk:
            break
        tap.feed(chunk)
        await client.write(chunk)  # awaiting the write is the backpressure, as in streaming/pump.py
    between_events = tap.at_boundary
    tap.finish()
    _note_usage(record, tap.usage)
    record.error = tap.error
    if failure is not None and not tap.complete:
        record.error = failure[0]
        if not between_events:  # an error frame would be glued to half an event: cut instead,
            if request.transport is not None:  # so the client sees a broken stream, never a whole one
                request.transport.abort()
            return client
        await client.write(_failure_frame(dialect, *failure))
    await client.write_eof()
    return client


def _without_synthetic_thinking(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """``messages`` without the thinking blocks dragoman signed itself; None if there are none."""
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


def _note_usage(record: AccessRecord, usage: dict[str, int]) -> None:
    if usage:
        record.input_tokens, record.output_tokens = usage.get("input_tokens"), usage.get("output_tokens")


def _failure_frame(dialect: Dialect, error_type: str, message: str) -> bytes:
    """The error frame that ends a stream the upstream broke off, in the client's dialect."""
    frame = anthropic_error_frame if dialect == "anthropic" else openai_error_frame
    return frame(error_type, message)
