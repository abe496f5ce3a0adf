"""Internal block events -> OpenAI Responses API SSE bytes, framed as the API itself streams them.

The wire rules the openai SDK's ResponseStreamState and Codex rely on: every frame is an
``event: <type>`` line and a ``data:`` line whose JSON repeats ``type`` and carries a
``sequence_number`` rising from 0; ``response.created`` and ``response.in_progress`` come first;
each output item is announced (``response.output_item.added``), streamed, and finished
(``response.output_item.done`` with the complete item) before the next one starts, at output_index
0, 1, 2...; one terminal event, ``response.completed``, ``response.incomplete`` or
``response.failed``, carries the whole Response (its ``output`` is every item as its
``output_item.done`` had it), and nothing follows it. Keepalives are SSE comments.

Choices (items are built by converters/responses_items.py, which documents their rules):
- A text block opens a ``message`` item on its first text that is not whitespace alone (earlier
  whitespace is held and prepended), so no blank message exists (Anthropic may open an answer with
  a "\n\n" text block before thinking). Text blocks that follow it directly stay in that item and its one ``output_text`` part:
  Anthropic splits one answer into several text blocks around citations, and Codex prints each
  message item as a message of its own. The item is finished when another item starts or the
  response ends; a message still open at an incomplete end is ``incomplete``.
- A thinking block is a ``reasoning`` item with one summary part (opened on its first text). Its
  id is the upstream's reasoning item id when the decoder passed one (``BlockStart.id``; a
  Responses provider wants its items back whole), else derived from the response id. It must be
  fixed when the item is announced, so a signature that names another item id (possible only for
  a ``dragoman:rs:`` signature without a BlockStart id) keeps the announced id.
- When the request asked for reasoning and the first item would not be a reasoning item, an empty
  reasoning item comes first (Codex expects one when it asked for reasoning).
- Tool calls: the ToolMap names the client's tool; a ``custom`` tool becomes a ``custom_tool_call``
  whose input is sent whole when the block ends (it is unwrapped from the hub's JSON, which is
  only complete then); any other a ``function_call`` whose arguments stream as they come ("{}"
  when none came, since clients parse them).
- A failure (StreamFailure or ``failure()``) ends the stream with ``response.failed``: its output
  is the finished items plus the open one as far as it was streamed, status ``incomplete``; its
  error is converters/responses_response.py's ``responses_error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from converters.responses_items import (
    client_tool,
    custom_input,
    custom_tool_call_item,
    encrypted_from_redacted,
    function_call_item,
    item_id,
    message_item,
    reasoning_encryption,
    reasoning_item,
    response_core,
)
from converters.responses_response import responses_error
from converters.stop_reasons import stop_to_responses_status
from converters.tool_names import ClientTool, ToolMap
from converters.usage import responses_usage

from .events import BlockDelta, BlockStart, BlockStop, Event, MessageEnd, MessageStart, StreamFailure

__all__ = ["ResponsesEncoder", "RESPONSES_KEEPALIVE"]

RESPONSES_KEEPALIVE = b": keepalive\n\n"

_NONE, _MESSAGE, _REASONING, _REDACTED, _FUNCTION, _CUSTOM = range(6)
_NO_TOOLS: ToolMap = {}
_NO_CALL = ("", ClientTool(""))

_ADDED = b"response.output_item.added"
_DONE = b"response.output_item.done"
_CONTENT0 = b',"content_index":0'
_SUMMARY0 = b',"summary_index":0'
_LOGPROBS = b',"logprobs":[]'
_EMPTY_TEXT_PART = b',"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}'
_EMPTY_SUMMARY_PART = b',"part":{"type":"summary_text","text":""}'
# The delta event of each streamed item kind, and its members between the item's location and the delta.
_DELTA_HEADS = {
    _MESSAGE: (b"response.output_text.delta", _CONTENT0 + b","),
    _REASONING: (b"response.reasoning_summary_text.delta", _SUMMARY0 + b","),
    _FUNCTION: (b"response.function_call_arguments.delta", b","),
}


class ResponsesEncoder:
    """``start()`` once, then ``feed(event)`` for each internal event; returns the bytes to write.

    ``response_id`` is the ``resp_...`` id the client sees, ``model`` the name it asked for,
    ``tool_map`` the client's tools by hub name, ``reasoning_requested`` whether it asked for
    reasoning, ``echo`` the Response fields that repeat its request
    (``converters.responses_items.response_echo``), serialized once here.
    """

    __slots__ = ("_id", "_model", "_created_at", "_tools", "_reasoning", "_echo", "_usage", "_seq", "_output",
                 "_block", "_held", "_kind", "_item", "_where", "_delta_format", "_parts", "_sealed", "_call", "_summary",
                 "_state", "_final")

    def __init__(self, response_id: str, model: str, created_at: int, tool_map: ToolMap | None = None,
                 reasoning_requested: bool = False, echo: Mapping[str, Any] | None = None) -> None:
        self._id = response_id
        self._model = model
        self._created_at = created_at
        self._tools = tool_map if tool_map is not None else _NO_TOOLS
        self._reasoning = reasoning_requested   # still owes the client a first reasoning item
        echo_json = orjson.dumps(dict(echo or {}))
        self._echo = b"," + echo_json[1:-1] if len(echo_json) > 2 else b""
        self._usage: dict[str, Any] | None = None   # MessageStart's, for an end without usage
        self._seq = 0
        self._output: list[dict[str, Any]] = []    # finished items
        self._block = ""        # kind of the open hub block ("" when none)
        self._held = ""         # whitespace text that has not opened a message item yet
        self._kind = _NONE      # the open output item, its id and '"item_id":..,"output_index":..'
        self._item = ""
        self._where = b""
        self._delta_format = b""  # the open item's whole delta frame, with %s (delta) and %d (sequence)
        self._parts: list[str] = []   # the open item's text, summary, arguments or input so far
        self._sealed = ""       # the open reasoning item's signature, or redacted data
        self._call: tuple[str, ClientTool] = _NO_CALL   # the open call's id and the client's tool
        self._summary = False   # the open reasoning item has its summary part
        self._state = 0         # 0 before response.created, 1 streaming, 2 finished
        self._final = b""       # the terminal Response, serialized

    @property
    def finished(self) -> bool:
        return self._state == 2

    @property
    def response(self) -> dict[str, Any] | None:
        """The final Response object (for ``previous_response_id``); None until the stream ended."""
        return orjson.loads(self._final) if self._final else None

    def start(self) -> bytes:
        if self._state:
            return b""
        self._state = 1
        response = b'"response":' + self._response("in_progress", [], None)
        return self._frame(b"response.created", response) + self._frame(b"response.in_progress", response)

    def feed(self, event: Event) -> bytes:
        if self._state == 2:
            return b""
        if type(event) is BlockDelta:
            if self._kind == _MESSAGE and event.kind == "text" and self._block == "text" and event.value:
                # the common event: text into the open message, one formatting and no call
                self._parts.append(event.value)
                seq = self._seq
                self._seq = seq + 1
                return self._delta_format % (orjson.dumps(event.value), seq)
            return self._delta(event)
        head = b"" if self._state else self.start()
        if type(event) is BlockStart:
            return head + self._block_start(event)
        if type(event) is BlockStop:
            self._block = ""
            # a message stays open: text blocks that follow directly continue it
            return head + (b"" if self._kind == _MESSAGE else self._close())
        if type(event) is MessageEnd:
            return head + self._end(event)
        if type(event) is StreamFailure:
            return head + self.failure(event.error_type, event.message)
        if type(event) is MessageStart:
            self._usage = event.usage
        return head

    def failure(self, error_type: str, message: str, retry_after: float | None = None) -> bytes:
        """``response.failed``, ending an incomplete stream; nothing may follow it. ``retry_after``
        (seconds) goes into a rate-limit message in the form Codex parses."""
        if self._state == 2:
            return b""
        head = b"" if self._state else self.start()
        if self._kind != _NONE:
            self._output.append(self._partial())
            self._kind = _NONE
        return head + self._terminal(b"response.failed", "failed", None,
                                     responses_error(error_type, message, retry_after), None)

    # -- frames ---------------------------------------------------------------------------------

    def _frame(self, kind: bytes, body: bytes) -> bytes:
        """One SSE event: ``body`` is the JSON members after ``type``, without braces."""
        seq = self._seq
        self._seq = seq + 1
        return (b"event: " + kind + b'\ndata: {"type":"' + kind + b'",' + body
                + b',"sequence_number":' + str(seq).encode() + b"}\n\n")

    def _response(self, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None,
                  error: dict[str, Any] | None = None, reason: str | None = None) -> bytes:
        core = response_core(self._id, self._model, self._created_at, status, output, usage, error, reason)
        return orjson.dumps(core)[:-1] + self._echo + b"}"

    def _terminal(self, kind: bytes, status: str, usage: dict[str, Any] | None,
                  error: dict[str, Any] | None, reason: str | None) -> bytes:
        self._state = 2
        self._final = self._response(status, self._output, usage, error, reason)
        self._output = []  # the serialized response holds them now
        return self._frame(kind, b'"response":' + self._final)

    # -- blocks ---------------------------------------------------------------------------------

    def _delta(self, event: BlockDelta) -> bytes:
        value = event.value
        if not value:
            return b""
        kind = event.kind
        if kind == "text":
            if self._block != "text":
                return b""  # never write into a stopped block
            head = b""
            if self._kind != _MESSAGE:
                if value.isspace():
                    self._held += value
                    return b""
                head, value, self._held = self._open_message(), self._held + value, ""
            return head + self._delta_frame(value)
        if kind == "json":
            if self._kind == _FUNCTION:
                return self._delta_frame(value)
            if self._kind == _CUSTOM:
                self._parts.append(value)  # sent whole at the end, unwrapped
            return b""
        if self._kind != _REASONING:
            return b""
        if kind == "signature":
            self._sealed += value
            return b""
        head = b""
        if not self._summary:
            self._summary = True
            head = self._frame(b"response.reasoning_summary_part.added", self._where + _SUMMARY0 + _EMPTY_SUMMARY_PART)
        return head + self._delta_frame(value)

    def _delta_frame(self, value: str) -> bytes:
        self._parts.append(value)
        seq = self._seq
        self._seq = seq + 1
        return self._delta_format % (orjson.dumps(value), seq)

    def _block_start(self, event: BlockStart) -> bytes:
        kind = event.kind
        out = b"" if kind == "text" and self._kind == _MESSAGE else self._close()
        self._block = kind
        if kind != "text":
            self._held = ""
        if kind == "thinking":
            self._reasoning = False
            self._sealed, self._summary = "", False
            rs_id = event.id or item_id("rs", self._id, len(self._output))
            return out + self._open(_REASONING, {"id": rs_id, "type": "reasoning", "summary": []})
        if kind == "redacted_thinking":
            self._reasoning = False
            self._sealed = event.data
            return out + self._open(_REDACTED, {"id": item_id("rs", self._id, len(self._output)),
                                                "type": "reasoning", "summary": []})
        if kind == "tool_use":
            out += self._reasoning_first()
            tool = client_tool(self._tools, event.name)
            self._call = (event.id, tool)
            index = len(self._output)
            if tool.kind == "custom":
                return out + self._open(_CUSTOM, custom_tool_call_item(item_id("ctc", self._id, index), event.id, tool, ""))
            return out + self._open(_FUNCTION, function_call_item(item_id("fc", self._id, index), event.id, tool, "",
                                                                  "in_progress"))
        return out  # text: the message item opens on the first text

    def _open_message(self) -> bytes:
        out = self._close() + self._reasoning_first()
        item = {"id": item_id("msg", self._id, len(self._output)), "type": "message", "status": "in_progress",
                "role": "assistant", "content": []}
        out += self._open(_MESSAGE, item)
        return out + self._frame(b"response.content_part.added", self._where + _CONTENT0 + _EMPTY_TEXT_PART)

    def _reasoning_first(self) -> bytes:
        """The empty reasoning item owed to a client that asked for reasoning, before any other item."""
        if not self._reasoning:
            return b""
        self._reasoning = False
        if self._output:
            return b""
        item = reasoning_item(item_id("rs", self._id, 0), "", None)
        self._output.append(item)
        return self._frame(_ADDED, b'"output_index":0,"item":' + orjson.dumps(item)) + self._frame(
            _DONE, b'"output_index":0,"item":' + orjson.dumps(item))

    def _open(self, kind: int, item: dict[str, Any]) -> bytes:
        index = str(len(self._output)).encode()
        self._kind, self._item, self._parts = kind, item["id"], []
        self._where = b'"item_id":' + orjson.dumps(self._item) + b',"output_index":' + index
        delta_kind, delta_head = _DELTA_HEADS.get(kind, (b"", b""))
        self._delta_format = (b"event: " + delta_kind + b'\ndata: {"type":"' + delta_kind + b'",'
                              + self._where.replace(b"%", b"%%") + delta_head + b'"delta":%s'
                              + (_LOGPROBS if kind == _MESSAGE else b"") + b',"sequence_number":%d}\n\n')
        return self._frame(_ADDED, b'"output_index":' + index + b',"item":' + orjson.dumps(item))

    def _close(self, status: str = "completed") -> bytes:
        """Finish the open item: its closing events, then ``output_item.done``."""
        kind = self._kind
        if kind == _NONE:
            return b""
        self._kind = _NONE
        text, self._parts = "".join(self._parts), []
        where, out = self._where, b""
        if kind == _MESSAGE:
            item = message_item(self._item, text, status)
            out = (self._frame(b"response.output_text.done", where + _CONTENT0 + b',"text":' + orjson.dumps(text) + _LOGPROBS)
                   + self._frame(b"response.content_part.done",
                                 where + _CONTENT0 + b',"part":' + orjson.dumps(item["content"][0])))
        elif kind == _REASONING:
            item = reasoning_item(self._item, text, reasoning_encryption(self._sealed)[1])
            if self._summary:
                out = (self._frame(b"response.reasoning_summary_text.done", where + _SUMMARY0 + b',"text":' + orjson.dumps(text))
                       + self._frame(b"response.reasoning_summary_part.done",
                                     where + _SUMMARY0 + b',"part":' + orjson.dumps(item["summary"][0])))
        elif kind == _REDACTED:
            item = reasoning_item(self._item, "", encrypted_from_redacted(self._sealed))
        elif kind == _FUNCTION:
            if not text:  # a call without input: clients json-parse the arguments
                text = "{}"
                out = self._delta_frame(text)
            item = function_call_item(self._item, self._call[0], self._call[1], text, "completed")
            out += self._frame(b"response.function_call_arguments.done", where + b',"arguments":' + orjson.dumps(text))
        else:
            value = custom_input(text)
            if value:
                out = self._frame(b"response.custom_tool_call_input.delta", where + b',"delta":' + orjson.dumps(value))
            item = custom_tool_call_item(self._item, self._call[0], self._call[1], value)
            out += self._frame(b"response.custom_tool_call_input.done", where + b',"input":' + orjson.dumps(value))
        index = str(len(self._output)).encode()
        self._output.append(item)
        return out + self._frame(_DONE, b'"output_index":' + index + b',"item":' + orjson.dumps(item))

    def _partial(self) -> dict[str, Any]:
        """The open item as far as it was streamed (for response.failed)."""
        text = "".join(self._parts)
        if self._kind == _MESSAGE:
            return message_item(self._item, text, "incomplete")
        if self._kind == _REASONING:
            return reasoning_item(self._item, text, None, "incomplete")
        if self._kind == _REDACTED:
            return reasoning_item(self._item, "", encrypted_from_redacted(self._sealed))
        if self._kind == _FUNCTION:
            return function_call_item(self._item, self._call[0], self._call[1], text, "incomplete")
        return custom_tool_call_item(self._item, self._call[0], self._call[1], "")  # its input was not sent yet

    def _end(self, event: MessageEnd) -> bytes:
        status, reason = stop_to_responses_status(event.stop_reason)
        out = self._close(status) + self._reasoning_first()
        usage = responses_usage(event.usage if event.usage is not None else self._usage)
        kind = b"response.incomplete" if status == "incomplete" else b"response.completed"
        return out + self._terminal(kind, status, usage, None, reason)
