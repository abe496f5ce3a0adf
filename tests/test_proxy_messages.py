"""POST /v1/messages through dragoman with the official `anthropic` SDK as the client.

The mock provider replays REAL recorded OpenAI-dialect exchanges (tests/fixtures), streamed in
97-byte pieces, so the proxy really transcodes a stream arriving in arbitrary fragments. Every
expected value below was read from the recorded fixture, not from dragoman's output.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.conftest import MockProvider, Reply, load_capture, load_fixture
from tests.stream_checker import blocks, check_stream

UPSTREAM_KEY = "sk-upstream-secret-0123456789"
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")

MULTIPLY_TOOL = {
    "name": "multiply", "description": "Multiply two numbers.",
    "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                     "required": ["a", "b"]},
}
WEATHER_TOOL = {
    "name": "get_current_weather", "description": "Get the current weather",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}


@asynccontextmanager
async def sdk(base_url: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=base_url, api_key="k", max_retries=0) as client:
        yield client


async def raw_post(url: str, body: Any, headers: dict[str, str] | None = None,
                   *, data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """POST and read the whole answer as bytes: what an SSE parser in any client would see."""
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=data if data is not None else json.dumps(body).encode(),
                                headers={"Content-Type": "application/json", **(headers or {})}) as resp:
            return resp.status, dict(resp.headers), await resp.read()


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def assert_upstream_clean(provider: MockProvider, index: int = 0) -> None:
    """What every upstream request must look like: our key, never the client's; no cache_control."""
    headers = {k.lower(): v for k, v in provider.headers[index].items()}
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "x-api-key" not in headers
    assert "cache_control" not in json.dumps(provider.requests[index])


# --- non-streaming ------------------------------------------------------------------------------

async def test_create_text_with_cached_usage(provider: MockProvider, dragoman: str) -> None:
    # openai-cached-tokens.json: "OK", prompt_tokens 4020 of which cached_tokens 4012, completion 4
    provider.script(Reply.from_fixture("openai-cached-tokens.json"))
    async with sdk(dragoman) as client:
        message = await client.messages.create(
            model="claude-sonnet-4-6", max_tokens=16000,
            system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "Say OK.", "cache_control": {"type": "ephemeral"}}]}],
        )
    assert message.id.startswith("msg_")
    assert message.model == "claude-sonnet-4-6"
    assert message.role == "assistant"
    assert [(b.type, b.text) for b in message.content] == [("text", "OK")]
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens == 8            # 4020 - 4012: Anthropic counts cache reads apart
    assert message.usage.cache_read_input_tokens == 4012
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.output_tokens == 4

    sent = provider.requests[0]
    assert sent["model"] == "big-model"               # route claude-* -> big-model
    assert sent["max_tokens"] == 8192                 # clamped by the route's ceiling
    assert not sent.get("stream")
    assert "stream_options" not in sent
    assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
    assert_upstream_clean(provider)


async def test_create_tool_call(provider: MockProvider, dragoman: str) -> None:
    # openai-tool-call-chain.json: one call can_have_dragons({"population":123124}), usage 118/18
    provider.script(Reply.from_fixture("openai-tool-call-chain.json"))
    tool = {"name": "can_have_dragons", "description": "Whether a country can have dragons",
            "input_schema": {"type": "object", "properties": {"population": {"type": "integer"}},
                             "required": ["population"]},
            "cache_control": {"type": "ephemeral"}}
    async with sdk(dragoman) as client:
        message = await client.messages.create(
            model="oa-gpt-4o-mini", max_tokens=100, tools=[tool],
            messages=user("Can the country of Crumpet have dragons?"),
        )
    assert message.model == "oa-gpt-4o-mini"
    assert message.stop_reason == "tool_use"
    assert len(message.content) == 1
    block = message.content[0]
    assert block.type == "tool_use"
    assert block.name == "can_have_dragons"
    assert block.input == {"population": 123124}
    assert block.id == "call_aq9UyiSFkzX6W8Ydc33DoI9Y"
    assert TOOL_ID.match(block.id)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (118, 18)

    sent = provider.requests[0]
    assert sent["model"] == "oa-gpt-4o-mini"             # route oa-* passes the name through
    assert sent["max_tokens"] == 100                  # no ceiling on this route
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "can_have_dragons", "description": "Whether a country can have dragons",
        "parameters": tool["input_schema"]}}]
    assert_upstream_clean(provider)


