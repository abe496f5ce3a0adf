"""Anthropic event streams -> OpenAI chat.completion.chunk SSE, on every recorded Anthropic stream.

Every output is checked three ways: each chunk against the openai SDK's own ChatCompletionChunk
type, the whole stream through the SDK's ChatCompletionStreamState accumulator, and against what
the recording says, computed independently by the anthropic SDK's accumulator plus the
non-streaming converter (so the streaming and non-streaming paths must agree).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from converters.messages_response import to_chat_completion
from streaming.chat_encoder import OPENAI_KEEPALIVE, ChatChunkEncoder
from streaming.events import BlockDelta, BlockStart, BlockStop, MessageEnd, MessageStart, StreamFailure
from streaming.messages_decoder import MessagesEventDecoder
from streaming.sse import SSEParser

from .conftest import FIXTURES, load_fixture

STREAMS = sorted(p.name for p in FIXTURES.glob("anthropic-stream-*.json")
                 if load_fixture(p.name)["api"] == "anthropic-messages")
CREATED = 1_700_000_000


def body_of(name: str) -> bytes:
    return load_fixture(name)["response"]["body"].encode()


def transcode(body: bytes, pieces: int | None = None, include_usage: bool = True) -> bytes:
    """Parser -> decoder -> encoder, the way streaming.pump drives them (EOF: finish(done=False))."""
    parser, decoder = SSEParser(), MessagesEventDecoder()
    encoder = ChatChunkEncoder("chatcmpl-test", "gpt-4o", CREATED, include_usage)
    out = [encoder.start()]
    chunks = [body] if pieces is None else [body[i:i + pieces] for i in range(0, len(body), pieces)]
    for chunk in chunks + [b""]:
        for _, data in (parser.feed(chunk) if chunk else parser.finish()):
            out += [encoder.feed(e) for e in decoder.feed(orjson.loads(data))]
            if encoder.finished:
                return b"".join(out)
    return b"".join(out + [encoder.feed(e) for e in decoder.finish(done=False)])


def frames(raw: bytes) -> list[Any]:
    """The data of every frame; fails on an event: line (the OpenAI SDK cannot parse those)."""
    parser = SSEParser()
    out: list[Any] = []
    for name, data in parser.feed(raw) + parser.finish():
        assert name == "", f"named event {name!r} in an OpenAI stream"
        out.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return out


def sdk_final(raw: bytes) -> Any:
    """The completion the openai SDK accumulates from the stream (validating each chunk)."""
    state = ChatCompletionStreamState()
    for chunk in frames(raw):
        if chunk != "[DONE]":
            state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    return state.current_completion_snapshot


def recorded_completion(name: str) -> dict[str, Any]:
    """What the recording says: the anthropic SDK's accumulated message, converted non-streaming."""
    parser, snapshot, buffers = SSEParser(), None, {}
    for _, data in parser.feed(body_of(name)) + parser.finish():
        snapshot = accumulate_event(event=json.loads(data), current_snapshot=snapshot, json_bufs=buffers)
    assert snapshot is not None
    return to_chat_completion(snapshot.to_dict(), model="gpt-4o", created=CREATED)


def calls_of(message: Any) -> list[tuple[str, str, Any]]:
    return [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or ()]


@pytest.mark.parametrize("name", STREAMS)
def test_recorded_stream_matches_the_recording_and_the_sdk(name: str) -> None:
    raw = transcode(body_of(name))
    assert transcode(body_of(name), pieces=1) == raw  # fed one byte at a time: identical bytes
    chunks = frames(raw)
    assert chunks[-1] == "[DONE]" and "[DONE]" not in chunks[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-2]["choices"] == [] and "usage" in chunks[-2]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks[:-2]]
    assert all(f is None for f in finishes[:-1]) and finishes[-1] is not None
    for chunk in chunks[:-1]:
        assert (chunk["id"], chunk["object"], chunk["created"], chunk["model"]) == (
            "chatcmpl-test", "chat.completion.chunk", CREATED, "gpt-4o")
    final, expected = sdk_final(raw), recorded_completion(name)
    message, want = final.choices[0].message, expected["choices"][0]["message"]
    assert (message.content or "") == (want["content"] or "")
    assert getattr(message, "reasoning_content", None) == want.get("reasoning_content")
    assert calls_of(message) == [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                                 for c in want.get("tool_calls", ())]
    assert final.choices[0].finish_reason == expected["choices"][0]["finish_reason"]
    assert final.usage is not None and final.usage.model_dump(exclude_none=True) == expected["usage"]


