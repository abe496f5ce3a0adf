"""A client that goes away mid-stream cancels the upstream request at once, and nothing leaks.

The mock provider sets ``cancelled`` when dragoman drops its request while the reply is still
being written. After many disconnects and upstream failures, dragoman's pooled upstream connector
holds no acquired connection, the mock provider sees no open connection, and the event loop has
no more tasks than before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from proxy.app import create_app
from proxy.runtime import STATE
from tests.conftest import MockProvider, Reply, leave_mid_stream, make_config

BODY = {"model": "claude-sonnet-4-6", "max_tokens": 100, "stream": True,
        "messages": [{"role": "user", "content": "Hello"}]}
SETTLE = 3.0  # seconds allowed for connections and tasks to wind down after the last request


@pytest.fixture
def start_server(aiohttp_server: Callable[..., Awaitable[TestServer]], provider: MockProvider):
    """Like conftest's start_dragoman, but returns the TestServer, whose ``.app`` holds the upstreams."""

    async def start(**overrides: Any) -> TestServer:
        return await aiohttp_server(create_app(make_config(provider.url, **overrides)))

    return start


def slow_reply() -> Reply:
    # deepseek-stream-reasoning-content.json: ~700 pieces of 97 bytes, 50 ms apart (~35 s in all)
    return Reply.slow("deepseek-stream-reasoning-content.json")


def hanging_reply() -> Reply:
    return Reply.hanging("deepseek-stream-reasoning-content.json", 2000)


async def read_then_disconnect(url: str, min_bytes: int = 200) -> bytes:
    """Open a stream, read until some content arrived, then drop the connection."""
    async with aiohttp.ClientSession() as session:
        return await leave_mid_stream(session, url + "/v1/messages", BODY, b"content_block_delta", min_bytes)


@pytest.mark.parametrize("reply", [slow_reply, hanging_reply], ids=["slow", "hang"])
async def test_disconnect_cancels_upstream(provider: MockProvider, start_server, reply) -> None:  # type: ignore[no-untyped-def]
    server = await start_server()
    url = str(server.make_url("")).rstrip("/")
    provider.script(reply())
    received = await read_then_disconnect(url)
    assert received.startswith(b"event: message_start\n")
    await asyncio.wait_for(provider.cancelled.wait(), 1.0)
    assert len(provider.requests) == 1
    connector = server.app[STATE].runtime.upstreams["mock"].session.connector
    assert connector is not None
    await _until(lambda: len(connector._acquired) == 0)


