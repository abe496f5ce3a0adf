"""A whole Anthropic message as the stream that would have carried it.

Some OpenAI-compatible and Anthropic-compatible servers answer a stream request with one JSON
body (they ignore ``stream`` in some modes). ``Replay`` is the transcoder for that answer: it
reads the body whole, converts it to the hub message, and encodes the events a stream of it
would have had, so the client still gets the stream it asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .events import BLOCK_STOP, BlockDelta, BlockStart, Event, MessageEnd, MessageStart
from .limits import json_value_bound
from .passthrough import RelayOutcome

__all__ = ["message_events", "Replay"]


def message_events(message: dict[str, Any]) -> list[Event]:
    events: list[Event] = []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            events += [BlockStart("text"), BlockDelta("text", block["text"]), BLOCK_STOP]
        elif kind == "thinking":
            events += [BlockStart("thinking"), BlockDelta("thinking", block.get("thinking", ""))]
            if block.get("signature"):
                events.append(BlockDelta("signature", block["signature"]))
            events.append(BLOCK_STOP)
        elif kind == "redacted_thinking":
            events += [BlockStart("redacted_thinking", data=block.get("data", "")), BLOCK_STOP]
        elif kind == "tool_use":
            events += [BlockStart("tool_use", block["id"], block["name"]),
                       BlockDelta("json", orjson.dumps(block.get("input") or {}).decode()), BLOCK_STOP]
    events.append(MessageEnd(message.get("stop_reason") or "end_turn", message.get("usage"),
                             message.get("stop_sequence")))
    return events


class Replay:
    """Transcoder (streaming/pump.py) for a stream request answered with one JSON body."""

    __slots__ = ("_to_message", "_encoder", "_chunks", "_size", "_max_bytes", "_max_values", "outcome")

    def __init__(self, to_message: Callable[[Any], dict[str, Any]], encoder: Any,
                 max_bytes: int, max_values: int) -> None:
        self._to_message = to_message   # the provider's answer -> the hub (Anthropic) message
        self._encoder = encoder
        self._chunks: list[bytes] = []
        self._size = 0
        self._max_bytes, self._max_values = max_bytes, max_values
        self.outcome = RelayOutcome()

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        if chunk:
            self._chunks.append(chunk)
            self._size += len(chunk)
            if self._size > self._max_bytes:
                return self.fail("api_error", f"The upstream provider sent an answer larger than {self._max_bytes} bytes."), True
            return b"", False
        raw = b"".join(self._chunks)
        self._chunks.clear()
        if len(raw) >= 2 * self._max_values and json_value_bound(raw) > self._max_values:
            return self.fail("api_error", f"The upstream provider sent an answer with more than {self._max_values} JSON values."), True
        try:
            message = self._to_message(orjson.loads(raw))
        except (ValueError, TypeError, AttributeError, KeyError):  # orjson's error is a ValueError
            return self.fail("api_error", "The upstream provider sent an answer dragoman could not read."), True
        events = [MessageStart(str(message.get("id") or ""), None), *message_events(message)]
        end = events[-1]
        assert isinstance(end, MessageEnd)
        self.outcome.usage, self.outcome.stop_reason = end.usage, end.stop_reason
        return b"".join(self._encoder.feed(event) for event in events), True

    def cut(self, error_type: str, message: str) -> bytes:
        return self.fail(error_type, message)

    def fail(self, error_type: str, message: str) -> bytes:
        self.outcome.error = error_type
        return bytes(self._encoder.failure(error_type, message))
