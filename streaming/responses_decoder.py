"""OpenAI Responses API stream events -> internal block events.

Each output item becomes at most one block, in item order; what the decoder decides:
- a ``message`` item is a text block, opened on its first text that is not whitespace alone (as
  chat_decoder does: Anthropic rejects a whitespace-only text block sent back to it); refusal
  text is text; a message whose text arrives only in its ``.done`` events still gets it;
- a ``reasoning`` item is a thinking block (``BlockStart.id`` is the item id): its summary parts
  (or raw reasoning text parts) a blank line apart, then the signature
  ``signature_from_responses(item id, encrypted_content, id of the item after it)``, written when
  that next item starts (or the response ends), or ``SYNTHETIC_SIGNATURE``
  without encrypted content (Claude Code drops unsigned thinking). A reasoning item with encrypted
  content but no text is a thinking block with empty text: the reasoning must survive the round
  trip. One with neither is dropped;
- a ``function_call`` is a tool_use block (id ``anthropic_tool_id(call_id)``) whose arguments
  stream as json deltas; arguments that come only in ``.done`` or in the finished item are sent
  then. A ``custom_tool_call`` (freeform tool) is a tool_use whose input is the JSON
  ``{"input": "..."}``, streamed as its input streams;
- text and thinking blocks after earlier non-blank text of their kind start with a blank line, as
  in streaming/messages_decoder.py, so a client that joins them keeps two paragraphs;
- server-side items (web_search_call, file_search_call, code_interpreter_call, image generation,
  mcp...) are skipped with their events, and unknown events are ignored;
- items are sequential in the API; content for an item while another item's block is open stops
  that block, and events for an item whose block was stopped are dropped;
- the message ends at ``response.completed`` (stop_reason tool_use when a call was made, else
  end_turn) or ``response.incomplete`` (converters/responses_response.py maps the reason);
  ``response.failed`` and ``error`` are a StreamFailure with the mapped error type. A stream that
  ends without one of these is a StreamFailure, ``[DONE]`` or not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from converters.messages_response import BLOCK_SEPARATOR
from converters.responses_items import partner_id
from converters.responses_response import anthropic_error_type, message_text, reasoning_text, stop_from_responses
from converters.thinking import SYNTHETIC_SIGNATURE, signature_from_responses
from converters.tool_names import anthropic_tool_id
from converters.usage import usage_from_responses

from .events import BLOCK_STOP, BlockDelta, BlockStart, Event, MessageEnd, MessageStart, StreamFailure

__all__ = ["ResponsesEventDecoder"]

_PENDING, _OPEN, _CLOSED = 0, 1, 2
_HANDLED = frozenset({"message", "reasoning", "function_call", "custom_tool_call"})
_INPUT_HEAD = '{"input":"'


class _Item:
    __slots__ = ("kind", "id", "name", "state", "said", "ws", "part", "signed", "sealed", "buffer")

    def __init__(self, kind: str, id_: str) -> None:
        self.kind = kind
        self.id = id_          # reasoning: the item id; calls: the Anthropic tool id
        self.name = ""
        self.state = _PENDING
        self.said = 0          # characters of text, arguments or input received so far
        self.ws = ""           # whitespace held until real text follows (messages)
        self.part: Any = None  # the reasoning part being streamed
        self.signed = False    # the reasoning block got its signature
        self.sealed = ""       # its encrypted content, written when the item after it is known
        self.buffer: list[str] = []  # a call's arguments while it waits for its name


class ResponsesEventDecoder:
    """Feed it each parsed Responses stream event (it has ``type``); ``finish()`` at end of stream.

    ``tool_names`` maps the upstream's tool names back to the hub's (as for ChatChunkDecoder).
    """

    __slots__ = ("_tool_names", "_items", "_open", "_spoken", "_called", "_over")

    def __init__(self, tool_names: Mapping[str, str] | None = None) -> None:
        self._tool_names = tool_names or {}
        self._items: dict[Any, _Item] = {}   # by output_index, and by item id
        self._open: _Item | None = None       # the item whose block is open
        self._spoken: set[str] = set()        # "text" / "thinking" once non-blank text of that kind came
        self._called = False
        self._over = False

    def feed(self, payload: dict[str, Any]) -> list[Event]:
        if self._over:
            return []
        kind = payload.get("type")
        out: list[Event] = []
        if kind == "response.output_text.delta" or kind == "response.refusal.delta":
            item = self._item(payload, "message")
            if item is not None:
                self._text(item, payload.get("delta"), out)
        elif kind == "response.reasoning_summary_text.delta":
            item = self._item(payload, "reasoning")
            if item is not None:
                self._thinking(item, payload.get("delta"), ("summary", payload.get("summary_index")), out)
        elif kind == "response.reasoning_text.delta":
            item = self._item(payload, "reasoning")
            if item is not None:
                self._thinking(item, payload.get("delta"), ("content", payload.get("content_index")), out)
        elif kind == "response.function_call_arguments.delta":
            item = self._item(payload, "function_call")
            if item is not None:
                self._arguments(item, payload.get("delta"), out)
        elif kind == "response.custom_tool_call_input.delta":
            item = self._item(payload, "custom_tool_call")
            if item is not None:
                self._arguments(item, payload.get("delta"), out)
        elif kind == "response.output_item.added":
            self._added(payload, out)
        elif kind == "response.output_item.done":
            self._done(payload, out)
        elif kind == "response.function_call_arguments.done":
            item = self._item(payload, "function_call")
            if item is not None and not item.said:
                self._arguments(item, payload.get("arguments"), out)
        elif kind == "response.custom_tool_call_input.done":
            item = self._item(payload, "custom_tool_call")
            if item is not None and isinstance(value := payload.get("input"), str):
                self._arguments(item, value[item.said:], out)
        elif kind == "response.created":
            response = payload.get("response")
            response_id = response.get("id") if isinstance(response, dict) else None
            out.append(MessageStart(response_id if isinstance(response_id, str) else "", None))
        elif kind in ("response.completed", "response.incomplete"):
            response = payload.get("response")
            response = response if isinstance(response, dict) else {}
            self._close(out)
            self._over = True
            status = "incomplete" if kind == "response.incomplete" else "completed"
            reason = stop_from_responses(status, response.get("incomplete_details"), self._called)
            out.append(MessageEnd(reason, usage_from_responses(response.get("usage"))))
        elif kind == "response.failed" or kind == "error":
            self._over = True
            response = payload.get("response")
            error = response.get("error") if isinstance(response, dict) else payload.get("error", payload)
            return [_failure(error)]
        return out  # content_part.added/done, *.done of text, annotations, server tool progress, newer types

    def finish(self, done: bool = True) -> list[Event]:
        """End of the upstream stream; the Responses API ends with a terminal event, so a stream that
        stopped before one is incomplete whether or not a ``[DONE]`` came (``done``)."""
        if self._over:
            return []
        self._over = True
        return [StreamFailure("api_error", "The upstream provider ended the stream before the response was complete.")]

    # -- items ----------------------------------------------------------------------------------

    def _item(self, payload: dict[str, Any], kind: str) -> _Item | None:
        """The item an event is about, when it is of ``kind`` and its block may still take content."""
        item = self._items.get(payload.get("output_index"))
        if item is None:
            item = self._items.get(payload.get("item_id"))
        return item if item is not None and item.kind == kind and item.state != _CLOSED else None

    def _added(self, payload: dict[str, Any], out: list[Event]) -> None:
        data = payload.get("item")
        if self._open is not None and self._open.sealed:  # the item after a reasoning item: its id
            self._close(out, partner_id(data))               # goes into the signature
        if not isinstance(data, dict) or data.get("type") not in _HANDLED:
            return  # a server-side item: its events find no item and are skipped
        kind = str(data["type"])
        upstream_id = data.get("id")
        item = _Item(kind, str(upstream_id or ""))
        if isinstance(index := payload.get("output_index"), int):
            self._items[index] = item
        if isinstance(upstream_id, str) and upstream_id:
            self._items[upstream_id] = item
        if kind in ("function_call", "custom_tool_call"):
            item.id = anthropic_tool_id(data.get("call_id"))
            self._name(item, data.get("name"), out)
            self._arguments(item, data.get("arguments" if kind == "function_call" else "input"), out)

    def _done(self, payload: dict[str, Any], out: list[Event]) -> None:
        data = payload.get("item")
        if not isinstance(data, dict):
            return
        item = self._item(payload, str(data.get("type")))
        if item is None and isinstance(data.get("id"), str):
            item = self._item({"item_id": data["id"]}, str(data.get("type")))
        if item is None:
            return
        if item.kind == "message":
            text = message_text(data)
            if len(text) > item.said:
                self._text(item, text[item.said:], out)
        elif item.kind == "reasoning":
            if not item.said:
                self._thinking(item, reasoning_text(data), None, out)
            encrypted = data.get("encrypted_content")
            if isinstance(encrypted, str) and encrypted:
                if self._open is not item:
                    self._start(item, out, BlockStart("thinking", id=item.id))
                # the block stays open until the next item starts: the API pairs a returned
                # reasoning item with the item that followed it, by that item's id
                item.sealed, item.signed = encrypted, True
                return
        else:
            self._name(item, data.get("name"), out)
            field = data.get("arguments" if item.kind == "function_call" else "input")
            if isinstance(field, str):
                self._arguments(item, field[item.said:] if item.kind == "custom_tool_call" else
                                (field if not item.said else ""), out)
            if item.state == _PENDING:
                return  # a call that never got a name cannot be sent
        if self._open is item:
            self._close(out)
        item.state = _CLOSED

    # -- blocks ---------------------------------------------------------------------------------

    def _start(self, item: _Item, out: list[Event], start: BlockStart) -> None:
        if self._open is not None:
            self._close(out)
        item.state = _OPEN
        self._open = item
        out.append(start)

    def _close(self, out: list[Event], following: str = "") -> None:
        item = self._open
        if item is None:
            return
        self._open = None
        item.state = _CLOSED
        if item.sealed:
            out.append(BlockDelta("signature", signature_from_responses(item.id, item.sealed, following)))
        elif item.kind == "reasoning" and not item.signed:
            out.append(BlockDelta("signature", SYNTHETIC_SIGNATURE))
        elif item.kind == "custom_tool_call":
            out.append(BlockDelta("json", '"}' if item.said else '{"input":""}'))
        out.append(BLOCK_STOP)

    def _text(self, item: _Item, text: Any, out: list[Event]) -> None:
        if not isinstance(text, str) or not text:
            return
        item.said += len(text)
        if self._open is item:
            out.append(BlockDelta("text", text))
            return
        if text.isspace():
            item.ws += text
            return
        text, item.ws = item.ws + text, ""
        self._start(item, out, BlockStart("text"))
        out.append(BlockDelta("text", self._separated("text", text)))

    def _thinking(self, item: _Item, text: Any, part: Any, out: list[Event]) -> None:
        if not isinstance(text, str) or not text:
            return
        item.said += len(text)
        if self._open is item:
            if part != item.part:
                text = BLOCK_SEPARATOR + text  # a new summary part
        else:
            self._start(item, out, BlockStart("thinking", id=item.id))
            text = self._separated("thinking", text)
        item.part = part
        if text.strip():
            self._spoken.add("thinking")
        out.append(BlockDelta("thinking", text))

    def _separated(self, kind: str, text: str) -> str:
        """The first text of a block: a blank line first when text of its kind came before."""
        if kind in self._spoken:
            text = BLOCK_SEPARATOR + text
        if text.strip():
            self._spoken.add(kind)
        return text

    def _name(self, item: _Item, name: Any, out: list[Event]) -> None:
        if item.state != _PENDING or not isinstance(name, str) or not name:
            return
        item.name = self._tool_names.get(name, name)
        self._called = True
        self._start(item, out, BlockStart("tool_use", item.id, item.name))
        if item.buffer:
            buffered, item.buffer, item.said = "".join(item.buffer), [], 0
            self._arguments(item, buffered, out)

    def _arguments(self, item: _Item, fragment: Any, out: list[Event]) -> None:
        if not isinstance(fragment, str) or not fragment:
            return
        if item.state == _PENDING:
            item.buffer.append(fragment)  # sent once the call's name is known
            item.said += len(fragment)
            return
        if self._open is not item:
            return  # its block was stopped: nothing may be written into it
        if item.kind == "custom_tool_call":
            escaped = orjson.dumps(fragment).decode()[1:-1]  # JSON-escaped, without the quotes
            out.append(BlockDelta("json", (_INPUT_HEAD if not item.said else "") + escaped))
        else:
            out.append(BlockDelta("json", fragment))
        item.said += len(fragment)


def _failure(error: Any) -> StreamFailure:
    """A failed response's (or an ``error`` event's) error -> StreamFailure with an Anthropic type."""
    error = error if isinstance(error, dict) else {}
    message = error.get("message")
    return StreamFailure(anthropic_error_type(error.get("code")),
                         message if isinstance(message, str) and message else "The upstream provider reported an error.")
