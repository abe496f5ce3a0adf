"""The incremental SSE parser: lines split anywhere, CR/LF/CRLF, multi-line data, comments."""

from __future__ import annotations

import pytest

from streaming.sse import MAX_EVENT_BYTES, SSEError, SSEParser

STREAM = (b": comment\r\nevent: a\r\ndata: {\"x\": 1}\r\n\r\n"
          b"data: line one\ndata: line two\n\n"
          b"event: b\rdata:no-space\r\r"
          b"data: \xe2\x80\xa8 keeps U+2028 inside\n\n"
          b"id: 7\nretry: 10\ndata: [DONE]\n\n")
EXPECTED = [("a", b'{"x": 1}'), ("", b"line one\nline two"), ("b", b"no-space"),
            ("", "\u2028 keeps U+2028 inside".encode()), ("", b"[DONE]")]


def feed_all(pieces: list[bytes]) -> list[tuple[str, bytes]]:
    parser = SSEParser()
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.finish()


def test_whole_stream() -> None:
    assert feed_all([STREAM]) == EXPECTED


def test_every_split_point_gives_the_same_events() -> None:
    for cut in range(len(STREAM) + 1):
        assert feed_all([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_one_byte_at_a_time() -> None:
    assert feed_all([STREAM[i:i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    assert feed_all([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]) == [("", b"a"), ("", b"b")]


def test_unterminated_last_event_is_dispatched_at_finish() -> None:
    assert feed_all([b"data: {\"done\": false}"]) == [("", b'{"done": false}')]


def test_blank_lines_and_comments_dispatch_nothing() -> None:
    assert feed_all([b"\n\n: ping\n\nevent: ping\n\n"]) == []


def test_endless_line_is_refused() -> None:
    parser = SSEParser()
    with pytest.raises(SSEError):
        parser.feed(b"data: " + b"x" * (MAX_EVENT_BYTES + 1))


def test_event_of_many_data_lines_without_blank_line_is_refused() -> None:
    """The cap is on the event, not one line: data lines that never meet a blank line add up."""
    parser = SSEParser(max_event_bytes=10_000)
    parser.feed(b"data: " + b"x" * 6_000 + b"\n")
    with pytest.raises(SSEError, match="larger than 10000 bytes"):
        parser.feed(b"data: " + b"y" * 6_000 + b"\n")


def test_long_line_in_small_reads_is_buffered_linearly() -> None:
    """A line arriving in a thousand reads is kept as its pieces (no copy of the growing line per
    read) and joined once, when its end arrives."""
    parser = SSEParser()
    assert parser.feed(b"data: ") == []
    for _ in range(1000):
        assert parser.feed(b"z" * 1024) == []
    assert len(parser._pieces) == 1001 and parser._pending == 6 + 1024 * 1000
    assert parser.feed(b"\n\n") == [("", b"z" * 1024 * 1000)]
    assert parser.idle
