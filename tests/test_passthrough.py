"""Same-dialect pass-through: Anthropic clients on an Anthropic provider, OpenAI clients on an
OpenAI provider.

The client must receive exactly the upstream's bytes (read raw, never through an SDK's parser),
the upstream must receive the client's request with only the model, the key and the route's
limits changed, and the access log must still have the usage.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy
from structlog.testing import capture_logs

from converters.token_count import count_tokens
from proxy.app import create_app
from proxy.config import parse_config
from proxy.passthrough import anthropic_headers, anthropic_request
from proxy.routing import resolve
from proxy.runtime import STATE
from streaming.passthrough import PassthroughCheck
from tests.conftest import MockProvider, Reply, leave_mid_stream, load_fixture, make_config

OPENAI_KEY = "sk-upstream-secret-0123456789"
ANTHROPIC_KEY = "sk-ant-upstream-secret-0123456789"
PROVIDER_BETA = "fine-grained-tool-streaming-2025-05-14"
# a thinking block Anthropic really signed (anthropic-tool-use-with-thinking.json)
SIGNED_THINKING = json.loads(load_fixture("anthropic-tool-use-with-thinking.json")["response"]["body"])["content"][0]
SYNTHETIC_THINKING = {"type": "thinking", "thinking": "made from reasoning_content", "signature": "dragoman:v1"}
HISTORY = [
    {"role": "user", "content": "What is the largest city in the user country?"},
    {"role": "assistant", "content": [SIGNED_THINKING, {"type": "text", "text": "Let me check."},
                                      {"type": "tool_use", "id": "toolu_01", "name": "get_user_country", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "France"}]},
    # an earlier turn served through a translating route: its thinking carries dragoman's signature
    {"role": "assistant", "content": [SYNTHETIC_THINKING, {"type": "text", "text": "Paris."}]},
    {"role": "assistant", "content": [SYNTHETIC_THINKING]},
    {"role": "user", "content": "And the second largest?"},
]


def routes() -> list[dict[str, Any]]:
    return [
        # claude-* from either dialect: Anthropic clients passed through, OpenAI clients translated
        {"match": "claude-*", "provider": "claude", "model": "claude-sonnet-4-0", "max_tokens": 8192},
        {"match": "as-is-*", "provider": "claude"},
        # everything else to the OpenAI-compatible mock: OpenAI clients passed through
        {"match": "*", "provider": "mock", "model": "gpt-4o-mini"},
    ]


@pytest.fixture
def start(aiohttp_server: Callable[..., Awaitable[TestServer]], provider: MockProvider):
    """dragoman with pass-through routes in front of the mock provider; returns the TestServer."""

    async def start(claude_url: str | None = None, openai_url: str | None = None) -> TestServer:
        providers = [
            {"name": "mock", "protocol": "openai", "base_url": openai_url or provider.url, "api_key": OPENAI_KEY,
             "timeout": {"connect": 5, "read": 30}},
            {"name": "claude", "protocol": "anthropic", "base_url": claude_url or provider.root,
             "api_key": ANTHROPIC_KEY, "timeout": {"connect": 5, "read": 30},
             "anthropic_version": "2023-01-01", "anthropic_beta": [PROVIDER_BETA]},
        ]
        return await aiohttp_server(create_app(make_config(provider.url, provider.root, providers=providers,
                                                           routes=routes())))

    return start


async def base_url(start: Callable[..., Awaitable[TestServer]], **kwargs: str) -> str:
    return str((await start(**kwargs)).make_url("")).rstrip("/")


async def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """POST and read the answer as raw bytes."""
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=json.dumps(body).encode(),
                                headers={"Content-Type": "application/json", **(headers or {})}) as resp:
            return resp.status, dict(resp.headers), await resp.read()


async def access_line(logs: list[dict[str, Any]]) -> dict[str, Any]:
    """The request's access-log line (written just after the last byte went out)."""
    async with asyncio.timeout(2):
        while not (lines := [entry for entry in logs if entry["event"] == "request"]):
            await asyncio.sleep(0.01)
    [line] = lines
    return line


def fixture_body(name: str) -> bytes:
    return load_fixture(name)["response"]["body"].encode()


CLIENT_HEADERS = {"x-api-key": "client-key-must-stay-here", "anthropic-version": "2023-06-01",
                  "anthropic-beta": f"interleaved-thinking-2025-05-14, {PROVIDER_BETA}",
                  "x-custom-header": "not-for-the-upstream"}


