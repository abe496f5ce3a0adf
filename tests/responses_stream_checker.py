"""Checks a byte stream against the OpenAI Responses API streaming rules.

What the openai SDK's ResponseStreamState and Codex rely on: ``event:`` lines equal to the JSON
``type``; sequence numbers 0, 1, 2... without gaps; ``response.created`` then
``response.in_progress`` first; output items added at output_index 0, 1, 2..., one at a time,
each finished by ``output_item.done`` before the next is added; deltas only for the open item
(and its open part); every ``.done`` text equal to its deltas joined; exactly one terminal event
(completed, incomplete or failed), last; a terminal response whose output is the items as their
``output_item.done`` had them (for a failed one, followed by the open item as far as it streamed).
"""

from __future__ import annotations

import json
from typing import Any

from streaming.sse import SSEParser

_TERMINAL = {"response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "failed"}
_START_FORM: dict[str, dict[str, Any]] = {
    "message": {"status": "in_progress", "content": []},
    "reasoning": {"summary": []},
    "function_call": {"arguments": "", "status": "in_progress"},
    "custom_tool_call": {"input": ""},
}


class ResponsesStreamViolation(AssertionError):
    pass


def parse_responses_sse(raw: bytes) -> list[dict[str, Any]]:
    """Every event's JSON; a frame without an ``event:`` line equal to its ``type`` is a violation."""
    parser = SSEParser()
    out = []
    for name, data in parser.feed(raw) + parser.finish():
        payload = json.loads(data)
        if not name or payload.get("type") != name:
            raise ResponsesStreamViolation(f"event name {name!r} but data type {payload.get('type')!r}")
        out.append(payload)
    return out


class _Open:
    """The item being streamed: its added form and what its deltas built."""

    def __init__(self, index: int, item: dict[str, Any]) -> None:
        self.index, self.item, self.id, self.type = index, item, item["id"], item["type"]
        self.parts: list[str] = []        # message content parts / reasoning summary parts
        self.part_open = False
        self.text_done = False
        self.body = ""                    # function arguments / custom input
        self.body_done: str | None = None

    def check(self, event: dict[str, Any], kind: str) -> None:
        if event.get("item_id") != self.id or event.get("output_index") != self.index:
            raise ResponsesStreamViolation(f"{event['type']} for item {event.get('item_id')!r}, which is not open")
        if self.type != kind:
            raise ResponsesStreamViolation(f"{event['type']} in a {self.type} item")

    def streamed(self) -> dict[str, Any]:
        """The item as its events built it (the form a failed response may carry)."""
        item = dict(self.item)
        if self.type == "message":
            item["content"] = [{"type": "output_text", "annotations": [], "logprobs": [], "text": t} for t in self.parts]
        elif self.type == "reasoning":
            item["summary"] = [{"type": "summary_text", "text": t} for t in self.parts]
        elif self.type == "function_call":
            item["arguments"] = self.body
        elif self.type == "custom_tool_call":
            item["input"] = self.body
        return item


def check_responses_stream(raw: bytes) -> list[dict[str, Any]]:
    """Validate ``raw``; return its events. Raises ResponsesStreamViolation."""
    events = parse_responses_sse(raw)
    for position, event in enumerate(events):
        if event.get("sequence_number") != position:
            raise ResponsesStreamViolation(f"{event['type']} has sequence_number {event.get('sequence_number')}, "
                                           f"expected {position}")
    if [e["type"] for e in events[:2]] != ["response.created", "response.in_progress"]:
        raise ResponsesStreamViolation("the stream must start with response.created, response.in_progress")
    response_id = events[0]["response"]["id"]
    for event in events[:2]:
        response = event["response"]
        if (response["id"], response["status"], response["output"], response["object"]) != (
                response_id, "in_progress", [], "response"):
            raise ResponsesStreamViolation(f"{event['type']} must carry the in-progress response with no output")
    done: list[dict[str, Any]] = []
    current: _Open | None = None
    for position, event in enumerate(events[2:], start=2):
        kind = event["type"]
        if kind in _TERMINAL:
            if position != len(events) - 1:
                raise ResponsesStreamViolation(f"{kind} must be the last event")
            _check_terminal(event, _TERMINAL[kind], response_id, done, current)
            return events
        if kind == "response.output_item.added":
            if current is not None:
                raise ResponsesStreamViolation(f"item {event['output_index']} added while {current.index} is open")
            if event["output_index"] != len(done):
                raise ResponsesStreamViolation(f"output_index {event['output_index']}, expected {len(done)}")
            item = event["item"]
            for field, value in _START_FORM.get(item["type"], {}).items():
                if item.get(field) != value:
                    raise ResponsesStreamViolation(f"{item['type']} added with {field}={item.get(field)!r}")
            current = _Open(event["output_index"], item)
        elif kind == "response.output_item.done":
            if current is None or event["output_index"] != current.index:
                raise ResponsesStreamViolation(f"item {event['output_index']} done, but it is not open")
            _check_done(current, event["item"])
            done.append(event["item"])
            current = None
        elif current is None:
            raise ResponsesStreamViolation(f"{kind} with no item open")
        else:
            _check_content(current, event)
    raise ResponsesStreamViolation("the stream ended without a terminal event")


def _check_content(current: _Open, event: dict[str, Any]) -> None:
    kind = event["type"]
    if kind in ("response.content_part.added", "response.reasoning_summary_part.added"):
        current.check(event, "message" if kind == "response.content_part.added" else "reasoning")
        index = event.get("content_index", event.get("summary_index"))
        if current.part_open or index != len(current.parts) or event["part"]["text"] != "":
            raise ResponsesStreamViolation(f"{kind} {index} out of order or not empty")
        current.parts.append("")
        current.part_open, current.text_done = True, False
    elif kind in ("response.output_text.delta", "response.reasoning_summary_text.delta"):
        _check_part(current, event, "message" if kind == "response.output_text.delta" else "reasoning")
        if current.text_done:
            raise ResponsesStreamViolation(f"{kind} after its text was done")
        current.parts[-1] += event["delta"]
    elif kind in ("response.output_text.done", "response.reasoning_summary_text.done"):
        _check_part(current, event, "message" if kind == "response.output_text.done" else "reasoning")
        if event["text"] != current.parts[-1]:
            raise ResponsesStreamViolation(f"{kind} text differs from its deltas")
        current.text_done = True
    elif kind in ("response.content_part.done", "response.reasoning_summary_part.done"):
        _check_part(current, event, "message" if kind == "response.content_part.done" else "reasoning")
        if not current.text_done or event["part"]["text"] != current.parts[-1]:
            raise ResponsesStreamViolation(f"{kind} before its text was done, or with other text")
        current.part_open = False
    elif kind in ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta"):
        current.check(event, "function_call" if "function_call" in kind else "custom_tool_call")
        if current.body_done is not None:
            raise ResponsesStreamViolation(f"{kind} after its done")
        current.body += event["delta"]
    elif kind in ("response.function_call_arguments.done", "response.custom_tool_call_input.done"):
        current.check(event, "function_call" if "function_call" in kind else "custom_tool_call")
        current.body_done = event["arguments" if "function_call" in kind else "input"]
        if current.body_done != current.body:
            raise ResponsesStreamViolation(f"{kind} differs from its deltas")
    else:
        raise ResponsesStreamViolation(f"unexpected event {kind}")


def _check_part(current: _Open, event: dict[str, Any], kind: str) -> None:
    current.check(event, kind)
    index = event.get("content_index", event.get("summary_index"))
    if not current.part_open or index != len(current.parts) - 1:
        raise ResponsesStreamViolation(f"{event['type']} for part {index}, which is not open")


def _check_done(current: _Open, item: dict[str, Any]) -> None:
    if (item.get("id"), item.get("type")) != (current.id, current.type):
        raise ResponsesStreamViolation(f"item {current.index} changed identity at output_item.done")
    if current.part_open:
        raise ResponsesStreamViolation(f"item {current.index} done with a part still open")
    built = current.streamed()
    if current.type == "message":
        if item["content"] != built["content"] or item["status"] not in ("completed", "incomplete"):
            raise ResponsesStreamViolation(f"message {current.id} done with other content than streamed")
    elif current.type == "reasoning":
        if item["summary"] != built["summary"]:
            raise ResponsesStreamViolation(f"reasoning {current.id} done with another summary than streamed")
    elif current.type in ("function_call", "custom_tool_call"):
        field = "arguments" if current.type == "function_call" else "input"
        if current.body_done is None or item[field] != current.body:
            raise ResponsesStreamViolation(f"{current.type} {current.id} done with other {field} than streamed")
        if current.type == "function_call" and item["status"] != "completed":
            raise ResponsesStreamViolation(f"function_call {current.id} done with status {item['status']}")
        for field in ("call_id", "name", "namespace"):
            if item.get(field) != current.item.get(field):
                raise ResponsesStreamViolation(f"{current.type} {current.id} changed {field}")


def _check_terminal(event: dict[str, Any], status: str, response_id: str, done: list[dict[str, Any]],
                    current: _Open | None) -> None:
    response = event["response"]
    if response["id"] != response_id or response["status"] != status:
        raise ResponsesStreamViolation(f"{event['type']} with id {response['id']} and status {response['status']}")
    output = response["output"]
    if status == "failed":
        if not isinstance(response.get("error"), dict) or not response["error"].get("code"):
            raise ResponsesStreamViolation("response.failed without an error code")
        expected = done + ([_partial(current)] if current is not None else [])
        if output != expected:
            raise ResponsesStreamViolation("response.failed output is not the items streamed so far")
        return
    if current is not None:
        raise ResponsesStreamViolation(f"{event['type']} while item {current.index} is open")
    if output != done:
        raise ResponsesStreamViolation(f"{event['type']} output differs from the items' output_item.done forms")
    if (status == "incomplete") != bool(response.get("incomplete_details")):
        raise ResponsesStreamViolation(f"{event['type']} with incomplete_details {response.get('incomplete_details')}")
    if not isinstance(response.get("usage"), dict):
        raise ResponsesStreamViolation(f"{event['type']} without usage")


def _partial(current: _Open) -> dict[str, Any]:
    item = current.streamed()
    if current.type == "custom_tool_call":
        item["input"] = ""  # its input is only sent when the call is complete
    elif current.type == "message" and not item["content"]:
        item["content"] = [{"type": "output_text", "annotations": [], "logprobs": [], "text": ""}]
    if "status" in item or current.type == "reasoning":
        item["status"] = "incomplete"
    return item


def terminal(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The Response of a checked stream's terminal event."""
    response: dict[str, Any] = events[-1]["response"]
    return response
