"""POST /v1/chat/completions and GET /v1/models through dragoman with the official `openai` SDK
as the client, on an Anthropic provider.

The mock provider replays REAL recorded Anthropic exchanges (tests/fixtures/anthropic-*.json),
streamed in 97-byte pieces, so the proxy really transcodes a stream arriving in arbitrary
fragments. Expected values are read from the recordings (literals, with the fixture named next to
them, or computed from the recorded events), never from dragoman's own output. Hand-made Anthropic
bodies are used only where no recording exists (most error bodies, the mid-stream error event),
and say so; cuts and stalls are recordings truncated.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anthropic
import openai
import pydantic
import pytest

from streaming.sse import SSEParser
from tests.conftest import FIXTURES, MockProvider, Reply, leave_mid_stream, load_fixture

UPSTREAM_KEY = "sk-ant-upstream-secret-0123456789"
CLIENT_KEY = "k"
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
IMAGE_URL = "https://t3.ftcdn.net/jpg/00/85/79/92/360_F_85799278_0BBGV9OAdQDTLnKwAPBCcg1J7QtiieJY.jpg"

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}}
TIME_TOOL = {"type": "function", "function": {
    "name": "get_time", "description": "Get the current time in a given time zone",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}}}
COUNTRY_TOOL = {"type": "function", "function": {
    "name": "get_user_country", "description": "",
    "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}}
PELICAN_TOOL = {"type": "function", "function": {
    "name": "pelican_name_generator", "description": "", "parameters": {"type": "object", "properties": {}}}}


# --- helpers ----------------------------------------------------------------------------------------

@asynccontextmanager
async def sdk(base_url: str, api_key: str = CLIENT_KEY) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0) as client:
        yield client


async def raw_post(url: str, body: Any = None, *, data: bytes | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """POST to /v1/chat/completions and read the whole answer as bytes."""
    payload = data if data is not None else json.dumps(body).encode()
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/v1/chat/completions", data=payload,
                                headers={"Content-Type": "application/json", **(headers or {})}) as resp:
            return resp.status, dict(resp.headers), await resp.read()


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def recorded_message(name: str) -> dict[str, Any]:
    """The recorded non-streaming Anthropic message of a fixture."""
    return json.loads(load_fixture(name)["response"]["body"])


def recorded_events(name: str) -> list[dict[str, Any]]:
    """The event payloads of a recorded Anthropic stream, pings included."""
    parser = SSEParser()
    body = load_fixture(name)["response"]["body"].encode()
    return [json.loads(data) for _event, data in parser.feed(body) + parser.finish()]


def recorded_stream(name: str) -> dict[str, Any]:
    """What a recorded Anthropic stream says, assembled the way the Anthropic SDK does: text,
    thinking, tool calls (id, name, argument fragments), stop_reason and usage (message_delta's
    counters overwrite message_start's)."""
    text, thinking = [], []
    tools: list[dict[str, Any]] = []
    usage: dict[str, Any] = {}
    stop_reason = None
    kinds: dict[int, str] = {}
    for event in recorded_events(name):
        kind = event["type"]
        if kind == "message_start":
            usage.update(event["message"]["usage"])
        elif kind == "content_block_start":
            block = event["content_block"]
            kinds[event["index"]] = block["type"]
            if block["type"] == "tool_use":
                tools.append({"id": block["id"], "name": block["name"], "fragments": []})
        elif kind == "content_block_delta" and kinds[event["index"]] in ("text", "thinking", "tool_use"):
            delta = event["delta"]   # deltas of server-tool blocks are not the answer's
            if delta["type"] == "text_delta":
                text.append(delta["text"])
            elif delta["type"] == "thinking_delta":
                thinking.append(delta["thinking"])
            elif delta["type"] == "input_json_delta":
                tools[-1]["fragments"].append(delta["partial_json"])
        elif kind == "message_delta":
            stop_reason = event["delta"]["stop_reason"]
            usage.update(event["usage"])
    for tool in tools:
        tool["input"] = json.loads("".join(tool["fragments"]) or "{}")
    return {"text": "".join(text), "thinking": "".join(thinking), "tools": tools,
            "stop_reason": stop_reason, "usage": usage}


def as_message(name: str) -> dict[str, Any]:
    """A recorded Anthropic stream as the one non-streaming message it amounts to (for the
    recordings with cache usage, which exist only as streams)."""
    start = recorded_events(name)[0]["message"]
    assembled = recorded_stream(name)
    return {**start, "content": [{"type": "text", "text": assembled["text"]}],
            "stop_reason": assembled["stop_reason"], "usage": assembled["usage"]}


def anthropic_sse(*payloads: dict[str, Any]) -> bytes:
    """Hand-made Anthropic SSE, framed as Anthropic frames it (event: line + data: line)."""
    return b"".join(f"event: {p['type']}\ndata: {json.dumps(p)}\n\n".encode() for p in payloads)


MESSAGE_START = {"type": "message_start", "message": {
    "id": "msg_handmade", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
    "stop_reason": None, "stop_sequence": None,
    "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}
TEXT_START = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
TEXT_DELTA = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "The answer is"}}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


@dataclass
class Accumulated:
    """A chat.completion.chunk stream, accumulated as a client does."""

    chunks: list[Any] = field(default_factory=list)
    content: str = ""
    reasoning: str = ""
    roles: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)   # index -> id, name, arguments, deltas
    finish_reasons: list[tuple[int, str]] = field(default_factory=list)  # (chunk position, reason)
    usage_chunks: list[tuple[int, Any]] = field(default_factory=list)   # (chunk position, usage)
    content_pieces: int = 0

    def add(self, chunk: Any) -> None:
        position = len(self.chunks)
        self.chunks.append(chunk)
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            self.usage_chunks.append((position, chunk.usage))
        for choice in chunk.choices:
            assert choice.index == 0
            delta = choice.delta
            if delta.role:
                self.roles.append(delta.role)
            if delta.content:
                self.content += delta.content
                self.content_pieces += 1
            if reasoning := getattr(delta, "reasoning_content", None):
                self.reasoning += reasoning
            for call in delta.tool_calls or ():
                entry = self.calls.setdefault(call.index, {"id": None, "name": None, "arguments": "", "deltas": []})
                entry["deltas"].append(call)
                if call.id is not None:
                    assert entry["id"] is None, "a tool call's id may come only in its first delta"
                    entry["id"] = call.id
                if call.function is not None:
                    if call.function.name is not None:
                        assert entry["name"] is None, "a tool call's name may come only in its first delta"
                        entry["name"] = call.function.name
                    entry["arguments"] += call.function.arguments or ""
            if choice.finish_reason is not None:
                self.finish_reasons.append((position, choice.finish_reason))

    def check_shape(self, *, include_usage: bool) -> None:
        """Wire rules every stream must keep: one id and the client's model on every chunk, the role
        first, one finish_reason in the last choice chunk, then (only when asked) one usage chunk
        with empty choices."""
        assert self.chunks
        assert len({c.id for c in self.chunks}) == 1 and self.chunks[0].id.startswith("chatcmpl-")
        assert {c.model for c in self.chunks} == {"gpt-4o"}
        assert self.roles == ["assistant"] and self.chunks[0].choices[0].delta.role == "assistant"
        choice_chunks = [i for i, c in enumerate(self.chunks) if c.choices]
        assert [p for p, _ in self.finish_reasons] == [choice_chunks[-1]]
        if include_usage:
            assert [p for p, _ in self.usage_chunks] == [len(self.chunks) - 1]
            assert self.chunks[-1].choices == []
            assert choice_chunks[-1] == len(self.chunks) - 2
        else:
            assert self.usage_chunks == []
            assert all(c.choices for c in self.chunks)
        for entry in self.calls.values():  # id and name only in the first delta of each call
            first, *rest = entry["deltas"]
            assert first.id and first.function.name and first.type == "function"
            assert all(d.id is None and (d.function is None or d.function.name is None) for d in rest)

    @property
    def finish_reason(self) -> str:
        return self.finish_reasons[-1][1]

    @property
    def usage(self) -> Any:
        return self.usage_chunks[-1][1]