async def test_disconnect_before_first_upstream_byte(provider: MockProvider, start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server()
    url = str(server.make_url("")).rstrip("/")
    reply = Reply.from_fixture("crusoe-stream-text.json")
    reply.delay = 30  # headers come at once, the first data after 30 s
    provider.script(reply)
    async with aiohttp.ClientSession() as session:
        resp = await session.post(url + "/v1/messages", json=BODY)
        assert resp.status == 200
        first = await asyncio.wait_for(resp.content.readany(), 5)
        assert first.startswith(b"event: message_start\n")
        resp.close()
    await asyncio.wait_for(provider.cancelled.wait(), 1.0)


async def test_disconnect_non_streaming_cancels_upstream(provider: MockProvider, start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server()
    url = str(server.make_url("")).rstrip("/")
    reply = Reply.from_fixture("openai-tool-call-chain.json")
    reply.chunk_size, reply.delay = 16, 0.05   # ~1000 bytes of JSON dribbled out over ~3 s
    provider.script(reply)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):   # the client gives up while the body is still coming
                await session.post(url + "/v1/messages", json={**BODY, "stream": False})
    await asyncio.wait_for(provider.cancelled.wait(), 1.0)
    connector = server.app[STATE].runtime.upstreams["mock"].session.connector
    assert connector is not None
    await _until(lambda: len(connector._acquired) == 0)


async def _until(condition: Callable[[], bool], timeout: float = SETTLE) -> None:
    """Poll ``condition`` (bounded); fail with the last state if it never holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition still false after {timeout} s")
        await asyncio.sleep(0.02)


def _partial_sse() -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": "partial"}}]}]
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)


def failing_reply(n: int) -> Reply:
    """Upstream failures of five kinds, in turn."""
    kind = n % 5
    if kind == 0:
        return Reply.json({"error": {"message": "boom"}}, status=500)
    if kind == 1:
        return Reply.json({"error": {"message": "slow down"}}, status=429)
    if kind == 2:  # cut mid-stream
        return Reply(body=_partial_sse(), content_type="text/event-stream", chunk_size=20, cut=True)
    if kind == 3:  # malformed JSON mid-stream, the upstream keeps the connection open
        return Reply(body=_partial_sse() + b"data: {not json\n\n", content_type="text/event-stream",
                     chunk_size=30, hang=-1)
    return Reply(body=_partial_sse(), content_type="text/event-stream", chunk_size=20, hang=-1)  # silent


async def test_no_leaks_after_disconnects_and_failures(provider: MockProvider, start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(providers=[{
        "name": "mock", "protocol": "openai", "base_url": provider.url, "api_key": "sk-upstream-secret-0123456789",
        "timeout": {"connect": 5, "read": 0.5}}])
    url = str(server.make_url("")).rstrip("/")
    connector = server.app[STATE].runtime.upstreams["mock"].session.connector
    assert isinstance(connector, aiohttp.TCPConnector)
    mock_server = provider.server.runner.server  # type: ignore[union-attr]
    baseline = len(asyncio.all_tasks())

    # 20 clients that go away mid-stream, ten at a time
    provider.script(*(slow_reply() if n % 2 else hanging_reply() for n in range(20)))
    for _batch in range(2):
        results = await asyncio.gather(*(read_then_disconnect(url) for _ in range(10)))
        assert all(r.startswith(b"event: message_start\n") for r in results)
    assert len(provider.requests) == 20
    assert provider.cancelled.is_set()
    # every one of the 20 upstream requests was dropped: none is left open at the mock
    await _until(lambda: len(mock_server.connections) == 0, timeout=1.0)
    assert len(connector._acquired) == 0

    # 20 upstream failures, ten at a time; each answered to the client in Anthropic's terms
    provider.script(*(failing_reply(n) for n in range(20)))

    async def failing_request(session: aiohttp.ClientSession) -> tuple[int, bytes]:
        async with session.post(url + "/v1/messages", json=BODY) as resp:
            return resp.status, await resp.read()

    async with aiohttp.ClientSession() as session:
        outcomes = []
        for _batch in range(2):
            outcomes += await asyncio.gather(*(failing_request(session) for _ in range(10)))
    assert len(provider.requests) == 40
    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [200] * 12 + [429] * 4 + [502] * 4
    for status, raw in outcomes:
        if status == 200:  # a stream that failed: ends with an error event, never message_stop
            assert b"event: error\n" in raw and b"message_stop" not in raw
        else:
            assert json.loads(raw)["type"] == "error"

    # Nothing held: no acquired upstream connection and no stray task. The 500/429 answers were read
    # to the end, so their connections went back to the pool as idle keep-alive connections (reuse,
    # not a leak); each has exactly one open connection, and one handler task, at the mock.
    def idle() -> int:
        return sum(len(conns) for conns in connector._conns.values())

    await _until(lambda: len(connector._acquired) == 0)
    await _until(lambda: len(mock_server.connections) == idle())
    await _until(lambda: len(asyncio.all_tasks()) <= baseline + idle())
    assert len(connector._acquired) == 0
    assert idle() <= 10                          # at most one per concurrent request of a batch
    assert len(mock_server.connections) == idle()
    assert len(asyncio.all_tasks()) == baseline + idle()

    # and the daemon still serves
    provider.script(Reply.from_fixture("crusoe-stream-text.json"))
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/v1/messages", json=BODY) as resp:
            assert resp.status == 200
            raw = await resp.read()
    assert raw.rstrip().endswith(b'data: {"type":"message_stop"}')
