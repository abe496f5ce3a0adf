"""Upstreams that fail, hang, redirect or misbehave: every failure names its phase, goes nowhere
but the configured origin, and reaches the client in its own dialect with the right retry advice.

Each hostile upstream is built in the test on loopback; timings are never asserted, only that a
failure that should come quickly does come (the per-test timeout catches a hang by name).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from tests.conftest import MockProvider, Reply
from tests.test_errors import GOOD, GOOD_STREAM, OK_REPLY, PARTIAL_SSE, closed_port, post

KEY = "sk-upstream-secret-0123456789"
ANTHROPIC_KEY = "sk-ant-upstream-secret-0123456789"


def openai(name: str, url: str, **timeout: float) -> dict[str, Any]:
    return {"name": name, "protocol": "openai", "base_url": url, "api_key": KEY,
            "timeout": {"connect": 5, "read": 30, **timeout}}


def anthropic(name: str, root: str, **timeout: float) -> dict[str, Any]:
    return {"name": name, "protocol": "anthropic", "base_url": root, "api_key": ANTHROPIC_KEY,
            "timeout": {"connect": 5, "read": 30, **timeout}}


class Recorder:
    """A loopback server that records whatever reaches it (where a redirect would send a key)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": await request.read()})
        return web.json_response({"stolen": True})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


@pytest.fixture
async def recorder(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Recorder:
    rec = Recorder()
    rec.server = await aiohttp_server(rec.app())
    return rec


# --- redirects ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "model", "protocol"), [
    ("/v1/messages", "claude-x", "openai"),        # translated
    ("/v1/messages", "claude-x", "anthropic"),     # passed through
    ("/v1/chat/completions", "gpt-4o", "openai"),  # passed through
    ("/v1/chat/completions", "gpt-4o", "anthropic"),  # translated
])
async def test_redirect_is_never_followed_and_no_key_reaches_its_target(
        provider: MockProvider, recorder: Recorder, start_dragoman, path: str, model: str, protocol: str) -> None:  # type: ignore[no-untyped-def]
    assert recorder.server is not None
    target = str(recorder.server.make_url("/steal"))
    spec = openai("up", provider.url) if protocol == "openai" else anthropic("up", provider.root)
    url = await start_dragoman(providers=[spec], routes=[{"match": "*", "provider": "up"}])
    provider.script(Reply(status=307, body=b"", headers={"Location": target}))
    body = ({"model": model, "messages": [{"role": "user", "content": "hi"}]} if path.endswith("completions")
            else {**GOOD, "model": model})
    status, headers, raw = await post(url, body, path=path)
    assert status == 502
    message = json.loads(raw)["error"]["message"]
    assert message == "Upstream provider 'up' answered with a redirect (HTTP 307); dragoman does not follow redirects."
    assert recorder.requests == []   # neither the body nor the key went anywhere else
    assert KEY not in raw.decode() and ANTHROPIC_KEY not in raw.decode()


# --- phases ---------------------------------------------------------------------------------------

async def test_hung_provider_fails_over_after_the_headers_timeout(provider: MockProvider, aiohttp_server,  # type: ignore[no-untyped-def]
                                                                  start_dragoman) -> None:
    """A provider that accepted the connection but never answers a stream request is given up
    after timeout.headers, not after the 600 s read timeout, and the next provider answers."""
    second = MockProvider()
    second.server = await aiohttp_server(second.app())
    url = await start_dragoman(providers=[openai("hung", provider.url, headers=0.3), openai("second", second.url)],
                               routes=[{"match": "*", "provider": ["hung", "second"]}])
    provider.script(Reply.sse({"choices": []}, stall=30))
    second.script(Reply(body=PARTIAL_SSE + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
                        b"data: [DONE]\n\n", content_type="text/event-stream"))
    with capture_logs() as logs:
        status, _, raw = await post(url, GOOD_STREAM)
    assert status == 200 and b"The answer" in raw
    [warning] = [line for line in logs if line["event"] == "upstream failed, trying the next provider"]
    assert (warning["provider"], warning["reason"]) == ("hung", "headers")
    assert warning["cause"] == "headers: Upstream provider 'hung' sent no response headers within 0.3 s (timeout.headers)."
    await asyncio.wait_for(provider.cancelled.wait(), 5)   # the hung request was abandoned, not leaked


