"""Internal block events -> Anthropic Messages SSE bytes.

The encoder owns the wire rules of the Anthropic stream, which Claude Code and the SDKs enforce:
exactly one ``message_start`` first; blocks indexed 0, 1, 2... in start order, one open at a time,
each started and stopped once; one ``message_delta`` with a non-null stop_reason; one
``message_stop``; or, on failure, an ``error`` event and nothing after it. Every event carries its
``event:`` line (Claude Code rejects a stream without them).
"""

from __future__ import annotations

from typing import Any

import orjson

from converters.usage import empty_usage

from .events import (
    BlockDelta,
    BlockStart,
    BlockStop,
    Event,
    MessageEnd,
    MessageStart,
    StreamFailure,
)

__all__ = ["MessagesEncoder", "anthropic_frame", "anthropic_error_frame", "ANTHROPIC_PING"]

ANTHROPIC_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_DELTA_FIELD = {
    "text": b',"delta":{"type":"text_delta","text":',
    "thinking": b',"delta":{"type":"thinking_delta","thinking":',
    "signature": b',"delta":{"type":"signature_delta","signature":',
    "json": b',"delta":{"type":"input_json_delta","partial_json":',
}
_EMPTY_BLOCK: dict[str, dict[str, Any]] = {
    "text": {"type": "text", "text": ""},
    "thinking": {"type": "thinking", "thinking": "", "signature": ""},
}


def anthropic_frame(event: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def anthropic_error_frame(error_type: str, message: str) -> bytes:
    """The ``event: error`` frame that ends a broken Anthropic-dialect stream."""
    return anthropic_frame("error", {"type": "error", "error": {"type": error_type, "message": message}})


class MessagesEncoder:
    """``start()`` once, then ``feed(event)`` for each internal event; returns the bytes to write."""

    __slots__ = ("_id", "_model", "_input_tokens", "_index", "_index_bytes", "_open", "_state")

    def __init__(self, message_id: str, model: str, input_tokens: int = 0) -> None:
        self._id = message_id
        self._model = model
        self._input_tokens = input_tokens
        self._index = -1
        self._index_bytes = b""   # the open block's index, rendered once per block
        self._open = False
        self._state = 0  # 0 before message_start, 1 streaming, 2 finished

    @property
    def finished(self) -> bool:
        return self._state == 2

    def start(self, usage: dict[str, int] | None = None) -> bytes:
        if self._state:
            return b""
        self._state = 1
        message: dict[str, Any] = {
            "id": self._id, "type": "message", "role": "assistant", "model": self._model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": usage or empty_usage(self._input_tokens),
        }
        return anthropic_frame("message_start", {"type": "message_start", "message": message})

    def feed(self, event: Event) -> bytes:
        if self._state == 2:
            return b""
        if type(event) is BlockDelta:
            if not self._open:
                return b""  # never write into a stopped block
            return _DELTA_HEAD + self._index_bytes + _DELTA_FIELD[event.kind] + orjson.dumps(event.value) + b"}}\n\n"
        head = b"" if self._state else self.start()
        if type(event) is BlockStart:
            return head + self._stop_open() + self._block_start(event)
        if type(event) is BlockStop:
            return head + self._stop_open()
        if type(event) is MessageEnd:
            return head + self._stop_open() + self._end(event)
        if type(event) is StreamFailure:
            return head + self.failure(event.error_type, event.message)
        if type(event) is MessageStart:
            return self.start(event.usage) if not self._state else b""
        return head

    def failure(self, error_type: str, message: str) -> bytes:
        """The error event that ends an incomplete stream; nothing may follow it."""
        if self._state == 2:
            return b""
        self._state = 2
        return anthropic_error_frame(error_type, message)

    def _block_start(self, event: BlockStart) -> bytes:
        self._index += 1
        self._index_bytes = str(self._index).encode()
        self._open = True
        if event.kind == "tool_use":
            block: dict[str, Any] = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
        elif event.kind == "redacted_thinking":
            block = {"type": "redacted_thinking", "data": event.data}
        else:
            block = _EMPTY_BLOCK[event.kind]
        return anthropic_frame(
            "content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block}
        )

    def _stop_open(self) -> bytes:
        if not self._open:
            return b""
        self._open = False
        return b'event: content_block_stop\ndata: {"type":"content_block_stop","index":' + self._index_bytes + b"}\n\n"

    def _end(self, event: MessageEnd) -> bytes:
        self._state = 2
        usage: dict[str, int] = event.usage if event.usage is not None else {"output_tokens": 0}
        delta = {"stop_reason": event.stop_reason, "stop_sequence": event.stop_sequence}
        return anthropic_frame("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}) + _MESSAGE_STOP