def assert_anthropic_upstream_headers(headers: dict[str, str]) -> None:
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["x-api-key"] == ANTHROPIC_KEY
    assert "authorization" not in headers and "x-custom-header" not in headers
    assert headers["anthropic-version"] == "2023-06-01"   # the client's wins over the provider's
    assert headers["anthropic-beta"] == f"{PROVIDER_BETA},interleaved-thinking-2025-05-14"


# --- byte identity -------------------------------------------------------------------------------

async def test_anthropic_stream_is_relayed_byte_for_byte(provider: MockProvider, start) -> None:  # type: ignore[no-untyped-def]
    url = await base_url(start)
    reply = Reply.from_fixture("anthropic-stream-thinking-signature.json", chunk_size=61)
    provider.script(reply)
    body = {"model": "claude-sonnet-4-5", "max_tokens": 20000, "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 10000}, "messages": HISTORY,
            "metadata": {"user_id": "u-1"}, "a_field_from_the_future": {"kept": True}}
    with capture_logs() as logs:
        status, headers, raw = await post(url + "/v1/messages", body, CLIENT_HEADERS)
        line = await access_line(logs)
    assert status == 200
    assert raw == fixture_body("anthropic-stream-thinking-signature.json")
    assert headers["Content-Type"] == "text/event-stream; charset=utf-8"

    sent = provider.requests[0]
    assert provider.paths[0] == "/v1/messages"
    assert sent == {
        **body, "model": "claude-sonnet-4-0", "max_tokens": 8192,    # the route's model and ceiling
        "thinking": {"type": "enabled", "budget_tokens": 8191},      # kept under the new max_tokens
        "messages": [*HISTORY[:3], {"role": "assistant", "content": [{"type": "text", "text": "Paris."}]},
                     HISTORY[5]],                                    # synthetic thinking gone, the real kept
    }
    assert_anthropic_upstream_headers(provider.headers[0])
    assert {k: line[k] for k in ("status", "provider", "upstream_model", "stream", "input_tokens",
                                 "output_tokens", "error")} == {
        "status": 200, "provider": "claude", "upstream_model": "claude-sonnet-4-0", "stream": True,
        "input_tokens": 43, "output_tokens": 282, "error": None}


async def test_anthropic_message_is_relayed_byte_for_byte(provider: MockProvider, start) -> None:  # type: ignore[no-untyped-def]
    url = await base_url(start)
    provider.script(Reply.from_fixture("anthropic-tool-use-with-thinking.json"))
    body = {"model": "as-is-model", "max_tokens": 4096, "messages": HISTORY[:1]}
    with capture_logs() as logs:
        status, headers, raw = await post(url + "/v1/messages", body, CLIENT_HEADERS)
        line = await access_line(logs)
    assert status == 200 and headers["Content-Type"] == "application/json"
    # the upstream's own model name comes back: no response_model rewrite on pass-through
    assert raw == fixture_body("anthropic-tool-use-with-thinking.json")
    assert provider.requests[0] == body
    assert (line["input_tokens"], line["output_tokens"], line["stream"]) == (398, 155, False)


async def test_openai_stream_is_relayed_byte_for_byte(provider: MockProvider, start) -> None:  # type: ignore[no-untyped-def]
    url = await base_url(start)
    provider.script(Reply.from_fixture("openai-stream-tool-call.json", chunk_size=53))
    request = load_fixture("openai-stream-tool-call.json")["request"]
    with capture_logs() as logs:
        status, headers, raw = await post(url + "/v1/chat/completions", {**request, "model": "my-app-model"},
                                          {"Authorization": "Bearer client-key", "anthropic-beta": "x",
                                           "OpenAI-Beta": "responses=v1", "session_id": "s-1", "originator": "codex_exec",
                                           "x-openai-internal-codex-responses-lite": "true", "x-codex-window-id": "w:0",
                                           "OpenAI-Organization": "org-someone-else", "OpenAI-Project": "proj_x",
                                           "x-stainless-os": "Linux", "Cookie": "a=b"})
        line = await access_line(logs)
    assert status == 200 and headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert raw == fixture_body("openai-stream-tool-call.json")
    assert provider.paths[0] == "/v1/chat/completions"
    assert provider.requests[0] == {**request, "model": "gpt-4o-mini"}
    sent_headers = {k.lower(): v for k, v in provider.headers[0].items()}
    assert sent_headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert "anthropic-beta" not in sent_headers and "x-api-key" not in sent_headers
    # the client's OpenAI protocol headers go on, as they would to OpenAI; never whose account is billed
    assert {k: sent_headers.get(k) for k in ("openai-beta", "session_id", "originator", "x-codex-window-id",
                                             "x-openai-internal-codex-responses-lite")} == {
        "openai-beta": "responses=v1", "session_id": "s-1", "originator": "codex_exec", "x-codex-window-id": "w:0",
        "x-openai-internal-codex-responses-lite": "true"}
    assert not {"openai-organization", "openai-project", "x-stainless-os", "cookie"} & set(sent_headers)
    assert (line["model"], line["upstream_model"], line["input_tokens"], line["output_tokens"]) == (
        "my-app-model", "gpt-4o-mini", 53, 15)