async def test_create_tool_call_with_id_outside_anthropic_alphabet(provider: MockProvider, dragoman: str) -> None:
    # mistral-tool-call.json: id "gSIMJiOkT", no "type" on the call; usage 124/22
    provider.script(Reply.from_fixture("mistral-tool-call.json"))
    async with sdk(dragoman) as client:
        message = await client.messages.create(model="claude-haiku-4-5", max_tokens=50,
                                               messages=user("Weather in SF?"))
    assert message.model == "claude-haiku-4-5"
    assert [(b.type, b.name, b.input) for b in message.content] == [
        ("tool_use", "weather", {"location": "San Francisco"})]
    assert TOOL_ID.match(message.content[0].id)
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (124, 22)
    assert provider.requests[0]["model"] == "small-model"   # *haiku* -> small-model, before claude-*
    assert provider.requests[0]["max_tokens"] == 50


async def test_create_reasoning_becomes_signed_thinking(provider: MockProvider, dragoman: str) -> None:
    # deepseek-reasoning-content.json: reasoning_content (1997 chars) + content (1568 chars), 12/789
    recorded = json.loads(load_fixture("deepseek-reasoning-content.json")["response"]["body"])["choices"][0]["message"]
    provider.script(Reply.from_fixture("deepseek-reasoning-content.json"))
    async with sdk(dragoman) as client:
        message = await client.messages.create(model="claude-opus-4-1", max_tokens=2000,
                                               messages=user("How do I cross the street?"))
    assert [b.type for b in message.content] == ["thinking", "text"]
    thinking, text = message.content
    assert thinking.thinking == recorded["reasoning_content"]
    assert thinking.thinking.startswith("Okay, the user is asking how to cross the street.")
    assert thinking.signature                          # Claude Code drops unsigned thinking blocks
    assert text.text == recorded["content"]
    assert text.text.endswith("stay alert until you've fully crossed.")
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 789)
    assert message.usage.cache_read_input_tokens == 0
    assert message.id == "msg_181d9669-2b3a-445e-bd13-2ebff2c378f6"


# --- streaming with the SDK ---------------------------------------------------------------------

async def test_stream_text(provider: MockProvider, dragoman: str) -> None:
    # crusoe-stream-text.json: "1, 2, 3, 4, 5", usage 46/14 in a last chunk after finish_reason
    provider.script(Reply.from_fixture("crusoe-stream-text.json"))
    async with sdk(dragoman) as client:
        async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=32000,
                                          messages=user("Count from 1 to 5, comma separated.")) as stream:
            pieces = [text async for text in stream.text_stream]
            message = await stream.get_final_message()
    assert "".join(pieces) == "1, 2, 3, 4, 5"
    assert len(pieces) > 1                             # really streamed, not one block at the end
    assert message.id.startswith("msg_")
    assert message.model == "claude-sonnet-4-6"
    assert [(b.type, b.text) for b in message.content] == [("text", "1, 2, 3, 4, 5")]
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 14
    assert message.usage.input_tokens == 46

    sent = provider.requests[0]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["model"] == "big-model"
    assert sent["max_tokens"] == 8192
    assert_upstream_clean(provider)


async def test_stream_cached_usage(provider: MockProvider, dragoman: str) -> None:
    # openrouter-stream-cached-tokens.json: SSE comments; usage 687 prompt (679 cached) / 187
    provider.script(Reply.from_fixture("openrouter-stream-cached-tokens.json"))
    async with sdk(dragoman) as client:
        async with client.messages.stream(model="oa-gpt-4o", max_tokens=500, messages=user("Who are you")) as stream:
            message = await stream.get_final_message()
    assert message.model == "oa-gpt-4o"
    assert len(message.content) == 1 and message.content[0].type == "text"
    assert message.content[0].text.startswith("I'm Grok, an AI built by xAI.")
    assert message.content[0].text.endswith("What's on your mind?")
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 187
    assert message.usage.cache_read_input_tokens == 679
    assert message.usage.input_tokens == 8


