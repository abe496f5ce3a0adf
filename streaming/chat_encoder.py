"""Internal block events -> OpenAI ``chat.completion.chunk`` SSE bytes.

The wire rules the OpenAI SDK and its clients rely on: every frame is a bare ``data:`` line (an
``event:`` or ``id:`` line makes the SDK's parser dispatch an event without data and fail on it);
the first chunk carries ``role``; each tool call has a stable ``index`` (0, 1, 2... in call
order), and its first delta carries the id, type and name with empty arguments, later ones only
argument fragments; the finish_reason comes in the last choice chunk; when the client asked for
``stream_options.include_usage``, a chunk with empty ``choices`` and the usage follows; then
``data: [DONE]``. A failure is one ``{"error": {...}}`` frame, which the SDK raises as APIError,
and nothing after it: no finish_reason, no ``[DONE]``, so the client never sees a silent finish.
Keepalives are SSE comments (``OPENAI_KEEPALIVE``).
"""

from __future__ import annotations

from typing import Any

import orjson

from converters.messages_response import openai_error
from converters.stop_reasons import STOP_TO_FINISH
from converters.usage import chat_usage

from .events import (
    BlockDelta,
    BlockStart,
    Event,
    MessageEnd,
    MessageStart,
    StreamFailure,
)

__all__ = ["ChatChunkEncoder", "OPENAI_KEEPALIVE", "openai_error_frame"]

OPENAI_KEEPALIVE = b": keepalive\n\n"
_DONE = b"data: [DONE]\n\n"
_TAIL = b',"finish_reason":null,"logprobs":null}]}\n\n'
_CONTENT = b'{"content":'
_REASONING = b'{"reasoning_content":'


def openai_error_frame(error_type: str, message: str) -> bytes:
    """The ``data: {"error": ...}`` frame that ends a broken OpenAI-dialect stream."""
    return b"data: " + orjson.dumps(openai_error(error_type, message)) + b"\n\n"


class ChatChunkEncoder:
    """``start()`` once, then ``feed(event)`` for each internal event; returns the bytes to write."""

    __slots__ = ("_head", "_usage_head", "_include_usage", "_usage", "_open", "_calls", "_has_args", "_state")

    def __init__(self, completion_id: str, model: str, created: int, include_usage: bool = False) -> None:
        head = orjson.dumps({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                             "model": model})[:-1]
        self._head = b"data: " + head + b',"choices":[{"index":0,"delta":'
        self._usage_head = b"data: " + head + b',"choices":[],"usage":'
        self._include_usage = include_usage
        self._usage: dict[str, Any] | None = None
        self._open = ""          # kind of the open block ("" when none)
        self._calls = 0          # tool calls started so far; the open one has index _calls - 1
        self._has_args = False   # the open tool call got an argument fragment
        self._state = 0          # 0 before the role chunk, 1 streaming, 2 finished

    @property
    def finished(self) -> bool:
        return self._state == 2

    def start(self) -> bytes:
        """The first chunk: the assistant role, with empty content as OpenAI sends it."""
        if self._state:
            return b""
        self._state = 1
        return self._head + b'{"role":"assistant","content":""}' + _TAIL

    def feed(self, event: Event) -> bytes:
        if self._state == 2:
            return b""
        head = b"" if self._state else self.start()
        if type(event) is BlockDelta:
            return head + self._delta(event)
        if type(event) is BlockStart:
            return head + self._close() + self._block_start(event)
        if type(event) is MessageEnd:
            return head + self._close() + self._end(event)
        if type(event) is StreamFailure:
            return head + self.failure(event.error_type, event.message)
        if type(event) is MessageStart:
            self._usage = event.usage
            return head
        return head + self._close()  # BlockStop

    def failure(self, error_type: str, message: str) -> bytes:
        """The error frame that ends an incomplete stream; nothing may follow it."""
        if self._state == 2:
            return b""
        self._state = 2
        return openai_error_frame(error_type, message)

    def _block_start(self, event: BlockStart) -> bytes:
        self._open = event.kind
        if event.kind == "tool_use":
            self._calls += 1
            self._has_args = False
            call = {"index": self._calls - 1, "id": event.id, "type": "function",
                    "function": {"name": event.name, "arguments": ""}}
            return self._head + orjson.dumps({"tool_calls": [call]}) + _TAIL
        return b""  # text needs no announcement; redacted thinking has no OpenAI form

    def _delta(self, event: BlockDelta) -> bytes:
        value = event.value
        if not value:
            return b""
        kind = event.kind
        if kind == "text":
            return self._head + _CONTENT + orjson.dumps(value) + b"}" + _TAIL
        if kind == "thinking":
            return self._head + _REASONING + orjson.dumps(value) + b"}" + _TAIL
        if kind == "json" and self._open == "tool_use":
            self._has_args = True
            return self._arguments(orjson.dumps(value))
        return b""  # signatures: OpenAI has no field for them

    def _arguments(self, fragment: bytes) -> bytes:
        return (self._head + b'{"tool_calls":[{"index":' + str(self._calls - 1).encode()
                + b',"function":{"arguments":' + fragment + b"}}]}" + _TAIL)

    def _close(self) -> bytes:
        """Stop the open block. A tool call that streamed no arguments (Anthropic sends a single
        empty fragment for a call without input) gets "{}": clients json-parse the arguments."""
        closing, self._open = self._open, ""
        if closing == "tool_use" and not self._has_args:
            return self._arguments(b'"{}"')
        return b""

    def _end(self, event: MessageEnd) -> bytes:
        self._state = 2
        reason = STOP_TO_FINISH.get(event.stop_reason, "stop")
        frames = self._head + b'{},"finish_reason":"' + reason.encode() + b'","logprobs":null}]}\n\n'
        if self._include_usage:
            usage = event.usage if event.usage is not None else self._usage
            frames += self._usage_head + orjson.dumps(chat_usage(usage)) + b"}\n\n"
        return frames + _DONE
