"""No single request may make dragoman do unbounded work: a body of a million tiny values, a
schema whose $refs fan out, an upstream answer or event too big or too dense.

Each limit answers with a clear error naming it, and the hostile input is refused before the
expensive step (asserted by making that step impossible, not by timing it: timings live in bench/).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import proxy.validation
from tests.conftest import MockProvider, Reply
from tests.test_errors import GOOD, GOOD_STREAM, post

EMPTY_BLOCK = b'{"type":"text","text":""},'


def empty_blocks_body(count: int, dialect: str) -> bytes:
    blocks = EMPTY_BLOCK * (count - 1) + EMPTY_BLOCK[:-1]
    if dialect == "anthropic":
        return b'{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":[' + blocks + b"]}]}"
    return b'{"model":"gpt-4o","messages":[{"role":"user","content":[' + blocks + b"]}]}"


@pytest.mark.parametrize(("path", "dialect"), [("/v1/messages", "anthropic"), ("/v1/chat/completions", "openai")])
async def test_body_of_empty_blocks_is_refused_before_it_is_parsed(provider: MockProvider, start_dragoman,  # type: ignore[no-untyped-def]
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   path: str, dialect: str) -> None:
    """The attack: a body of empty content blocks, cheap to send, a second and a gigabyte to parse
    at 30 MB. Refused from its bytes alone: the parser is never called."""
    url = await start_dragoman(server={"max_json_elements": 20_000})

    def no_parse(raw: bytes) -> Any:
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(proxy.validation.orjson, "loads", no_parse)
    status, headers, raw = await post(url, data=empty_blocks_body(25_000, dialect), path=path)
    assert status == 400 and headers["x-should-retry"] == "false"
    assert json.loads(raw)["error"]["message"] == ("Request body has more than 20000 JSON values "
                                                   "(dragoman's server.max_json_elements).")
    assert provider.requests == []


async def test_body_within_the_value_limit_is_served(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    """The bound is counted (the body is over twice the limit in bytes) and prose's commas count,
    but a body under the limit is served as usual."""
    url = await start_dragoman(server={"max_json_elements": 20_000})
    provider.script(Reply.json({"id": "c", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}]}))
    prose = "word, " * 15_000   # 90 kB, 15,000 commas
    status, _, raw = await post(url, {**GOOD, "messages": [{"role": "user", "content": prose}]})
    assert status == 200, raw[:200]


async def test_gemini_ref_fan_out_is_a_400_naming_the_tool(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    """A 2 KB schema whose definitions each reference the previous one ten times expands ten-fold
    per level for Gemini's schema cleaner; past its node budget it is refused, naming the tool."""
    defs: dict[str, Any] = {"d0": {"type": "string"}}
    for level in range(1, 8):
        defs[f"d{level}"] = {"type": "object", "properties": {
            f"p{i}": {"$ref": f"#/$defs/d{level - 1}"} for i in range(10)}}
    tool = {"name": "fan_out", "input_schema": {"type": "object", "$defs": defs,
                                                "properties": {"root": {"$ref": "#/$defs/d7"}}}}
    providers = [{"name": "gem", "protocol": "openai", "flavor": "gemini", "base_url": provider.url, "api_key": "k"}]
    url = await start_dragoman(providers=providers, routes=[{"match": "*", "provider": "gem"}])
    status, _, raw = await post(url, {**GOOD, "tools": [tool]})
    assert status == 400
    message = json.loads(raw)["error"]["message"]
    assert message.startswith("tools.0.input_schema") and "'fan_out'" in message and "10,000" in message
    assert provider.requests == []


async def test_upstream_answer_with_too_many_values_is_a_502(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(server={"max_json_elements": 1_000})
    provider.script(Reply(body=b'{"choices": [' + b"{}," * 5_000 + b"{}]}"))
    status, _, raw = await post(url, GOOD)
    assert status == 502
    assert json.loads(raw)["error"]["message"] == "Upstream provider 'mock' sent an answer with more than 1000 JSON values."


async def test_upstream_answer_larger_than_max_response_bytes_is_a_502(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(server={"max_response_bytes": 10_000})
    provider.script(Reply(body=b'{"pad": "' + b"x" * 20_000 + b'"}', chunk_size=4096))
    status, _, raw = await post(url, GOOD)
    assert status == 502
    assert json.loads(raw)["error"]["message"] == ("Upstream provider 'mock' sent an answer larger than 10000 bytes "
                                                   "(server.max_response_bytes).")


async def test_upstream_event_over_the_cap_ends_the_stream_with_an_error(provider: MockProvider,  # type: ignore[no-untyped-def]
                                                                        start_dragoman) -> None:
    """An event that never ends (data lines without the blank line) is cut at max_event_bytes,
    whatever the size of each line."""
    url = await start_dragoman(server={"max_event_bytes": 50_000})
    provider.script(Reply(body=b"data: " + b"x" * 1000 + b"\n" + (b"data: " + b"y" * 1000 + b"\n") * 200,
                          content_type="text/event-stream", chunk_size=700))
    status, _, raw = await post(url, GOOD_STREAM)
    assert status == 200
    assert raw.startswith(b"event: message_start")
    assert raw.endswith(b"\n\n") and b"event: error" in raw
    error = json.loads(raw.rsplit(b"data: ", 1)[1])
    assert error["error"]["message"] == ("The upstream provider sent a malformed stream "
                                         "(SSE event larger than 50000 bytes).")