async def accumulate(stream: Any) -> Accumulated:
    acc = Accumulated()
    async for chunk in stream:
        acc.add(chunk)
    return acc


def upstream_headers(provider: MockProvider, index: int = 0) -> dict[str, str]:
    return {k.lower(): v for k, v in provider.headers[index].items()}


def assert_upstream_clean(provider: MockProvider, index: int = 0, client_key: str = CLIENT_KEY) -> None:
    """Anthropic's headers with our key, never the client's key or an Authorization header."""
    headers = upstream_headers(provider, index)
    assert headers["x-api-key"] == UPSTREAM_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["anthropic-beta"] == "fine-grained-tool-streaming-2025-05-14"
    assert "authorization" not in headers
    assert client_key not in {v for k, v in headers.items() if k != "host"}


def assert_no_secret(raw: bytes) -> None:
    assert UPSTREAM_KEY.encode() not in raw
    assert b"0123456789" not in raw


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def claude_provider(base_url: str, read: float = 30) -> list[dict[str, Any]]:
    return [{"name": "claude", "protocol": "anthropic", "base_url": base_url, "api_key": UPSTREAM_KEY,
             "timeout": {"connect": 5, "read": read}}]


def openai_error(status: int, raw: bytes, headers: dict[str, str], expected_status: int,
                 expected_type: str) -> dict[str, Any]:
    """Assert OpenAI's error shape; return the error object."""
    assert status == expected_status, raw[:300]
    assert headers["Content-Type"].startswith("application/json")
    body = json.loads(raw)
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == expected_type
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"]
    assert_no_secret(raw)
    return error


def sse_frames(raw: bytes) -> list[bytes]:
    """The frames of a raw OpenAI-dialect stream (blank-line separated)."""
    assert raw.endswith(b"\n\n")
    return raw[:-2].split(b"\n\n")


def data_frames(raw: bytes) -> list[Any]:
    """Every `data:` payload in order (JSON, or the literal [DONE]); checks the frame rules."""
    out: list[Any] = []
    for frame in sse_frames(raw):
        assert b"\n" not in frame, frame          # one line per frame: no event:/id: lines
        if frame.startswith(b":"):
            continue                                # a keepalive comment
        assert frame.startswith(b"data: "), frame
        data = frame[len(b"data: "):]
        out.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return out


# --- non-streaming ----------------------------------------------------------------------------------

async def test_create_text_with_images(provider: MockProvider, dragoman: str) -> None:
    # anthropic-image-url.json: "This is a potato. ..." (a URL image), end_turn, usage 296/91, no cache
    recorded = recorded_message("anthropic-image-url.json")
    provider.script(Reply.from_fixture("anthropic-image-url.json"))
    async with sdk(dragoman) as client:
        completion = await client.chat.completions.create(model="gpt-4o", max_tokens=4096, messages=[
            {"role": "user", "content": [
                {"type": "text", "text": "What is this vegetable?"},
                {"type": "image_url", "image_url": {"url": IMAGE_URL}},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "low"}},
            ]}])
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o"
    assert isinstance(completion.created, int) and completion.created > 0
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == recorded["content"][0]["text"]
    assert choice.message.content.startswith("This is a potato.")
    assert choice.message.tool_calls is None
    assert getattr(choice.message, "reasoning_content", None) is None
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (296, 91, 387)
    assert usage.prompt_tokens_details.cached_tokens == 0

    sent = provider.requests[0]
    assert sent["model"] == "claude-sonnet-4-5"
    assert sent["max_tokens"] == 4096
    assert "stream" not in sent
    assert sent["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is this vegetable?"},
        {"type": "image", "source": {"type": "url", "url": IMAGE_URL}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
    ]}]
    assert "system" not in sent
    assert_upstream_clean(provider)


async def test_create_thinking_becomes_reasoning_content(provider: MockProvider, dragoman: str) -> None:
    # anthropic-adaptive-thinking.json: text "\n\n", thinking "4", text "2 + 2 = **4**"; 31/30
    provider.script(Reply.from_fixture("anthropic-adaptive-thinking.json"))
    async with sdk(dragoman) as client:
        completion = await client.chat.completions.create(model="gpt-4o", messages=user("What is 2+2?"))
    message = completion.choices[0].message
    assert message.content == "\n\n2 + 2 = **4**"   # the blank first block adds no separator
    assert message.model_extra["reasoning_content"] == "4"
    assert message.reasoning_content == "4"  # type: ignore[attr-defined]  # an extra field, as attribute
    assert "EqkBCkYICxgCKkDo5w3B" not in completion.model_dump_json()   # the signature stays upstream
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (31, 30)
    sent = provider.requests[0]
    assert sent["model"] == "claude-sonnet-4-5"
    assert sent["max_tokens"] == 8192                 # no client value: min(16384 default, route cap 8192)


