"""Same-dialect pass-through never relays a broken answer as a good one.

Each broken answer is built in the test and sent through both pass-through dialects: valid
events still go out byte for byte, and what is broken ends with the dialect's own error frame
(or, for an OpenAI stream that only lacks its terminator, with the ``[DONE]`` it left out).
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from tests.conftest import MockProvider, Reply
from tests.test_errors import GOOD, post

ANTHROPIC_HEAD = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
                  b'"role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,'
                  b'"usage":{"input_tokens":5,"output_tokens":1}}}\n\n'
                  b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
                  b'"content_block":{"type":"text","text":""}}\n\n'
                  b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                  b'"delta":{"type":"text_delta","text":"Hello"}}\n\n')
ANTHROPIC_TAIL = (b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
                  b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
                  b'"stop_sequence":null},"usage":{"output_tokens":2}}\n\n')
ANTHROPIC_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
OPENAI_HEAD = (b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
               b'"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}\n\n')
OPENAI_FINISH = (b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
                 b'"delta":{},"finish_reason":"stop"}]}\n\n')
OPENAI_DONE = b"data: [DONE]\n\n"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def url(provider: MockProvider, start_dragoman) -> str:  # type: ignore[no-untyped-def]
    providers = [{"name": "oai", "protocol": "openai", "base_url": provider.url, "api_key": "sk-a-key-0123456789"},
                 {"name": "ant", "protocol": "anthropic", "base_url": provider.root, "api_key": "sk-ant-key-0123456789"}]
    return await start_dragoman(providers=providers, routes=[  # type: ignore[no-any-return]
        {"match": "claude-*", "provider": "ant", "client": "anthropic"},
        {"match": "*", "provider": "oai", "client": "openai"}])


async def relay(url: str, dialect: str, streaming: bool) -> tuple[int, bytes]:
    """POST a request in ``dialect`` (the mock's scripted reply answers it); (status, raw body)."""
    body: dict[str, Any] = {**GOOD, "model": "claude-x"} if dialect == "anthropic" else dict(CHAT)
    path = "/v1/messages" if dialect == "anthropic" else "/v1/chat/completions"
    status, _, raw = await post(url, {**body, "stream": streaming}, path=path)
    return status, raw


def stream(body: bytes, **kw: Any) -> Reply:
    return Reply(body=body, content_type="text/event-stream", chunk_size=23, **kw)


def anthropic_error_tail(raw: bytes, prefix: bytes) -> dict[str, Any]:
    assert raw.startswith(prefix), raw[:200]
    tail = raw[len(prefix):]
    assert tail.startswith(b"event: error\ndata: ") and tail.endswith(b"\n\n") and tail.count(b"\n\n") == 1
    return json.loads(tail[len(b"event: error\ndata: "):])  # type: ignore[no-any-return]


def openai_error_tail(raw: bytes, prefix: bytes) -> dict[str, Any]:
    assert raw.startswith(prefix), raw[:200]
    tail = raw[len(prefix):]
    assert tail.startswith(b"data: {\"error\"") and tail.endswith(b"\n\n") and tail.count(b"\n\n") == 1
    return json.loads(tail[len(b"data: "):])  # type: ignore[no-any-return]


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_html_error_page_sent_with_status_200_is_a_502(provider: MockProvider, url: str, dialect: str) -> None:
    provider.script(Reply(body=b"<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html"))
    status, raw = await relay(url, dialect, False)
    assert status == 502
    message = json.loads(raw)["error"]["message"]
    assert "answered with a status of success but a body that is not a valid answer" in message


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_json_that_is_not_the_dialects_answer_is_a_502(provider: MockProvider, url: str, dialect: str) -> None:
    provider.script(Reply.json({"status": "ok", "detail": "maintenance"}))
    status, _raw = await relay(url, dialect, False)
    assert status == 502


async def test_anthropic_stream_with_a_non_json_data_line_ends_with_an_error_event(provider: MockProvider,
                                                                                   url: str) -> None:
    provider.script(stream(ANTHROPIC_HEAD + b"event: content_block_delta\ndata: <html>oops</html>\n\n" + ANTHROPIC_TAIL))
    status, raw = await relay(url, "anthropic", True)
    assert status == 200
    error = anthropic_error_tail(raw, ANTHROPIC_HEAD)
    assert error["error"] == {"type": "api_error",
                              "message": "The upstream provider sent a malformed stream (a data line is not JSON)."}


async def test_openai_stream_with_a_non_json_data_line_ends_with_an_error_frame(provider: MockProvider,
                                                                               url: str) -> None:
    provider.script(stream(OPENAI_HEAD + b"data: {\"choices\": [tru\n\n" + OPENAI_FINISH + OPENAI_DONE))
    status, raw = await relay(url, "openai", True)
    assert status == 200
    error = openai_error_tail(raw, OPENAI_HEAD)
    assert error["error"]["code"] == "api_error" and "not JSON" in error["error"]["message"]


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_a_line_that_is_not_sse_ends_the_stream_with_an_error(provider: MockProvider, url: str,
                                                                    dialect: str) -> None:
    head = ANTHROPIC_HEAD if dialect == "anthropic" else OPENAI_HEAD
    provider.script(stream(head + b"<!DOCTYPE html>\n\n" + (ANTHROPIC_TAIL + ANTHROPIC_STOP)))
    status, raw = await relay(url, dialect, True)
    assert status == 200
    error = anthropic_error_tail(raw, head)["error"] if dialect == "anthropic" else openai_error_tail(raw, head)["error"]
    assert error["message"] == "The upstream provider sent a malformed stream (a line that is not SSE)."


async def test_anthropic_stream_ending_without_message_stop_ends_with_an_error_event(provider: MockProvider,
                                                                                     url: str) -> None:
    """The connection closed cleanly (chunked encoding ended), but the message never did."""
    provider.script(stream(ANTHROPIC_HEAD + ANTHROPIC_TAIL))
    status, raw = await relay(url, "anthropic", True)
    assert status == 200
    error = anthropic_error_tail(raw, ANTHROPIC_HEAD + ANTHROPIC_TAIL)
    assert error["error"]["message"] == "The upstream provider ended the stream before the answer was complete."


async def test_openai_stream_ending_before_its_finish_reason_ends_with_an_error_frame(provider: MockProvider,
                                                                                      url: str) -> None:
    provider.script(stream(OPENAI_HEAD))
    status, raw = await relay(url, "openai", True)
    assert status == 200
    openai_error_tail(raw, OPENAI_HEAD)


async def test_openai_stream_with_finish_reason_but_no_done_gets_its_done(provider: MockProvider, url: str) -> None:
    provider.script(stream(OPENAI_HEAD + OPENAI_FINISH))
    status, raw = await relay(url, "openai", True)
    assert (status, raw) == (200, OPENAI_HEAD + OPENAI_FINISH + OPENAI_DONE)


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_connection_cut_mid_stream_ends_with_an_error(provider: MockProvider, url: str, dialect: str) -> None:
    head = ANTHROPIC_HEAD if dialect == "anthropic" else OPENAI_HEAD
    provider.script(stream(head, cut=True))
    status, raw = await relay(url, dialect, True)
    assert status == 200
    tail = anthropic_error_tail(raw, head)["error"] if dialect == "anthropic" else openai_error_tail(raw, head)["error"]
    assert tail["message"] == "The connection to the upstream provider was lost mid-stream."


async def test_upstreams_own_error_event_is_relayed_and_ends_the_stream(provider: MockProvider, url: str) -> None:
    error = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    provider.script(stream(ANTHROPIC_HEAD + error + ANTHROPIC_TAIL + ANTHROPIC_STOP))
    status, raw = await relay(url, "anthropic", True)
    assert (status, raw) == (200, ANTHROPIC_HEAD + error)


async def test_valid_stream_with_crlf_line_ends_is_relayed_byte_for_byte(provider: MockProvider, url: str) -> None:
    body = (ANTHROPIC_HEAD + ANTHROPIC_TAIL + ANTHROPIC_STOP).replace(b"\n", b"\r\n")
    provider.script(Reply(body=body, content_type="text/event-stream", chunk_size=5))
    status, raw = await relay(url, "anthropic", True)
    assert (status, raw) == (200, body)


async def test_stalled_client_is_cut_and_the_upstream_with_it(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    """A client that stops reading a pass-through stream is cut after server.send_timeout, and the
    upstream request is cancelled: nothing waits on it for ever."""
    providers = [{"name": "ant", "protocol": "anthropic", "base_url": provider.root, "api_key": "sk-ant-key-0123456789"}]
    url = await start_dragoman(providers=providers, routes=[{"match": "*", "provider": "ant"}],
                               server={"ping_interval": 0.2, "send_timeout": 0.5})
    delta = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
             b'"delta":{"type":"text_delta","text":"' + b"x" * 4000 + b'"}}\n\n')
    provider.script(Reply(body=ANTHROPIC_HEAD + delta * 20_000, content_type="text/event-stream", chunk_size=len(delta)))
    host, port = url.split("://")[1].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    body = json.dumps({**GOOD, "model": "claude-x", "stream": True}).encode()
    request = (f"POST /v1/messages HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    await asyncio.get_running_loop().sock_sendall(sock, request)
    try:
        await asyncio.wait_for(provider.cancelled.wait(), 20)   # the client never reads a byte
    finally:
        sock.close()
