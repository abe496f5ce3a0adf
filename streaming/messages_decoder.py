"""Anthropic Messages SSE event payloads -> internal block events.

The internal vocabulary is Anthropic's block model, so this decoder mostly renames. What it
decides:
- blocks the client dialect cannot carry (``server_tool_use``, ``web_search_tool_result``, any
  future kind) are skipped together with their deltas and their stop, by index;
  ``citations_delta`` is dropped and the cited text kept;
- a text or thinking block that follows a block of another kind, after earlier non-blank text of
  its kind, starts with a blank line, so the text before and after a server tool call stays two
  paragraphs (converters/messages_response.py applies the same rule to whole messages);
- a ``tool_use`` start that already carries its input (some Anthropic-compatible providers send
  it whole, with no deltas) becomes one json delta;
- usage is Anthropic's usage object: ``message_delta``'s counters are cumulative and overwrite
  ``message_start``'s (server tools make input and cache counts grow mid-message);
- a ``content_block_delta`` or ``content_block_stop`` for an index that is not the open block
  (never started, already stopped, skipped) is ignored, and so is a delta of a kind its block cannot
  hold (a text delta in a tool_use block): the encoders would otherwise write it into the wrong
  block, or into none, which the client SDKs reject;
- the message ends at ``message_stop``. An ``error`` event, or an end of stream before any
  stop_reason, is a StreamFailure; a stream that ends after ``message_delta`` but without
  ``message_stop`` still ends normally, since its stop_reason is known.
"""

from __future__ import annotations

from typing import Any, cast

import orjson

from converters.messages_response import BLOCK_SEPARATOR

from .events import (
    BLOCK_STOP,
    BlockDelta,
    BlockKind,
    BlockStart,
    DeltaKind,
    Event,
    MessageEnd,
    MessageStart,
    StreamFailure,
)

__all__ = ["MessagesEventDecoder"]

_DELTA_KIND: dict[Any, tuple[DeltaKind, str]] = {
    "text_delta": ("text", "text"),
    "thinking_delta": ("thinking", "thinking"),
    "signature_delta": ("signature", "signature"),
    "input_json_delta": ("json", "partial_json"),
}
_BLOCK_KINDS = frozenset({"text", "thinking", "redacted_thinking", "tool_use"})
_BLOCK_FOR_DELTA: dict[DeltaKind, frozenset[str]] = {  # the block kinds each delta kind belongs in
    "text": frozenset({"text"}),
    "thinking": frozenset({"thinking"}),
    "signature": frozenset({"thinking"}),
    "json": frozenset({"tool_use"}),
}


class MessagesEventDecoder:
    """Feed it each parsed Anthropic event payload (it has ``type``); ``finish()`` at end of stream."""

    __slots__ = ("_open", "_previous", "_spoken", "_usage", "_stop_reason", "_stop_sequence", "_over")

    def __init__(self) -> None:
        self._open: tuple[Any, str] | None = None  # (index, kind) of the started, unstopped block
        self._previous = ""                 # kind of the block started last ("other" when skipped)
        self._spoken: set[str] = set()      # "text" / "thinking" once non-blank text of that kind came
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._stop_sequence: str | None = None
        self._over = False

    def feed(self, payload: dict[str, Any]) -> list[Event]:
        if self._over:
            return []
        kind = payload.get("type")
        if kind == "content_block_delta":
            return self._delta(payload)
        if kind == "content_block_start":
            return self._block_start(payload)
        if kind == "content_block_stop":
            if self._open is None or self._open[0] != payload.get("index"):
                return []  # a skipped block's stop, or a stop for no open block
            self._open = None
            return [BLOCK_STOP]
        if kind == "message_start":
            message = payload.get("message")
            message = message if isinstance(message, dict) else {}
            self._merge_usage(message.get("usage"))
            return [MessageStart(str(message.get("id") or ""), dict(self._usage))]
        if kind == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self._stop_reason = str(delta["stop_reason"])
                sequence = delta.get("stop_sequence")
                self._stop_sequence = sequence if isinstance(sequence, str) else None
            self._merge_usage(payload.get("usage"))
            return []
        if kind == "message_stop":
            return self.finish()
        if kind == "error":
            self._over = True
            return [_failure(payload.get("error"))]
        return []  # ping, and event types newer than this code

    def finish(self, done: bool = True) -> list[Event]:
        """End of the message (``message_stop``) or of the stream; ``done`` changes nothing here:
        Anthropic sends no ``[DONE]``, so completeness is judged by the stop_reason alone."""
        if self._over:
            return []
        self._over = True
        if self._stop_reason is None and not done:
            return [StreamFailure("api_error", "The upstream provider ended the stream before the message was complete.")]
        return [MessageEnd(self._stop_reason or "end_turn", dict(self._usage), self._stop_sequence)]

    def _block_start(self, payload: dict[str, Any]) -> list[Event]:
        block = payload.get("content_block")
        kind = block.get("type") if isinstance(block, dict) else None
        previous, self._previous = self._previous, kind if kind in _BLOCK_KINDS else "other"
        if kind not in _BLOCK_KINDS:
            return []  # skipped with its deltas and its stop: none of them match an open block
        assert isinstance(block, dict) and isinstance(kind, str)
        events: list[Event] = [BLOCK_STOP] if self._open is not None else []  # one open at a time
        self._open = (payload.get("index"), kind)
        if kind == "tool_use":
            events.append(BlockStart("tool_use", str(block.get("id") or ""), str(block.get("name") or "")))
            if isinstance(tool_input := block.get("input"), dict) and tool_input:
                events.append(BlockDelta("json", orjson.dumps(tool_input).decode()))
            return events
        if kind == "redacted_thinking":
            events.append(BlockStart("redacted_thinking", data=str(block.get("data") or "")))
            return events
        text_kind = cast(DeltaKind, kind)  # "text" or "thinking"
        events.append(BlockStart(cast(BlockKind, kind)))
        if kind in self._spoken and previous != kind:
            events.append(BlockDelta(text_kind, BLOCK_SEPARATOR))
        if isinstance(text := block.get(kind), str) and text:  # Anthropic starts empty; others may not
            events.append(self._said(text_kind, text))
        return events

    def _said(self, kind: DeltaKind, text: str) -> BlockDelta:
        if kind not in self._spoken and text.strip():
            self._spoken.add(kind)
        return BlockDelta(kind, text)

    def _delta(self, payload: dict[str, Any]) -> list[Event]:
        delta = payload.get("delta")
        if not isinstance(delta, dict) or self._open is None or self._open[0] != payload.get("index"):
            return []
        mapped = _DELTA_KIND.get(delta.get("type"))
        if mapped is None or self._open[1] not in _BLOCK_FOR_DELTA[mapped[0]]:
            return []  # citations_delta, delta types newer than this code, a kind the block can't hold
        value = delta.get(mapped[1])
        return [self._said(mapped[0], value)] if isinstance(value, str) and value else []

    def _merge_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._usage.update((key, value) for key, value in usage.items() if value is not None)


def _failure(error: Any) -> StreamFailure:
    """An Anthropic ``error`` event's body -> StreamFailure (its type is already Anthropic's)."""
    error = error if isinstance(error, dict) else {}
    error_type = str(error.get("type") or "api_error")
    message = str(error.get("message") or "The upstream provider reported an error mid-stream.")
    return StreamFailure(error_type, message)