async def test_headers_timeout_alone_is_a_504_naming_the_phase(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(providers=[openai("hung", provider.url, headers=0.3)],
                               routes=[{"match": "*", "provider": "hung"}])
    provider.script(Reply.sse({"choices": []}, stall=30))
    with capture_logs() as logs:
        status, headers, raw = await post(url, GOOD_STREAM)
    assert status == 504
    assert json.loads(raw)["error"] == {"type": "timeout_error", "message":
                                        "Upstream provider 'hung' sent no response headers within 0.3 s (timeout.headers)."}
    assert "x-should-retry" not in {k.lower() for k in headers}   # a retry may well work
    [access] = [line for line in logs if line["event"] == "request"]
    assert access["upstream_error"].startswith("headers: ")


async def test_waiting_for_a_pooled_connection_is_its_own_phase(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    """With max_connections: 1 and one stream holding it, the next request waits timeout.pool,
    then fails saying so."""
    spec = {**openai("busy", provider.url), "max_connections": 1, "timeout": {"connect": 5, "read": 30, "pool": 0.3}}
    url = await start_dragoman(providers=[spec], routes=[{"match": "*", "provider": "busy"}])
    provider.script(Reply(body=PARTIAL_SSE, content_type="text/event-stream", chunk_size=50, hang=-1))
    async with aiohttp.ClientSession() as session:
        first = await session.post(url + "/v1/messages", json=GOOD_STREAM)
        assert first.status == 200
        await first.content.readany()   # the first stream is open and holds the one connection
        status, _, raw = await post(url, GOOD)
        first.close()
    assert status == 504
    assert json.loads(raw)["error"]["message"] == (
        "No free connection to upstream provider 'busy' within 0.3 s (max_connections: 1, timeout.pool).")
    assert len(provider.requests) == 1


async def test_connection_slot_is_given_back_after_each_answer(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    spec = {**openai("one", provider.url), "max_connections": 1, "timeout": {"connect": 5, "read": 30, "pool": 0.5}}
    url = await start_dragoman(providers=[spec], routes=[{"match": "*", "provider": "one"}])
    for _ in range(3):
        provider.script(Reply.json({"error": {"message": "nope"}}, status=400), Reply.json(OK_REPLY))
        assert (await post(url, GOOD))[0] == 400
        assert (await post(url, GOOD))[0] == 200
    assert len(provider.requests) == 6


@pytest.mark.parametrize(("base_url", "status", "message", "phase"), [
    (f"http://127.0.0.1:{closed_port()}/v1", 502, "Cannot connect to upstream provider 'up': connection refused.",
     "refused"),
    ("http://no-such-host.invalid/v1", 502, "Cannot connect to upstream provider 'up': its host name did not resolve.",
     "dns"),
])
async def test_connection_failures_name_their_cause(start_dragoman, base_url: str, status: int, message: str,  # type: ignore[no-untyped-def]
                                                    phase: str) -> None:
    url = await start_dragoman(providers=[openai("up", base_url)], routes=[{"match": "*", "provider": "up"}])
    with capture_logs() as logs:
        got, _, raw = await post(url, GOOD)
    assert got == status and json.loads(raw)["error"]["message"] == message
    [access] = [line for line in logs if line["event"] == "request"]
    assert access["upstream_error"].startswith(f"{phase}: ")
    metrics = (await post(url, path="/metrics", method="GET"))[2].decode()
    assert f'dragoman_upstream_failures_total{{phase="{phase}",provider="up"}} 1.0' in metrics


# --- error bodies ---------------------------------------------------------------------------------

async def test_error_body_arriving_in_pieces_is_read_whole(provider: MockProvider, dragoman: str) -> None:
    message = "Your request was refused because the conversation is longer than this model's context window."
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
    provider.script(Reply(status=400, body=body, chunk_size=17, delay=0.02))
    status, _, raw = await post(dragoman, GOOD)
    assert status == 400
    assert json.loads(raw)["error"]["message"] == f"Upstream provider 'mock' returned 400: {message}"


async def test_timeout_while_reading_an_error_body_is_a_504(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(providers=[openai("slow", provider.url, read=0.3)],
                               routes=[{"match": "*", "provider": "slow"}])
    provider.script(Reply(status=500, body=b'{"error": {"message": "half a', chunk_size=8, hang=-1))
    status, _, raw = await post(url, GOOD)
    assert status == 504
    assert json.loads(raw)["error"]["message"] == "Upstream provider 'slow' stopped sending its answer (read timeout)."


# --- retry advice ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("reply", "status", "should_retry", "retry_after"), [
    (Reply.json({"error": {"message": "bad"}}, status=400), 400, "false", None),
    (Reply.json({"error": {"message": "who"}}, status=401), 401, "false", None),
    (Reply.json({"error": {"message": "model?"}}, status=404), 404, "false", None),
    (Reply(status=429, body=b'{"error":{"message":"slow"}}', headers={"Retry-After": "7"}), 429, None, "7"),
    (Reply.json({"error": {"message": "boom"}}, status=500), 502, None, None),
])
async def test_errors_a_retry_cannot_fix_say_so(provider: MockProvider, dragoman: str, reply: Reply, status: int,
                                                should_retry: str | None, retry_after: str | None) -> None:
    """Both SDKs and Claude Code retry errors unless told ``x-should-retry: false``: a refused
    request must fail at once, a rate limit keep its Retry-After."""
    provider.script(reply)
    got, headers, _ = await post(dragoman, GOOD)
    lower = {k.lower(): v for k, v in headers.items()}
    assert (got, lower.get("x-should-retry"), lower.get("retry-after")) == (status, should_retry, retry_after)


async def test_dragomans_own_refusals_are_not_retried(start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(auth={"api_keys": ["right"]})
    status, headers, _ = await post(url, GOOD, headers={"x-api-key": "wrong"})
    assert (status, headers.get("x-should-retry")) == (401, "false")
    status, headers, _ = await post(url, {**GOOD, "max_tokens": 0}, headers={"x-api-key": "right"})
    assert (status, headers.get("x-should-retry")) == (400, "false")
