"""Checks a byte stream against the Anthropic Messages streaming state machine.

This is what Claude Code and the SDKs enforce ("Content block not found", "not a thinking block",
deltas after content_block_stop, a missing stop_reason); every stream dragoman emits in the
tests goes through it.
"""

from __future__ import annotations

import json
from typing import Any

from streaming.sse import SSEParser

_DELTA_FOR = {
    "text": {"text_delta", "citations_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "redacted_thinking": set(),
    "tool_use": {"input_json_delta"},
}


class StreamViolation(AssertionError):
    pass


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Every event with its ``event:`` name and JSON data; a frame without a name is a violation."""
    parser = SSEParser()
    events = parser.feed(raw) + parser.finish()
    out = []
    for name, data in events:
        if not name:
            raise StreamViolation(f"event without an event: line: {data[:80]}")
        payload = json.loads(data)
        if payload.get("type") != name:
            raise StreamViolation(f"event name {name!r} but data type {payload.get('type')!r}")
        out.append((name, payload))
    return out


def check_stream(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Validate ``raw``; return its events (pings dropped). Raises StreamViolation."""
    events = [e for e in parse_sse(raw) if e[0] != "ping"]
    if not events or events[0][0] != "message_start":
        raise StreamViolation("the stream must start with message_start")
    usage = events[0][1]["message"]["usage"]
    for field in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        if not isinstance(usage.get(field), int):
            raise StreamViolation(f"message_start.usage.{field} missing")
    open_index: int | None = None
    open_kind = ""
    next_index = 0
    ended = False
    for position, (name, data) in enumerate(events[1:], start=1):
        if ended:
            raise StreamViolation(f"{name} after the stream ended")
        if name == "message_start":
            raise StreamViolation("a second message_start")
        if name == "content_block_start":
            if open_index is not None:
                raise StreamViolation(f"block {data['index']} started while block {open_index} is open")
            if data["index"] != next_index:
                raise StreamViolation(f"block index {data['index']}, expected {next_index}")
            block = data["content_block"]
            open_index, open_kind, next_index = data["index"], block["type"], next_index + 1
            if open_kind == "text" and block.get("text"):
                raise StreamViolation("text block started with text in it")
        elif name == "content_block_delta":
            if open_index is None or data["index"] != open_index:
                raise StreamViolation(f"delta for block {data['index']}, which is not open")
            kind = data["delta"]["type"]
            if kind not in _DELTA_FOR.get(open_kind, {kind}):
                raise StreamViolation(f"{kind} in a {open_kind} block")
            if kind == "text_delta" and not isinstance(data["delta"]["text"], str):
                raise StreamViolation("text_delta without text")
        elif name == "content_block_stop":
            if open_index is None or data["index"] != open_index:
                raise StreamViolation(f"stop for block {data['index']}, which is not open")
            open_index = None
        elif name == "message_delta":
            if open_index is not None:
                raise StreamViolation("message_delta while a block is open")
            if not data["delta"].get("stop_reason"):
                raise StreamViolation("message_delta without a stop_reason")
            if position != len(events) - 2 or events[-1][0] != "message_stop":
                raise StreamViolation("message_delta must be followed by message_stop, last")
        elif name == "message_stop":
            ended = True
        elif name == "error":
            ended = True
        else:
            raise StreamViolation(f"unknown event {name}")
    if not ended:
        raise StreamViolation("the stream ended without message_stop or error")
    return events


def blocks(events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Reassemble the content blocks of a checked stream (tool input parsed)."""
    out: list[dict[str, Any]] = []
    for name, data in events:
        if name == "content_block_start":
            out.append(dict(data["content_block"]))
            if out[-1]["type"] == "tool_use":
                out[-1]["partial"] = ""
        elif name == "content_block_delta":
            block, delta = out[-1], data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] += delta["signature"]
            elif kind == "input_json_delta":
                block["partial"] += delta["partial_json"]
        elif name == "content_block_stop" and out[-1]["type"] == "tool_use":
            block = out[-1]
            block["input"] = json.loads(block.pop("partial") or "{}")
    return out