def test_text_and_usage() -> None:
    final = sdk_final(transcode(body_of("anthropic-stream-text-haiku.json")))
    assert final.choices[0].message.content == "- Captain\n- Scoop"
    assert final.choices[0].finish_reason == "stop"
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (17, 10, 27)


def test_parallel_tool_calls_stream_arguments_with_stable_indices() -> None:
    raw = transcode(body_of("anthropic-stream-parallel-tools-streamed-args.json"))
    deltas = [c["choices"][0]["delta"] for c in frames(raw)[:-2]]
    starts = [d["tool_calls"][0] for d in deltas if "tool_calls" in d and "id" in d["tool_calls"][0]]
    assert starts == [
        {"index": 0, "id": "toolu_014x5X91kx3fvdhpLvwXZWE2", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}},
        {"index": 1, "id": "toolu_0121kXsENLvoDZ72LCuAnCCz", "type": "function",
         "function": {"name": "get_time", "arguments": ""}},
    ]
    fragments = [d["tool_calls"][0] for d in deltas if "tool_calls" in d and "id" not in d["tool_calls"][0]]
    assert len(fragments) > 4 and all(set(f) == {"index", "function"} for f in fragments)
    final = ChatCompletionStreamState()
    for chunk in frames(raw)[:-1]:
        final.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    completion = final.get_final_completion()  # the SDK's own parse of the finished stream
    assert calls_of(completion.choices[0].message) == [
        ("toolu_014x5X91kx3fvdhpLvwXZWE2", "get_weather", {"location": "San Francisco, CA", "unit": "celsius"}),
        ("toolu_0121kXsENLvoDZ72LCuAnCCz", "get_time", {"timezone": "America/Los_Angeles"}),
    ]
    assert completion.choices[0].message.content.startswith("Certainly! I can help you with that information.")
    assert completion.choices[0].finish_reason == "tool_calls"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (506, 153)


def test_tool_call_without_arguments_gets_an_empty_object() -> None:
    raw = transcode(body_of("anthropic-stream-parallel-tool-use.json"))
    message = sdk_final(raw).choices[0].message
    assert [(c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("pelican_name_generator", "{}"), ("pelican_name_generator", "{}")]


def test_thinking_becomes_reasoning_content_and_signatures_stay_out() -> None:
    raw = transcode(body_of("anthropic-stream-thinking-signature.json"))
    message = sdk_final(raw).choices[0].message
    assert message.reasoning_content.startswith("This is a straightforward question about pedestrian safety.")
    assert message.content.startswith("Here are the basic steps for safely crossing the street:")
    assert b"signature" not in raw


def test_redacted_thinking_is_not_shown() -> None:
    raw = transcode(body_of("anthropic-stream-redacted-thinking.json"))
    message = sdk_final(raw).choices[0].message
    assert getattr(message, "reasoning_content", None) is None
    assert b"EqkECkYIBxgCKkA8" not in raw
    assert message.content.startswith("I notice that you've sent what appears to be")


def test_server_tools_are_skipped_and_text_around_them_stays_two_paragraphs() -> None:
    raw = transcode(body_of("anthropic-stream-server-tool-code-exec.json"))
    message = sdk_final(raw).choices[0].message
    assert b"srvtoolu_" not in raw and message.tool_calls is None
    assert message.content.startswith("I'll calculate that expression for you right away!\n\nFollowing the standard")
    assert message.reasoning_content == "Let me calculate this mathematical expression."


def test_web_search_citations_keep_the_cited_text_joined() -> None:
    final = sdk_final(transcode(body_of("anthropic-stream-web-search-citations.json")))
    content = final.choices[0].message.content
    assert content.startswith("Based on the search results, here's the current weather in San Francisco:\n\n"
                              "Today (November 15, 2025) in San Francisco is overcast")
    assert "high of 63°F. Winds are from the west" in content  # adjacent text blocks: no separator
    assert final.usage.prompt_tokens == 10423


def test_refusal_is_content_filter() -> None:
    final = sdk_final(transcode(body_of("anthropic-stream-refusal.json")))
    assert final.choices[0].finish_reason == "content_filter"
    assert final.choices[0].message.content == ""
    assert final.usage.prompt_tokens == 97 and final.usage.completion_tokens == 0


@pytest.mark.parametrize(("name", "prompt", "cached", "written", "completion"), [
    ("anthropic-stream-cache-read-system.json", 4 + 1165, 1165, 0, 221),
    ("anthropic-stream-cache-write-system.json", 4 + 1165, 0, 1165, 201),
    # server tools: message_delta's cumulative counts replace message_start's (2 / 3068 / 0)
    ("anthropic-stream-prompt-cache-server-tool.json", 6 + 3337 + 6289, 6289, 3337, 198),
])
def test_cache_usage(name: str, prompt: int, cached: int, written: int, completion: int) -> None:
    usage = frames(transcode(body_of(name)))[-2]["usage"]
    assert usage["prompt_tokens"] == prompt and usage["completion_tokens"] == completion
    assert usage["total_tokens"] == prompt + completion
    assert usage["prompt_tokens_details"] == {"cached_tokens": cached, "cache_write_tokens": written}


def test_stop_sequence_and_structured_output_are_stop() -> None:
    final = sdk_final(transcode(body_of("anthropic-stream-prefill-stop-sequence.json")))
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content.startswith('\ndef pelican():\n    return "A large waterbird')
    final = sdk_final(transcode(body_of("anthropic-stream-structured-output.json")))
    assert json.loads(final.choices[0].message.content)["name"] == "Biscuit"


def test_without_include_usage_there_is_no_usage_chunk() -> None:
    chunks = frames(transcode(body_of("anthropic-stream-text-haiku.json"), include_usage=False))
    assert chunks[-1] == "[DONE]"
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}
    assert not any("usage" in c for c in chunks[:-1])


