"""The one async part of streaming: read upstream, transcode, write to the client.

Each upstream read is parsed, decoded and encoded synchronously, and the frames it produced are
written with one awaited ``write``. Awaiting the write is the backpressure: while a slow client
drains, the upstream is not read, aiohttp stops reading its socket, and memory per stream stays
bounded. A client that disconnects raises out of ``write`` (or cancels the handler task), which
unwinds the caller's ``async with`` around the upstream request and closes that connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
from aiohttp import web

from .events import Event, MessageEnd, StreamFailure
from .sse import SSEError, SSEParser

__all__ = ["relay", "RelayOutcome", "Decoder", "Encoder"]


class Decoder(Protocol):
    def feed(self, payload: dict[str, Any]) -> list[Event]: ...
    def finish(self, done: bool = True) -> list[Event]: ...


class Encoder(Protocol):
    @property
    def finished(self) -> bool: ...
    def feed(self, event: Event) -> bytes: ...
    def failure(self, error_type: str, message: str) -> bytes: ...


@dataclass(slots=True)
class RelayOutcome:
    usage: dict[str, int] | None = None
    stop_reason: str | None = None
    error: str | None = None   # the error type sent to the client, when the stream failed


async def relay(upstream: aiohttp.ClientResponse, client: web.StreamResponse,
                decoder: Decoder, encoder: Encoder) -> RelayOutcome:
    """Transcode ``upstream``'s SSE body into ``client`` until the message ends or fails."""
    parser = SSEParser()
    outcome = RelayOutcome()
    content = upstream.content
    done = False
    while not done:
        try:
            chunk = await content.readany()
        except asyncio.TimeoutError:
            return await _fail(client, encoder, outcome, "timeout_error",
                               "The upstream provider stopped sending data (read timeout).")
        except aiohttp.ClientError:
            return await _fail(client, encoder, outcome, "api_error",
                               "The connection to the upstream provider was lost mid-stream.")
        try:
            events = parser.feed(chunk) if chunk else parser.finish()
            frames, done = _transcode(events, decoder, encoder, outcome)
            if not chunk and not done:
                frames += _encode(decoder.finish(done=False), encoder, outcome)
                done = True
        except (orjson.JSONDecodeError, SSEError):
            return await _fail(client, encoder, outcome, "api_error",
                               "The upstream provider sent a malformed stream.")
        if frames:
            await client.write(frames)
    return outcome


def _transcode(events: list[tuple[str, str]], decoder: Decoder, encoder: Encoder,
               outcome: RelayOutcome) -> tuple[bytes, bool]:
    frames = b""
    for _name, data in events:
        if data == "[DONE]":
            return frames + _encode(decoder.finish(done=True), encoder, outcome), True
        payload = orjson.loads(data)
        if type(payload) is dict:
            frames += _encode(decoder.feed(payload), encoder, outcome)
        if encoder.finished:
            return frames, True
    return frames, False


def _encode(events: list[Event], encoder: Encoder, outcome: RelayOutcome) -> bytes:
    frames = b"".join([encoder.feed(event) for event in events])
    for event in events:
        if type(event) is MessageEnd:
            outcome.usage, outcome.stop_reason = event.usage, event.stop_reason
        elif type(event) is StreamFailure:
            outcome.error = event.error_type
    return frames


async def _fail(client: web.StreamResponse, encoder: Encoder, outcome: RelayOutcome,
                error_type: str, message: str) -> RelayOutcome:
    outcome.error = error_type
    frame = encoder.failure(error_type, message)
    if frame:
        await client.write(frame)
    return outcome