async def test_create_tool_call_with_thinking(provider: MockProvider, dragoman: str) -> None:
    # anthropic-tool-use-with-thinking.json: thinking, text, get_user_country({}) toolu_01YGzqpRE16Vricda3Aqcejo; 398/155
    recorded = recorded_message("anthropic-tool-use-with-thinking.json")
    provider.script(Reply.from_fixture("anthropic-tool-use-with-thinking.json"))
    async with sdk(dragoman) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o", max_completion_tokens=4096, reasoning_effort="low", tools=[COUNTRY_TOOL],
            tool_choice="auto", messages=user("What is the largest city in the user country?"))
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    message = choice.message
    assert message.content == ("I'll help you find the largest city in your country. "
                               "First, let me determine which country you're from.")
    reasoning = message.model_extra["reasoning_content"]
    assert reasoning == recorded["content"][0]["thinking"]
    assert reasoning.startswith('The user is asking about the largest city in "the user country".')
    assert [(c.id, c.type, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("toolu_01YGzqpRE16Vricda3Aqcejo", "function", "get_user_country", {})]
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (398, 155)
    assert completion.usage.total_tokens == 553
    assert completion.model == "gpt-4o"

    sent = provider.requests[0]
    assert sent["max_tokens"] == 4096
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}   # reasoning_effort low
    assert sent["tools"] == [{"name": "get_user_country", "input_schema": COUNTRY_TOOL["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "auto"}


async def test_create_parallel_tool_calls(provider: MockProvider, dragoman: str) -> None:
    # anthropic-parallel-tools-nonstream.json: text + get_weather + get_time; usage 514/152 (no cache fields)
    provider.script(Reply.from_fixture("anthropic-parallel-tools-nonstream.json"))
    async with sdk(dragoman) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o", max_tokens=1024, tools=[WEATHER_TOOL, TIME_TOOL], parallel_tool_calls=True,
            messages=user("What is the weather like right now in New York? Also what time is it there now?"))
    message = completion.choices[0].message
    assert message.content.startswith("Certainly! I'd be happy to help you with both the current weather")
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("toolu_012r6TBCWjRHG71j6zruYyUL", "get_weather", {"location": "New York, NY", "unit": "fahrenheit"}),
        ("toolu_01SkeBKkLCNYWNuivqFerGDd", "get_time", {"timezone": "America/New_York"}),
    ]
    assert completion.choices[0].finish_reason == "tool_calls"
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details.cached_tokens) == (514, 152, 0)
    sent = provider.requests[0]
    assert [t["name"] for t in sent["tools"]] == ["get_weather", "get_time"]
    assert "tool_choice" not in sent                 # parallel_tool_calls true is Anthropic's default


async def test_create_forced_tool_call(provider: MockProvider, dragoman: str) -> None:
    # anthropic-tool-choice-forced.json: only get_user_country({}) toolu_01X9wcHKKAZD9tBC711xipPa; 445/23
    provider.script(Reply.from_fixture("anthropic-tool-choice-forced.json"),
                    Reply.from_fixture("anthropic-tool-choice-forced.json"))
    final_tool = {"type": "function", "function": {
        "name": "final_result", "description": "The final response which ends this conversation",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                       "required": ["city", "country"]}}}
    async with sdk(dragoman) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o", tools=[COUNTRY_TOOL, final_tool], tool_choice="required", parallel_tool_calls=False,
            messages=user("What is the largest city in the user country?"))
        named = await client.chat.completions.create(
            model="gpt-4o", tools=[COUNTRY_TOOL, final_tool],
            tool_choice={"type": "function", "function": {"name": "get_user_country"}},
            messages=user("What is the largest city in the user country?"))
    for result in (completion, named):
        message = result.choices[0].message
        assert message.content is None
        assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
            ("toolu_01X9wcHKKAZD9tBC711xipPa", "get_user_country", {})]
        assert result.choices[0].finish_reason == "tool_calls"
        assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (445, 23)
    assert provider.requests[0]["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert provider.requests[1]["tool_choice"] == {"type": "tool", "name": "get_user_country"}


@pytest.mark.parametrize(("fixture", "prompt", "cached"), [
    ("anthropic-stream-cache-read-system.json", 4 + 1165 + 0, 1165),    # 4 input, 1165 read
    ("anthropic-stream-cache-write-system.json", 4 + 0 + 1165, 0),      # 4 input, 1165 written
])
async def test_create_cached_usage(provider: MockProvider, dragoman: str, fixture: str, prompt: int,
                                   cached: int) -> None:
    # the cache recordings exist only as streams: replayed here as the message they amount to
    message = as_message(fixture)
    assert message["usage"]["input_tokens"] == 4
    provider.script(Reply.json(message))
    async with sdk(dragoman) as client:
        completion = await client.chat.completions.create(model="gpt-4o", messages=user("Summarize."))
    usage = completion.usage
    assert usage.prompt_tokens == prompt == 1169
    assert usage.prompt_tokens_details.cached_tokens == cached
    assert usage.completion_tokens == message["usage"]["output_tokens"]
    assert usage.total_tokens == prompt + usage.completion_tokens
    assert completion.choices[0].message.content == message["content"][0]["text"]
    assert completion.choices[0].message.content.startswith("Here are concise summ")


# --- streaming with the SDK ---------------------------------------------------------------------

async def test_stream_text_with_usage(provider: MockProvider, dragoman: str) -> None:
    # anthropic-stream-text-haiku.json: "- Captain\n- Scoop" in 4 deltas, a ping, end_turn, usage 17/10
    recorded = recorded_stream("anthropic-stream-text-haiku.json")
    assert recorded["text"] == "- Captain\n- Scoop"
    provider.script(Reply.from_fixture("anthropic-stream-text-haiku.json"))
    async with sdk(dragoman) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", max_tokens=100000, temperature=1.5, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "Two names for a pet pelican, be brief"}])
        acc = await accumulate(stream)
    acc.check_shape(include_usage=True)
    assert acc.content == "- Captain\n- Scoop"
    assert acc.content_pieces == 4                    # one chunk per upstream delta
    assert acc.reasoning == "" and acc.calls == {}
    assert acc.finish_reason == "stop"
    usage = acc.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (17, 10, 27)
    assert usage.prompt_tokens_details.cached_tokens == 0

    sent = provider.requests[0]
    assert sent["stream"] is True
    assert "stream_options" not in sent
    assert sent["model"] == "claude-sonnet-4-5"
    assert sent["max_tokens"] == 8192                 # the client's 100000, capped by the route
    assert sent["temperature"] == 1.0                 # clamped to Anthropic's 0..1
    assert sent["system"] == [{"type": "text", "text": "Be brief."}]
    assert sent["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Two names for a pet pelican, be brief"}]}]
    assert_upstream_clean(provider)


async def test_stream_without_include_usage(provider: MockProvider, dragoman: str) -> None:
    provider.script(Reply.from_fixture("anthropic-stream-text-haiku.json"))
    async with sdk(dragoman) as client:
        stream = await client.chat.completions.create(model="gpt-4o", stream=True,
                                                      messages=user("Two names for a pet pelican"))
        acc = await accumulate(stream)
    acc.check_shape(include_usage=False)
    assert acc.content == "- Captain\n- Scoop"
    assert acc.finish_reason == "stop"