async def test_stream_tool_call_streamed_arguments(provider: MockProvider, dragoman: str) -> None:
    # openai-stream-tool-call-streamed-args.json: multiply {"a":1231,"b":2331} in 9 fragments; 54/20
    provider.script(Reply.from_fixture("openai-stream-tool-call-streamed-args.json"))
    partials: list[str] = []
    async with sdk(dragoman) as client:
        async with client.messages.stream(model="oa-gpt-4o-mini", max_tokens=200, tools=[MULTIPLY_TOOL],
                                          messages=user("What is 1231 * 2331?")) as stream:
            async for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    partials.append(event.delta.partial_json)
            message = await stream.get_final_message()
    assert len(partials) > 3                           # arguments arrive as they stream
    assert json.loads("".join(partials)) == {"a": 1231, "b": 2331}
    assert len(message.content) == 1
    block = message.content[0]
    assert (block.type, block.name, block.input) == ("tool_use", "multiply", {"a": 1231, "b": 2331})
    assert block.id == "call_1EYWDzueHEp8OsB8jJSEp7WB"
    assert TOOL_ID.match(block.id)
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (54, 20)
    sent = provider.requests[0]
    assert sent["tools"][0]["function"]["name"] == "multiply"
    assert sent["stream_options"] == {"include_usage": True}


async def test_stream_parallel_tool_calls(provider: MockProvider, dragoman: str) -> None:
    # openai-stream-parallel-tool-calls.json: two get_current_weather calls (index 0 and 1), no usage
    provider.script(Reply.from_fixture("openai-stream-parallel-tool-calls.json"))
    async with sdk(dragoman) as client:
        async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=200, tools=[WEATHER_TOOL],
                                          messages=user("Weather in San Francisco and Boston?")) as stream:
            message = await stream.get_final_message()
    assert [(b.type, b.name, b.input) for b in message.content] == [
        ("tool_use", "get_current_weather", {"location": "San Francisco"}),
        ("tool_use", "get_current_weather", {"location": "Boston"}),
    ]
    assert [b.id for b in message.content] == ["call_cCPjAyfwTzboEKjVlqFrArNF", "call_Zi4He1Ns0mozwT6f85nW1BOW"]
    assert all(TOOL_ID.match(b.id) for b in message.content)
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == 0            # the recording carries no usage
    assert message.model == "claude-sonnet-4-6"


async def test_stream_reasoning_becomes_thinking(provider: MockProvider, dragoman: str) -> None:
    # deepseek-stream-reasoning-content.json: 882 chars of reasoning_content, then the answer; 6/212
    provider.script(Reply.from_fixture("deepseek-stream-reasoning-content.json"))
    async with sdk(dragoman) as client:
        async with client.messages.stream(model="claude-opus-4-1", max_tokens=1000, messages=user("Hello")) as stream:
            message = await stream.get_final_message()
    assert [b.type for b in message.content] == ["thinking", "text"]
    thinking, text = message.content
    assert thinking.thinking.startswith('Hmm, the user just said "Hello".')
    assert thinking.thinking.endswith("they might not reply further - and that's okay too.")
    assert len(thinking.thinking) == 882
    assert thinking.signature
    assert text.text == "Hello there! 😊 How can I help you today?"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (6, 212)


# --- streaming, raw bytes through the state-machine checker -------------------------------------

