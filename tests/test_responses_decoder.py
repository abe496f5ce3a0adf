"""OpenAI Responses API streams -> Anthropic SSE, on every recorded Responses stream and on the
shapes the recordings lack (custom tools, arguments sent late, failures).

Every output goes through the Anthropic stream state machine (tests/stream_checker.py), each event
is validated strictly against the anthropic SDK's types, and the SDK's accumulated message is
compared with the non-streaming converter's answer for the response the recording completed with.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from converters.responses_response import to_messages_response
from converters.thinking import SYNTHETIC_SIGNATURE
from streaming.events import BLOCK_STOP, BlockDelta, BlockStart, Event, MessageEnd, MessageStart, StreamFailure
from streaming.messages_decoder import MessagesEventDecoder
from streaming.messages_encoder import MessagesEncoder
from streaming.pump import Translation
from streaming.responses_decoder import ResponsesEventDecoder
from streaming.responses_encoder import ResponsesEncoder
from streaming.sse import SSEParser

from .conftest import FIXTURES, load_fixture
from .responses_stream_checker import check_responses_stream, terminal
from .stream_checker import blocks, check_stream

STREAMS = sorted(p.name for p in FIXTURES.glob("openai-responses-stream-*.json"))
ANTHROPIC_EVENT = TypeAdapter(RawMessageStreamEvent)
WEB_SEARCH = "openai-responses-stream-reasoning-encrypted-web-search.json"


def body_of(name: str) -> bytes:
    return load_fixture(name)["response"]["body"].encode()


def transcode(body: bytes, pieces: int | None = None) -> bytes:
    """Parser -> decoder -> encoder, the way streaming.pump drives them."""
    parser, decoder = SSEParser(), ResponsesEventDecoder()
    encoder = MessagesEncoder("msg_test", "claude-sonnet-4-5", 0)
    out = [encoder.start()]
    chunks = [body] if pieces is None else [body[i:i + pieces] for i in range(0, len(body), pieces)]
    for chunk in chunks + [b""]:
        for _, data in (parser.feed(chunk) if chunk else parser.finish()):
            out += [encoder.feed(e) for e in decoder.feed(orjson.loads(data))]
            if encoder.finished:
                return b"".join(out)
    return b"".join(out + [encoder.feed(e) for e in decoder.finish(done=False)])


def sdk_message(raw: bytes) -> dict[str, Any]:
    """The message the anthropic SDK accumulates from a checked stream (each event strictly validated)."""
    snapshot, buffers = None, dict[int, bytes]()
    for _, payload in check_stream(raw):
        ANTHROPIC_EVENT.validate_python(payload, strict=True)
        snapshot = accumulate_event(event=payload, current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]
    assert snapshot is not None
    message: dict[str, Any] = snapshot.to_dict()
    Message.model_validate(message, strict=True)
    return message


def recorded_events(name: str) -> list[dict[str, Any]]:
    parser = SSEParser()
    return [json.loads(data) for _, data in parser.feed(body_of(name)) + parser.finish()]


def completed_response(name: str) -> dict[str, Any]:
    """The Response object of the recording's terminal event."""
    response: dict[str, Any] = recorded_events(name)[-1]["response"]
    return response


def done_items(name: str, kind: str) -> list[dict[str, Any]]:
    """The recording's items of ``kind`` as their output_item.done had them."""
    return [e["item"] for e in recorded_events(name)
            if e["type"] == "response.output_item.done" and e["item"]["type"] == kind]


