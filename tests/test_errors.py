"""Every error reaches the client in Anthropic's shape, with the right status, and the daemon keeps serving.

Bad input, auth, routing, upstream HTTP errors (replayed from recorded error responses where they
exist), connection failures and timeouts, and faults in the middle of a stream. After each fault a
good request must still get a 200.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.conftest import MockProvider, Reply, load_fixture
from tests.stream_checker import check_stream, parse_sse

UPSTREAM_KEY = "sk-upstream-secret-0123456789"
MODEL = "claude-sonnet-4-6"
GOOD = {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
GOOD_STREAM = {**GOOD, "stream": True}
OK_REPLY = {"id": "chatcmpl-ok", "object": "chat.completion", "model": "big-model",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "fine"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-x", "object": "chat.completion.chunk", "model": "big-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


PARTIAL_SSE = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in (
    chunk({"role": "assistant", "content": ""}), chunk({"content": "The answer"}), chunk({"content": " is"})))


@asynccontextmanager
async def sdk(base_url: str, **headers: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=base_url, api_key="k", max_retries=0,
                                        default_headers=headers or None) as client:
        yield client


async def post(url: str, body: Any = None, *, data: bytes | None = None,
               headers: dict[str, str] | None = None, path: str = "/v1/messages",
               method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url + path, data=payload,
                                   headers={"Content-Type": "application/json", **(headers or {})}) as resp:
            return resp.status, dict(resp.headers), await resp.read()


def anthropic_error(status: int, raw: bytes, headers: dict[str, str], expected_status: int,
                    expected_type: str) -> str:
    """Assert the Anthropic error shape; return the message. No secret, no traceback."""
    assert status == expected_status, raw[:300]
    assert headers["Content-Type"].startswith("application/json")
    body = json.loads(raw)
    assert set(body) == {"type", "error"}
    assert body["type"] == "error"
    assert body["error"]["type"] == expected_type
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    assert_no_secret(raw, headers)
    assert "Traceback" not in message and 'File "' not in message
    return message


def assert_no_secret(raw: bytes, headers: dict[str, str]) -> None:
    assert UPSTREAM_KEY.encode() not in raw
    assert "0123456789" not in raw.decode("utf-8", "replace")
    for name, value in headers.items():
        assert UPSTREAM_KEY not in value and "0123456789" not in value, name


async def assert_still_serving(url: str, provider: MockProvider) -> None:
    provider.script(Reply.json(OK_REPLY))
    status, _, raw = await post(url, GOOD)
    assert status == 200, raw[:300]
    assert json.loads(raw)["content"] == [{"type": "text", "text": "fine"}]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def provider_config(base_url: str, read: float = 30) -> list[dict[str, Any]]:
    return [{"name": "mock", "protocol": "openai", "base_url": base_url, "api_key": UPSTREAM_KEY,
             "timeout": {"connect": 5, "read": read}}]


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "names"), [
    (b'{"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [', "JSON"),
    (b"not json at all", "JSON"),
    (b"", "empty"),
    (b"[1, 2, 3]", "JSON object"),
    (b'"a string"', "JSON object"),
    (json.dumps({**GOOD, "messages": 5}).encode(), "messages"),
    (json.dumps({**GOOD, "messages": [{"role": "user", "content": 5}]}).encode(), "messages.0.content"),
    (json.dumps({**GOOD, "messages": [{"role": "robot", "content": "x"}]}).encode(), "messages.0.role"),
    (json.dumps({**GOOD, "max_tokens": "ten"}).encode(), "max_tokens"),
    (json.dumps({**GOOD, "max_tokens": 0}).encode(), "max_tokens"),
    (json.dumps({**GOOD, "model": 5}).encode(), "model"),
    (json.dumps({**GOOD, "stream": "yes please"}).encode(), "stream"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "model"}).encode(), "model"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "max_tokens"}).encode(), "max_tokens"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "messages"}).encode(), "messages"),
    (json.dumps({**GOOD, "messages": []}).encode(), "messages"),
])
async def test_bad_request_bodies(provider: MockProvider, dragoman: str, data: bytes, names: str) -> None:
    status, headers, raw = await post(dragoman, data=data)
    message = anthropic_error(status, raw, headers, 400, "invalid_request_error")
    assert names in message
    assert provider.requests == []
    await assert_still_serving(dragoman, provider)


@pytest.mark.parametrize("missing", ["model", "messages"])
async def test_count_tokens_bad_request(provider: MockProvider, dragoman: str, missing: str) -> None:
    body = {k: v for k, v in GOOD.items() if k != missing}
    status, headers, raw = await post(dragoman, body, path="/v1/messages/count_tokens")
    assert missing in anthropic_error(status, raw, headers, 400, "invalid_request_error")


async def test_empty_messages_via_sdk(provider: MockProvider, dragoman: str) -> None:
    async with sdk(dragoman) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.create(model=MODEL, max_tokens=10, messages=[])
    assert caught.value.status_code == 400
    assert caught.value.body == {"type": "error", "error": {
        "type": "invalid_request_error", "message": "messages: at least one message is required"}}
    assert provider.requests == []


async def test_body_too_large(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(server={"max_body_bytes": 1000})
    big = {**GOOD, "messages": [{"role": "user", "content": "x" * 2000}]}
    status, headers, raw = await post(url, big)
    message = anthropic_error(status, raw, headers, 413, "request_too_large")
    assert "max_body_bytes" in message
    async with sdk(url) as client:
        with pytest.raises(anthropic.ContentTooLargeError) as caught:
            await client.messages.create(model=MODEL, max_tokens=10, messages=big["messages"])
    assert caught.value.status_code == 413
    assert provider.requests == []
    await assert_still_serving(url, provider)


async def test_unknown_model(provider: MockProvider, dragoman: str) -> None:
    async with sdk(dragoman) as client:
        with pytest.raises(anthropic.NotFoundError) as caught:
            await client.messages.create(model="mistral-large", max_tokens=10,
                                         messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 404
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert "mistral-large" in caught.value.body["error"]["message"]
    assert provider.requests == []
    await assert_still_serving(dragoman, provider)


async def test_unknown_path_and_method(dragoman: str) -> None:
    status, headers, raw = await post(dragoman, GOOD, path="/v1/complete")
    anthropic_error(status, raw, headers, 404, "not_found_error")
    status, headers, raw = await post(dragoman, None, path="/nope", method="GET")
    anthropic_error(status, raw, headers, 404, "not_found_error")
    status, headers, raw = await post(dragoman, None, path="/v1/messages", method="GET")
    anthropic_error(status, raw, headers, 405, "invalid_request_error")


# --- client auth ------------------------------------------------------------------------------------

async def test_auth(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(auth={"api_keys": ["k1"]})

    status, headers, raw = await post(url, GOOD)
    assert "Missing API key" in anthropic_error(status, raw, headers, 401, "authentication_error")
    status, headers, raw = await post(url, GOOD, headers={"x-api-key": "k2"})
    assert "Invalid API key" in anthropic_error(status, raw, headers, 401, "authentication_error")
    status, headers, raw = await post(url, GOOD, headers={"Authorization": "Bearer k1x"})
    anthropic_error(status, raw, headers, 401, "authentication_error")
    status, headers, raw = await post(url, GOOD, headers={"Authorization": "Basic k1"})
    anthropic_error(status, raw, headers, 401, "authentication_error")
    status, headers, raw = await post(url, GOOD, path="/v1/messages/count_tokens")
    anthropic_error(status, raw, headers, 401, "authentication_error")
    async with sdk(url) as client:  # the SDK sends x-api-key: k
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await client.messages.create(**GOOD)
    assert caught.value.status_code == 401
    assert caught.value.body["error"]["type"] == "authentication_error"
    assert provider.requests == []

    provider.script(Reply.json(OK_REPLY), Reply.json(OK_REPLY))
    status, _, raw = await post(url, GOOD, headers={"x-api-key": "k1"})
    assert status == 200, raw
    status, _, raw = await post(url, GOOD, headers={"Authorization": "Bearer k1"})
    assert status == 200, raw
    assert len(provider.requests) == 2
    # the client's key is never forwarded: the upstream gets the configured one
    assert [h["Authorization"] for h in provider.headers] == [f"Bearer {UPSTREAM_KEY}"] * 2
    assert all("x-api-key" not in {k.lower() for k in h} for h in provider.headers)

    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/health") as resp:
            assert resp.status == 200
        async with session.head(url + "/") as resp:
            assert resp.status == 200


# --- upstream HTTP errors ------------------------------------------------------------------------

@pytest.mark.parametrize(("fixture", "status", "error_type", "sdk_error", "upstream_message"), [
    ("openai-error-400-unsupported-parameter.json", 400, "invalid_request_error", anthropic.BadRequestError,
     "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."),
    ("openai-error-400-model-not-supported.json", 400, "invalid_request_error", anthropic.BadRequestError,
     "Web search options not supported with this model."),
    ("groq-error-400-tool-use-failed.json", 400, "invalid_request_error", anthropic.BadRequestError,
     "Tool call validation failed: tool call validation failed: parameters for tool get_something_by_name"),
    ("azure-error-404-deployment.json", 404, "not_found_error", anthropic.NotFoundError,
     "The API deployment for this resource does not exist."),
    ("openrouter-error-429.json", 429, "rate_limit_error", anthropic.RateLimitError, "Provider returned error"),
])
@pytest.mark.parametrize("stream", [False, True])
async def test_recorded_upstream_errors(provider: MockProvider, dragoman: str, fixture: str, status: int,
                                        error_type: str, sdk_error: type[anthropic.APIStatusError],
                                        upstream_message: str, stream: bool) -> None:
    assert load_fixture(fixture)["response"]["status"] == status
    provider.script(Reply.from_fixture(fixture))
    async with sdk(dragoman) as client:
        with pytest.raises(sdk_error) as caught:
            if stream:
                async with client.messages.stream(**GOOD) as s:
                    await s.get_final_message()
            else:
                await client.messages.create(**GOOD)
    error = caught.value
    assert error.status_code == status
    assert error.body["type"] == "error"
    assert error.body["error"]["type"] == error_type
    assert upstream_message in error.body["error"]["message"]
    assert_no_secret(error.response.content, dict(error.response.headers))
    await assert_still_serving(dragoman, provider)


@pytest.mark.parametrize(("upstream_status", "status", "error_type"), [
    (401, 401, "authentication_error"),
    (403, 403, "permission_error"),
    (404, 404, "not_found_error"),
    (422, 400, "invalid_request_error"),
    (500, 502, "api_error"),
    (502, 502, "api_error"),
    (503, 529, "overloaded_error"),
    (529, 529, "overloaded_error"),
    (504, 504, "timeout_error"),
])
async def test_upstream_status_mapping(provider: MockProvider, dragoman: str, upstream_status: int,
                                       status: int, error_type: str) -> None:
    provider.script(Reply.json({"error": {"message": f"upstream says no ({upstream_status})", "type": "x"}},
                               status=upstream_status))
    code, headers, raw = await post(dragoman, GOOD_STREAM)
    message = anthropic_error(code, raw, headers, status, error_type)
    assert f"upstream says no ({upstream_status})" in message
    await assert_still_serving(dragoman, provider)


async def test_upstream_key_echoed_in_error_is_redacted(provider: MockProvider, dragoman: str) -> None:
    # OpenAI echoes (part of) a bad key in its 401 message; the client must never see ours
    provider.script(Reply.json({"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}. You can find "
                                                     "your API key at https://platform.openai.com/account/api-keys.",
                                          "type": "invalid_request_error", "code": "invalid_api_key"}}, status=401),
                    Reply.json({"error": {"message": "Incorrect API key provided: sk-upstr*************6789."}},
                               status=401))
    for _ in range(2):
        status, headers, raw = await post(dragoman, GOOD)
        message = anthropic_error(status, raw, headers, 401, "authentication_error")
        assert "Incorrect API key provided" in message
        assert "sk-upstr" not in message


async def test_provider_key_without_sk_shape_is_redacted(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    key = "gsk_LiveKey9876543210abcdefXYZ"
    config = provider_config(provider.url)
    config[0]["api_key"] = key
    url = await start_dragoman(providers=config)
    echoed = {"error": {"message": f"Invalid API Key: {key}", "type": "invalid_request_error"}}
    provider.script(Reply.json(echoed, status=401),
                    Reply(body=PARTIAL_SSE + b"data: " + json.dumps(echoed).encode() + b"\n\n",
                          content_type="text/event-stream", chunk_size=64))
    status, headers, raw = await post(url, GOOD)
    assert "Invalid API Key" in anthropic_error(status, raw, headers, 401, "authentication_error")
    assert key.encode() not in raw
    status, headers, raw = await post(url, GOOD_STREAM)
    assert status == 200
    assert_error_ended(raw, "invalid_request_error")
    assert key.encode() not in raw
    assert provider.headers[0]["Authorization"] == f"Bearer {key}"


async def test_upstream_429_keeps_retry_after(provider: MockProvider, dragoman: str) -> None:
    reply = Reply.from_fixture("openrouter-error-429.json")
    reply.headers = {"Retry-After": "17"}
    provider.script(reply)
    async with sdk(dragoman) as client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(**GOOD)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "17"
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert "Provider returned error" in caught.value.body["error"]["message"]


async def test_upstream_500_is_502_via_sdk(provider: MockProvider, dragoman: str) -> None:
    provider.script(Reply(status=500, body=b"<html>Internal Server Error</html>", content_type="text/html"))
    async with sdk(dragoman) as client:
        with pytest.raises(anthropic.InternalServerError) as caught:
            await client.messages.create(**GOOD)
    assert caught.value.status_code == 502
    assert caught.value.body["error"]["type"] == "api_error"
    assert "Internal Server Error" in caught.value.body["error"]["message"]
    overloaded = Reply.json({"error": {"message": "Service overloaded"}}, status=503)
    overloaded.headers = {"Retry-After": "3"}
    provider.script(overloaded)
    async with sdk(dragoman) as client:
        with pytest.raises(anthropic.OverloadedError) as caught_529:
            await client.messages.create(**GOOD)
    assert caught_529.value.status_code == 529
    assert caught_529.value.body["error"]["type"] == "overloaded_error"
    assert "Service overloaded" in caught_529.value.body["error"]["message"]
    assert caught_529.value.response.headers["retry-after"] == "3"


async def test_upstream_answer_not_a_completion(provider: MockProvider, dragoman: str) -> None:
    provider.script(Reply(body=b"<html>a login page</html>", content_type="text/html"))
    status, headers, raw = await post(dragoman, GOOD)
    anthropic_error(status, raw, headers, 502, "api_error")
    await assert_still_serving(dragoman, provider)


# --- connection failures and timeouts ------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
async def test_connection_refused(provider: MockProvider, start_dragoman, stream: bool) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(providers=provider_config(f"http://127.0.0.1:{closed_port()}/v1"))
    status, headers, raw = await post(url, GOOD_STREAM if stream else GOOD)
    message = anthropic_error(status, raw, headers, 502, "api_error")
    assert "mock" in message
    async with sdk(url) as client:
        with pytest.raises(anthropic.InternalServerError) as caught:
            await client.messages.create(**GOOD)
    assert caught.value.status_code == 502
    # and it keeps answering
    status, headers, raw = await post(url, GOOD)
    anthropic_error(status, raw, headers, 502, "api_error")


@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_timeout_before_headers(provider: MockProvider, start_dragoman, stream: bool) -> None:  # type: ignore[no-untyped-def]
    # a server that accepts the connection and reads the request but never answers
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        url = await start_dragoman(providers=provider_config(f"http://127.0.0.1:{port}/v1", read=0.5))
        started = asyncio.get_running_loop().time()
        status, headers, raw = await post(url, GOOD_STREAM if stream else GOOD)
        assert asyncio.get_running_loop().time() - started < 5
        message = anthropic_error(status, raw, headers, 504, "timeout_error")
        assert "mock" in message
        assert len(writers) == 1
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_upstream_timeout_non_streaming_body(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(providers=provider_config(provider.url, read=0.5))
    body = json.dumps(OK_REPLY).encode()
    provider.script(Reply(body=body, chunk_size=len(body) // 2, hang=3))  # half a body, then silence
    async with sdk(url) as client:
        with pytest.raises(anthropic.GatewayTimeoutError) as caught:
            await client.messages.create(**GOOD)
    assert caught.value.status_code == 504
    assert caught.value.body["error"]["type"] == "timeout_error"
    await assert_still_serving(url, provider)


async def test_upstream_cut_non_streaming_body(provider: MockProvider, dragoman: str) -> None:
    body = json.dumps(OK_REPLY).encode()
    provider.script(Reply(body=body[:40], headers={"Content-Length": str(len(body))}, chunk_size=20, cut=True))
    status, headers, raw = await post(dragoman, GOOD)
    anthropic_error(status, raw, headers, 502, "api_error")
    await assert_still_serving(dragoman, provider)


# --- faults in the middle of a stream --------------------------------------------------------------

def assert_error_ended(raw: bytes, error_type: str) -> dict[str, Any]:
    """The stream is valid, ended by an `error` event, with no message_stop or message_delta."""
    events = check_stream(raw)
    names = [name for name, _ in events]
    assert names[-1] == "error"
    assert "message_stop" not in names and "message_delta" not in names
    error = events[-1][1]
    assert error["error"]["type"] == error_type
    assert_no_secret(raw, {})
    return error


async def test_upstream_cut_mid_stream(provider: MockProvider, dragoman: str) -> None:
    provider.script(Reply(body=PARTIAL_SSE, content_type="text/event-stream", chunk_size=60, cut=True))
    status, _, raw = await post(dragoman, GOOD_STREAM)
    assert status == 200
    assert_error_ended(raw, "api_error")
    assert b"The answer" in raw           # what arrived before the cut was relayed

    provider.script(Reply(body=PARTIAL_SSE, content_type="text/event-stream", chunk_size=60, cut=True))
    async with sdk(dragoman) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            async with client.messages.stream(**GOOD) as s:
                await s.get_final_message()
    assert caught.value.body["error"]["type"] == "api_error"
    await assert_still_serving(dragoman, provider)


async def test_upstream_eof_without_finish_reason(provider: MockProvider, dragoman: str) -> None:
    # a clean EOF (no [DONE], no finish_reason) is as incomplete as a cut
    provider.script(Reply(body=PARTIAL_SSE, content_type="text/event-stream", chunk_size=60))
    status, _, raw = await post(dragoman, GOOD_STREAM)
    assert status == 200
    assert_error_ended(raw, "api_error")


async def test_malformed_json_mid_stream(provider: MockProvider, dragoman: str) -> None:
    body = PARTIAL_SSE + b'data: {"choices": [{"index": 0, "delta": {"content": "x"\n\n' + b"data: [DONE]\n\n"
    provider.script(Reply(body=body, content_type="text/event-stream", chunk_size=50))
    status, _, raw = await post(dragoman, GOOD_STREAM)
    assert status == 200
    error = assert_error_ended(raw, "api_error")
    assert "malformed" in error["error"]["message"]
    await assert_still_serving(dragoman, provider)


async def test_upstream_error_event_mid_stream(provider: MockProvider, dragoman: str) -> None:
    # groq-stream-tool-use-failed-error.json: reasoning, then `event: error` with a 400 payload
    provider.script(Reply.from_fixture("groq-stream-tool-use-failed-error.json"))
    async with sdk(dragoman) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            async with client.messages.stream(**GOOD) as s:
                await s.get_final_message()
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert caught.value.body["error"]["message"].startswith("Tool call validation failed")
    provider.script(Reply.from_fixture("groq-stream-tool-use-failed-error.json"))
    status, _, raw = await post(dragoman, GOOD_STREAM)
    assert status == 200
    assert_error_ended(raw, "invalid_request_error")


async def test_upstream_key_in_mid_stream_error_is_redacted(provider: MockProvider, dragoman: str) -> None:
    error = {"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}", "type": "invalid_request_error"}}
    provider.script(Reply(body=PARTIAL_SSE + b"data: " + json.dumps(error).encode() + b"\n\n",
                          content_type="text/event-stream", chunk_size=64))
    status, _, raw = await post(dragoman, GOOD_STREAM)
    assert status == 200
    message = assert_error_ended(raw, "invalid_request_error")["error"]["message"]
    assert message.startswith("Incorrect API key provided")


async def test_upstream_silent_mid_stream(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(providers=provider_config(provider.url, read=0.5))
    provider.script(Reply(body=PARTIAL_SSE, content_type="text/event-stream", chunk_size=60, hang=5))
    status, _, raw = await post(url, GOOD_STREAM)
    assert status == 200
    error = assert_error_ended(raw, "timeout_error")
    assert "read timeout" in error["error"]["message"]
    assert b"The answer" in raw
    await assert_still_serving(url, provider)


async def test_slow_upstream_gets_pings(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(server={"ping_interval": 0.2})
    # crusoe-stream-text.json in two pieces, each after 0.7 s of silence: longer than the ping interval
    reply = Reply.from_fixture("crusoe-stream-text.json", chunk_size=2100)
    reply.delay = 0.7
    provider.script(reply)
    status, _, raw = await post(url, GOOD_STREAM)
    assert status == 200
    names = [name for name, _ in parse_sse(raw)]
    assert names.count("ping") >= 4               # 2 x 0.7 s of silence at 0.2 s intervals
    assert names[0] == "message_start"            # pings come after the stream started
    events = check_stream(raw)                    # pings dropped; the rest is a complete message
    assert events[-1][0] == "message_stop"
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    text = "".join(e[1]["delta"]["text"] for e in events if e[0] == "content_block_delta")
    assert text == "1, 2, 3, 4, 5"

    reply = Reply.from_fixture("crusoe-stream-text.json", chunk_size=2100)
    reply.delay = 0.5
    provider.script(reply)
    async with sdk(url) as client:
        async with client.messages.stream(**GOOD) as s:
            message = await s.get_final_message()
    assert message.content[0].text == "1, 2, 3, 4, 5"
    assert message.usage.output_tokens == 14


async def test_fast_stream_has_no_pings(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(server={"ping_interval": 0.2})
    provider.script(Reply.from_fixture("crusoe-stream-text.json"))
    status, _, raw = await post(url, GOOD_STREAM)
    assert status == 200
    assert b"event: ping" not in raw
    check_stream(raw)
