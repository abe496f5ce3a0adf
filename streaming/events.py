"""The internal stream vocabulary that decoders produce and encoders consume.

It is Anthropic's block model, the stricter of the two dialects: a message is a sequence of
blocks, each started, given deltas of its own kind, and stopped before the next starts. Decoders
guarantee that order; encoders only serialise it (and the stream checker in the tests verifies
what they emit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BlockKind", "DeltaKind", "MessageStart", "BlockStart", "BlockDelta", "BlockStop",
    "MessageEnd", "StreamFailure", "Event",
]

BlockKind = Literal["text", "thinking", "redacted_thinking", "tool_use"]
DeltaKind = Literal["text", "thinking", "signature", "json"]


@dataclass(slots=True)
class MessageStart:
    """The upstream's message id and the usage it knows at the start (Anthropic upstreams)."""

    id: str = ""
    usage: dict[str, int] | None = None


@dataclass(slots=True)
class BlockStart:
    kind: BlockKind
    id: str = ""      # tool_use; thinking: the upstream's reasoning item id, when it has one
    name: str = ""    # tool_use only
    data: str = ""    # redacted_thinking only


@dataclass(slots=True)
class BlockDelta:
    kind: DeltaKind
    value: str


@dataclass(slots=True)
class BlockStop:
    pass


@dataclass(slots=True)
class MessageEnd:
    """Always the last event of a complete message; usage in Anthropic terms."""

    stop_reason: str
    usage: dict[str, int] | None = None
    stop_sequence: str | None = None


@dataclass(slots=True)
class StreamFailure:
    """The upstream failed mid-stream; the message is incomplete and nothing may follow."""

    error_type: str   # Anthropic error type: api_error, overloaded_error, rate_limit_error, ...
    message: str


Event = MessageStart | BlockStart | BlockDelta | BlockStop | MessageEnd | StreamFailure

BLOCK_STOP = BlockStop()
