"""A complete Anthropic message -> the internal events that would have streamed it."""

from __future__ import annotations

from typing import Any

import orjson

from .events import BLOCK_STOP, BlockDelta, BlockStart, Event, MessageEnd

__all__ = ["message_events"]


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
