"""Same-dialect pass-through that validates while it relays (pure, no I/O).

A client speaking the provider's own dialect gets the provider's bytes, never re-encoded. They go
out event by event: each complete event is checked (SSE lines, JSON data, the dialect's event
shape) and forwarded as the exact bytes that carried it; an incomplete one waits for the read
that completes it. So a valid stream reaches the client byte for byte, and a broken one never
looks whole:

- a data line that is not JSON, a line that is not SSE, or an event larger than the cap ends the
  stream with the dialect's error frame, at an event boundary;
- an end of stream before the dialect's terminator (Anthropic ``message_stop``, OpenAI
  ``[DONE]``, Responses ``response.completed`` / ``.incomplete``) ends it with the error frame,
  except an OpenAI stream that already had its finish_reason: that one gets the ``data: [DONE]``
  the upstream left out (the answer is complete; only the terminator is missing);
- the upstream's own error event (Anthropic ``error``, an OpenAI ``{"error": ...}`` chunk,
  Responses ``response.failed`` / ``error``) is relayed as it is and ends the stream.

While reading, the usage the events carry is noted for the access log, in Anthropic terms.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson

from converters.messages_response import openai_error
from converters.usage import anthropic_usage, usage_from_responses

from .sse import MAX_EVENT_BYTES

__all__ = ["PassthroughCheck", "RelayOutcome"]

Dialect = Literal["anthropic", "openai", "responses"]
_BLANK_LINE = re.compile(rb"(?>\r\n|\r|\n)(?>\r\n|\r|\n)")  # atomic: a CRLF is one line end
_DONE = b"data: [DONE]\n\n"
_RESPONSES_DONE = frozenset({"response.completed", "response.incomplete"})
_RESPONSES_FAILED = frozenset({"response.failed", "error"})


class RelayOutcome:
    """How a relayed stream ended, for the access log and metrics."""

    __slots__ = ("usage", "stop_reason", "error")

    def __init__(self) -> None:
        self.usage: dict[str, Any] | None = None
        self.stop_reason: str | None = None
        self.error: str | None = None   # the error type the client saw, when the stream failed


class _Invalid(Exception):
    pass


class PassthroughCheck:
    """``feed(chunk)`` each upstream read (``b""`` at its end): the bytes to forward, and whether
    the stream is over; ``cut(type, message)`` when the read itself failed."""

    __slots__ = ("_dialect", "_held", "_held_size", "_context", "_finish_seen", "_limit",
                 "_response", "_sequence", "outcome")

    def __init__(self, dialect: Dialect, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._dialect = dialect
        self._held: list[bytes] = []   # the bytes of an event not yet complete
        self._held_size = 0
        self._context = b""            # the last bytes held: a line end may be split across reads
        self._finish_seen = False      # OpenAI: a choice got its finish_reason
        self._limit = max_event_bytes
        self._response: dict[str, Any] = {}  # Responses: the response.created object, for a failure
        self._sequence = -1
        self.outcome = RelayOutcome()

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        if not chunk:
            return self._end_of_stream()
        probe = self._context + chunk
        if b"\r" in probe:
            ends = [m.end() for m in _BLANK_LINE.finditer(probe)]
        else:
            ends, at = [], probe.find(b"\n\n")
            while at >= 0:
                ends.append(at + 2)
                at = probe.find(b"\n\n", at + 2)
        shift = len(self._context)
        ends = [end - shift for end in ends if end > shift]
        if not ends:
            return self._hold(chunk)
        out: list[bytes] = []
        start = 0
        for end in ends:
            if self._held:
                self._held.append(chunk[start:end])
                raw = b"".join(self._held)
                self._held.clear()
                self._held_size = 0
            else:
                raw = chunk[start:end]
            start = end
            verdict = self._event(raw, out)
            if verdict:
                return b"".join(out), True
        self._context = b""
        rest = chunk[start:]
        if rest:
            frames, done = self._hold(rest)
            return b"".join(out) + frames, done
        return b"".join(out), False

    def cut(self, error_type: str, message: str) -> bytes:
        """The upstream's stream broke off (a read error or timeout) where nothing more came."""
        if self._dialect == "openai" and self._finish_seen:
            return _DONE
        return self._failure(error_type, message)

    def fail(self, error_type: str, message: str) -> bytes:
        """End the stream with an error (the bytes forwarded so far end on an event boundary)."""
        return self._failure(error_type, message)

    # -- events ---------------------------------------------------------------------------

    def _hold(self, piece: bytes) -> tuple[bytes, bool]:
        self._held.append(piece)
        self._held_size += len(piece)
        self._context = (self._context + piece)[-3:]
        if self._held_size > self._limit:
            return self._failure("api_error", f"The upstream provider sent an event larger than {self._limit} bytes."), True
        return b"", False

    def _end_of_stream(self) -> tuple[bytes, bool]:
        last = b""
        if self._held and (raw := b"".join(self._held)).strip():
            # the last event lacks its blank line: a valid one still counts, completed with the
            # blank line so the client dispatches it too
            self._held.clear()
            try:
                terminal = self._check(raw)
            except _Invalid as exc:
                return self._failure("api_error", f"The upstream provider sent a malformed stream ({exc})."), True
            if terminal:
                return raw + b"\n\n", True
            last = raw + b"\n\n"
        if self._dialect == "openai" and self._finish_seen:
            return last + _DONE, True
        return last + self._failure("api_error", "The upstream provider ended the stream before the answer was complete."), True

    def _event(self, raw: bytes, out: list[bytes]) -> bool:
        """Check one complete event; True when the stream is over (ended well or failed)."""
        try:
            terminal = self._check(raw)
        except _Invalid as exc:
            out.append(self._failure("api_error", f"The upstream provider sent a malformed stream ({exc})."))
            return True
        out.append(raw)
        return terminal

    def _check(self, raw: bytes) -> bool:
        """Validate one event's bytes; True when it ends the stream."""
        name, data = _fields(raw)
        if data is None:
            return False  # comments (keepalives) and empty events
        if self._dialect == "openai":
            return self._openai(data)
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise _Invalid("a data line is not JSON") from None
        if type(payload) is not dict or not isinstance(kind := payload.get("type"), str):
            raise _Invalid("an event without a type")
        if name and name != kind:
            raise _Invalid(f"event {name!r} carries data of type {kind!r}")
        if self._dialect == "anthropic":
            return self._anthropic(kind, payload)
        return self._responses(kind, payload)

    def _openai(self, data: bytes) -> bool:
        if data == b"[DONE]":
            return True
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise _Invalid("a data line is not JSON") from None
        if type(payload) is not dict:
            raise _Invalid("a chunk that is not an object")
        if (error := payload.get("error")) is not None:
            self.outcome.error = _error_type(error)
            return True
        for choice in payload.get("choices") or ():
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self._finish_seen = True
                self.outcome.stop_reason = str(choice["finish_reason"])
        if isinstance(usage := payload.get("usage"), dict):
            self.outcome.usage = anthropic_usage(usage)
        return False

    def _anthropic(self, kind: str, payload: dict[str, Any]) -> bool:
        if kind == "message_stop":
            return True
        if kind == "error":
            self.outcome.error = _error_type(payload.get("error"))
            return True
        if kind == "message_start":
            message = payload.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(usage, dict):
                self.outcome.usage = dict(usage)
        elif kind == "message_delta":
            if isinstance(usage := payload.get("usage"), dict):
                self.outcome.usage = {**(self.outcome.usage or {}), **usage}
            delta = payload.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self.outcome.stop_reason = str(delta["stop_reason"])
        return False

    def _responses(self, kind: str, payload: dict[str, Any]) -> bool:
        if type(sequence := payload.get("sequence_number")) is int:
            self._sequence = sequence
        response = payload.get("response")
        if kind == "response.created" and isinstance(response, dict):
            self._response = {k: v for k, v in response.items() if k not in ("output", "usage")}
        if kind in _RESPONSES_DONE or kind in _RESPONSES_FAILED:
            if isinstance(response, dict):
                self.outcome.usage = usage_from_responses(response.get("usage"))
                if kind == "response.incomplete":
                    self.outcome.stop_reason = "max_tokens"
            if kind in _RESPONSES_FAILED:
                error = response.get("error") if isinstance(response, dict) else payload
                self.outcome.error = _error_type(error)
            return True
        return False

    def _failure(self, error_type: str, message: str) -> bytes:
        """The error frame that ends a broken stream, in the dialect."""
        self.outcome.error = error_type
        if self._dialect == "openai":
            return b"data: " + orjson.dumps(openai_error(error_type, message)) + b"\n\n"
        if self._dialect == "anthropic":
            payload = {"type": "error", "error": {"type": error_type, "message": message}}
            return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"
        self._sequence += 1
        response = {**self._response, "status": "failed", "output": [], "usage": None,
                    "error": {"code": "server_error", "message": message}}
        event = {"type": "response.failed", "sequence_number": self._sequence, "response": response}
        return b"event: response.failed\ndata: " + orjson.dumps(event) + b"\n\n"


def _fields(raw: bytes) -> tuple[str, bytes | None]:
    """(event name, data) of one complete event's bytes; data None when it has no data line.
    Raises _Invalid for a line that is not SSE."""
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    name = ""
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        if line[:6] == b"data: ":
            data.append(line[6:])
        elif not line or line[:1] == b":":
            continue
        else:
            field, colon, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value)
            elif field == b"event":
                name = value.decode("utf-8", "replace")
            elif field not in (b"id", b"retry") or not colon:
                raise _Invalid("a line that is not SSE")
    return name, (b"\n".join(data) if data else None)


def _error_type(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("type") or error.get("code") or "api_error")
    return "api_error"