async def test_stream_text_and_streamed_tool_arguments(provider: MockProvider, dragoman: str) -> None:
    # anthropic-stream-parallel-tools-streamed-args.json: text, then get_weather and get_time with
    # their arguments in 9 and 6 fragments; tool_use; usage 506 (message_start) / 153 (message_delta)
    recorded = recorded_stream("anthropic-stream-parallel-tools-streamed-args.json")
    provider.script(Reply.from_fixture("anthropic-stream-parallel-tools-streamed-args.json"))
    async with sdk(dragoman) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", max_tokens=1024, tools=[WEATHER_TOOL, TIME_TOOL], stream=True,
            stream_options={"include_usage": True},
            messages=user("What is the weather and current time in San Francisco?"))
        acc = await accumulate(stream)
    acc.check_shape(include_usage=True)
    assert acc.content == recorded["text"]
    assert acc.content.startswith("Certainly! I can help you with that information.")
    assert acc.content.endswith("Let me fetch that data for you.")
    assert sorted(acc.calls) == [0, 1]
    got = [(acc.calls[i]["id"], acc.calls[i]["name"], json.loads(acc.calls[i]["arguments"])) for i in (0, 1)]
    assert got == [
        ("toolu_014x5X91kx3fvdhpLvwXZWE2", "get_weather", {"location": "San Francisco, CA", "unit": "celsius"}),
        ("toolu_0121kXsENLvoDZ72LCuAnCCz", "get_time", {"timezone": "America/Los_Angeles"}),
    ]
    assert got == [(t["id"], t["name"], t["input"]) for t in recorded["tools"]]
    # arguments arrive as they stream: one delta per non-empty upstream fragment, after the first
    for i, tool in enumerate(recorded["tools"]):
        fragments = [d.function.arguments for d in acc.calls[i]["deltas"][1:]]
        assert fragments == [f for f in tool["fragments"] if f]
        assert len(fragments) > 3
    # the calls come after the text, in order, and never interleave
    order = [(c.choices[0].delta.tool_calls or [None])[0] for c in acc.chunks if c.choices]
    indices = [call.index for call in order if call is not None]
    assert indices == sorted(indices)
    assert acc.finish_reason == "tool_calls"
    assert (acc.usage.prompt_tokens, acc.usage.completion_tokens) == (506, 153)
    sent = provider.requests[0]
    assert sent["tools"][0] == {"name": "get_weather", "description": "Get the current weather in a given location",
                                "input_schema": WEATHER_TOOL["function"]["parameters"]}


async def test_stream_parallel_tool_calls_without_arguments(provider: MockProvider, dragoman: str) -> None:
    # anthropic-stream-parallel-tool-use.json: two pelican_name_generator calls with empty input; 542/62
    provider.script(Reply.from_fixture("anthropic-stream-parallel-tool-use.json"))
    async with sdk(dragoman) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", tools=[PELICAN_TOOL], stream=True, stream_options={"include_usage": True},
            messages=user("Two names for a pet pelican"))
        acc = await accumulate(stream)
    acc.check_shape(include_usage=True)
    assert acc.content == ""
    assert [(acc.calls[i]["id"], acc.calls[i]["name"], acc.calls[i]["arguments"]) for i in sorted(acc.calls)] == [
        ("toolu_01LtHJmixrs9NcWQkK8hu8hj", "pelican_name_generator", "{}"),
        ("toolu_01N8a4jWyf116qKTMqKKmjyt", "pelican_name_generator", "{}"),
    ]
    assert acc.finish_reason == "tool_calls"
    assert (acc.usage.prompt_tokens, acc.usage.completion_tokens) == (542, 62)


async def test_stream_thinking_becomes_reasoning_content(provider: MockProvider, dragoman: str) -> None:
    # anthropic-stream-thinking-signature.json: thinking (with a signature), then the answer; end_turn
    recorded = recorded_stream("anthropic-stream-thinking-signature.json")
    provider.script(Reply.from_fixture("anthropic-stream-thinking-signature.json"))
    async with sdk(dragoman) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", max_tokens=4096, reasoning_effort="minimal", stream=True,
            stream_options={"include_usage": True}, messages=user("How do I cross the street?"))
        acc = await accumulate(stream)
    acc.check_shape(include_usage=True)
    assert acc.reasoning == recorded["thinking"]
    assert acc.reasoning == ("This is a straightforward question about pedestrian safety. I should provide clear, "
                             "helpful advice about how to safely cross a street. This is basic safety information "
                             "that could help prevent accidents.")
    assert acc.content == recorded["text"]
    assert acc.content.startswith("Here are the basic steps for safely crossing the street:\n\n**At")
    # all reasoning comes before any content, as the thinking block precedes the text block
    kinds = ["r" if getattr(c.choices[0].delta, "reasoning_content", None) else "c"
             for c in acc.chunks if c.choices and (c.choices[0].delta.content
                                                   or getattr(c.choices[0].delta, "reasoning_content", None))]
    assert kinds == sorted(kinds, reverse=True)
    assert "signature" not in json.dumps([c.model_dump() for c in acc.chunks])
    assert acc.finish_reason == "stop"
    usage = recorded["usage"]
    assert (acc.usage.prompt_tokens, acc.usage.completion_tokens) == (usage["input_tokens"], usage["output_tokens"])
    assert acc.usage.prompt_tokens == 43
    assert provider.requests[0]["thinking"] == {"type": "enabled", "budget_tokens": 1024}


@pytest.mark.parametrize(("fixture", "prompt", "cached"), [
    ("anthropic-stream-cache-read-system.json", 4 + 1165, 1165),            # input 4, cache read 1165
    ("anthropic-stream-prompt-cache-server-tool.json", 6 + 6289 + 3337, 6289),  # + 3337 written
])
async def test_stream_cached_usage(provider: MockProvider, dragoman: str, fixture: str, prompt: int,
                                   cached: int) -> None:
    recorded = recorded_stream(fixture)
    provider.script(Reply.from_fixture(fixture))
    async with sdk(dragoman) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", stream=True, stream_options={"include_usage": True}, messages=user("Summarize."))
        acc = await accumulate(stream)
    acc.check_shape(include_usage=True)
    assert acc.content == recorded["text"]
    assert acc.usage.prompt_tokens == prompt
    assert acc.usage.prompt_tokens_details.cached_tokens == cached
    assert acc.usage.completion_tokens == recorded["usage"]["output_tokens"]
    assert acc.usage.total_tokens == prompt + acc.usage.completion_tokens


FINISH = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "refusal": "content_filter",
          "max_tokens": "length"}
STREAMS = sorted(p.name for p in FIXTURES.glob("anthropic-stream-*.json"))