def unsealed(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Blocks with the encrypted part of dragoman:rs: signatures cut off. The API issues a fresh
    token (Fernet: timestamp and IV inside) each time it serializes an item, so output_item.done
    and response.completed carry different encrypted_content for the same reasoning."""
    return [{**b, "signature": b["signature"].rsplit(":", 1)[0]} if b["type"] == "thinking" else b for b in content]


def sse(*payloads: dict[str, Any]) -> bytes:
    return b"".join(b"event: " + p["type"].encode() + b"\ndata: " + json.dumps(p).encode() + b"\n\n" for p in payloads)


def decode(*payloads: dict[str, Any], done: bool = False) -> list[Event]:
    decoder = ResponsesEventDecoder()
    events = [e for p in payloads for e in decoder.feed(p)]
    return events + decoder.finish(done=done)


# -- recorded streams -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", STREAMS)
def test_recorded_stream_matches_the_non_streaming_answer(name: str) -> None:
    raw = transcode(body_of(name))
    assert transcode(body_of(name), pieces=1) == raw  # fed one byte at a time: identical bytes
    message = sdk_message(raw)
    expected = to_messages_response(completed_response(name), model="claude-sonnet-4-5")
    assert unsealed(message["content"]) == unsealed(expected["content"])
    for key in ("stop_reason", "usage"):
        assert message[key] == expected[key], key


def test_every_split_point_gives_the_same_bytes() -> None:
    body = body_of("openai-responses-stream-plain-text.json")
    whole = transcode(body)
    for cut in range(len(body) + 1):
        parser, decoder = SSEParser(), ResponsesEventDecoder()
        encoder = MessagesEncoder("msg_test", "claude-sonnet-4-5", 0)
        out = [encoder.start()]
        for chunk in (body[:cut], body[cut:]):
            for _, data in parser.feed(chunk):
                out += [encoder.feed(e) for e in decoder.feed(orjson.loads(data))]
        assert b"".join(out) == whole, cut


def test_plain_text() -> None:
    message = sdk_message(transcode(body_of("openai-responses-stream-plain-text.json")))
    assert message["content"] == [{"type": "text", "text": "2+2 = 4"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["input_tokens"] == 20 and message["usage"]["output_tokens"] == 10


def test_function_call_streams_its_arguments() -> None:
    raw = transcode(body_of("openai-responses-stream-function-call-legacy.json"))
    events = check_stream(raw)
    assert blocks(events) == [{"type": "tool_use", "id": "call_kL0PCQV7M2WMoVX8V8OtYSAL", "name": "get_capital",
                               "input": {"country": "France"}}]
    json_deltas = [d for n, d in events if n == "content_block_delta"]
    assert [d["delta"]["partial_json"] for d in json_deltas] == ['{"', "country", '":"', "France", '"}']
    end = next(d for n, d in events if n == "message_delta")
    assert end["delta"]["stop_reason"] == "tool_use"
    assert end["usage"] == {"input_tokens": 255, "output_tokens": 16, "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 0}


def test_text_after_tool() -> None:
    message = sdk_message(transcode(body_of("openai-responses-stream-text-after-tool-legacy.json")))
    assert [b["text"] for b in message["content"]] == ["The capital of France is Paris."]


def test_encrypted_reasoning_survives_as_signed_thinking_and_web_search_is_skipped() -> None:
    raw = transcode(body_of(WEB_SEARCH))
    assert b"ws_00a60507" not in raw   # the server-side web search item is nowhere in the stream
    message = sdk_message(raw)
    first, second, text = message["content"]
    message_id = done_items(WEB_SEARCH, "message")[0]["id"]
    # the first reasoning item was followed by a web search, which no other dialect carries: it
    # cannot go back paired (""); the second by the message, whose id rides along
    for block, item, following in zip((first, second), done_items(WEB_SEARCH, "reasoning"), ("", message_id),
                                      strict=True):
        # the encrypted content of output_item.done (not the earlier one of output_item.added)
        assert block == {"type": "thinking", "thinking": "",
                         "signature": f"dragoman:rs:{item['id']}:{following}:{item['encrypted_content']}"}
    assert first["signature"].startswith("dragoman:rs:rs_00a60507bf41223d0068c9d2fc927081a088e0b920cdfe3866::gAAAAABoydMADQ6H")
    assert text["text"].startswith("San Francisco weather today (Tuesday, September 16, 2025): Mostly sunny")
    usage = message["usage"]
    assert (usage["input_tokens"], usage["cache_read_input_tokens"], usage["output_tokens"]) == (1143, 8320, 582)


def test_reasoning_round_trips_to_a_responses_client() -> None:
    """Responses provider -> hub -> Responses client: the reasoning items keep id and encrypted content."""
    parser, decoder = SSEParser(), ResponsesEventDecoder()
    encoder = ResponsesEncoder("resp_test", "gpt-5", 1, None, True)
    out = [encoder.start()]
    for _, data in parser.feed(body_of(WEB_SEARCH)) + parser.finish():
        out += [encoder.feed(e) for e in decoder.feed(orjson.loads(data))]
    final = terminal(check_responses_stream(b"".join(out)))
    recorded = done_items(WEB_SEARCH, "reasoning")
    assert [(i["type"], i["id"], i.get("encrypted_content")) for i in final["output"][:2]] == [
        ("reasoning", i["id"], i["encrypted_content"]) for i in recorded]
    assert final["output"][2]["content"] == done_items(WEB_SEARCH, "message")[0]["content"]
    assert final["usage"]["input_tokens"] == 9463 and final["usage"]["input_tokens_details"]["cached_tokens"] == 8320


def test_the_pump_drives_both_ways() -> None:
    """streaming.pump's transcoder (what relay() runs) with the Responses decoder and encoder."""
    transcoder = Translation(ResponsesEventDecoder(), MessagesEncoder("msg_test", "claude-sonnet-4-5", 0), None)
    raw, done = transcoder.feed(body_of("openai-responses-stream-function-call-legacy.json"))
    assert done and transcoder.outcome.stop_reason == "tool_use" and transcoder.outcome.usage is not None
    assert blocks(check_stream(MessagesEncoder("msg_test", "claude-sonnet-4-5", 0).start() + raw))[0]["name"] == "get_capital"
    encoder = ResponsesEncoder("resp_test", "gpt-5", 1)
    transcoder = Translation(MessagesEventDecoder(), encoder, lambda message: message.replace("secret", "***"))
    body = load_fixture("anthropic-stream-text-haiku.json")["response"]["body"].encode()
    raw, done = transcoder.feed(body[:body.index(b"event: message_delta")])
    tail, done = transcoder.feed(b"")  # the upstream went away before the stop reason came
    events = check_responses_stream(encoder.start() + raw + tail)
    assert done and transcoder.outcome.error == "api_error" and terminal(events)["status"] == "failed"


# -- item shapes ----------------------------------------------------------------------------------

CREATED = {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress", "output": []}}


def completed(**response: Any) -> dict[str, Any]:
    return {"type": "response.completed", "response": {"id": "resp_1", "status": "completed", **response}}


def added(index: int, **item: Any) -> dict[str, Any]:
    return {"type": "response.output_item.added", "output_index": index, "item": item}


def item_done(index: int, **item: Any) -> dict[str, Any]:
    return {"type": "response.output_item.done", "output_index": index, "item": item}


PATCH = '*** Begin Patch\n*** Add File: a.txt\n+say "hi"\n*** End Patch\n'


def test_custom_tool_call_input_becomes_json_input() -> None:
    payloads = [CREATED, added(0, type="custom_tool_call", id="ctc_1", call_id="call_1", name="apply_patch", input=""),
                *({"type": "response.custom_tool_call_input.delta", "output_index": 0, "item_id": "ctc_1", "delta": d}
                  for d in (PATCH[:12], PATCH[12:])),
                {"type": "response.custom_tool_call_input.done", "output_index": 0, "item_id": "ctc_1", "input": PATCH},
                item_done(0, type="custom_tool_call", id="ctc_1", call_id="call_1", name="apply_patch", input=PATCH),
                completed()]
    events = decode(*payloads)
    assert events[:2] == [MessageStart("resp_1", None), BlockStart("tool_use", "call_1", "apply_patch")]
    fragments = [e.value for e in events if type(e) is BlockDelta]
    assert len(fragments) == 3 and json.loads("".join(fragments)) == {"input": PATCH}
    assert events[-2:] == [BLOCK_STOP, MessageEnd("tool_use", None)]
    message = sdk_message(transcode(sse(*payloads)))
    assert message["content"][0]["input"] == {"input": PATCH}


def test_custom_tool_call_input_only_at_the_end() -> None:
    events = decode(CREATED, added(0, type="custom_tool_call", call_id="call_1", name="apply_patch", input=""),
                    item_done(0, type="custom_tool_call", call_id="call_1", name="apply_patch", input=PATCH), completed())
    assert json.loads("".join(e.value for e in events if type(e) is BlockDelta)) == {"input": PATCH}


def test_arguments_sent_only_at_the_end_are_not_lost() -> None:
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f"}
    only_done = decode(CREATED, added(0, **call, arguments=""),
                       {"type": "response.function_call_arguments.done", "output_index": 0, "item_id": "fc_1",
                        "arguments": '{"a":1}'},
                       item_done(0, **call, arguments='{"a":1}'), completed())
    only_item = decode(CREATED, added(0, **call, arguments=""), item_done(0, **call, arguments='{"a":1}'), completed())
    for events in (only_done, only_item):
        assert events[1:] == [BlockStart("tool_use", "call_1", "f"), BlockDelta("json", '{"a":1}'), BLOCK_STOP,
                              MessageEnd("tool_use", None)]


def test_a_call_whose_name_comes_late_is_buffered() -> None:
    events = decode(CREATED, added(0, type="function_call", id="fc_1", call_id="call_1", arguments=""),
                    {"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc_1", "delta": '{"a"'},
                    {"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc_1", "delta": ":1}"},
                    item_done(0, type="function_call", id="fc_1", call_id="call_1", name="f", arguments='{"a":1}'),
                    completed())
    assert events[1:] == [BlockStart("tool_use", "call_1", "f"), BlockDelta("json", '{"a":1}'), BLOCK_STOP,
                          MessageEnd("tool_use", None)]


def test_summary_parts_are_a_blank_line_apart_and_unsigned_reasoning_gets_the_synthetic_signature() -> None:
    def summary(index: int, text: str) -> dict[str, Any]:
        return {"type": "response.reasoning_summary_text.delta", "output_index": 0, "item_id": "rs_1",
                "summary_index": index, "delta": text}
    events = decode(CREATED, added(0, type="reasoning", id="rs_1", summary=[]), summary(0, "**Plan**"),
                    summary(0, " it."), summary(1, "**Act**"),
                    item_done(0, type="reasoning", id="rs_1", summary=[]), completed())
    assert events[1:] == [BlockStart("thinking", id="rs_1"), BlockDelta("thinking", "**Plan**"),
                          BlockDelta("thinking", " it."), BlockDelta("thinking", "\n\n**Act**"),
                          BlockDelta("signature", SYNTHETIC_SIGNATURE), BLOCK_STOP, MessageEnd("end_turn", None)]


def test_reasoning_text_and_text_only_at_done() -> None:
    events = decode(CREATED, added(0, type="reasoning", id="rs_1", summary=[]),
                    {"type": "response.reasoning_text.delta", "output_index": 0, "item_id": "rs_1", "content_index": 0,
                     "delta": "think"},
                    item_done(0, type="reasoning", id="rs_1", summary=[], encrypted_content="enc"),
                    added(1, type="message", id="msg_1", role="assistant", content=[]),
                    item_done(1, type="message", id="msg_1", role="assistant",
                              content=[{"type": "output_text", "text": "Hi", "annotations": []}]),
                    completed())
    assert events[1:] == [BlockStart("thinking", id="rs_1"), BlockDelta("thinking", "think"),
                          BlockDelta("signature", "dragoman:rs:rs_1:msg_1:enc"), BLOCK_STOP,
                          BlockStart("text"), BlockDelta("text", "Hi"), BLOCK_STOP, MessageEnd("end_turn", None)]


def test_whitespace_opens_no_text_block_and_refusals_are_text() -> None:
    def text(index: int, kind: str, delta: str) -> dict[str, Any]:
        return {"type": kind, "output_index": index, "item_id": f"msg_{index}", "content_index": 0, "delta": delta}
    events = decode(CREATED, added(0, type="message", id="msg_0", content=[]),
                    text(0, "response.output_text.delta", "\n"), item_done(0, type="message", id="msg_0", content=[]),
                    added(1, type="message", id="msg_1", content=[]), text(1, "response.output_text.delta", "\n"),
                    text(1, "response.refusal.delta", "I can't help with that."),
                    item_done(1, type="message", id="msg_1", content=[]),
                    added(2, type="message", id="msg_2", content=[]), text(2, "response.output_text.delta", "More."),
                    item_done(2, type="message", id="msg_2", content=[]), completed())
    assert events[1:] == [BlockStart("text"), BlockDelta("text", "\nI can't help with that."), BLOCK_STOP,
                          BlockStart("text"), BlockDelta("text", "\n\nMore."), BLOCK_STOP,
                          MessageEnd("end_turn", None)]


def test_server_side_items_and_unknown_events_are_skipped() -> None:
    events = decode(CREATED, added(0, type="web_search_call", id="ws_1", status="in_progress"),
                    {"type": "response.web_search_call.searching", "output_index": 0, "item_id": "ws_1"},
                    {"type": "response.output_text.delta", "output_index": 0, "item_id": "ws_1", "delta": "x"},
                    item_done(0, type="web_search_call", id="ws_1", status="completed"),
                    {"type": "response.brand_new_event"}, completed(usage={"input_tokens": 5, "output_tokens": 2}))
    assert events == [MessageStart("resp_1", None),
                      MessageEnd("end_turn", {"input_tokens": 5, "output_tokens": 2,
                                              "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})]


# -- endings --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("details", "stop_reason"), [({"reason": "max_output_tokens"}, "max_tokens"),
                                                      ({"reason": "content_filter"}, "refusal"),
                                                      ({"reason": "something_new"}, "max_tokens"), (None, "max_tokens")])
def test_incomplete(details: Any, stop_reason: str) -> None:
    events = decode(CREATED, {"type": "response.incomplete",
                              "response": {"id": "resp_1", "status": "incomplete", "incomplete_details": details}})
    assert events[-1] == MessageEnd(stop_reason, None)


@pytest.mark.parametrize(("code", "error_type"), [
    ("rate_limit_exceeded", "rate_limit_error"), ("insufficient_quota", "billing_error"),
    ("context_length_exceeded", "invalid_request_error"), ("invalid_prompt", "invalid_request_error"),
    ("invalid_image_url", "invalid_request_error"), ("server_error", "api_error"),
    ("server_is_overloaded", "overloaded_error"), ("something_new", "api_error"), (None, "api_error"),
])
def test_failures(code: Any, error_type: str) -> None:
    failed = {"type": "response.failed",
              "response": {"id": "resp_1", "status": "failed", "error": {"code": code, "message": "It broke."}}}
    error = {"type": "error", "code": code, "message": "It broke.", "param": None, "sequence_number": 3}
    for payload in (failed, error):
        decoder = ResponsesEventDecoder()
        decoder.feed(CREATED)
        assert decoder.feed(payload) == [StreamFailure(error_type, "It broke.")]
        assert decoder.feed(completed()) == [] and decoder.finish(done=False) == []


def test_failure_mid_text_is_an_error_event() -> None:
    raw = transcode(sse(CREATED, added(0, type="message", id="msg_1", content=[]),
                        {"type": "response.output_text.delta", "output_index": 0, "item_id": "msg_1", "delta": "Hel"},
                        {"type": "response.failed", "response": {"id": "resp_1", "status": "failed", "error": {
                            "code": "rate_limit_exceeded", "message": "Rate limit reached. Please try again in 2s."}}}))
    events = check_stream(raw)
    assert events[-1] == ("error", {"type": "error", "error": {
        "type": "rate_limit_error", "message": "Rate limit reached. Please try again in 2s."}})
    assert not any(name == "message_stop" for name, _ in events)


@pytest.mark.parametrize("done", [False, True])
def test_end_of_stream_before_a_terminal_event_is_a_failure(done: bool) -> None:
    events = decode(CREATED, added(0, type="message", id="msg_1", content=[]),
                    {"type": "response.output_text.delta", "output_index": 0, "item_id": "msg_1", "delta": "Hel"},
                    done=done)
    assert events[-1] == StreamFailure("api_error", "The upstream provider ended the stream before the response was complete.")
    assert check_stream(transcode(sse(CREATED)))[-1][0] == "error"


def test_nothing_after_the_terminal_event() -> None:
    decoder = ResponsesEventDecoder()
    decoder.feed(CREATED)
    assert decoder.feed(completed()) == [MessageEnd("end_turn", None)]
    assert decoder.feed(added(0, type="message", id="msg_1", content=[])) == []
    assert decoder.finish(done=False) == []
