"""OpenAI Chat Completions chunks -> internal block events.

The decoder turns the loose OpenAI delta stream into strictly ordered blocks:
- one block open at a time; a change of kind stops the open block before the next starts;
- a chunk carrying reasoning, text and tool calls at once is split in that order;
- text and thinking blocks open lazily, on the first non-whitespace text, so no empty block exists;
- a synthesised thinking block gets a (tagged) signature before it stops;
- parallel tool calls are keyed by their OpenAI ``index`` (or by ``id``, or by order, for
  upstreams that leave the index out).
- An open tool call is stopped only once its arguments parse as complete JSON (or the stream
  ends). Whatever arrives while they are still incomplete -- another call, text, reasoning -- waits,
  in arrival order, and is released after the call: a waiting call is sent whole if its own
  arguments are complete by then, or opened and streamed live if not. No fragment is ever written
  into a stopped block and no argument fragment is dropped.
- A tool call that never gets a name cannot be relayed (Anthropic's ``tool_use`` needs one), and
  dropping it would make a broken answer look complete: a stream that carried one ends in a
  StreamFailure. (A nameless entry with neither id nor arguments carries nothing and is ignored.)
  ``stop_reason: tool_use`` is only sent when a ``tool_use`` block was: a ``tool_calls``
  finish_reason with no call at all ends as ``end_turn``.
- ``finish_reason: "error"`` (OpenRouter, with or without an ``error`` object in the chunk) is a
  StreamFailure, never a normal end.
- usage arrives after finish_reason (in a chunk with empty ``choices``), so the end of the message
  is only decided in ``finish()``, at ``[DONE]`` or end of stream. A cut connection
  (``finish(done=False)``) still ends normally once a finish_reason was seen; before that it is a
  StreamFailure.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import orjson

from converters.thinking import SYNTHETIC_SIGNATURE
from converters.tool_names import anthropic_tool_id
from converters.stop_reasons import FINISH_TO_STOP
from converters.usage import anthropic_usage

from .events import BLOCK_STOP, BlockDelta, BlockStart, Event, MessageEnd, StreamFailure

__all__ = ["ChatChunkDecoder", "upstream_error"]

_PENDING, _OPEN, _CLOSED, _BUFFERED = 0, 1, 2, 3
_CUT = "The upstream provider ended the stream before the message was complete."
_NAMELESS = "The upstream provider sent a tool call without a name; it cannot be relayed as a tool_use block."
_FINISH_ERROR = "The upstream provider ended the message with finish_reason \"error\"."


class _ToolCall:
    __slots__ = ("upstream_id", "id", "name", "args", "state", "checked")

    def __init__(self, upstream_id: str | None) -> None:
        self.upstream_id = upstream_id
        self.id = ""
        self.name = ""
        self.args: list[str] = []   # kept until the call is stopped
        self.state = _PENDING
        self.checked = 0            # len(args) when they last failed to parse as complete JSON


class _Held:
    """Text or reasoning that arrived while a tool call's arguments were incomplete."""

    __slots__ = ("kind", "parts")

    def __init__(self, kind: str, text: str) -> None:
        self.kind = kind
        self.parts = [text]