@pytest.mark.parametrize("fixture", STREAMS)
async def test_every_recorded_stream(provider: MockProvider, dragoman: str, fixture: str) -> None:
    """Each recorded Anthropic stream, through the SDK: what the recording says, in OpenAI's terms."""
    recorded = recorded_stream(fixture)
    provider.script(Reply.from_fixture(fixture))
    async with sdk(dragoman) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", stream=True, stream_options={"include_usage": True}, messages=user("hi"))
        acc = await accumulate(stream)
    acc.check_shape(include_usage=True)
    if "server-tool" in fixture:  # text after a server tool's blocks starts a new paragraph
        assert acc.content.replace("\n\n", "") == recorded["text"].replace("\n\n", "")
    else:
        assert acc.content == recorded["text"]
    assert acc.reasoning == recorded["thinking"]
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for _, c in sorted(acc.calls.items())] == [
        (t["id"], t["name"], t["input"]) for t in recorded["tools"]]
    assert acc.finish_reason == FINISH[recorded["stop_reason"]]
    usage = recorded["usage"]
    read, written = usage.get("cache_read_input_tokens") or 0, usage.get("cache_creation_input_tokens") or 0
    assert acc.usage.prompt_tokens == usage["input_tokens"] + read + written
    assert acc.usage.prompt_tokens_details.cached_tokens == read
    assert acc.usage.completion_tokens == usage["output_tokens"]


async def test_stream_helper_final_completion(provider: MockProvider, dragoman: str) -> None:
    # the SDK's own stream helper (chat.completions.stream) on anthropic-stream-parallel-tools-streamed-args.json
    provider.script(Reply.from_fixture("anthropic-stream-parallel-tools-streamed-args.json"))
    events: list[str] = []
    async with sdk(dragoman) as client:
        async with client.chat.completions.stream(
                model="gpt-4o", tools=[WEATHER_TOOL, TIME_TOOL], stream_options={"include_usage": True},
                messages=user("What is the weather and current time in San Francisco?")) as stream:
            async for event in stream:
                events.append(event.type)
            completion = await stream.get_final_completion()
    assert "content.delta" in events and "tool_calls.function.arguments.delta" in events
    assert events.count("tool_calls.function.arguments.done") == 2
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o"
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content.startswith("Certainly! I can help you with that information.")
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls] == [
        ("toolu_014x5X91kx3fvdhpLvwXZWE2", "get_weather", {"location": "San Francisco, CA", "unit": "celsius"}),
        ("toolu_0121kXsENLvoDZ72LCuAnCCz", "get_time", {"timezone": "America/Los_Angeles"}),
    ]
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (506, 153)


class Dog(pydantic.BaseModel):
    name: str
    age: int
    bio: str


async def test_stream_structured_output_parsed(provider: MockProvider, dragoman: str) -> None:
    # anthropic-stream-structured-output.json: a Dog as JSON text, asked for with output_config.format
    recorded = recorded_stream("anthropic-stream-structured-output.json")
    recorded_schema = load_fixture("anthropic-stream-structured-output.json")["request"]["output_config"]["format"]
    provider.script(Reply.from_fixture("anthropic-stream-structured-output.json"))
    async with sdk(dragoman) as client:
        async with client.chat.completions.stream(model="gpt-4o", response_format=Dog,
                                                  messages=user("Invent a good dog")) as stream:
            completion = await stream.get_final_completion()
    message = completion.choices[0].message
    assert message.content == recorded["text"]
    assert message.parsed == Dog.model_validate_json(recorded["text"])
    assert (message.parsed.name, message.parsed.age) == ("Biscuit", 4)
    sent = provider.requests[0]["output_config"]["format"]
    assert sent["type"] == recorded_schema["type"] == "json_schema"
    for key in ("type", "properties", "required", "additionalProperties"):   # what the recording sent
        assert sent["schema"][key] == recorded_schema["schema"][key]


# --- streaming, raw bytes ---------------------------------------------------------------------------

async def test_raw_stream_frames(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    # keepalives every 50 ms of silence; the recording arrives in two halves 300 ms apart
    url = await start_dragoman(server={"ping_interval": 0.05})
    reply = Reply.from_fixture("anthropic-stream-text-haiku.json")
    reply.chunk_size, reply.delay = len(reply.body) // 2 + 1, 0.3
    provider.script(reply)
    status, headers, raw = await raw_post(url, {
        "model": "gpt-4o", "stream": True, "stream_options": {"include_usage": True},
        "messages": user("Two names for a pet pelican, be brief")}, headers={"x-request-id": "chat-req-1"})
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["request-id"] == "chat-req-1"
    assert b"event:" not in raw and b"\nid:" not in raw
    assert b"ping" not in raw                          # Anthropic's ping is not forwarded
    frames = sse_frames(raw)
    keepalives = [f for f in frames if f.startswith(b":")]
    assert keepalives and set(keepalives) == {b": keepalive"}
    payloads = data_frames(raw)
    assert payloads[-1] == "[DONE]"
    assert raw.endswith(b"data: [DONE]\n\n")
    assert payloads.count("[DONE]") == 1
    chunks = payloads[:-1]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "- Captain\n- Scoop"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 17
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


# --- what the upstream received --------------------------------------------------------------------

async def test_tool_results_round_trip(provider: MockProvider, dragoman: str) -> None:
    # anthropic-tool-history.json answers a conversation with tool results: get_time toolu_01K5KhMEdg2McN7dAkB4Y4hi
    provider.script(Reply.from_fixture("anthropic-tool-history.json"))
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in one line."}]},
        {"role": "user", "content": "What is the weather and current time in San Francisco?"},
        {"role": "assistant", "content": "I'll help you get the weather and current time in San Francisco.",
         "tool_calls": [
             {"id": "call_1", "type": "function",
              "function": {"name": "get_weather", "arguments": '{"location": "San Francisco, CA"}'}},
             {"id": "call_2", "type": "function",
              "function": {"name": "get_time", "arguments": '{"timezone": "America/Los_Angeles"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny and 65 degrees Fahrenheit"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "10:42"}]},
        {"role": "user", "content": "And tomorrow?"},
    ]
    async with sdk(dragoman) as client:
        completion = await client.chat.completions.create(model="gpt-4o", max_tokens=1024,
                                                          tools=[WEATHER_TOOL, TIME_TOOL], messages=messages)
    message = completion.choices[0].message
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("toolu_01K5KhMEdg2McN7dAkB4Y4hi", "get_time", {"timezone": "America/Los_Angeles"})]
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (568, 58)

    sent = provider.requests[0]
    assert sent["system"] == [{"type": "text", "text": "You are a weather bot."},
                              {"type": "text", "text": "Answer in one line."}]
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is the weather and current time in San Francisco?"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "I'll help you get the weather and current time in San Francisco."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "San Francisco, CA"}},
            {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {"timezone": "America/Los_Angeles"}}]},
        {"role": "user", "content": [   # both results in one user turn, ahead of the user's text
            {"type": "tool_result", "tool_use_id": "call_1",
             "content": [{"type": "text", "text": "Sunny and 65 degrees Fahrenheit"}]},
            {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "10:42"}]},
            {"type": "text", "text": "And tomorrow?"}]},
    ]
    assert sent["max_tokens"] == 1024
    assert_upstream_clean(provider)


