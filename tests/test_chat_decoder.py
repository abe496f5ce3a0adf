"""OpenAI chunk streams -> Anthropic SSE, on recorded provider streams and on the quirks that
broke other proxies. Every output goes through the Anthropic stream state-machine checker.
"""

from __future__ import annotations

import json
import re

import orjson
import pytest

from converters.thinking import SYNTHETIC_SIGNATURE
from streaming.chat_decoder import ChatChunkDecoder
from streaming.events import BlockDelta, BlockStart, BlockStop, MessageEnd, StreamFailure
from streaming.messages_encoder import MessagesEncoder
from streaming.sse import SSEParser

from .conftest import FIXTURES, load_fixture
from .stream_checker import blocks, check_stream

STREAM_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json") if load_fixture(p.name)["stream"]
                         and load_fixture(p.name)["api"] == "openai-chat")


def transcode(body: bytes, pieces: int | None = None, tool_names: dict[str, str] | None = None) -> bytes:
    """Parser -> decoder -> encoder, the way streaming.pump drives them."""
    parser, decoder = SSEParser(), ChatChunkDecoder(tool_names)
    encoder = MessagesEncoder("msg_test", "claude-sonnet-4-5", 42)
    out = [encoder.start()]
    chunks = [body] if pieces is None else [body[i:i + pieces] for i in range(0, len(body), pieces)]
    for chunk in chunks + [b""]:
        for _, data in (parser.feed(chunk) if chunk else parser.finish()):
            if data == b"[DONE]":
                return b"".join(out + [encoder.feed(e) for e in decoder.finish(done=True)])
            out += [encoder.feed(e) for e in decoder.feed(orjson.loads(data))]
    return b"".join(out + [encoder.feed(e) for e in decoder.finish(done=False)])


def sse(*chunks: dict, done: bool = True) -> bytes:
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


def delta(**fields) -> dict:
    return {"choices": [{"index": 0, "delta": fields, "finish_reason": None}]}


def finish(reason: str | None, **extra) -> dict:
    return {"choices": [{"index": 0, "delta": {}, "finish_reason": reason, **extra}]}


def call(index, id=None, name=None, args=None) -> dict:
    fragment: dict = {"function": {}}
    if index is not None:
        fragment["index"] = index
    if id is not None:
        fragment["id"] = id
    if name is not None:
        fragment["function"]["name"] = name
    if args is not None:
        fragment["function"]["arguments"] = args
    return fragment


def end_of(events):
    return [data for name, data in events if name in ("message_delta", "error")][-1]


@pytest.mark.parametrize("name", STREAM_FIXTURES)
def test_recorded_stream_is_valid_and_split_independent(name: str) -> None:
    body = load_fixture(name)["response"]["body"].encode()
    whole = transcode(body)
    check_stream(whole)
    assert transcode(body, pieces=1) == whole  # a stream fed one byte at a time


@pytest.mark.parametrize(("name", "stride"), [("openai-stream-parallel-tool-calls.json", 1),
                                              ("deepseek-stream-reasoning-content.json", 61)])
def test_every_split_point_gives_the_same_bytes(name: str, stride: int) -> None:
    body = load_fixture(name)["response"]["body"].encode()
    whole = transcode(body)
    for cut in range(0, len(body) + 1, stride):
        assert b"".join(_two_piece([body[:cut], body[cut:]])) == whole, cut


def _two_piece(chunks: list[bytes]):
    parser, decoder = SSEParser(), ChatChunkDecoder()
    encoder = MessagesEncoder("msg_test", "claude-sonnet-4-5", 42)
    yield encoder.start()
    for chunk in chunks:
        for _, data in parser.feed(chunk):
            if data == b"[DONE]":
                yield from (encoder.feed(e) for e in decoder.finish(done=True))
                return
            yield from (encoder.feed(e) for e in decoder.feed(orjson.loads(data)))