def test_exact_wire_bytes() -> None:
    encoder = ChatChunkEncoder("chatcmpl-1", "m", 5, include_usage=True)
    head = b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":5,"model":"m","choices":'
    assert encoder.start() == head + b'[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"logprobs":null}]}\n\n'
    assert encoder.feed(BlockStart("text")) == b""
    assert encoder.feed(BlockDelta("text", 'a "b"\n')) == (
        head + b'[{"index":0,"delta":{"content":"a \\"b\\"\\n"},"finish_reason":null,"logprobs":null}]}\n\n')
    assert encoder.feed(BlockStop()) == b""
    assert encoder.feed(BlockStart("tool_use", "toolu_1", "f")) == head + (
        b'[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"toolu_1","type":"function",'
        b'"function":{"name":"f","arguments":""}}]},"finish_reason":null,"logprobs":null}]}\n\n')
    assert encoder.feed(BlockDelta("json", '{"x":')) == head + (
        b'[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"x\\":"}}]},'
        b'"finish_reason":null,"logprobs":null}]}\n\n')
    encoder.feed(BlockDelta("json", "1}"))
    assert encoder.feed(BlockStop()) == b""
    end = encoder.feed(MessageEnd("tool_use", {"input_tokens": 3, "output_tokens": 4}))
    assert end == (head + b'[{"index":0,"delta":{},"finish_reason":"tool_calls","logprobs":null}]}\n\n'
                   + head + b'[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,'
                   b'"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}\n\n'
                   + b"data: [DONE]\n\n")
    assert encoder.finished and encoder.feed(BlockDelta("text", "late")) == b""
    assert OPENAI_KEEPALIVE == b": keepalive\n\n"


def test_second_tool_call_gets_index_one() -> None:
    encoder = ChatChunkEncoder("c", "m", 1)
    encoder.start()
    a_stop = encoder.feed(BlockStart("tool_use", "a", "f")) and encoder.feed(BlockStop())
    assert b'"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]' in a_stop  # no input: "{}"
    assert b'"tool_calls":[{"index":1,"id":"b","type":"function"' in encoder.feed(BlockStart("tool_use", "b", "g"))
    assert b'"index":1,"function":{"arguments":"{\\"q\\":2}"}' in encoder.feed(BlockDelta("json", '{"q":2}'))
    assert encoder.feed(BlockStop()) == b""  # b had arguments


# -- failures -------------------------------------------------------------------------------------

def sse(*payloads: dict[str, Any]) -> bytes:
    return b"".join(b"event: " + p["type"].encode() + b"\ndata: " + json.dumps(p).encode() + b"\n\n"
                    for p in payloads)


START = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                              "content": [], "usage": {"input_tokens": 9, "output_tokens": 1}}}
TEXT = [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}]


def test_error_event_mid_stream_is_an_error_frame_and_no_done() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    chunks = frames(transcode(sse(START, *TEXT, error)))
    assert chunks[-1] == {"error": {"message": "Overloaded", "type": "server_error", "param": None,
                                    "code": "overloaded_error"}}
    assert "[DONE]" not in chunks
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["delta"] == {"content": "Hel"}


