"""Operating under load and failure: a concurrency limit that answers at once, a circuit breaker
per provider, and key pools with affinity. Run in-process against mock providers on loopback;
clocks are the breaker's own (a cooldown of a fraction of a second), never timed assertions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from tests.conftest import MockProvider, Reply
from tests.test_errors import GOOD, GOOD_STREAM, OK_REPLY, PARTIAL_SSE, post


def provider_spec(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "protocol": "openai", "base_url": url, "api_key": f"sk-{name}-key-0123456789", **extra}


@pytest.fixture
async def second(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> MockProvider:
    mock = MockProvider()
    mock.server = await aiohttp_server(mock.app())
    return mock


async def metrics_text(url: str) -> str:
    return (await post(url, path="/metrics", method="GET"))[2].decode()


# --- max_concurrent_requests ------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "body", "status", "kind"), [
    ("/v1/messages", GOOD, 529, "overloaded_error"),
    ("/v1/chat/completions", {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}, 503, "server_error"),
])
async def test_past_the_concurrency_limit_the_answer_is_overloaded_at_once(provider: MockProvider, start_dragoman,  # type: ignore[no-untyped-def]
                                                                          path: str, body: dict[str, Any],
                                                                          status: int, kind: str) -> None:
    url = await start_dragoman(server={"max_concurrent_requests": 1},
                               routes=[{"match": "*", "provider": "mock", "model": "m"}])
    provider.script(Reply(body=PARTIAL_SSE, content_type="text/event-stream", chunk_size=50, hang=-1))
    async with aiohttp.ClientSession() as session:
        held = await session.post(url + "/v1/messages", json=GOOD_STREAM)   # holds the only slot
        assert held.status == 200
        got, headers, raw = await post(url, body, path=path)
        assert (await post(url, path="/health", method="GET"))[0] == 200   # probes are never refused
        held.close()
    error = json.loads(raw)["error"]
    assert (got, headers["Retry-After"], error["type"]) == (status, "1", kind)
    assert "server.max_concurrent_requests" in error["message"]
    assert len(provider.requests) == 1
    assert "dragoman_overloaded_total 1.0" in await metrics_text(url)


# --- circuit breaker --------------------------------------------------------------------------------

async def test_breaker_trips_after_consecutive_failures_and_a_test_request_closes_it(
        provider: MockProvider, second: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(
        providers=[provider_spec("flaky", provider.url, circuit_breaker={"failures": 2, "cooldown": 0.3}),
                   provider_spec("spare", second.url)],
        routes=[{"match": "*", "provider": ["flaky", "spare"], "model": "m"}])
    boom = Reply.json({"error": {"message": "boom"}}, status=500)
    provider.script(boom, boom)
    second.responder = lambda body: Reply.json(OK_REPLY)
    with capture_logs() as logs:
        for _ in range(4):
            assert (await post(url, GOOD))[0] == 200
    assert len(provider.requests) == 2 and len(second.requests) == 4   # open after 2: skipped at once after
    opened = [line for line in logs if line["event"] == "provider unavailable: circuit breaker open"]
    assert [(line["provider"], line["failures"]) for line in opened] == [("flaky", 2)]
    assert 'dragoman_provider_available{provider="flaky"} 0.0' in await metrics_text(url)
    status, _, raw = await post(url, path="/ready", method="GET")
    assert (status, json.loads(raw)) == (200, {"status": "ready", "providers": {"flaky": "resting", "spare": "available"}})
    await asyncio.sleep(0.35)   # the cooldown passes: one request tests the provider, and it answers
    provider.script(Reply.json(OK_REPLY))
    assert (await post(url, GOOD))[0] == 200
    assert len(provider.requests) == 3 and len(second.requests) == 4
    assert 'dragoman_provider_available{provider="flaky"} 1.0' in await metrics_text(url)


async def test_route_whose_every_provider_rests_is_a_503_with_retry_after(provider: MockProvider,  # type: ignore[no-untyped-def]
                                                                          start_dragoman) -> None:
    url = await start_dragoman(providers=[provider_spec("only", provider.url,
                                                        circuit_breaker={"failures": 1, "cooldown": 30})],
                               routes=[{"match": "*", "provider": "only", "model": "m"}])
    provider.script(Reply.json({"error": {"message": "boom"}}, status=503))
    assert (await post(url, GOOD))[0] == 529
    status, headers, raw = await post(url, GOOD)
    assert (status, headers["Retry-After"]) == (503, "30")
    assert json.loads(raw)["error"]["message"] == ("Upstream provider 'only' failed repeatedly and is resting "
                                                   "(circuit breaker); retry in 30 s.")
    assert len(provider.requests) == 1
    status, _, raw = await post(url, path="/ready", method="GET")
    assert (status, json.loads(raw)["status"]) == (503, "unavailable")   # no route can be served


async def test_breaker_off_with_zero_failures(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(providers=[provider_spec("p", provider.url, circuit_breaker={"failures": 0})],
                               routes=[{"match": "*", "provider": "p", "model": "m"}])
    provider.responder = lambda body: Reply.json({"error": {"message": "boom"}}, status=500)
    for _ in range(8):
        assert (await post(url, GOOD))[0] == 502
    assert len(provider.requests) == 8


# --- key pools --------------------------------------------------------------------------------------

KEYS = ["sk-pool-aaaaaaaaaaaaaaaa", "sk-pool-bbbbbbbbbbbbbbbb", "sk-pool-cccccccccccccccc"]


def sent_key(headers: dict[str, str]) -> str:
    return {k.lower(): v for k, v in headers.items()}["authorization"].removeprefix("Bearer ")


def session(n: int) -> dict[str, Any]:
    return {**GOOD, "metadata": {"user_id": f"user_x_account__session_{n:04d}"}}


async def test_a_conversation_stays_on_one_key_and_conversations_spread(provider: MockProvider,  # type: ignore[no-untyped-def]
                                                                        start_dragoman) -> None:
    url = await start_dragoman(providers=[provider_spec("pool", provider.url, api_key=KEYS)],
                               routes=[{"match": "*", "provider": "pool", "model": "m"}])
    provider.responder = lambda body: Reply.json(OK_REPLY)
    for n in range(12):
        for _ in range(3):
            assert (await post(url, session(n)))[0] == 200
    used = [sent_key(h) for h in provider.headers]
    per_conversation = [set(used[i:i + 3]) for i in range(0, len(used), 3)]
    assert all(len(keys) == 1 for keys in per_conversation)   # affinity
    assert {key for keys in per_conversation for key in keys} == set(KEYS)   # spread over the pool


async def test_rate_limited_key_rests_and_the_request_moves_to_another(provider: MockProvider,  # type: ignore[no-untyped-def]
                                                                      start_dragoman) -> None:
    url = await start_dragoman(providers=[provider_spec("pool", provider.url, api_key=KEYS)],
                               routes=[{"match": "*", "provider": "pool", "model": "m"}])
    limited = Reply(status=429, body=b'{"error":{"message":"slow down"}}', headers={"Retry-After": "60"})
    provider.script(limited, Reply.json(OK_REPLY))
    with capture_logs() as logs:
        assert (await post(url, session(7)))[0] == 200   # the client never saw the 429
    first, retried = (sent_key(h) for h in provider.headers)
    assert first != retried
    [line] = [line for line in logs if line["event"] == "provider key rate-limited, resting"]
    assert line["key"] == first[:3] + "…" + first[-2:] and line["seconds"] == 60.0
    provider.responder = lambda body: Reply.json(OK_REPLY)
    assert (await post(url, session(7)))[0] == 200
    assert sent_key(provider.headers[-1]) == retried   # the conversation now lives on the key that answered
    assert all(first not in json.dumps(entry) for entry in logs)


async def test_refused_key_is_set_aside_for_good(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(providers=[provider_spec("pool", provider.url, api_key=KEYS[:2])],
                               routes=[{"match": "*", "provider": "pool", "model": "m"}])
    provider.script(Reply.json({"error": {"message": "bad key"}}, status=401))
    provider.responder = lambda body: Reply.json(OK_REPLY)
    with capture_logs() as logs:
        for n in range(6):
            assert (await post(url, session(n)))[0] == 200
    refused = sent_key(provider.headers[0])
    assert [sent_key(h) for h in provider.headers[1:]] == [k for k in KEYS[:2] if k != refused] * 6
    [line] = [line for line in logs if line["event"] == "provider key refused, set aside until the config changes"]
    assert (line["status"], line["key"]) == (401, refused[:3] + "…" + refused[-2:])


async def test_every_key_refused_is_the_providers_own_401(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(providers=[provider_spec("pool", provider.url, api_key=KEYS[:2])],
                               routes=[{"match": "*", "provider": "pool", "model": "m"}])
    provider.responder = lambda body: Reply.json({"error": {"message": f"bad key {KEYS[0]} {KEYS[1]}"}}, status=401)
    status, headers, raw = await post(url, GOOD)
    assert (status, headers["x-should-retry"]) == (401, "false")
    assert KEYS[0] not in raw.decode() and KEYS[1] not in raw.decode()   # every key of the pool redacted
    assert len(provider.requests) == 2