async def test_wildcard_route_and_default_max_tokens(provider: MockProvider, dragoman: str) -> None:
    # gpt-* -> claude-haiku-4-5, a route without a ceiling: max_tokens absent -> the default 16384
    provider.script(Reply.from_fixture("anthropic-image-url.json"), Reply.from_fixture("anthropic-image-url.json"))
    async with sdk(dragoman) as client:
        completion = await client.chat.completions.create(model="gpt-4.1-mini", messages=user("hi"))
        await client.chat.completions.create(model="gpt-4.1-mini", max_tokens=50000, stop="END", user="u-42",
                                             seed=7, messages=user("hi"))
    assert completion.model == "gpt-4.1-mini"
    first, second = provider.requests
    assert (first["model"], first["max_tokens"]) == ("claude-haiku-4-5", 16384)
    assert (second["max_tokens"], second["stop_sequences"], second["metadata"]) == (50000, ["END"], {"user_id": "u-42"})
    assert "seed" not in second


async def test_client_key_never_forwarded(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(auth={"api_keys": ["client-key-0001"]})
    provider.script(Reply.from_fixture("anthropic-image-url.json"))
    async with sdk(url, api_key="client-key-0001") as client:   # the SDK sends Authorization: Bearer
        completion = await client.chat.completions.create(model="gpt-4o", messages=user("hi"))
    assert completion.choices[0].message.content.startswith("This is a potato.")
    assert_upstream_clean(provider, client_key="client-key-0001")
    assert "client-key-0001" not in json.dumps(provider.headers[0])


# --- models ------------------------------------------------------------------------------------------

async def test_models_list_and_retrieve(provider: MockProvider, dragoman: str) -> None:
    # claude's models: [claude-opus-4-1] is not listed: no route serves that name to OpenAI
    # clients (claude-* is for Anthropic clients); tests/test_models.py has the listing rules
    async with sdk(dragoman) as client:
        page = await client.models.list()
        models = [(m.id, m.object, m.owned_by) for m in page.data]
        assert models == [("gpt-4o", "model", "claude")]
        model = await client.models.retrieve("gpt-4o")
        assert (model.id, model.object, model.owned_by) == ("gpt-4o", "model", "claude")
        routed = await client.models.retrieve("gpt-4.1-mini")        # not listed, but gpt-* serves it
        assert (routed.id, routed.owned_by) == ("gpt-4.1-mini", "claude")
        with pytest.raises(openai.NotFoundError) as caught:
            await client.models.retrieve("mistral-large")
    assert caught.value.status_code == 404
    assert caught.value.body["type"] == "not_found_error"
    assert "mistral-large" in caught.value.body["message"]
    assert provider.requests == []


async def test_models_list_anthropic_sdk(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    # the same path in Anthropic's shape, listing what Anthropic clients can ask for: the route
    # names without wildcards that a route serves to them (the default test config has none)
    url = await start_dragoman(routes=[
        {"match": "claude-sonnet-4-6", "provider": "mock", "model": "big-model", "client": "anthropic"},
        {"match": "gpt-4o", "provider": "claude", "model": "claude-sonnet-4-5", "client": "openai"},
    ])
    async with anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0) as client:
        page = await client.models.list()
        assert [(m.id, m.type, m.display_name) for m in page.data] == [
            ("claude-sonnet-4-6", "model", "claude-sonnet-4-6")]
        assert (page.first_id, page.last_id, page.has_more) == ("claude-sonnet-4-6", "claude-sonnet-4-6", False)
        model = await client.models.retrieve("claude-sonnet-4-6")
        assert (model.id, model.type) == ("claude-sonnet-4-6", "model")
        with pytest.raises(anthropic.NotFoundError) as caught:
            await client.models.retrieve("gpt-4o")            # served to OpenAI clients only
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "not_found_error"
    async with sdk(url) as openai_client:
        assert [m.id for m in (await openai_client.models.list()).data] == ["gpt-4o"]


# --- errors: bad input, auth, routing ----------------------------------------------------------------

GOOD = {"model": "gpt-4o", "messages": user("hi")}


@pytest.mark.parametrize(("data", "names", "param"), [
    (b'{"model": "gpt-4o", "messages": [', "JSON", None),
    (b"", "empty", None),
    (b"[1]", "JSON object", None),
    (json.dumps({"model": "gpt-4o"}).encode(), "messages", "messages"),
    (json.dumps({"model": "gpt-4o", "messages": []}).encode(), "messages", "messages"),
    (json.dumps({"messages": user("hi")}).encode(), "model", "model"),
    (json.dumps({**GOOD, "messages": [{"role": "robot", "content": "x"}]}).encode(), "messages.0.role", "messages.0.role"),
    (json.dumps({**GOOD, "max_tokens": 0}).encode(), "max_tokens", "max_tokens"),
    (json.dumps({**GOOD, "stream": "yes"}).encode(), "stream", "stream"),
])
async def test_bad_request_bodies(provider: MockProvider, dragoman: str, data: bytes, names: str,
                                  param: str | None) -> None:
    status, headers, raw = await raw_post(dragoman, data=data)
    error = openai_error(status, raw, headers, 400, "invalid_request_error")
    assert names in error["message"]
    assert error["param"] == param
    assert error["code"] == "invalid_request_error"
    assert provider.requests == []


@pytest.mark.parametrize(("options", "messages", "param", "says"), [
    ({"n": 2}, None, "n", "n > 1"),
    ({"logprobs": True}, None, "logprobs", "logprobs"),
    ({"top_logprobs": 3}, None, "top_logprobs", "logprobs"),
    ({"logit_bias": {"1234": 5}}, None, "logit_bias", "logit_bias"),
    ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, None, "audio", "audio"),
    ({"functions": [{"name": "f", "parameters": {}}]}, None, "functions", "functions"),
    ({"reasoning_effort": "extreme"}, None, "reasoning_effort", "reasoning_effort"),
    ({}, [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}],
     "messages.0.content.0", "audio input"),
    ({}, [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]}],
     "messages.0.content.0.image_url.url", "image/tiff"),
    ({}, [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}],
     "messages.0.content.0.file", "file ids"),
    ({}, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]},
          {"role": "tool", "tool_call_id": "call_1", "content": "x"}],
     "messages.1.tool_calls.0.function.arguments", "'call_1'"),
    ({}, [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_9", "content": "x"}],
     "messages.1.tool_call_id", "call_9"),
])
async def test_unsupported_options_are_400(provider: MockProvider, dragoman: str, options: dict[str, Any],
                                           messages: list[dict[str, Any]] | None, param: str, says: str) -> None:
    async with sdk(dragoman) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="gpt-4o", messages=messages or user("hi"), **options)
    error = caught.value
    assert error.status_code == 400
    assert error.body["type"] == "invalid_request_error"
    assert error.body["param"] == param
    assert error.param == param
    assert says in error.body["message"]
    assert provider.requests == []