async def test_openai_completion_is_relayed_byte_for_byte(provider: MockProvider, start) -> None:  # type: ignore[no-untyped-def]
    url = await base_url(start)
    provider.script(Reply.from_fixture("openai-cached-tokens.json"))
    with capture_logs() as logs:
        status, _, raw = await post(url + "/v1/chat/completions",
                                    {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        line = await access_line(logs)
    assert status == 200 and raw == fixture_body("openai-cached-tokens.json")
    assert (line["input_tokens"], line["output_tokens"]) == (4020, 4)


@pytest.mark.parametrize(("path", "model", "reply"), [
    ("/v1/messages", "claude-x", lambda: Reply.json({
        "type": "error", "error": {"type": "rate_limit_error", "message": "Number of request tokens has "
                                   "exceeded your per-minute rate limit"}, "request_id": "req_011CXhandmade"}, 429)),
    ("/v1/chat/completions", "m", lambda: Reply.from_fixture("openrouter-error-429.json")),
])
async def test_upstream_error_is_relayed_as_it_is(provider: MockProvider, start, path: str, model: str,  # type: ignore[no-untyped-def]
                                                  reply: Callable[[], Reply]) -> None:
    url = await base_url(start)
    error = reply()
    error.headers = {"Retry-After": "23", "x-upstream-only": "1"}
    provider.script(error)
    with capture_logs() as logs:
        status, headers, raw = await post(url + path, {"model": model, "max_tokens": 10,
                                                       "messages": [{"role": "user", "content": "hi"}]})
        line = await access_line(logs)
    assert status == 429 and raw == error.body
    assert headers["Retry-After"] == "23" and "x-upstream-only" not in headers
    assert (line["status"], line["error"]) == (429, "rate_limit_error")


@pytest.mark.parametrize(("path", "model"), [("/v1/messages", "claude-x"), ("/v1/chat/completions", "m")])
async def test_connection_refused_is_an_error_in_the_clients_dialect(provider: MockProvider, start, path: str,  # type: ignore[no-untyped-def]
                                                                     model: str) -> None:
    url = await base_url(start, claude_url="http://127.0.0.1:9", openai_url="http://127.0.0.1:9/v1")
    status, _, raw = await post(url + path, {"model": model, "max_tokens": 10, "stream": True,
                                             "messages": [{"role": "user", "content": "hi"}]})
    payload = json.loads(raw)
    assert status == 502
    if path == "/v1/messages":
        assert (payload["type"], payload["error"]["type"]) == ("error", "api_error")
    else:
        assert (payload["error"]["type"], payload["error"]["code"]) == ("server_error", "api_error")
    assert "Cannot connect to upstream provider" in raw.decode() and "connection refused" in raw.decode()


# --- the official SDK ----------------------------------------------------------------------------

async def test_anthropic_sdk_stream_through_passthrough(provider: MockProvider, start) -> None:  # type: ignore[no-untyped-def]
    url = await base_url(start)
    provider.script(Reply.from_fixture("anthropic-stream-thinking-signature.json"),
                    Reply.from_fixture("anthropic-tool-use-with-thinking.json"))
    async with anthropic.AsyncAnthropic(base_url=url, api_key="client-key", max_retries=0) as client:
        async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=4096,
                                          thinking={"type": "enabled", "budget_tokens": 1024},
                                          messages=[{"role": "user", "content": "How do I cross the street?"}]) as stream:
            message = await stream.get_final_message()
        created = await client.messages.create(model="claude-sonnet-4-6", max_tokens=4096,
                                               messages=[{"role": "user", "content": "Where am I?"}])
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].signature.startswith("EvMCCkYI") and message.content[1].text.endswith("streets.")
    assert (message.model, message.stop_reason, message.usage.output_tokens) == ("claude-sonnet-4-20250514", "end_turn", 282)
    assert [block.type for block in created.content] == ["thinking", "text", "tool_use"]
    assert provider.headers[0]["x-api-key"] == ANTHROPIC_KEY


