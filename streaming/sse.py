"""Incremental Server-Sent Events parser: bytes in, (event, data) pairs out (data stays bytes:
orjson parses bytes directly, so nothing is decoded twice).

Follows the WHATWG algorithm the official SDKs implement: lines end in LF, CR or CRLF (a CRLF may
be split across reads), ``data:`` lines join with LF, a blank line dispatches, ``:`` starts a
comment, one leading space after the colon is dropped. Lines are split as bytes and decoded after,
so U+2028 and friends inside JSON strings never split a line.

An upstream is not trusted to behave: an event (its data lines together, a blank line or not) is
capped at ``max_event_bytes``, and a line that arrives in many small reads is kept as a list of
pieces and joined once, so buffering stays linear in its size.
"""

from __future__ import annotations

__all__ = ["SSEParser", "SSEError", "MAX_EVENT_BYTES"]

# The largest event dragoman accepts from an upstream. A Responses API ``response.completed``
# repeats the whole answer (and the request's tools), so it is the biggest; 8 MiB is far above
# any answer a model writes.
MAX_EVENT_BYTES = 8 * 1024 * 1024


class SSEError(ValueError):
    """The upstream byte stream is not valid SSE, or an event is larger than allowed."""


class SSEParser:
    """``feed(chunk)`` returns the events that chunk completed, as ``(event, data)`` pairs.

    ``event`` is a str, "" when the upstream sent no ``event:`` line (the OpenAI dialect); ``data``
    is the UTF-8 bytes of the data lines joined with LF.
    """

    __slots__ = ("_pieces", "_pending", "_skip_lf", "_event", "_data", "_size", "_limit")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._pieces: list[bytes] = []  # an unterminated line, as the reads brought it
        self._pending = 0               # its length
        self._skip_lf = False           # the previous chunk ended in CR: a leading LF belongs to it
        self._event = ""
        self._data: list[bytes] = []
        self._size = 0                  # bytes of data lines in the current event
        self._limit = max_event_bytes

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not chunk:
            return []
        if b"\n" not in chunk and b"\r" not in chunk:  # still inside one line: keep the piece
            self._pending += len(chunk)
            if self._pending + self._size > self._limit:
                raise SSEError(f"SSE event larger than {self._limit} bytes")
            self._pieces.append(chunk)
            return []
        if self._pieces:
            self._pieces.append(chunk)
            chunk = b"".join(self._pieces)
            self._pieces.clear()
            self._pending = 0
        if b"\r" in chunk:
            if chunk[-1:] == b"\r":
                self._skip_lf = True
            lines = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        else:
            lines = chunk.split(b"\n")
        tail = lines.pop()  # after the last terminator: incomplete
        if tail:
            self._pieces.append(tail)
            self._pending = len(tail)
        events: list[tuple[str, bytes]] = []
        for line in lines:
            if line[:6] == b"data: ":  # the common line, without the general field parsing
                self._add_data(line[6:])
            elif line:
                self._field(line)
            elif self._data:
                events.append((self._event, self._data[0] if len(self._data) == 1 else b"\n".join(self._data)))
                self._event, self._data, self._size = "", [], 0
            else:
                self._event = ""  # a blank line with no data dispatches nothing
        if self._pending + self._size > self._limit:
            raise SSEError(f"SSE event larger than {self._limit} bytes")
        return events

    @property
    def idle(self) -> bool:
        """Nothing pending: the bytes fed so far end on an event boundary."""
        return not self._pieces and not self._data and not self._event

    def finish(self) -> list[tuple[str, bytes]]:
        """End of stream: an unterminated last line still counts, an event without its blank line too."""
        if self._pieces:
            line = b"".join(self._pieces)
            self._pieces.clear()
            self._pending = 0
            self._field(line)
        if not self._data:
            return []
        event = (self._event, b"\n".join(self._data))
        self._event, self._data, self._size = "", [], 0
        return [event]

    def _add_data(self, value: bytes) -> None:
        self._size += len(value) + 1
        if self._size > self._limit:
            raise SSEError(f"SSE event larger than {self._limit} bytes")
        self._data.append(value)

    def _field(self, line: bytes) -> None:
        name, sep, value = line.partition(b":")
        if not name:
            return  # comment line
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._add_data(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        # id: and retry: mean nothing to a proxy; unknown fields are ignored per the spec.