class ChatChunkDecoder:
    """Feed it each parsed ``chat.completion.chunk``; ``finish()`` at ``[DONE]`` or end of stream."""

    __slots__ = (
        "_tool_names", "_open", "_open_call", "_ws", "_ws_kind", "_by_index", "_by_id", "_last_call",
        "_calls", "_waiting", "_finish_reason", "_stop_sequence", "_usage", "_saw_tools", "_over",
    )

    def __init__(self, tool_names: Mapping[str, str] | None = None) -> None:
        self._tool_names = tool_names or {}
        self._open: str | None = None          # kind of the open block: text, thinking, tool_use
        self._open_call: _ToolCall | None = None
        self._ws = ""                           # leading whitespace held until real text arrives
        self._ws_kind = ""
        self._by_index: dict[int, _ToolCall] = {}
        self._by_id: dict[str, _ToolCall] = {}
        self._last_call: _ToolCall | None = None
        self._calls: list[_ToolCall] = []      # every call seen, to find nameless ones at the end
        # What arrived while the open call's arguments were incomplete, in order. Non-empty only
        # while a tool call is open and incomplete.
        self._waiting: deque[_ToolCall | _Held] = deque()
        self._finish_reason: str | None = None
        self._stop_sequence: str | None = None
        self._usage: dict[str, int] | None = None
        self._saw_tools = False
        self._over = False

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        if self._over:
            return []
        out: list[Event] = []
        error = chunk.get("error")
        if error is not None:
            self._over = True
            return [upstream_error(error)]
        usage = chunk.get("usage")
        if usage is None and isinstance(chunk.get("x_groq"), dict):
            usage = chunk["x_groq"].get("usage")  # Groq puts the final usage under x_groq
        if usage:
            self._usage = anthropic_usage(usage) or self._usage
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice, out)
                if self._over:  # finish_reason "error"
                    break
        return out

    def finish(self, done: bool = True) -> list[Event]:
        """End of the upstream stream. ``done`` is False for a plain EOF without ``[DONE]``.

        An EOF that came before any finish_reason means the stream was cut: the message is
        incomplete and must not look complete.
        """
        if self._over:
            return []
        self._over = True
        if not done and self._finish_reason is None:
            return [StreamFailure("api_error", _CUT)]
        if any(not call.name and (call.upstream_id or any(a.strip() for a in call.args)) for call in self._calls):
            return [StreamFailure("api_error", _NAMELESS)]
        out: list[Event] = []
        self._release(out, final=True)
        self._close(out)
        reason = FINISH_TO_STOP.get(self._finish_reason or "", "end_turn")
        if self._saw_tools and reason == "end_turn":
            reason = "tool_use"  # some upstreams say "stop" after tool calls
        elif not self._saw_tools and reason == "tool_use":
            reason = "end_turn"  # "tool_calls" without a call: no tool_use block to answer
        stop_sequence = None
        if self._stop_sequence is not None and reason == "end_turn":
            reason, stop_sequence = "stop_sequence", self._stop_sequence
        out.append(MessageEnd(reason, self._usage, stop_sequence))
        return out

    # -- one choice ---------------------------------------------------------------------------

    def _choice(self, choice: dict[str, Any], out: list[Event]) -> None:
        delta = choice.get("delta")
        if delta and len(delta) == 1 and type(content := delta.get("content")) is str:
            if content:  # the common chunk, text only: no other field to look at
                self._text("text", content, out)
        elif delta:
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                self._text("thinking", reasoning, out)
            content = delta.get("content")
            if isinstance(content, str):
                if content:
                    self._text("text", content, out)
            elif isinstance(content, list):
                self._content_parts(content, out)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                self._text("text", refusal, out)
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                for call in tool_calls:
                    if isinstance(call, dict):
                        self._tool_fragment(call, out)
        finish = choice.get("finish_reason")
        if finish == "error":
            # OpenRouter: the provider failed mid-generation. The error object, when there is
            # one, usually rides at the chunk's top level (handled in feed); some put it here.
            self._over = True
            error = choice.get("error")
            out.append(upstream_error(error) if error is not None else StreamFailure("api_error", _FINISH_ERROR))
        elif finish:
            self._finish_reason = finish
            # vLLM names the matched stop string in choice.stop_reason (an int is a stop token id)
            matched = choice.get("stop_reason")
            if isinstance(matched, str) and finish == "stop":
                self._stop_sequence = matched

    def _content_parts(self, parts: list[Any], out: list[Event]) -> None:
        # Mistral's magistral models stream content as parts, thinking included.
        for part in parts:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                self._text("text", part["text"], out)
            elif part.get("type") == "thinking":
                for inner in part.get("thinking") or ():
                    if isinstance(inner, dict) and isinstance(inner.get("text"), str):
                        self._text("thinking", inner["text"], out)

    def _text(self, kind: str, text: str, out: list[Event]) -> None:
        if self._open == kind:
            out.append(BlockDelta(kind, text))  # type: ignore[arg-type]
            return
        if self._open == "tool_use":
            if text.isspace() and not self._waiting:
                self._keep_whitespace(kind, text)  # decides nothing: no need to look at the call
                return
            if not self._settle(out):
                # The call's arguments are incomplete: stopping it now would lose its later
                # fragments, so the text waits behind it.
                last = self._waiting[-1] if self._waiting else None
                if isinstance(last, _Held) and last.kind == kind:
                    last.parts.append(text)
                else:
                    self._waiting.append(_Held(kind, text))
                return
        self._emit_text(kind, text, out)

    def _emit_text(self, kind: str, text: str, out: list[Event]) -> None:
        if self._open == kind:
            out.append(BlockDelta(kind, text))  # type: ignore[arg-type]
            return
        if text.isspace():
            self._keep_whitespace(kind, text)
            return
        self._close(out)
        if self._ws and self._ws_kind == kind:
            text = self._ws + text
        self._ws = ""
        self._open = kind
        out.append(BlockStart(kind))  # type: ignore[arg-type]
        out.append(BlockDelta(kind, text))  # type: ignore[arg-type]

    def _keep_whitespace(self, kind: str, text: str) -> None:
        # Whitespace alone opens no block and closes none (it often rides along tool calls);
        # it is kept and prepended if real text of the same kind follows.
        self._ws = self._ws + text if self._ws_kind == kind else text
        self._ws_kind = kind

    # -- tool calls -------------------------------------------------------------------------

    def _tool_fragment(self, fragment: dict[str, Any], out: list[Event]) -> None:
        function = fragment.get("function")
        function = function if isinstance(function, dict) else {}
        name = function.get("name")
        args = function.get("arguments")
        if not isinstance(args, str):
            args = orjson.dumps(args).decode() if isinstance(args, dict) else ""
        call = self._find_call(fragment.get("index"), fragment.get("id"), name)
        if not call.name and isinstance(name, str) and name:
            call.name = self._tool_names.get(name, name)
        if call.state == _CLOSED:
            return  # only whitespace can follow JSON that already parsed complete
        if args:
            call.args.append(args)
        if call.state == _BUFFERED:
            return
        if call.state == _PENDING and call.name:
            self._start_call(call, out)
        elif call.state == _OPEN and args:
            out.append(BlockDelta("json", args))

    def _find_call(self, index: Any, upstream_id: Any, name: Any) -> _ToolCall:
        upstream_id = upstream_id if isinstance(upstream_id, str) and upstream_id else None
        call: _ToolCall | None = None
        if isinstance(index, int):
            call = self._by_index.get(index)
            # a new id (with a name) at a known index is a new call reusing the index
            if call is not None and upstream_id and call.upstream_id and upstream_id != call.upstream_id and name:
                call = None
        elif upstream_id:
            call = self._by_id.get(upstream_id)
        elif not name:
            call = self._last_call  # neither index nor id: a continuation of the latest call
        if call is None:
            call = _ToolCall(upstream_id)
            call.id = anthropic_tool_id(upstream_id)
            self._calls.append(call)
            if isinstance(index, int):
                self._by_index[index] = call
            if upstream_id:
                self._by_id[upstream_id] = call
        elif upstream_id and call.upstream_id is None:
            call.upstream_id = upstream_id
        self._last_call = call
        return call

    def _start_call(self, call: _ToolCall, out: list[Event]) -> None:
        self._saw_tools = True
        if self._open == "tool_use" and not self._settle(out):
            call.state = _BUFFERED  # interleaved: kept whole until the open call ends
            self._waiting.append(call)
            return
        self._open_block(call, out)

    def _open_block(self, call: _ToolCall, out: list[Event]) -> None:
        self._close(out)
        call.state = _OPEN
        self._open, self._open_call = "tool_use", call
        out.append(BlockStart("tool_use", call.id, call.name))
        if call.args:
            out.append(BlockDelta("json", "".join(call.args)))

    def _settle(self, out: list[Event]) -> bool:
        """Stop the open tool call if its arguments are complete and release what waited for it.
        True when nothing waits any more; False while an open call's arguments are incomplete."""
        call = self._open_call
        if call is not None:
            if not _complete(call):
                return False
            self._close(out)
        return self._release(out, final=False)

    def _release(self, out: list[Event], final: bool) -> bool:
        """Emit what waited, in order. Unless ``final`` (the stream is over), a call whose own
        arguments are still incomplete stays open, streaming live, and the rest keeps waiting."""
        while self._waiting:
            item = self._waiting.popleft()
            if isinstance(item, _Held):
                self._emit_text(item.kind, "".join(item.parts), out)
                continue
            self._open_block(item, out)
            if not final and not _complete(item):
                return False
        return True

    def _close(self, out: list[Event]) -> None:
        if self._open == "thinking":
            out.append(BlockDelta("signature", SYNTHETIC_SIGNATURE))
        elif self._open == "tool_use" and self._open_call is not None:
            self._open_call.state, self._open_call.args = _CLOSED, []
            self._open_call = None
        if self._open is not None:
            out.append(BLOCK_STOP)
            self._open = None


