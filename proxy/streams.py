"""Answering with a stream: the SSE response, the pump, and what the stream ended with.

Translated streams, replays and checked pass-through streams all go out here, so every stream
gets the same treatment: the dialect's keepalive while the upstream is silent, a client that
stops reading cut after ``server.send_timeout`` (and the upstream with it), the upstream released
whatever happens, and the outcome (usage, stop reason, or the error the client saw) noted for the
access log and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import structlog
from aiohttp import web

from streaming.pump import Transcoder, relay
from streaming.response import SSEStream

from .config import ServerConfig
from .exchange import releasing
from .middlewares import ACCESS, REQUEST_ID
from .runtime import STATE

__all__ = ["stream_answer", "KEEPALIVE"]

log = structlog.get_logger("dragoman")

# While the upstream is silent: Anthropic clients expect ``event: ping``; OpenAI's SDKs parse any
# named event as data, so Chat and Responses clients get an SSE comment.
KEEPALIVE = {
    "anthropic": b'event: ping\ndata: {"type":"ping"}\n\n',
    "openai": b": keepalive\n\n",
    "responses": b": keepalive\n\n",
}
_SHUTTING_DOWN = ("dragoman is shutting down (a restart or deploy) and could not wait for this answer to "
                  "finish; retry the request.")


async def stream_answer(request: web.Request, upstream: aiohttp.ClientResponse, transcoder: Transcoder,
                        dialect: str, server: ServerConfig, *, opening: bytes = b"",
                        content_type: str | None = None) -> SSEStream:
    """Answer with an SSE stream made by ``transcoder`` from ``upstream``'s body.

    ``opening`` goes out as soon as the upstream accepted the request (a translated stream's
    start), so the client sees its first byte without waiting for the first token.
    """
    record = request[ACCESS]
    client = SSEStream(KEEPALIVE[dialect], server.ping_interval, send_timeout=server.send_timeout)
    if content_type:  # a pass-through keeps the upstream's own (e.g. with its charset)
        client.headers["Content-Type"] = content_type
    async with releasing(upstream):
        await client.prepare(request)
        async with client:
            if opening:
                await client.write(opening)
            record.first_byte()
            try:
                outcome = await relay(upstream, client, transcoder)
            except ConnectionResetError:  # the client went away: nothing left to tell it
                record.error = record.stream_error = "client_closed"
                return client
            except asyncio.CancelledError:
                if not request.app[STATE].draining:
                    raise  # the client went away
                # the drain's deadline (proxy/runtime.py): end the stream visibly, and well-formed
                if (task := asyncio.current_task()) is not None:
                    task.uncancel()
                record.error = record.stream_error = "overloaded_error"
                await _last_words(client, transcoder.fail("overloaded_error", _SHUTTING_DOWN))
                return client
            except Exception:  # a bug must still end the client's stream visibly
                log.exception("stream failed", request_id=request.get(REQUEST_ID), path=request.path)
                await client.write(transcoder.fail("api_error", "Internal error in dragoman while streaming."))
                outcome = transcoder.outcome
            record.stream_error = outcome.error
            if outcome.error:
                record.error = outcome.error
            if outcome.usage:
                record.input_tokens = outcome.usage.get("input_tokens")
                record.output_tokens = outcome.usage.get("output_tokens")
        try:
            await client.write_eof()
        except ConnectionResetError:
            pass  # a client that hangs up after the last event (Codex does) had the whole answer
    return client


async def _last_words(client: SSEStream, frame: bytes) -> None:
    """Write ``frame`` and end the body while the handler is being cancelled: briefly, and never
    raising (the client gets a stream that ends well-formed, with an error it can act on)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await client.write(frame)
            await client.write_eof()