async def test_empty_messages_via_sdk(provider: MockProvider, dragoman: str) -> None:
    async with sdk(dragoman) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="gpt-4o", messages=[])
    assert caught.value.status_code == 400
    assert caught.value.body == {"message": "messages: at least one message is required",
                                 "type": "invalid_request_error", "param": "messages", "code": "invalid_request_error"}


async def test_unknown_model(provider: MockProvider, dragoman: str) -> None:
    async with sdk(dragoman) as client:
        for stream in (False, True):
            with pytest.raises(openai.NotFoundError) as caught:
                await client.chat.completions.create(model="mistral-large", messages=user("hi"), stream=stream)
            assert caught.value.status_code == 404
            assert caught.value.body["type"] == "not_found_error"
            assert "mistral-large" in caught.value.body["message"]
        # the oa-* route is for Anthropic clients only
        with pytest.raises(openai.NotFoundError) as other_dialect:
            await client.chat.completions.create(model="oa-gpt-4o", messages=user("hi"))
    assert other_dialect.value.body["param"] == "model"
    assert "OpenAI Chat Completions API" in other_dialect.value.body["message"]
    assert provider.requests == []


async def test_auth(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(auth={"api_keys": ["k1"]})
    async with sdk(url, api_key="k2") as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="gpt-4o", messages=user("hi"))
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
    assert caught.value.status_code == 401
    assert caught.value.body["type"] == "authentication_error"
    assert "Invalid API key" in caught.value.body["message"]
    status, headers, raw = await raw_post(url, GOOD)
    assert "Missing API key" in openai_error(status, raw, headers, 401, "authentication_error")["message"]
    assert provider.requests == []
    provider.script(Reply.from_fixture("anthropic-image-url.json"))
    async with sdk(url, api_key="k1") as client:
        completion = await client.chat.completions.create(model="gpt-4o", messages=user("hi"))
    assert completion.choices[0].finish_reason == "stop"
    assert_upstream_clean(provider, client_key="k1")


# --- errors: upstream HTTP errors ------------------------------------------------------------------

def anthropic_error_reply(status: int, error_type: str, message: str, **headers: str) -> Reply:
    """Anthropic's error body, as its API sends it (hand-made: no recording of these statuses)."""
    reply = Reply.json({"type": "error", "error": {"type": error_type, "message": message},
                        "request_id": "req_011CXhandmade"}, status=status)
    reply.headers = dict(headers)
    return reply


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("reply", "sdk_error", "status", "error_type", "says", "retry_after"), [
    (lambda: anthropic_error_reply(529, "overloaded_error", "Overloaded", **{"retry-after": "5"}),
     openai.InternalServerError, 503, "server_error", "Overloaded", "5"),
    (lambda: anthropic_error_reply(429, "rate_limit_error", "Number of request tokens has exceeded your "
                                   "per-minute rate limit", **{"retry-after": "23"}),
     openai.RateLimitError, 429, "rate_limit_exceeded", "per-minute rate limit", "23"),
    (lambda: anthropic_error_reply(400, "invalid_request_error", "max_tokens: 100000 > 64000, which is the "
                                   "maximum allowed number of output tokens for claude-sonnet-4-5"),
     openai.BadRequestError, 400, "invalid_request_error", "max_tokens: 100000 > 64000", None),
    (lambda: anthropic_error_reply(401, "authentication_error", "invalid x-api-key"),
     openai.AuthenticationError, 401, "authentication_error", "invalid x-api-key", None),
    (lambda: anthropic_error_reply(500, "api_error", "Internal server error"),
     openai.InternalServerError, 502, "server_error", "Internal server error", None),
    # anthropic-count-tokens-404.json: a recorded not_found_error for an unknown upstream model
    (lambda: Reply.from_fixture("anthropic-count-tokens-404.json"),
     openai.NotFoundError, 404, "not_found_error", "model: claude-does-not-exist", None),
])
async def test_upstream_errors(provider: MockProvider, dragoman: str, reply: Any, sdk_error: type[openai.APIStatusError],
                               status: int, error_type: str, says: str, retry_after: str | None, stream: bool) -> None:
    provider.script(reply())
    async with sdk(dragoman) as client:
        with pytest.raises(sdk_error) as caught:
            result = await client.chat.completions.create(model="gpt-4o", messages=user("hi"), stream=stream)
            if stream:
                await accumulate(result)
    error = caught.value
    assert error.status_code == status
    assert set(error.body) == {"message", "type", "param", "code"}
    assert error.body["type"] == error_type
    assert says in error.body["message"]
    assert "'claude'" in error.body["message"]            # names the provider that failed
    assert error.response.headers.get("retry-after") == retry_after
    assert_no_secret(error.response.content)
    # and it keeps serving
    provider.script(Reply.from_fixture("anthropic-image-url.json"))
    async with sdk(dragoman) as client:
        ok = await client.chat.completions.create(model="gpt-4o", messages=user("hi"))
    assert ok.choices[0].finish_reason == "stop"


async def test_upstream_key_echoed_is_redacted(provider: MockProvider, dragoman: str) -> None:
    provider.script(anthropic_error_reply(401, "authentication_error", f"invalid x-api-key {UPSTREAM_KEY}"))
    status, headers, raw = await raw_post(dragoman, GOOD)
    error = openai_error(status, raw, headers, 401, "authentication_error")
    assert "invalid x-api-key" in error["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_connection_refused(provider: MockProvider, start_dragoman, stream: bool) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(providers=claude_provider(f"http://127.0.0.1:{closed_port()}"))
    async with sdk(url) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model="gpt-4o", messages=user("hi"), stream=stream)
    assert caught.value.status_code == 502
    assert caught.value.body["type"] == "server_error"
    assert "Cannot connect to upstream provider 'claude'" in caught.value.body["message"]