@pytest.mark.parametrize("error_type", ["overloaded_error", "rate_limit_error", "api_error",
                                        "invalid_request_error", "something_new"])
def test_error_event_ends_the_message(error_type: str) -> None:
    decoder = MessagesEventDecoder()
    decoder.feed(START)
    events = decoder.feed({"type": "error", "error": {"type": error_type, "message": "m"}})
    assert events == [StreamFailure(error_type, "m")]
    assert decoder.feed(TEXT[0]) == [] and decoder.finish(done=False) == []


def test_eof_before_message_stop_is_an_error_frame() -> None:
    chunks = frames(transcode(sse(START, *TEXT)))
    assert chunks[-1]["error"]["type"] == "server_error"
    assert "before the message was complete" in chunks[-1]["error"]["message"]
    assert "[DONE]" not in chunks


def test_eof_after_message_delta_still_finishes() -> None:
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
             "usage": {"output_tokens": 5}}
    chunks = frames(transcode(sse(START, *TEXT, {"type": "content_block_stop", "index": 0}, delta)))
    assert chunks[-1] == "[DONE]" and chunks[-3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-2]["usage"]["prompt_tokens"] == 9 and chunks[-2]["usage"]["completion_tokens"] == 5


def test_decoder_events() -> None:
    decoder = MessagesEventDecoder()
    assert decoder.feed(START) == [MessageStart("msg_1", {"input_tokens": 9, "output_tokens": 1})]
    assert decoder.feed({"type": "ping"}) == [] and decoder.feed({"type": "brand_new_event"}) == []
    # a tool_use that arrives whole (some Anthropic-compatible providers) becomes one fragment
    whole = {"type": "content_block_start", "index": 0,
             "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}}
    assert decoder.feed(whole) == [BlockStart("tool_use", "t", "f"), BlockDelta("json", '{"a":1}')]
    assert decoder.feed({"type": "content_block_stop", "index": 0}) == [BlockStop()]
    server = {"type": "content_block_start", "index": 1,
              "content_block": {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}}}
    assert decoder.feed(server) == []
    assert decoder.feed({"type": "content_block_delta", "index": 1,
                         "delta": {"type": "input_json_delta", "partial_json": "{}"}}) == []
    assert decoder.feed({"type": "content_block_stop", "index": 1}) == []
    citation = {"type": "content_block_delta", "index": 2, "delta": {"type": "citations_delta", "citation": {}}}
    assert decoder.feed(citation) == []
    decoder.feed({"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "END"},
                  "usage": {"output_tokens": 30, "cache_read_input_tokens": None}})
    assert decoder.feed({"type": "message_stop"}) == [
        MessageEnd("stop_sequence", {"input_tokens": 9, "output_tokens": 30}, "END")]
    assert decoder.feed({"type": "message_stop"}) == [] and decoder.finish(done=False) == []


def test_delta_for_a_block_never_started_is_ignored() -> None:
    decoder = MessagesEventDecoder()
    decoder.feed(START)
    stray = {"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "lost?"}}
    assert decoder.feed(stray) == []  # before any block
    assert decoder.feed(TEXT[0]) == [BlockStart("text")]
    assert decoder.feed(stray) == []  # another index than the open block's
    assert decoder.feed({"type": "content_block_delta", "index": [], "delta": {"type": "text_delta", "text": "x"}}) == []
    # a delta of a kind the open block cannot hold (json in a text block) is ignored too
    assert decoder.feed({"type": "content_block_delta", "index": 0,
                         "delta": {"type": "input_json_delta", "partial_json": "{}"}}) == []
    assert decoder.feed(TEXT[2]) == [BlockDelta("text", "Hel")]
    assert decoder.feed({"type": "content_block_stop", "index": 3}) == []  # not the open block
    assert decoder.feed({"type": "content_block_stop", "index": 0}) == [BlockStop()]
    assert decoder.feed({"type": "content_block_delta", "index": 0,
                         "delta": {"type": "text_delta", "text": "late"}}) == []  # after its stop
    assert decoder.feed({"type": "content_block_stop", "index": 0}) == []  # a second stop
    # through the encoder, the stray events change nothing the client sees
    chunks = frames(transcode(sse(START, stray, *TEXT, stray, {"type": "content_block_stop", "index": 0},
                                  {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                   "usage": {"output_tokens": 2}}, {"type": "message_stop"})))
    assert [c["choices"][0]["delta"] for c in chunks[:-2]] == [
        {"role": "assistant", "content": ""}, {"content": "Hel"}, {}]
    assert chunks[-1] == "[DONE]"