# --- count_tokens --------------------------------------------------------------------------------

COUNT_BODY = {"model": "claude-sonnet-4-5", "messages": HISTORY,
              "tools": [{"name": "get_user_country", "input_schema": {"type": "object", "properties": {}}}]}


async def test_count_tokens_is_asked_of_an_anthropic_provider(provider: MockProvider, start) -> None:  # type: ignore[no-untyped-def]
    url = await base_url(start)
    answer = Reply(body=b'{"input_tokens":1234}')
    provider.script(answer, Reply(body=b'{"input_tokens":99}'))
    status, _, raw = await post(url + "/v1/messages/count_tokens?beta=true", COUNT_BODY, CLIENT_HEADERS)
    assert status == 200 and raw == answer.body
    assert provider.paths == ["/v1/messages/count_tokens"]
    assert provider.requests[0] == {**COUNT_BODY, "model": "claude-sonnet-4-0", "messages": [
        *HISTORY[:3], {"role": "assistant", "content": [{"type": "text", "text": "Paris."}]}, HISTORY[5]]}
    assert_anthropic_upstream_headers(provider.headers[0])
    async with anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0) as client:
        counted = await client.messages.count_tokens(model="claude-sonnet-4-6", messages=HISTORY[:1])
    assert counted.input_tokens == 99


@pytest.mark.parametrize("reply", [
    lambda: Reply.from_fixture("anthropic-count-tokens-404.json"),   # a real 404 from count_tokens
    lambda: Reply(status=405, body=b"Method Not Allowed", content_type="text/plain"),
])
async def test_count_tokens_falls_back_to_the_local_count(provider: MockProvider, start,  # type: ignore[no-untyped-def]
                                                          reply: Callable[[], Reply]) -> None:
    url = await base_url(start)
    provider.script(reply())
    status, _, raw = await post(url + "/v1/messages/count_tokens", COUNT_BODY)
    assert status == 200
    assert json.loads(raw) == {"input_tokens": count_tokens(COUNT_BODY)}
    assert provider.paths == ["/v1/messages/count_tokens"]


async def test_count_tokens_for_an_openai_provider_stays_local(provider: MockProvider, start) -> None:  # type: ignore[no-untyped-def]
    url = await base_url(start)
    status, _, raw = await post(url + "/v1/messages/count_tokens", {**COUNT_BODY, "model": "gpt-4o"})
    assert status == 200 and json.loads(raw)["input_tokens"] > 0
    assert provider.requests == []


# --- failures mid-stream, disconnects ------------------------------------------------------------

def anthropic_prefix(events: int) -> bytes:
    """The first ``events`` whole events of the recorded stream."""
    body = fixture_body("anthropic-stream-thinking-signature.json")
    return b"".join(part + b"\n\n" for part in body.split(b"\n\n")[:events])


async def test_upstream_cut_between_events_ends_with_an_error_event(provider: MockProvider, start) -> None:  # type: ignore[no-untyped-def]
    url = await base_url(start)
    prefix = anthropic_prefix(5)
    provider.script(Reply(body=prefix, content_type="text/event-stream", chunk_size=80, cut=True))
    with capture_logs() as logs:
        status, _, raw = await post(url + "/v1/messages", {"model": "claude-x", "max_tokens": 10, "stream": True,
                                                           "messages": [{"role": "user", "content": "hi"}]})
        line = await access_line(logs)
    assert status == 200
    assert raw.startswith(prefix)
    assert raw[len(prefix):].startswith(b'event: error\ndata: {"type":"error","error":{"type":"api_error"')
    assert (line["error"], line["input_tokens"]) == ("api_error", 43)


