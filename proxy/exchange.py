"""What every translating handler does with its upstream: send, check, read or relay.

Handlers own the dialect-specific parts (validation, converters, decoder and encoder); this module
owns the HTTP exchange and its failure modes, so both directions fail the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import structlog
from aiohttp import web

from streaming.pump import Decoder, Encoder, relay
from streaming.response import SSEStream

from .errors import ProxyError, redact, upstream_error
from .middlewares import ACCESS
from .upstream import Upstream

__all__ = ["read_body", "releasing", "checked_response", "read_all", "read_json", "relay_stream"]

log = structlog.get_logger("dragoman")
_ERROR_BODY_LIMIT = 64 * 1024


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (a 413 past it).

    Unlike ``request.read()`` this leaves no copy cached on the request, where it would live as
    long as the response: for a stream, its whole life (a Claude Code body is ~80 kB). Handlers
    likewise keep request data in a helper's frame, so only what the response needs survives.
    """
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


@asynccontextmanager
async def releasing(response: aiohttp.ClientResponse) -> AsyncIterator[aiohttp.ClientResponse]:
    """Yields ``response``, and releases it on the way out.

    On any exit before the body was read to the end the connection is closed, never returned
    to the pool half-read; a client that went away (cancellation) takes the same path, which is
    what cancels the upstream request.
    """
    try:
        yield response
    except BaseException:
        response.close()
        raise
    finally:
        response.release()


@asynccontextmanager
async def checked_response(upstream: Upstream, response: aiohttp.ClientResponse) -> AsyncIterator[aiohttp.ClientResponse]:
    """Like ``releasing``, but a non-2xx answer raises the client-facing error instead."""
    provider = upstream.provider
    async with releasing(response):
        if response.status >= 400:
            body = await response.content.read(_ERROR_BODY_LIMIT)
            raise upstream_error(provider.name, response.status, body,
                                 response.headers.get("retry-after"), secret=provider.api_key)
        yield response


async def read_all(response: aiohttp.ClientResponse, provider: str) -> bytes:
    """The whole upstream body; a timeout or a cut is a 504/502."""
    try:
        return await response.read()
    except TimeoutError:
        raise ProxyError(504, f"Upstream provider '{provider}' stopped sending data (read timeout).") from None
    except aiohttp.ClientError as exc:
        raise ProxyError(502, f"The connection to upstream provider '{provider}' was lost "
                              f"while reading its response: {type(exc).__name__}.") from None


async def read_json(response: aiohttp.ClientResponse, provider: str) -> Any:
    """The whole upstream body as JSON; a timeout, a cut or a non-JSON body is a 504/502."""
    raw = await read_all(response, provider)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProxyError(502, f"Upstream provider '{provider}' sent a response that is not JSON.") from None


async def relay_stream(request: web.Request, upstream: aiohttp.ClientResponse, *, keepalive: bytes,
                       ping_interval: float, decoder: Decoder, encoder: Encoder, secret: str | None,
                       replay: Callable[[], Any] | None = None) -> SSEStream:
    """Answer with an SSE stream transcoded from ``upstream``.

    ``encoder.start()`` goes out as soon as the upstream accepted the request, so the client sees
    its first byte without waiting for the first token. ``replay`` handles an upstream that
    answered a stream request with one JSON body: an async callable returning the encoded bytes.
    """
    record = request[ACCESS]
    client = SSEStream(keepalive, ping_interval)
    await client.prepare(request)
    async with client:
        await client.write(encoder.start())
        record.first_byte()
        try:
            if replay is not None and "text/event-stream" not in upstream.headers.get("Content-Type", ""):
                frames, usage = await replay()
                await client.write(frames)
            else:
                outcome = await relay(upstream, client, decoder, encoder,
                                      scrub=lambda text: redact(text, secret))
                usage, record.error = outcome.usage, outcome.error
        except ProxyError as exc:
            usage, record.error = None, exc.error_type
            await client.write(encoder.failure(exc.error_type, exc.message))
        except (ConnectionResetError, RuntimeError):
            raise  # the client went away: nothing left to tell it
        except Exception:  # a bug must still end the client's stream visibly
            log.exception("stream failed", path=request.path)
            usage, record.error = None, "api_error"
            await client.write(encoder.failure("api_error", "Internal error in dragoman while streaming."))
        if usage:
            record.input_tokens, record.output_tokens = usage.get("input_tokens"), usage.get("output_tokens")
    await client.write_eof()
    return client
