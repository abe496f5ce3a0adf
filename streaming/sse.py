"""Incremental Server-Sent Events parser: bytes in, (event, data) pairs out (data stays bytes:
orjson parses bytes directly, so nothing is decoded twice).

Follows the WHATWG algorithm the official SDKs implement: lines end in LF, CR or CRLF (a CRLF may
be split across reads), ``data:`` lines join with LF, a blank line dispatches, ``:`` starts a
comment, one leading space after the colon is dropped. Lines are split as bytes and decoded after,
so U+2028 and friends inside JSON strings never split a line.
"""

from __future__ import annotations

__all__ = ["SSEParser", "SSEError", "MAX_LINE_BYTES"]

# An upstream that never sends a newline must not grow our buffer without bound.
MAX_LINE_BYTES = 4 * 1024 * 1024


class SSEError(ValueError):
    """The upstream byte stream is not valid SSE (for example, a line longer than MAX_LINE_BYTES)."""


class SSEParser:
    """``feed(chunk)`` returns the events that chunk completed, as ``(event, data)`` pairs.

    ``event`` is a str, "" when the upstream sent no ``event:`` line (the OpenAI dialect); ``data``
    is the UTF-8 bytes of the data lines joined with LF.
    """

    __slots__ = ("_tail", "_skip_lf", "_event", "_data")

    def __init__(self) -> None:
        self._tail = b""          # an unterminated line carried into the next feed
        self._skip_lf = False     # the previous chunk ended in CR: a leading LF belongs to it
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if self._tail:
            chunk = self._tail + chunk
            self._tail = b""
        if not chunk:
            return []
        if b"\r" in chunk:
            if chunk[-1:] == b"\r":
                self._skip_lf = True
            lines = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        else:
            lines = chunk.split(b"\n")
        tail = lines.pop()  # after the last terminator: incomplete
        if len(tail) > MAX_LINE_BYTES:
            raise SSEError(f"SSE line longer than {MAX_LINE_BYTES} bytes")
        self._tail = tail
        events: list[tuple[str, bytes]] = []
        for line in lines:
            if line[:6] == b"data: ":  # the common line, without the general field parsing
                self._data.append(line[6:])
            elif line:
                self._field(line)
            elif self._data:
                events.append((self._event, self._data[0] if len(self._data) == 1 else b"\n".join(self._data)))
                self._event, self._data = "", []
            else:
                self._event = ""  # a blank line with no data dispatches nothing
        return events

    @property
    def idle(self) -> bool:
        """Nothing pending: the bytes fed so far end on an event boundary."""
        return not self._tail and not self._data and not self._event

    def finish(self) -> list[tuple[str, bytes]]:
        """End of stream: an unterminated last line still counts, an event without its blank line too."""
        if self._tail:
            self._field(self._tail)
            self._tail = b""
        if not self._data:
            return []
        event = (self._event, b"\n".join(self._data))
        self._event, self._data = "", []
        return [event]

    def _field(self, line: bytes) -> None:
        name, sep, value = line.partition(b":")
        if not name:
            return  # comment line
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        # id: and retry: mean nothing to a proxy; unknown fields are ignored per the spec.