@pytest.mark.parametrize(("fixture", "expected"), [
    ("crusoe-stream-text.json", [{"type": "text", "text": "1, 2, 3, 4, 5"}]),
    ("openai-stream-tool-call-streamed-args.json",
     [{"type": "tool_use", "id": "call_1EYWDzueHEp8OsB8jJSEp7WB", "name": "multiply", "input": {"a": 1231, "b": 2331}}]),
    ("openai-stream-parallel-tool-calls.json",
     [{"type": "tool_use", "id": "call_cCPjAyfwTzboEKjVlqFrArNF", "name": "get_current_weather",
       "input": {"location": "San Francisco"}},
      {"type": "tool_use", "id": "call_Zi4He1Ns0mozwT6f85nW1BOW", "name": "get_current_weather",
       "input": {"location": "Boston"}}]),
])
async def test_raw_stream_is_valid(provider: MockProvider, dragoman: str, fixture: str,
                                   expected: list[dict[str, Any]]) -> None:
    provider.script(Reply.from_fixture(fixture))
    status, headers, raw = await raw_post(dragoman + "/v1/messages", {
        "model": "claude-sonnet-4-6", "max_tokens": 100, "stream": True, "messages": user("hi"),
        "tools": [MULTIPLY_TOOL, WEATHER_TOOL]})
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    # every frame carries an `event:` line (parse_sse raises otherwise), the order is the state machine's
    events = check_stream(raw)
    assert raw.count(b"event: ") == raw.count(b"data: ")
    assert [e[0] for e in events].count("message_stop") == 1
    assert events[-1][0] == "message_stop"
    got = blocks(events)
    for block in got:
        block.pop("partial", None)
    assert got == expected
    assert events[-2][1]["delta"]["stop_reason"] == ("end_turn" if fixture.startswith("crusoe") else "tool_use")
    assert events[0][1]["message"]["model"] == "claude-sonnet-4-6"


async def test_raw_stream_reasoning(provider: MockProvider, dragoman: str) -> None:
    provider.script(Reply.from_fixture("deepseek-stream-reasoning-content.json"))
    status, _, raw = await raw_post(dragoman + "/v1/messages", {
        "model": "claude-opus-4-1", "max_tokens": 100, "stream": True, "messages": user("Hello")})
    assert status == 200
    events = check_stream(raw)
    got = blocks(events)
    assert [b["type"] for b in got] == ["thinking", "text"]
    assert len(got[0]["thinking"]) == 882
    assert got[0]["signature"]
    assert got[1]["text"] == "Hello there! 😊 How can I help you today?"
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] == 212


async def test_stream_request_answered_with_json(provider: MockProvider, dragoman: str) -> None:
    # some servers ignore "stream": the JSON answer (openai-tool-call-chain.json) is replayed as events
    provider.script(Reply.from_fixture("openai-tool-call-chain.json"))
    status, _, raw = await raw_post(dragoman + "/v1/messages", {
        "model": "oa-gpt-4o-mini", "max_tokens": 100, "stream": True, "messages": user("dragons?")})
    assert status == 200
    events = check_stream(raw)
    got = blocks(events)
    assert got == [{"type": "tool_use", "id": "call_aq9UyiSFkzX6W8Ydc33DoI9Y", "name": "can_have_dragons",
                    "input": {"population": 123124}}]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"]["output_tokens"] == 18


# --- the real Claude Code request ---------------------------------------------------------------

async def test_claude_code_capture_streams(provider: MockProvider, dragoman: str) -> None:
    capture = load_capture("01_main_first_request.json")["request"]
    body = capture["body"]
    assert body["model"] == "claude-opus-4-8" and body["max_tokens"] == 64000 and body["stream"] is True
    headers = {k: v for k, v in capture["headers"].items()
               if k.lower() not in ("host", "content-length", "connection", "accept-encoding")}
    headers["x-api-key"] = "client-key-that-must-stay-here"
    provider.script(Reply.sse(
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "I'll create it."}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_w1", "type": "function",
                                                            "function": {"name": "Write", "arguments": ""}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {
            "arguments": '{"file_path": "/home/user/project/hello.txt", "content": "Hello!"}'}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 20000, "completion_tokens": 30}},
        chunk_size=50,
    ))
    status, resp_headers, raw = await raw_post(dragoman + "/v1/messages?beta=true", None, headers,
                                               data=json.dumps(body).encode())
    assert status == 200, raw[:500]
    events = check_stream(raw)
    got = blocks(events)
    assert got[0] == {"type": "text", "text": "I'll create it."}
    assert (got[1]["type"], got[1]["name"], got[1]["input"]) == (
        "tool_use", "Write", {"file_path": "/home/user/project/hello.txt", "content": "Hello!"})
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"]["output_tokens"] == 30
    assert events[0][1]["message"]["model"] == "claude-opus-4-8"
    assert resp_headers.get("request-id")

    sent = provider.requests[0]
    assert sent["model"] == "big-model"
    assert sent["max_tokens"] == 8192
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert len(sent["tools"]) == len(body["tools"]) == 24
    text = json.dumps(sent)
    for leak in ("cache_control", "context_management", "output_config", "client-key-that-must-stay-here"):
        assert leak not in text
    assert_upstream_clean(provider)


