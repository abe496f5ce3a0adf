"""The daemon under the signals an operator and systemd send: SIGHUP reloads without touching a
running stream (a broken config is refused), SIGTERM drains (running streams finish, new
connections are refused, exit 0; streams still running at the deadline end with an error
event), and systemd hears READY / RELOADING / STOPPING / WATCHDOG on its notify socket."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import MockProvider, Reply, load_fixture
from tests.daemon import Daemon
from tests.stream_checker import check_stream
from tests.test_errors import GOOD, GOOD_STREAM, OK_REPLY

STREAM = "openai-stream-text-after-tool.json"   # ~30 pieces 50 ms apart: still running during the test


def recorded_text(name: str) -> str:
    text = ""
    for line in load_fixture(name)["response"]["body"].splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices") or ():
                text += (choice.get("delta") or {}).get("content") or ""
    return text


def config_text(p1: MockProvider, p2: MockProvider, route_to: str, **server: Any) -> str:
    return json.dumps({
        "server": {"host": "127.0.0.1", "log_level": "info", **server},
        "providers": [{"name": "p1", "protocol": "openai", "base_url": p1.url, "api_key": "k1"},
                      {"name": "p2", "protocol": "openai", "base_url": p2.url, "api_key": "k2"}],
        "routes": [{"match": "*", "provider": route_to, "model": f"model-of-{route_to}"}],
    })


@pytest.fixture
async def mocks(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[MockProvider, MockProvider]:
    p1, p2 = MockProvider(), MockProvider()
    p1.server, p2.server = await aiohttp_server(p1.app()), await aiohttp_server(p2.app())
    return p1, p2


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Daemon]]]:
    started: list[Daemon] = []

    async def start(text: str, *args: str, env: dict[str, str] | None = None) -> Daemon:
        path = tmp_path / "config.yaml"
        path.write_text(text)
        started.append(await Daemon(path).start(*args, env=env))
        return started[-1]

    yield start
    for d in started:
        await d.close()


async def open_stream(session: aiohttp.ClientSession, url: str) -> tuple[aiohttp.ClientResponse, bytes]:
    """A streaming request, read until its first text delta arrived."""
    resp = await session.post(url + "/v1/messages", json=GOOD_STREAM)
    assert resp.status == 200
    received = b""
    async with asyncio.timeout(10):
        while b"text_delta" not in received:
            piece = await resp.content.readany()
            assert piece, received
            received += piece
    return resp, received


@pytest.mark.timeout(60)
async def test_sighup_reload_leaves_the_running_stream_on_the_old_route(mocks, daemon) -> None:  # type: ignore[no-untyped-def]
    p1, p2 = mocks
    d = await daemon(config_text(p1, p2, "p1"))
    p1.script(Reply.slow(STREAM))
    async with aiohttp.ClientSession() as session:
        resp, head = await open_stream(session, d.url)
        d.config_path.write_text(config_text(p1, p2, "p2"))
        d.send(signal.SIGHUP)
        reloaded = await d.wait_for("config reloaded")
        assert reloaded["sessions_kept"] == ["p1", "p2"] and reloaded["requests_on_old_config"] == 1
        p2.script(Reply.json(OK_REPLY))
        async with session.post(d.url + "/v1/messages", json=GOOD) as second:
            assert second.status == 200 and (await second.json())["content"][0]["text"] == "fine"
        raw = head + await resp.read()
    events = check_stream(raw)   # the old stream, whole and valid
    text = "".join(e["delta"]["text"] for name, e in events if name == "content_block_delta" and "text" in e["delta"])
    assert text == recorded_text(STREAM)
    assert [b["model"] for b in p1.requests] == ["model-of-p1"] and [b["model"] for b in p2.requests] == ["model-of-p2"]


@pytest.mark.timeout(60)
async def test_sighup_with_a_broken_config_keeps_the_old_one(mocks, daemon) -> None:  # type: ignore[no-untyped-def]
    p1, p2 = mocks
    d = await daemon(config_text(p1, p2, "p1"))
    d.config_path.write_text(config_text(p1, p2, "nobody"))
    d.send(signal.SIGHUP)
    refused = await d.wait_for("config reload refused; the running config stays")
    assert refused["level"] == "error"
    assert refused["errors"] == [f"{d.config_path}: routes[0].provider: unknown provider 'nobody' (known: p1, p2)"]
    d.config_path.write_text("routes: [unclosed\n")
    d.send(signal.SIGHUP)
    refused = await d.wait_for("config reload refused; the running config stays", count=2)
    assert refused["errors"][0].startswith(f"{d.config_path}: not valid YAML")
    p1.script(Reply.json(OK_REPLY))
    async with aiohttp.ClientSession() as session:
        async with session.post(d.url + "/v1/messages", json=GOOD) as resp:
            assert resp.status == 200
        async with session.get(d.url + "/metrics") as resp:
            assert 'dragoman_config_reloads_total{result="refused"} 2.0' in await resp.text()
    assert [b["model"] for b in p1.requests] == ["model-of-p1"]


@pytest.mark.timeout(60)
async def test_sigterm_lets_a_running_stream_finish_refuses_new_connections_and_exits_0(mocks, daemon) -> None:  # type: ignore[no-untyped-def]
    p1, p2 = mocks
    d = await daemon(config_text(p1, p2, "p1"))
    p1.script(Reply.slow(STREAM))
    async with aiohttp.ClientSession() as session:
        resp, head = await open_stream(session, d.url)
        d.send(signal.SIGTERM)
        draining = await d.wait_for("dragoman draining: /ready says 503, running requests may finish")
        assert draining["running"] == 1
        with pytest.raises(aiohttp.ClientConnectorError):
            async with aiohttp.ClientSession() as other:   # a new connection: the listener is closed
                await other.get(d.url + "/health")
        raw = head + await resp.read()
    assert check_stream(raw)[-1][0] == "message_stop"
    assert await d.exit_code() == 0
    await d.wait_for("dragoman stopped")


@pytest.mark.timeout(60)
async def test_stream_still_running_at_the_drain_deadline_ends_with_an_error_event(mocks, daemon) -> None:  # type: ignore[no-untyped-def]
    p1, p2 = mocks
    d = await daemon(config_text(p1, p2, "p1", shutdown_timeout=0.5))
    p1.script(Reply.hanging(STREAM, 1000))   # the first deltas, then silence
    async with aiohttp.ClientSession() as session:
        resp, head = await open_stream(session, d.url)
        d.send(signal.SIGTERM)
        raw = head + await resp.read()
    events = check_stream(raw)
    assert events[-1] == ("error", {"type": "error", "error": {"type": "overloaded_error", "message": (
        "dragoman is shutting down (a restart or deploy) and could not wait for this answer to finish; "
        "retry the request.")}})
    assert await d.exit_code() == 0


@pytest.mark.timeout(60)
async def test_ready_says_503_from_the_moment_a_drain_begins(mocks, daemon) -> None:  # type: ignore[no-untyped-def]
    p1, p2 = mocks
    d = await daemon(config_text(p1, p2, "p1", drain_delay=2))
    async with aiohttp.ClientSession() as session:
        async with session.get(d.url + "/ready") as resp:
            assert (resp.status, await resp.json()) == (200, {"status": "ready", "providers": {"p1": "available", "p2": "available"}})
        d.send(signal.SIGTERM)
        await d.wait_for("dragoman draining: /ready says 503, running requests may finish")
        async with session.get(d.url + "/ready") as resp:   # still listening, for the load balancer
            assert (resp.status, await resp.json()) == (503, {"status": "draining"})
    assert await d.exit_code() == 0


@pytest.mark.timeout(60)
async def test_systemd_hears_ready_reloading_watchdog_and_stopping(mocks, daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p1, p2 = mocks
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.setblocking(False)
    messages: list[str] = []

    async def until(predicate: Callable[[str], bool]) -> str:
        async with asyncio.timeout(20):
            while True:
                for message in messages:
                    if predicate(message):
                        messages.remove(message)
                        return message
                try:
                    messages.append((await asyncio.get_running_loop().sock_recv(sock, 4096)).decode())
                except BlockingIOError:
                    await asyncio.sleep(0.02)

    try:
        d = await daemon(config_text(p1, p2, "p1"), env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "200000"})
        ready = await until(lambda m: m.startswith("READY=1"))
        assert ready == f"READY=1\nSTATUS=serving on {d.url}"
        await until(lambda m: m == "WATCHDOG=1")
        await until(lambda m: m == "WATCHDOG=1")   # pinged again, every half interval
        d.send(signal.SIGHUP)
        reloading = (await until(lambda m: m.startswith("RELOADING=1"))).split("\n")
        assert reloading[1].startswith("MONOTONIC_USEC=") and reloading[1].split("=")[1].isdigit()
        assert await until(lambda m: m.startswith("READY=1")) == f"READY=1\nSTATUS=serving on {d.url}"
        d.send(signal.SIGTERM)
        assert await until(lambda m: m.startswith("STOPPING=1")) == "STOPPING=1\nSTATUS=draining 0 running request(s)"
        assert await d.exit_code() == 0
    finally:
        sock.close()


async def worker_pids(url: str, tries: int = 60) -> set[int]:
    """The processes that answered /health over fresh connections."""
    seen: set[int] = set()
    for _ in range(tries):
        async with aiohttp.ClientSession() as session:   # a new connection each time
            async with session.get(url + "/health") as resp:
                seen.add((await resp.json())["pid"])
    return seen


@pytest.mark.timeout(90)
async def test_workers_share_the_port_a_dead_one_is_replaced_and_metrics_are_summed(mocks, daemon) -> None:  # type: ignore[no-untyped-def]
    p1, p2 = mocks
    d = await daemon(config_text(p1, p2, "p1"), "--workers", "2")
    assert d.proc is not None
    pids = await worker_pids(d.url)
    assert len(pids) == 2 and d.proc.pid not in pids   # two workers answer; the main process supervises
    p1.responder = lambda body: Reply.json(OK_REPLY)
    async with aiohttp.ClientSession() as session:
        for _ in range(6):
            async with aiohttp.ClientSession() as fresh, fresh.post(d.url + "/v1/messages", json=GOOD) as resp:
                assert resp.status == 200
        async with session.get(d.url + "/metrics") as resp:
            text = await resp.text()
    assert 'dragoman_requests_total{outcome="ok",path="/v1/messages",provider="p1",status="200"} 6.0' in text
    victim = sorted(pids)[0]
    os.kill(victim, signal.SIGKILL)
    async with asyncio.timeout(20):
        while True:   # gunicorn starts a replacement
            now = await worker_pids(d.url, tries=20)
            if victim not in now and len(now) == 2:
                break
            await asyncio.sleep(0.2)
    d.config_path.write_text(config_text(p1, p2, "p2"))
    d.send(signal.SIGHUP)
    await d.wait_for("config reloaded", count=2)   # one line per worker: each reloads in place
    p2.responder = lambda body: Reply.json(OK_REPLY)
    for _ in range(6):
        async with aiohttp.ClientSession() as fresh, fresh.post(d.url + "/v1/messages", json=GOOD) as resp:
            assert resp.status == 200
    assert len(p2.requests) == 6
    d.send(signal.SIGTERM)
    assert await d.exit_code() == 0


@pytest.mark.timeout(60)
async def test_with_workers_systemd_hears_the_main_process_only(mocks, daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p1, p2 = mocks
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    try:
        d = await daemon(config_text(p1, p2, "p1"), "--workers", "2", env={"NOTIFY_SOCKET": sock_path})
        sock.settimeout(10)
        ready = sock.recv(4096).decode()
        assert ready == f"READY=1\nSTATUS=serving on {d.url} with 2 workers"
        d.send(signal.SIGHUP)
        assert sock.recv(4096).decode().startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert sock.recv(4096).decode() == "READY=1\nSTATUS=serving with 2 workers"
        d.send(signal.SIGTERM)
        assert sock.recv(4096).decode() == "STOPPING=1\nSTATUS=draining: workers finish running requests"
        assert await d.exit_code() == 0
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):   # nothing from the workers, ever
            sock.recv(4096)
    finally:
        sock.close()
