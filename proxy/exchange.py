"""Bounded reads of both sides' bodies, and the checks on an upstream's answer.

Every body dragoman reads has a cap on bytes and on JSON values (``server.max_body_bytes`` /
``max_response_bytes``, ``max_json_elements``): a hostile client or upstream can make a small
body expensive to parse (a million empty objects), and one request must not stall the event
loop for every other stream. Failures say what was exceeded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from streaming.limits import json_value_bound

from .config import ServerConfig
from .errors import ProxyError, UpstreamFailure, upstream_error
from .upstream import Upstream

__all__ = ["read_body", "releasing", "checked_response", "read_all", "read_json", "within_value_limit"]

_ERROR_BODY_LIMIT = 64 * 1024


def within_value_limit(raw: bytes, limit: int) -> bool:
    """Whether ``raw`` can hold no more than ``limit`` JSON values. A value takes at least two
    bytes ("0,"), so a body under twice the limit never needs counting (counting is ~1 ms/MB)."""
    return len(raw) < 2 * limit or json_value_bound(raw) <= limit


async def read_body(request: web.Request, server: ServerConfig) -> bytes:
    """The request body, at most ``server.max_body_bytes`` bytes (a 413 past it) and at most
    ``max_json_elements`` JSON values (a 400 naming the limit).

    Unlike ``request.read()`` this leaves no copy cached on the request, where it would live as
    long as the response: for a stream, its whole life (a Claude Code body is ~80 kB). Handlers
    likewise keep request data in a helper's frame, so only what the response needs survives.
    """
    limit = server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not within_value_limit(raw, server.max_json_elements):
        raise ProxyError(400, f"Request body has more than {server.max_json_elements} JSON values "
                              "(dragoman's server.max_json_elements).")
    return raw


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
    async with releasing(response):
        if response.status >= 400:
            raise await answer_error(upstream, response)
        yield response


async def answer_error(upstream: Upstream, response: aiohttp.ClientResponse) -> UpstreamFailure:
    """The client-facing error for an upstream's error answer, its body read whole (up to 64 kB):
    a message cut mid-sentence would be shown to the user as it is."""
    provider = upstream.provider
    body = await _read(response, provider.name, _ERROR_BODY_LIMIT, truncate=True)
    return upstream_error(provider.name, response.status, body, response.headers.get("retry-after"),
                          secrets=provider.api_keys)


async def read_all(response: aiohttp.ClientResponse, upstream: Upstream) -> bytes:
    """The whole upstream body, within ``max_response_bytes``; a timeout or a cut is a 504/502."""
    return await _read(response, upstream.provider.name, upstream.limits.max_response_bytes)


async def read_json(response: aiohttp.ClientResponse, upstream: Upstream) -> Any:
    """The whole upstream body as JSON; too big, too many values, not JSON: a 502."""
    name = upstream.provider.name
    raw = await read_all(response, upstream)
    limit = upstream.limits.max_json_elements
    if not within_value_limit(raw, limit):
        raise UpstreamFailure(502, f"Upstream provider '{name}' sent an answer with more than {limit} "
                                   "JSON values.", phase="body", provider=name)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamFailure(502, f"Upstream provider '{name}' sent a response that is not JSON.",
                              phase="body", provider=name,
                              detail=f"not JSON: {raw[:200].decode('utf-8', 'replace')!r}") from None


async def _read(response: aiohttp.ClientResponse, provider: str, limit: int, truncate: bool = False) -> bytes:
    """Up to ``limit`` bytes of the body, read until its end: past the limit, the first ``limit``
    bytes (``truncate``) or a 502."""
    chunks: list[bytes] = []
    size = 0
    content = response.content
    try:
        while chunk := await content.read(min(65536, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if truncate:
                    return b"".join(chunks)[:limit]
                raise UpstreamFailure(502, f"Upstream provider '{provider}' sent an answer larger than "
                                           f"{limit} bytes (server.max_response_bytes).", phase="body", provider=provider)
    except aiohttp.SocketTimeoutError:
        raise UpstreamFailure(504, f"Upstream provider '{provider}' stopped sending its answer (read timeout).",
                              phase="read", provider=provider) from None
    except TimeoutError:
        raise UpstreamFailure(504, f"Upstream provider '{provider}' took longer than its total timeout.",
                              phase="total", provider=provider) from None
    except aiohttp.ClientError as exc:
        raise UpstreamFailure(502, f"The connection to upstream provider '{provider}' was lost while "
                                   f"reading its response: {type(exc).__name__}.", phase="read", provider=provider) from None
    return b"".join(chunks)