def _complete(call: _ToolCall) -> bool:
    """Whether the call's arguments parse as complete JSON. Cheap while they cannot: arguments
    (an object) end in a brace, and arguments that failed are not parsed again until they grow."""
    args = call.args
    if len(args) == call.checked:
        return False
    last = next((a for a in reversed(args) if not a.isspace()), "").rstrip()
    if last.endswith(("}", "]")):
        try:
            orjson.loads("".join(args))
            return True
        except orjson.JSONDecodeError:
            pass
    call.checked = len(args)
    return False


def upstream_error(error: Any) -> StreamFailure:
    """An OpenAI-style ``{"error": {...}}`` payload received mid-stream -> StreamFailure."""
    if not isinstance(error, dict):
        return StreamFailure("api_error", str(error) or "The upstream provider reported an error.")
    message = str(error.get("message") or "The upstream provider reported an error.")
    status = error.get("status_code") or error.get("code")
    status = status if isinstance(status, int) else 0
    kind = str(error.get("type") or "")
    if status == 429 or "rate_limit" in kind:
        return StreamFailure("rate_limit_error", message)
    if status in (503, 529) or "overloaded" in kind:
        return StreamFailure("overloaded_error", message)
    if status == 400 or kind == "invalid_request_error":
        return StreamFailure("invalid_request_error", message)
    return StreamFailure("api_error", message)
