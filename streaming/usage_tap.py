"""Usage read from a passed-through response on its way by, for the access log (pure, no I/O).

The bytes themselves are never touched: the tap parses its own view of them with SSEParser and
parses JSON only for the few events that carry usage (Anthropic's message_start and
message_delta, OpenAI's usage chunk). A stream the tap cannot read turns the tap off, not the
stream: the client still gets every byte.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from .sse import SSEError, SSEParser

__all__ = ["UsageTap", "json_usage"]

_USAGE = b'"usage"'
_ANTHROPIC_EVENTS = frozenset({"message_start", "message_delta", "message_stop", "error"})


class UsageTap:
    """``feed(chunk)`` every upstream read, ``finish()`` at the end; then read ``usage``.

    ``usage`` has ``input_tokens`` / ``output_tokens`` in Anthropic's terms whatever the
    dialect; ``error`` is the type of an error the upstream sent mid-stream; ``complete`` says
    the upstream's stream reached its end (Anthropic's message_stop, OpenAI's ``[DONE]``).
    """

    __slots__ = ("_parser", "_anthropic", "_off", "usage", "error", "complete")

    def __init__(self, dialect: Literal["anthropic", "openai"]) -> None:
        self._parser = SSEParser()
        self._anthropic = dialect == "anthropic"
        self._off = False
        self.usage: dict[str, int] = {}
        self.error: str | None = None
        self.complete = False

    @property
    def at_boundary(self) -> bool:
        """The bytes so far end between two events: a frame written now would stand on its own."""
        return not self._off and self._parser.idle

    def feed(self, chunk: bytes) -> None:
        self._read(chunk, final=False)

    def finish(self) -> None:
        self._read(b"", final=True)  # an unterminated last event still counts

    def _read(self, chunk: bytes, final: bool) -> None:
        if self._off:
            return
        try:
            for event, data in self._parser.finish() if final else self._parser.feed(chunk):
                if self._anthropic:
                    if event in _ANTHROPIC_EVENTS:
                        self._anthropic_event(event, data)
                else:
                    self._openai_data(data)
        except (SSEError, orjson.JSONDecodeError, TypeError, AttributeError, KeyError):
            self._off = True

    def _anthropic_event(self, event: str, data: bytes) -> None:
        if event == "message_stop":
            self.complete = True
            return
        payload = orjson.loads(data)
        if event == "message_start":
            self._take(payload["message"].get("usage"), "input_tokens", "output_tokens")
        elif event == "message_delta":
            self._take(payload.get("usage"), "input_tokens", "output_tokens")
        else:
            error = payload.get("error")
            self.error = str(error.get("type") or "api_error") if isinstance(error, dict) else "api_error"

    def _openai_data(self, data: bytes) -> None:
        if data == b"[DONE]":
            self.complete = True
        elif _has_object(data, _USAGE):  # OpenAI sends "usage":null in every chunk before it
            self._take(orjson.loads(data).get("usage"), "prompt_tokens", "completion_tokens")
        elif data[:9] == b'{"error":':
            error = orjson.loads(data)["error"]
            self.error = str(error.get("code") or error.get("type") or "api_error") if isinstance(error, dict) else "api_error"

    def _take(self, usage: Any, input_key: str, output_key: str) -> None:
        if isinstance(usage, dict):
            for key, name in ((input_key, "input_tokens"), (output_key, "output_tokens")):
                if type(usage.get(key)) is int:
                    self.usage[name] = usage[key]


def json_usage(body: bytes, dialect: Literal["anthropic", "openai"]) -> dict[str, int]:
    """Usage from a whole JSON response body in ``dialect``; empty when it has none."""
    try:
        usage = orjson.loads(body).get("usage")
    except (orjson.JSONDecodeError, AttributeError):
        return {}
    keys = ("input_tokens", "output_tokens") if dialect == "anthropic" else ("prompt_tokens", "completion_tokens")
    if not isinstance(usage, dict):
        return {}
    return {name: usage[key] for key, name in zip(keys, ("input_tokens", "output_tokens"), strict=True)
            if type(usage.get(key)) is int}


def _has_object(data: bytes, key: bytes) -> bool:
    """``key`` is present with an object value (checked on the bytes, without parsing)."""
    at = data.rfind(key)
    return at >= 0 and data[at + len(key):at + len(key) + 8].lstrip(b": \t\r\n")[:1] == b"{"