async def test_upstream_answer_not_a_message(provider: MockProvider, dragoman: str) -> None:
    # a login page; an Anthropic error body sent with a 200 (some compatible endpoints do); an
    # OpenAI-shaped answer (a base_url pointing at the wrong API). None may pass as an empty "stop".
    provider.script(Reply(body=b"<html>a login page</html>", content_type="text/html"),
                    Reply.json({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                    Reply.from_fixture("openai-cached-tokens.json"),
                    Reply.json(["not", "a", "message"]))
    for _ in range(4):
        status, headers, raw = await raw_post(dragoman, GOOD)
        assert "'claude'" in openai_error(status, raw, headers, 502, "server_error")["message"]


# --- errors: mid-stream ---------------------------------------------------------------------------

async def test_mid_stream_error_event(provider: MockProvider, dragoman: str) -> None:
    # hand-made: Anthropic sends `event: error` mid-stream when it overloads after the answer began
    body = anthropic_sse(MESSAGE_START, TEXT_START, TEXT_DELTA, OVERLOADED)
    provider.script(Reply(body=body, content_type="text/event-stream", chunk_size=61),
                    Reply(body=body, content_type="text/event-stream", chunk_size=61))
    texts: list[str] = []
    async with sdk(dragoman) as client:
        stream = await client.chat.completions.create(model="gpt-4o", stream=True, messages=user("hi"),
                                                      stream_options={"include_usage": True})
        with pytest.raises(openai.APIError) as caught:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    texts.append(chunk.choices[0].delta.content)
                assert not chunk.choices or chunk.choices[0].finish_reason is None
    assert texts == ["The answer is"]                 # the text came first
    assert not isinstance(caught.value, openai.APIStatusError)
    assert caught.value.message == "Overloaded"
    assert caught.value.body == {"message": "Overloaded", "type": "server_error", "param": None,
                                 "code": "overloaded_error"}

    status, _, raw = await raw_post(dragoman, {**GOOD, "stream": True})
    assert status == 200
    payloads = data_frames(raw)
    assert "[DONE]" not in payloads and b"[DONE]" not in raw
    assert payloads[-1] == {"error": {"message": "Overloaded", "type": "server_error", "param": None,
                                      "code": "overloaded_error"}}
    assert all("finish_reason" not in json.dumps(p) or p["choices"][0]["finish_reason"] is None
               for p in payloads[:-1])


async def test_upstream_cut_mid_stream(provider: MockProvider, dragoman: str) -> None:
    # the first 1500 bytes of a real recording, then the connection drops
    reply = Reply.from_fixture("anthropic-stream-parallel-tools-streamed-args.json")
    reply.body, reply.cut = reply.body[:1500], True
    provider.script(reply)
    status, _, raw = await raw_post(dragoman, {**GOOD, "stream": True})
    assert status == 200
    payloads = data_frames(raw)
    assert b"[DONE]" not in raw
    assert "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads[:-1]).startswith("Certainly!")
    error = payloads[-1]["error"]
    assert error["type"] == "server_error" and error["code"] == "api_error"
    assert "upstream" in error["message"]

    reply = Reply.from_fixture("anthropic-stream-parallel-tools-streamed-args.json")
    reply.body, reply.cut = reply.body[:1500], True
    provider.script(reply)
    async with sdk(dragoman) as client:
        stream = await client.chat.completions.create(model="gpt-4o", stream=True, messages=user("hi"))
        with pytest.raises(openai.APIError):
            await accumulate(stream)


async def test_upstream_silent_mid_stream(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    # the first 1500 bytes of a real recording, then silence: the read timeout ends the stream visibly
    url = await start_dragoman(providers=claude_provider(provider.root, read=0.5))
    reply = Reply.from_fixture("anthropic-stream-parallel-tools-streamed-args.json")
    reply.body, reply.hang = reply.body[:1500], -1
    provider.script(reply)
    started = asyncio.get_running_loop().time()
    status, _, raw = await raw_post(url, {**GOOD, "stream": True})
    assert asyncio.get_running_loop().time() - started < 5
    assert status == 200
    payloads = data_frames(raw)
    assert b"[DONE]" not in raw
    assert payloads[-1]["error"]["type"] == "timeout" and payloads[-1]["error"]["code"] == "timeout_error"


async def test_upstream_silent_non_streaming(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(providers=claude_provider(provider.root, read=0.5))
    reply = Reply.from_fixture("anthropic-parallel-tools-nonstream.json")
    reply.chunk_size, reply.hang = len(reply.body) // 2, 3        # half a body, then silence
    provider.script(reply)
    async with sdk(url) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model="gpt-4o", messages=user("hi"))
    assert caught.value.status_code == 504
    assert caught.value.body["type"] == "timeout"
    assert "'claude'" in caught.value.body["message"]


# --- client disconnect ---------------------------------------------------------------------------------

def slow_reply() -> Reply:
    # anthropic-stream-thinking-signature.json: ~100 pieces of 97 bytes, 50 ms apart (~5 s in all)
    return Reply.slow("anthropic-stream-thinking-signature.json")


def hanging_reply() -> Reply:
    return Reply.hanging("anthropic-stream-thinking-signature.json", 1500)


@pytest.mark.parametrize("reply", [slow_reply, hanging_reply], ids=["slow", "hang"])
async def test_disconnect_cancels_upstream(provider: MockProvider, dragoman: str, reply: Any) -> None:
    provider.script(reply())
    async with aiohttp.ClientSession() as session:
        received = await leave_mid_stream(session, dragoman + "/v1/chat/completions",
                                          {**GOOD, "stream": True, "reasoning_effort": "low"}, b"reasoning_content")
    assert received.startswith(b"data: {")
    await asyncio.wait_for(provider.cancelled.wait(), 1.0)
    assert len(provider.requests) == 1


async def test_disconnect_non_streaming_cancels_upstream(provider: MockProvider, dragoman: str) -> None:
    reply = Reply.from_fixture("anthropic-parallel-tools-nonstream.json")
    reply.chunk_size, reply.delay = 16, 0.05   # ~800 bytes of JSON dribbled out over ~2.5 s
    provider.script(reply)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):   # the client gives up while the body is still coming
                await session.post(dragoman + "/v1/chat/completions", json=GOOD)
    await asyncio.wait_for(provider.cancelled.wait(), 1.0)


async def test_anthropic_upstream_answering_a_stream_request_with_json_is_replayed_as_a_stream(
        provider: MockProvider, dragoman: str) -> None:
    """Some Anthropic-compatible servers ignore "stream" and send the whole message: the OpenAI
    client still gets the stream it asked for, with the recorded content and usage."""
    provider.script(Reply.from_fixture("anthropic-tool-use-with-thinking.json"))
    recorded = recorded_message("anthropic-tool-use-with-thinking.json")
    async with sdk(dragoman) as client:
        stream = await client.chat.completions.create(model="gpt-4o", messages=user("Weather?"), stream=True,
                                                      stream_options={"include_usage": True}, tools=[WEATHER_TOOL])
        chunks = [chunk async for chunk in stream]
    [tool] = [b for b in recorded["content"] if b["type"] == "tool_use"]
    calls = [c for chunk in chunks for choice in chunk.choices for c in choice.delta.tool_calls or []]
    assert calls[0].function is not None and calls[0].function.name == tool["name"]
    assert json.loads("".join(c.function.arguments or "" for c in calls if c.function)) == tool["input"]
    finishes = [choice.finish_reason for chunk in chunks for choice in chunk.choices if choice.finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == recorded["usage"]["output_tokens"]
