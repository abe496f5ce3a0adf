"""Shared fixtures: recorded captures, a scriptable mock provider on loopback, and dragoman itself.

The mock provider is a plain aiohttp app that records every request it receives and answers
from a queue of scripted replies (recorded fixtures, usually), streamed in pieces so the proxy
really sees a stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.app import create_app
from proxy.config import Config, parse_config

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict[str, Any]:
    """A recorded exchange from tests/fixtures (see SOURCES.md for where each came from)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def load_capture(name: str) -> dict[str, Any]:
    """A request Claude Code really sent (tests/fixtures/claude-code)."""
    return json.loads((FIXTURES / "claude-code" / name).read_text(encoding="utf-8"))


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    chunk_size: int = 0            # > 0: stream the body in pieces of this many bytes
    delay: float = 0.0             # pause before each piece
    hang: float = 0.0              # pause after the last piece before ending (or forever if < 0)
    headers: dict[str, str] = field(default_factory=dict)
    cut: bool = False              # drop the connection after the body instead of ending cleanly
    stall: float = 0.0             # silence before anything, headers included

    @classmethod
    def from_fixture(cls, name: str, chunk_size: int = 97) -> Reply:
        response = load_fixture(name)["response"]
        ctype = response["headers"].get("content-type", "application/json")
        stream = "event-stream" in ctype
        return cls(status=response["status"], body=response["body"].encode(), content_type=ctype,
                   chunk_size=chunk_size if stream else 0)

    @classmethod
    def slow(cls, name: str, delay: float = 0.05) -> Reply:
        """A recorded stream in 97-byte pieces, ``delay`` apart: still running when a client leaves."""
        reply = cls.from_fixture(name)
        reply.delay = delay
        return reply

    @classmethod
    def hanging(cls, name: str, size: int) -> Reply:
        """The first ``size`` bytes of a recorded stream, then silence without end."""
        reply = cls.from_fixture(name)
        reply.body, reply.hang = reply.body[:size], -1
        return reply

    @classmethod
    def sse(cls, *payloads: Any, done: bool = True, chunk_size: int = 0, stall: float = 0.0) -> Reply:
        body = b"".join(b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads)
        if done:
            body += b"data: [DONE]\n\n"
        return cls(body=body, content_type="text/event-stream", chunk_size=chunk_size, stall=stall)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Reply:
        return cls(status=status, body=json.dumps(payload).encode())


class MockProvider:
    """An OpenAI-compatible upstream on loopback that replays scripted replies."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.responder: Callable[[dict[str, Any]], Reply] | None = None  # used when no reply is queued
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.cancelled = asyncio.Event()   # set when a client went away mid-reply
        self.server: TestServer | None = None

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def url(self) -> str:
        """Base URL as an OpenAI-compatible provider is configured (with /v1)."""
        assert self.server is not None
        return str(self.server.make_url("/v1"))

    @property
    def root(self) -> str:
        """Base URL as an Anthropic provider is configured (without /v1)."""
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)  # OpenAI-compatible
        app.router.add_post("/v1/messages", self._handle)          # Anthropic
        app.router.add_post("/v1/messages/count_tokens", self._handle)
        app.router.add_post("/v1/responses", self._handle)          # OpenAI Responses
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.paths.append(request.path)
        if self.replies:
            reply = self.replies.pop(0)
        elif self.responder is not None:
            reply = self.responder(body)
        else:
            reply = Reply(status=500, body=b'{"error":{"message":"no scripted reply"}}')
        if reply.stall:
            try:
                await asyncio.sleep(reply.stall)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if not reply.chunk_size and not reply.cut:
            return web.Response(status=reply.status, body=reply.body, content_type=None,
                                headers={"Content-Type": reply.content_type, **reply.headers})
        response = web.StreamResponse(status=reply.status, headers={"Content-Type": reply.content_type, **reply.headers})
        await response.prepare(request)
        size = reply.chunk_size or len(reply.body) or 1
        try:
            for start in range(0, len(reply.body), size):
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                await response.write(reply.body[start:start + size])
            if reply.hang:
                await asyncio.sleep(reply.hang if reply.hang > 0 else 3600)
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled.set()
            raise
        if reply.cut:
            assert request.transport is not None
            request.transport.abort()
            return response
        await response.write_eof()
        return response


async def leave_mid_stream(session: Any, url: str, body: dict[str, Any], marker: bytes,
                           min_bytes: int = 0) -> bytes:
    """POST a streaming request, read until ``marker`` (and ``min_bytes``) arrived, then drop the
    connection the way a client that goes away does."""
    received = b""
    resp = await session.post(url, json=body)
    assert resp.status == 200
    async with asyncio.timeout(10):
        while len(received) < min_bytes or marker not in received:
            piece = await resp.content.readany()
            assert piece, "the stream ended before the client could disconnect"
            received += piece
    resp.close()  # closes the connection, not just the response
    return received


def make_config(provider_url: str, provider_root: str = "http://127.0.0.1:9", **overrides: Any) -> Config:
    """Routes: claude-* and oa-* names from Anthropic clients go to the OpenAI-compatible mock
    ("mock"); gpt-* names from OpenAI clients go to the same server speaking Anthropic ("claude").
    Each route is restricted to the client dialect it translates (no pass-through here).
    Model discovery is off unless asked for (``discovery={"enabled": True}``): tests that count
    upstream connections or tasks expect none but their own."""
    raw: dict[str, Any] = {
        "server": {"ping_interval": 10},
        "discovery": {"enabled": False},
        "providers": [
            {"name": "mock", "protocol": "openai", "base_url": provider_url,
             "api_key": "sk-upstream-secret-0123456789", "timeout": {"connect": 5, "read": 30}},
            {"name": "claude", "protocol": "anthropic", "base_url": provider_root,
             "api_key": "sk-ant-upstream-secret-0123456789", "timeout": {"connect": 5, "read": 30},
             "anthropic_beta": ["fine-grained-tool-streaming-2025-05-14"], "models": ["claude-opus-4-1"]},
        ],
        "routes": [
            {"match": "*haiku*", "provider": "mock", "model": "small-model", "client": "anthropic"},
            {"match": "claude-*", "provider": "mock", "model": "big-model", "max_tokens": 8192, "client": "anthropic"},
            {"match": "oa-*", "provider": "mock", "client": "anthropic"},   # the client's model name passes through
            {"match": "gpt-4o", "provider": "claude", "model": "claude-sonnet-4-5", "max_tokens": 8192,
             "client": "openai"},
            {"match": "gpt-*", "provider": "claude", "model": "claude-haiku-4-5", "client": "openai"},
        ],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    if "providers" in overrides and "routes" not in overrides:  # keep the routes that still resolve
        names = {p["name"] for p in raw["providers"]}
        raw["routes"] = [r for r in raw["routes"] if r["provider"] in names]
    return parse_config(raw, environ={})


@pytest.fixture
async def provider(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> MockProvider:
    mock = MockProvider()
    mock.server = await aiohttp_server(mock.app())
    return mock


@pytest.fixture
def start_dragoman(aiohttp_server: Callable[..., Awaitable[TestServer]], provider: MockProvider):
    """Start dragoman in front of the mock provider; returns its base URL."""

    async def start(**overrides: Any) -> str:
        # aiohttp's TestServer runs with handler_cancellation=True, as `dragoman serve` does
        server = await aiohttp_server(create_app(make_config(provider.url, provider.root, **overrides)))
        return str(server.make_url("")).rstrip("/")

    return start


@pytest.fixture
async def dragoman(start_dragoman: Callable[..., Awaitable[str]]) -> str:
    return await start_dragoman()
