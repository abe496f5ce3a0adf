"""The one async part of streaming: read upstream, transcode or check, write to the client.

Every stream dragoman answers goes through ``relay``, whatever the pair of dialects: a
``Translation`` (SSE parser -> the provider dialect's decoder -> internal events -> the client
dialect's encoder) or a ``PassthroughCheck`` (streaming/passthrough.py: the provider's own bytes,
validated event by event). Each upstream read is handled synchronously and what it produced is
written with one awaited ``write``. Awaiting the write is the backpressure: while a slow client
drains, the upstream is not read, aiohttp stops reading its socket, and memory per stream stays
bounded. A client that disconnects raises out of ``write`` (or cancels the handler task), which
unwinds the caller's ``async with`` around the upstream request and closes that connection.

A read that fails (the connection dropped, the idle timeout) ends the stream through the
transcoder's ``cut``: an answer whose end was already known completes, anything else ends with
the dialect's error frame, never as if it were whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import orjson
from aiohttp import web

from .events import BlockDelta, Event, MessageEnd, StreamFailure
from .limits import BIG_EVENT, json_value_bound
from .passthrough import RelayOutcome
from .sse import MAX_EVENT_BYTES, SSEError, SSEParser

__all__ = ["relay", "Translation", "Transcoder", "RelayOutcome", "Decoder", "Encoder", "READ_FAILURES"]


class Decoder(Protocol):
    def feed(self, payload: dict[str, Any]) -> list[Event]: ...
    def finish(self, done: bool = True) -> list[Event]: ...


class Encoder(Protocol):
    @property
    def finished(self) -> bool: ...
    def start(self) -> bytes: ...
    def feed(self, event: Event) -> bytes: ...
    def failure(self, error_type: str, message: str) -> bytes: ...


class Transcoder(Protocol):
    outcome: RelayOutcome

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        """Bytes for the client from one upstream read (b"" is the end of the stream), and
        whether the stream is over."""
    def cut(self, error_type: str, message: str) -> bytes:
        """Bytes that end the stream after a failed read."""
    def fail(self, error_type: str, message: str) -> bytes:
        """Bytes that end the stream with an error, whatever came before."""


# What a failed read means, for the client's error frame: (error type, message).
READ_FAILURES = {
    "idle": ("timeout_error", "The upstream provider stopped sending data (its read timeout passed)."),
    "total": ("timeout_error", "The upstream request took longer than its total timeout."),
    "lost": ("api_error", "The connection to the upstream provider was lost mid-stream."),
}


class Translation:
    """Parser, decoder and encoder of one translated stream, plus what the stream ended with."""

    __slots__ = ("parser", "decoder", "encoder", "scrub", "outcome", "_max_values")

    def __init__(self, decoder: Decoder, encoder: Encoder, scrub: Callable[[str], str] | None = None,
                 max_event_bytes: int = MAX_EVENT_BYTES, max_json_values: int = 250_000) -> None:
        self.parser = SSEParser(max_event_bytes)
        self.decoder, self.encoder, self.scrub = decoder, encoder, scrub
        self.outcome = RelayOutcome()
        self._max_values = max_json_values

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        try:
            return self._feed(chunk)
        except (orjson.JSONDecodeError, SSEError) as exc:
            reason = str(exc) if isinstance(exc, SSEError) else "a data line is not JSON"
            return self.fail("api_error", f"The upstream provider sent a malformed stream ({reason})."), True

    def _feed(self, chunk: bytes) -> tuple[bytes, bool]:
        events = self.parser.feed(chunk) if chunk else self.parser.finish()
        frames: list[bytes] = []
        encode = self.encoder.feed
        for _name, data in events:
            if data == b"[DONE]":
                frames += self._terminal(self.decoder.finish(done=True))
                return b"".join(frames), True
            if len(data) > BIG_EVENT and json_value_bound(data) > self._max_values:
                raise SSEError(f"an event with more than {self._max_values} JSON values")
            payload = orjson.loads(data)
            if type(payload) is not dict:
                continue
            ended = False
            for event in self.decoder.feed(payload):
                if type(event) is BlockDelta:  # nearly every event: no bookkeeping
                    frames.append(encode(event))
                else:
                    frames += self._terminal([event])
                    ended = True
            if ended and self.encoder.finished:   # only a terminal event finishes the encoder
                return b"".join(frames), True
        if not chunk:
            frames += self._terminal(self.decoder.finish(done=False))
            return b"".join(frames), True
        return b"".join(frames), False

    def cut(self, error_type: str, message: str) -> bytes:
        """An answer whose end the decoder already knows completes (a connection cut after the
        finish reason, before usage or ``[DONE]``); anything else fails with the read's reason."""
        events = self.decoder.finish(done=False)
        if events and type(events[-1]) is StreamFailure:
            return self.fail(error_type, message)
        return b"".join(self._terminal(events))

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


async def relay(upstream: aiohttp.ClientResponse, client: web.StreamResponse, transcoder: Transcoder) -> RelayOutcome:
    """Stream ``upstream``'s body into ``client`` through ``transcoder`` until it is over."""
    content = upstream.content
    done = False
    while not done:
        try:
            chunk = await content.readany()
        except aiohttp.SocketTimeoutError:  # aiohttp's sock_read: silence between bytes
            frames, done = transcoder.cut(*READ_FAILURES["idle"]), True
        except TimeoutError:  # aiohttp's total timeout
            frames, done = transcoder.cut(*READ_FAILURES["total"]), True
        except aiohttp.ClientError:
            frames, done = transcoder.cut(*READ_FAILURES["lost"]), True
        else:
            frames, done = transcoder.feed(chunk)
        if frames:
            await client.write(frames)
    return transcoder.outcome
