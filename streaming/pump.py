"""The one async part of streaming: read upstream, transcode, write to the client.

Each upstream read is parsed, decoded and encoded synchronously, and the frames it produced are
written with one awaited ``write``. Awaiting the write is the backpressure: while a slow client
drains, the upstream is not read, aiohttp stops reading its socket, and memory per stream stays
bounded. A client that disconnects raises out of ``write`` (or cancels the handler task), which
unwinds the caller's ``async with`` around the upstream request and closes that connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
from aiohttp import web

from .events import BlockDelta, Event, MessageEnd, StreamFailure
from .sse import SSEError, SSEParser

__all__ = ["relay", "RelayOutcome", "Decoder", "Encoder"]


class Decoder(Protocol):
    def feed(self, payload: dict[str, Any]) -> list[Event]: ...
    def finish(self, done: bool = True) -> list[Event]: ...


class Encoder(Protocol):
    @property
    def finished(self) -> bool: ...
    def start(self) -> bytes: ...
    def feed(self, event: Event) -> bytes: ...
    def failure(self, error_type: str, message: str) -> bytes: ...


@dataclass(slots=True)
class RelayOutcome:
    usage: dict[str, int] | None = None
    stop_reason: str | None = None
    error: str | None = None   # the error type sent to the client, when the stream failed


class _Transcoder:
    """Parser, decoder and encoder of one stream, plus what the stream ended with."""

    __slots__ = ("parser", "decoder", "encoder", "scrub", "outcome")

    def __init__(self, decoder: Decoder, encoder: Encoder, scrub: Callable[[str], str] | None) -> None:
        self.parser = SSEParser()
        self.decoder, self.encoder, self.scrub = decoder, encoder, scrub
        self.outcome = RelayOutcome()

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        """Frames for one upstream read (b"" is end of stream), and whether the stream is over."""
        events = self.parser.feed(chunk) if chunk else self.parser.finish()
        frames: list[bytes] = []
        encode = self.encoder.feed
        for _name, data in events:
            if data == b"[DONE]":
                frames += self._terminal(self.decoder.finish(done=True))
                return b"".join(frames), True
            payload = orjson.loads(data)
            if type(payload) is not dict:
                continue
            for event in self.decoder.feed(payload):
                if type(event) is BlockDelta:  # nearly every event: no bookkeeping
                    frames.append(encode(event))
                else:
                    frames += self._terminal([event])
            if self.encoder.finished:
                return b"".join(frames), True
        if not chunk:
            frames += self._terminal(self.decoder.finish(done=False))
            return b"".join(frames), True
        return b"".join(frames), False

    def _terminal(self, events: list[Event]) -> list[bytes]:
        """Encode events that are not deltas, noting how the message ended."""
        for event in events:
            if type(event) is MessageEnd:
                self.outcome.usage, self.outcome.stop_reason = event.usage, event.stop_reason
            elif type(event) is StreamFailure:
                self.outcome.error = event.error_type
                if self.scrub is not None:
                    event.message = self.scrub(event.message)
        return [self.encoder.feed(event) for event in events]

    def fail(self, error_type: str, message: str) -> bytes:
        self.outcome.error = error_type
        return self.encoder.failure(error_type, message)


async def relay(upstream: aiohttp.ClientResponse, client: web.StreamResponse,
                decoder: Decoder, encoder: Encoder,
                scrub: Callable[[str], str] | None = None) -> RelayOutcome:
    """Transcode ``upstream``'s SSE body into ``client`` until the message ends or fails.

    ``scrub`` cleans an upstream's own mid-stream error message before it is relayed (upstreams
    may echo their API key there, as they do in HTTP errors).
    """
    transcoder = _Transcoder(decoder, encoder, scrub)
    content = upstream.content
    done = False
    while not done:
        try:
            chunk = await content.readany()
        except TimeoutError:
            frames, done = transcoder.fail("timeout_error", "The upstream provider stopped sending data (read timeout)."), True
        except aiohttp.ClientError:
            frames, done = transcoder.fail("api_error", "The connection to the upstream provider was lost mid-stream."), True
        else:
            try:
                frames, done = transcoder.feed(chunk)
            except (orjson.JSONDecodeError, SSEError):
                frames, done = transcoder.fail("api_error", "The upstream provider sent a malformed stream."), True
        if frames:
            await client.write(frames)
    return transcoder.outcome