def test_openai_parallel_tool_calls() -> None:
    events = check_stream(transcode(load_fixture("openai-stream-parallel-tool-calls.json")["response"]["body"].encode()))
    assert blocks(events) == [
        {"type": "tool_use", "id": "call_cCPjAyfwTzboEKjVlqFrArNF", "name": "get_current_weather",
         "input": {"location": "San Francisco"}},
        {"type": "tool_use", "id": "call_Zi4He1Ns0mozwT6f85nW1BOW", "name": "get_current_weather",
         "input": {"location": "Boston"}},
    ]
    assert end_of(events)["delta"]["stop_reason"] == "tool_use"
    # arguments stream as they arrive: more than one input_json_delta per call
    json_deltas = [d for n, d in events if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"]
    assert len(json_deltas) > 4


def test_deepseek_reasoning_becomes_signed_thinking_then_text() -> None:
    events = check_stream(transcode(load_fixture("deepseek-stream-reasoning-content.json")["response"]["body"].encode()))
    got = blocks(events)
    assert [b["type"] for b in got] == ["thinking", "text"]
    assert got[0]["thinking"].startswith("Hmm, the user just said \"Hello\".")
    assert got[0]["signature"] == SYNTHETIC_SIGNATURE
    assert end_of(events)["usage"] == {"input_tokens": 6, "output_tokens": 212,
                                       "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def test_cached_tokens_move_out_of_input_tokens() -> None:
    events = check_stream(transcode(load_fixture("openrouter-stream-cached-tokens.json")["response"]["body"].encode()))
    assert end_of(events)["usage"] == {"input_tokens": 8, "output_tokens": 187,
                                       "cache_creation_input_tokens": 0, "cache_read_input_tokens": 679}


def test_length_cutoff_is_max_tokens() -> None:
    events = check_stream(transcode(load_fixture("deepseek-stream-length-cutoff.json")["response"]["body"].encode()))
    assert end_of(events)["delta"]["stop_reason"] == "max_tokens"


def test_mid_stream_error_chunk_ends_with_error_event() -> None:
    events = check_stream(transcode(load_fixture("groq-stream-tool-use-failed-error.json")["response"]["body"].encode()))
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "invalid_request_error"
    assert "Tool call validation failed" in events[-1][1]["error"]["message"]
    assert not any(n == "message_stop" for n, _ in events)


def test_mistral_thinking_parts() -> None:
    events = check_stream(transcode(load_fixture("mistral-stream-thinking.json")["response"]["body"].encode()))
    got = blocks(events)
    assert [b["type"] for b in got] == ["thinking", "text"]
    assert got[0]["thinking"].startswith("Okay, the user is asking how to cross the street.")


def test_index_starting_at_one_and_text_before_tool() -> None:
    events = check_stream(transcode(load_fixture("anthropic-openai-compat-stream-tool-call.json")["response"]["body"].encode()))
    assert blocks(events) == [{"type": "text", "text": "Reading it."},
                              {"type": "tool_use", "id": "toolu_sanitized", "name": "read_file", "input": {"path": "a.txt"}}]


def test_empty_arguments_then_arguments() -> None:
    events = check_stream(transcode(load_fixture("openrouter-stream-tool-call-empty-then-args.json")["response"]["body"].encode()))
    assert [b["name"] for b in blocks(events)] == ["llm_version"]


# -- quirks, hand-made streams ------------------------------------------------------------------

def test_reasoning_text_and_tool_call_in_one_chunk_split_in_order() -> None:
    body = sse({"choices": [{"index": 0, "finish_reason": None, "delta": {
        "reasoning_content": "think", "content": "say",
        "tool_calls": [call(0, "call_1", "Bash", '{"command": "ls"}')]}}]}, finish("tool_calls"))
    got = blocks(check_stream(transcode(body)))
    assert got == [
        {"type": "thinking", "thinking": "think", "signature": SYNTHETIC_SIGNATURE},
        {"type": "text", "text": "say"},
        {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
    ]


def test_interleaved_parallel_fragments_never_hit_a_stopped_block() -> None:
    body = sse(
        delta(tool_calls=[call(0, "call_a", "Read", '{"path": ')]),
        delta(tool_calls=[call(1, "call_b", "Read", '{"path": ')]),
        delta(tool_calls=[call(0, args='"a.txt"}')]),
        delta(tool_calls=[call(1, args='"b.txt"}')]),
        finish("tool_calls"),
    )
    events = check_stream(transcode(body))
    assert blocks(events) == [
        {"type": "tool_use", "id": "call_a", "name": "Read", "input": {"path": "a.txt"}},
        {"type": "tool_use", "id": "call_b", "name": "Read", "input": {"path": "b.txt"}},
    ]


def test_sequential_parallel_calls_stream_live() -> None:
    body = sse(delta(tool_calls=[call(0, "call_a", "Read", '{"path": "a"}')]),
               delta(tool_calls=[call(1, "call_b", "Read", '{"path": ')]),
               delta(tool_calls=[call(1, args='"b"}')]), finish("tool_calls"))
    events = check_stream(transcode(body))
    names = [(n, d.get("index")) for n, d in events if n.startswith("content_block")]
    # block 0 stops before block 1 starts, and block 1 gets its second fragment live
    assert names == [("content_block_start", 0), ("content_block_delta", 0), ("content_block_stop", 0),
                     ("content_block_start", 1), ("content_block_delta", 1), ("content_block_delta", 1),
                     ("content_block_stop", 1)]


def test_missing_index_keyed_by_id_then_by_order() -> None:
    body = sse(delta(tool_calls=[call(None, "c1", "Glob", '{"pattern"')]),
               delta(tool_calls=[call(None, args=': "*.py"}')]),
               delta(tool_calls=[call(None, "c2", "Glob", '{"pattern": "*.md"}')]), finish("tool_calls"))
    got = blocks(check_stream(transcode(body)))
    assert [(b["id"], b["input"]) for b in got] == [("c1", {"pattern": "*.py"}), ("c2", {"pattern": "*.md"})]


def test_missing_and_unsafe_tool_ids_are_made_valid() -> None:
    body = sse(delta(tool_calls=[call(0, "", "A", "{}")]), delta(tool_calls=[call(1, "functions.Bash:0", "B", "{}")]),
               finish("tool_calls"))
    got = blocks(check_stream(transcode(body)))
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]+", b["id"]) for b in got)
    assert got[0]["id"].startswith("toolu_")
    assert got[1]["id"].startswith("functions_Bash_0_")


def test_shortened_tool_name_is_restored() -> None:
    long_name = "mcp__server__" + "x" * 70
    short = long_name[:55] + "_abcdef12"
    body = sse(delta(tool_calls=[call(0, "c", short, "{}")]), finish("tool_calls"))
    got = blocks(check_stream(transcode(body, tool_names={short: long_name})))
    assert got[0]["name"] == long_name


def test_no_empty_text_block_and_whitespace_alone_opens_nothing() -> None:
    body = sse(delta(role="assistant", content=""), delta(content="\n\n"),
               delta(tool_calls=[call(0, "c", "Bash", "{}")]), finish("tool_calls"))
    events = check_stream(transcode(body))
    assert [b["type"] for b in blocks(events)] == ["tool_use"]


def test_leading_whitespace_is_kept_once_text_arrives() -> None:
    got = blocks(check_stream(transcode(sse(delta(content=" "), delta(content="hi"), finish("stop")))))
    assert got == [{"type": "text", "text": " hi"}]


def test_done_without_finish_reason_still_completes() -> None:
    events = check_stream(transcode(sse(delta(content="hi"))))
    assert end_of(events)["delta"]["stop_reason"] == "end_turn"
    assert events[-1][0] == "message_stop"


def test_eof_after_finish_reason_without_done_completes() -> None:
    events = check_stream(transcode(sse(delta(content="hi"), finish("stop"), done=False)))
    assert events[-1][0] == "message_stop"


def test_eof_before_finish_is_an_error_not_a_complete_message() -> None:
    events = check_stream(transcode(sse(delta(content="half an ans"), done=False)))
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "api_error"
    assert not any(n == "message_delta" for n, _ in events)


def test_usage_after_finish_reason_is_held_for_message_delta() -> None:
    body = sse(delta(content="hi"), finish("stop"),
               {"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 5,
                                         "prompt_tokens_details": {"cached_tokens": 60}}})
    events = check_stream(transcode(body))
    assert end_of(events)["usage"] == {"input_tokens": 40, "output_tokens": 5,
                                       "cache_creation_input_tokens": 0, "cache_read_input_tokens": 60}


def test_stop_with_tool_calls_is_tool_use_and_vllm_stop_string_is_stop_sequence() -> None:
    tool = check_stream(transcode(sse(delta(tool_calls=[call(0, "c", "A", "{}")]), finish("stop"))))
    assert end_of(tool)["delta"]["stop_reason"] == "tool_use"
    stopped = check_stream(transcode(sse(delta(content="1 2 3"), finish("stop", stop_reason="END"))))
    assert end_of(stopped)["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_content_filter_is_refusal() -> None:
    events = check_stream(transcode(sse(delta(content="I can"), finish("content_filter"))))
    assert end_of(events)["delta"]["stop_reason"] == "refusal"


def test_message_start_carries_estimate_and_all_usage_fields() -> None:
    events = check_stream(transcode(sse(delta(content="x"), finish("stop"))))
    assert events[0][1]["message"]["usage"] == {"input_tokens": 42, "output_tokens": 0,
                                                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    assert events[0][1]["message"]["model"] == "claude-sonnet-4-5"


# -- edge cases, at the decoder level (exact events) ---------------------------------------------

def decode(*chunks: dict, done: bool = True) -> list:
    """Every event the decoder emits for ``chunks`` and then ``finish(done)``."""
    decoder = ChatChunkDecoder()
    return [e for chunk in chunks for e in decoder.feed(chunk)] + decoder.finish(done=done)


CUT = StreamFailure("api_error", "The upstream provider ended the stream before the message was complete.")
NAMELESS = StreamFailure("api_error", "The upstream provider sent a tool call without a name; "
                                      "it cannot be relayed as a tool_use block.")


def test_text_during_incomplete_tool_call_keeps_the_call_open() -> None:
    chunks = (delta(tool_calls=[call(0, "call_a", "Write", '{"path": "a.txt", ')]),
              delta(content="Writing the file."),
              delta(tool_calls=[call(0, args='"text": "hi"}')]),
              delta(content=" Done."),
              finish("tool_calls"))
    assert decode(*chunks) == [
        BlockStart("tool_use", "call_a", "Write"), BlockDelta("json", '{"path": "a.txt", '),
        BlockDelta("json", '"text": "hi"}'), BlockStop(),
        # the text waited for the call's arguments to complete, then streams on in its own block
        BlockStart("text"), BlockDelta("text", "Writing the file."), BlockDelta("text", " Done."), BlockStop(),
        MessageEnd("tool_use", None, None),
    ]
    assert blocks(check_stream(transcode(sse(*chunks)))) == [
        {"type": "tool_use", "id": "call_a", "name": "Write", "input": {"path": "a.txt", "text": "hi"}},
        {"type": "text", "text": "Writing the file. Done."},
    ]
    # the same with reasoning, released when the stream ends (the call is never followed by more)
    reasoning = (delta(tool_calls=[call(0, "call_a", "Read", '{"path": ')]),
                 delta(reasoning_content="Which file?"),
                 delta(tool_calls=[call(0, args='"a.txt"}')]),
                 finish("tool_calls"))
    assert decode(*reasoning) == [
        BlockStart("tool_use", "call_a", "Read"), BlockDelta("json", '{"path": '), BlockDelta("json", '"a.txt"}'),
        BlockStop(),
        BlockStart("thinking"), BlockDelta("thinking", "Which file?"), BlockDelta("signature", SYNTHETIC_SIGNATURE),
        BlockStop(),
        MessageEnd("tool_use", None, None),
    ]
    check_stream(transcode(sse(*reasoning)))


def test_what_waits_behind_an_incomplete_call_keeps_its_order() -> None:
    # call_a is incomplete while text and a second, complete call arrive: a, text, b.
    chunks = (delta(tool_calls=[call(0, "call_a", "Read", '{"path": ')]),
              delta(content="and"),
              delta(tool_calls=[call(1, "call_b", "Read", '{"path": "b"}')]),
              delta(tool_calls=[call(0, args='"a"}')]),
              finish("tool_calls"))
    assert decode(*chunks) == [
        BlockStart("tool_use", "call_a", "Read"), BlockDelta("json", '{"path": '), BlockDelta("json", '"a"}'),
        BlockStop(),
        BlockStart("text"), BlockDelta("text", "and"), BlockStop(),
        BlockStart("tool_use", "call_b", "Read"), BlockDelta("json", '{"path": "b"}'), BlockStop(),
        MessageEnd("tool_use", None, None),
    ]
    check_stream(transcode(sse(*chunks)))


def test_waiting_call_with_incomplete_arguments_streams_live_once_released() -> None:
    chunks = (delta(tool_calls=[call(0, "call_a", "Read", '{"path": ')]),
              delta(tool_calls=[call(1, "call_b", "Read", '{"path": ')]),
              delta(tool_calls=[call(0, args='"a"}')]),
              delta(content="x"),  # releases b, still incomplete: b opens, the text waits behind it
              delta(tool_calls=[call(1, args='"b"}')]),
              finish("tool_calls"))
    assert decode(*chunks) == [
        BlockStart("tool_use", "call_a", "Read"), BlockDelta("json", '{"path": '), BlockDelta("json", '"a"}'),
        BlockStop(),
        BlockStart("tool_use", "call_b", "Read"), BlockDelta("json", '{"path": '), BlockDelta("json", '"b"}'),
        BlockStop(),
        BlockStart("text"), BlockDelta("text", "x"), BlockStop(),
        MessageEnd("tool_use", None, None),
    ]


def test_tool_call_without_name_does_not_claim_tool_use() -> None:
    nameless = (delta(content="Let me look."),
                delta(tool_calls=[call(0, "call_x", None, '{"path": "a"}')]),
                finish("tool_calls"))
    assert decode(*nameless) == [BlockStart("text"), BlockDelta("text", "Let me look."), NAMELESS]
    events = check_stream(transcode(sse(*nameless)))
    assert events[-1] == ("error", {"type": "error", "error": {"type": "api_error", "message": NAMELESS.message}})
    assert not any(n == "message_delta" for n, _ in events)
    # a nameless call next to a named one is still a dropped call: a failure, not tool_use
    assert decode(delta(tool_calls=[call(0, "c1", "Read", "{}")]), delta(tool_calls=[call(1, args='{"x": 1}')]),
                  finish("tool_calls"))[-1] == NAMELESS
    # "tool_calls" with no call at all: nothing to answer, so end_turn, not tool_use
    assert decode(delta(content="hi"), finish("tool_calls"))[-1] == MessageEnd("end_turn", None, None)
    # an empty nameless entry (no id, no arguments) carries nothing and changes nothing
    assert decode(delta(tool_calls=[call(0, "c1", "Read", "{}")]), delta(tool_calls=[call(1, args="")]),
                  finish("tool_calls"))[-1] == MessageEnd("tool_use", None, None)


def test_cut_after_finish_reason_completes_the_message() -> None:
    usage = {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 2}}
    assert decode(delta(content="hi"), finish("stop"), usage, done=False) == [
        BlockStart("text"), BlockDelta("text", "hi"), BlockStop(),
        MessageEnd("end_turn", {"input_tokens": 10, "output_tokens": 2, "cache_creation_input_tokens": 0,
                                "cache_read_input_tokens": 0}, None),
    ]
    assert decode(delta(tool_calls=[call(0, "c", "Read", '{"p": 1}')]), finish("tool_calls"), done=False) == [
        BlockStart("tool_use", "c", "Read"), BlockDelta("json", '{"p": 1}'), BlockStop(),
        MessageEnd("tool_use", None, None),
    ]
    # no finish_reason yet: the message is incomplete, whatever was streamed
    assert decode(delta(content="half an ans"), done=False) == [BlockStart("text"), BlockDelta("text", "half an ans"),
                                                                  CUT]


def test_finish_reason_error_is_a_failure() -> None:
    # OpenRouter's mid-stream error: the error object rides in the chunk with finish_reason "error"
    with_error = {"error": {"code": "server_error", "message": "Provider disconnected unexpectedly"},
                  "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}
    assert decode(delta(content="hi"), with_error) == [
        BlockStart("text"), BlockDelta("text", "hi"), StreamFailure("api_error", "Provider disconnected unexpectedly")]
    # without one, finish_reason "error" alone still fails the message; nothing after it counts
    bare = StreamFailure("api_error", 'The upstream provider ended the message with finish_reason "error".')
    assert decode(delta(content="hi"), finish("error"), delta(content="more"), finish("stop")) == [
        BlockStart("text"), BlockDelta("text", "hi"), bare]
    in_choice = {"choices": [{"index": 0, "delta": {}, "finish_reason": "error",
                              "error": {"message": "Rate limited", "code": 429}}]}
    assert decode(in_choice) == [StreamFailure("rate_limit_error", "Rate limited")]
    events = check_stream(transcode(sse(delta(content="hi"), finish("error"))))
    assert events[-1][1]["error"] == {"type": "api_error", "message": bare.message}
    assert not any(n == "message_delta" for n, _ in events)