# --- request id, count_tokens, liveness ---------------------------------------------------------

async def test_request_id_echoed(provider: MockProvider, dragoman: str) -> None:
    provider.script(Reply.from_fixture("openai-cached-tokens.json"))
    status, headers, _ = await raw_post(dragoman + "/v1/messages", {
        "model": "claude-sonnet-4-6", "max_tokens": 10, "messages": user("hi")}, {"x-request-id": "req-abc-123"})
    assert status == 200
    assert headers["request-id"] == "req-abc-123"


async def test_request_id_echoed_on_stream_and_error(provider: MockProvider, dragoman: str) -> None:
    provider.script(Reply.from_fixture("crusoe-stream-text.json"))
    status, headers, raw = await raw_post(dragoman + "/v1/messages", {
        "model": "claude-sonnet-4-6", "max_tokens": 10, "stream": True, "messages": user("hi")},
        {"x-request-id": "req-stream-1"})
    assert status == 200 and check_stream(raw)
    assert headers["request-id"] == "req-stream-1"
    status, headers, _ = await raw_post(dragoman + "/v1/messages", {"model": "claude-x"},
                                        {"x-request-id": "req-bad-1"})
    assert status == 400
    assert headers["request-id"] == "req-bad-1"


async def test_request_id_generated(provider: MockProvider, dragoman: str) -> None:
    provider.script(Reply.from_fixture("openai-cached-tokens.json"), Reply.from_fixture("openai-cached-tokens.json"))
    ids = []
    for _ in range(2):
        status, headers, _ = await raw_post(dragoman + "/v1/messages", {
            "model": "claude-sonnet-4-6", "max_tokens": 10, "messages": user("hi")})
        assert status == 200
        ids.append(headers["request-id"])
    assert all(len(i) >= 16 for i in ids)
    assert ids[0] != ids[1]


async def test_sdk_sees_request_id(provider: MockProvider, dragoman: str) -> None:
    provider.script(Reply.from_fixture("openai-cached-tokens.json"))
    async with sdk(dragoman) as client:
        response = await client.messages.with_raw_response.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=user("hi"),
            extra_headers={"x-request-id": "sdk-req-7"})
        message = await response.parse()
    assert response.headers["request-id"] == "sdk-req-7"
    assert message.content[0].text == "OK"


async def test_count_tokens_is_local(provider: MockProvider, dragoman: str) -> None:
    async with sdk(dragoman) as client:
        small = await client.messages.count_tokens(model="claude-sonnet-4-6", messages=user("Hello"))
        large = await client.messages.count_tokens(
            model="claude-sonnet-4-6", tools=[MULTIPLY_TOOL, WEATHER_TOOL],
            system="You are a helpful assistant that answers questions about arithmetic.",
            messages=user("What is 1231 * 2331? Please explain each step of the long multiplication."))
    assert small.input_tokens > 0
    assert large.input_tokens > small.input_tokens
    assert provider.requests == []
    status, _, raw = await raw_post(dragoman + "/v1/messages/count_tokens?beta=true", {
        "model": "claude-sonnet-4-6", "messages": user("Hello")})
    assert status == 200
    payload = json.loads(raw)
    assert list(payload) == ["input_tokens"]
    assert isinstance(payload["input_tokens"], int) and payload["input_tokens"] == small.input_tokens
    assert provider.requests == []


async def test_count_tokens_claude_code_request(provider: MockProvider, dragoman: str) -> None:
    body = load_capture("01_main_first_request.json")["request"]["body"]
    body = {k: body[k] for k in ("model", "messages", "system", "tools")}
    status, _, raw = await raw_post(dragoman + "/v1/messages/count_tokens", body)
    assert status == 200
    # ~76 kB of prompt and tool schemas: thousands of tokens, not a handful
    assert 5000 < json.loads(raw)["input_tokens"] < 76345
    assert provider.requests == []


async def test_head_root_and_health(dragoman: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.head(dragoman + "/") as resp:
            assert resp.status == 200
        async with session.get(dragoman + "/health") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("application/json")
            payload = await resp.json()
    assert payload["status"] == "ok"