async def test_upstream_cut_inside_an_event_ends_with_an_error_event(provider: MockProvider, start) -> None:  # type: ignore[no-untyped-def]
    """Only complete events are relayed, so a cut inside one leaves the client at an event
    boundary: the half event is dropped and the stream ends with the dialect's error event."""
    url = await base_url(start)
    prefix = anthropic_prefix(5)
    provider.script(Reply(body=prefix + b"event: content_block_delta\ndata: {\"type\":\"content_blo",
                          content_type="text/event-stream", chunk_size=80, cut=True))
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/v1/messages", json={"model": "claude-x", "max_tokens": 10, "stream": True,
                                                           "messages": [{"role": "user", "content": "hi"}]}) as resp:
            assert resp.status == 200
            raw = await resp.read()
    assert raw.startswith(prefix)
    tail = raw[len(prefix):]
    assert tail.startswith(b"event: error\ndata: ") and tail.endswith(b"\n\n")
    error = json.loads(tail.split(b"data: ", 1)[1])
    assert error == {"type": "error", "error": {"type": "api_error", "message":
                     "The connection to the upstream provider was lost mid-stream."}}


async def test_disconnect_mid_stream_cancels_the_upstream(provider: MockProvider, start) -> None:  # type: ignore[no-untyped-def]
    server = await start()
    url = str(server.make_url("")).rstrip("/")
    provider.script(Reply.slow("anthropic-stream-thinking-signature.json"))   # ~170 pieces, 50 ms apart
    async with aiohttp.ClientSession() as session:
        received = await leave_mid_stream(session, url + "/v1/messages", {
            "model": "claude-x", "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
            b"content_block_delta")
    assert received.startswith(b"event: message_start\n")
    await asyncio.wait_for(provider.cancelled.wait(), 1.0)
    connector = server.app[STATE].runtime.upstreams["claude"].session.connector
    assert connector is not None
    async with asyncio.timeout(3):
        while connector._acquired:
            await asyncio.sleep(0.02)


# --- the pieces ----------------------------------------------------------------------------------

def test_an_unchanged_request_is_forwarded_as_the_clients_own_bytes() -> None:
    config = parse_config({"providers": [{"name": "a", "protocol": "anthropic", "base_url": "http://x"}],
                           "routes": [{"match": "claude-x", "provider": "a"},
                                      {"match": "*", "provider": "a", "model": "claude-y"}]}, environ={})
    body = {"model": "claude-x", "max_tokens": 10, "messages": HISTORY[:3], "temperature": 1}
    raw = json.dumps(body).encode()
    assert anthropic_request(raw, body, resolve(config, "claude-x", "anthropic")) is raw
    raw = json.dumps({**body, "model": "other"}).encode()
    renamed = anthropic_request(raw, json.loads(raw), resolve(config, "other", "anthropic"))
    assert orjson.loads(renamed) == {**body, "model": "claude-y"}


def test_client_beta_headers_merge_with_the_providers() -> None:
    config = parse_config({"providers": [{"name": "a", "protocol": "anthropic", "base_url": "http://x",
                                          "anthropic_beta": ["b1", "b2"]}],
                           "routes": [{"match": "*", "provider": "a"}]}, environ={})
    provider = config.providers[0]
    client = CIMultiDict([("Anthropic-Beta", "b2, b3"), ("anthropic-beta", "b4"), ("x-api-key", "k")])
    assert anthropic_headers(CIMultiDictProxy(client), provider) == {"anthropic-beta": "b1,b2,b3,b4"}
    assert anthropic_headers(CIMultiDictProxy(CIMultiDict({"anthropic-beta": "b1"})), provider) == {}


@pytest.mark.parametrize(("name", "dialect", "usage"), [
    ("anthropic-stream-thinking-signature.json", "anthropic", {"input_tokens": 43, "output_tokens": 282}),
    ("openai-stream-tool-call.json", "openai", {"input_tokens": 53, "output_tokens": 15}),
])
@pytest.mark.parametrize("size", [1, 7, 97, 100_000])
def test_checked_passthrough_is_byte_for_byte_whatever_the_pieces(name: str, dialect: Any, usage: dict[str, int],
                                                                   size: int) -> None:
    """However the reads split it, a valid stream comes out as exactly its bytes, complete, with
    its usage read on the way."""
    body = fixture_body(name)
    check = PassthroughCheck(dialect)
    out, done = b"", False
    for start in range(0, len(body), size):
        assert not done
        piece, done = check.feed(body[start:start + size])
        out += piece
    if not done:
        piece, done = check.feed(b"")
        out += piece
    assert (out, done, check.outcome.error) == (body, True, None)
    assert {k: check.outcome.usage[k] for k in usage} == usage
