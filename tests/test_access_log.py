"""One structured access-log line per request, metrics, and no secret in any log line."""

from __future__ import annotations

import json

import aiohttp
import anthropic
from structlog.testing import capture_logs

from tests.conftest import MockProvider, Reply

UPSTREAM_KEY = "sk-upstream-secret-0123456789"


def requests_logged(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry["event"] == "request"]


async def test_streamed_request_logs_one_line_with_its_fields(provider: MockProvider, dragoman: str) -> None:
    provider.script(Reply.from_fixture("openai-stream-tool-call-streamed-args.json"))
    with capture_logs() as logs:
        async with anthropic.AsyncAnthropic(base_url=dragoman, api_key="client-key", max_retries=0) as client:
            async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=100,
                                              messages=[{"role": "user", "content": "1231 * 2331?"}]) as stream:
                await stream.get_final_message()
    [line] = requests_logged(logs)
    assert {k: line[k] for k in ("method", "path", "status", "model", "provider", "upstream_model", "stream",
                                 "input_tokens", "output_tokens", "error")} == {
        "method": "POST", "path": "/v1/messages", "status": 200, "model": "claude-sonnet-4-6",
        "provider": "mock", "upstream_model": "big-model", "stream": True,
        "input_tokens": 54, "output_tokens": 20, "error": None,   # the recorded usage chunk
    }
    assert 0 < line["ttfb_ms"] <= line["ms"]
    assert len(line["request_id"]) == 32


async def test_upstream_error_logs_type_and_never_the_key(provider: MockProvider, dragoman: str) -> None:
    # an upstream that echoes the key it was sent, as OpenAI's 401 does
    provider.script(Reply.json({"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}"}}, status=401))
    with capture_logs() as logs:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{dragoman}/v1/messages", json={
                    "model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}) as resp:
                body = await resp.read()
    assert resp.status == 401
    assert UPSTREAM_KEY.encode() not in body and b"[redacted]" in body
    [line] = requests_logged(logs)
    assert (line["status"], line["error"]) == (401, "authentication_error")
    assert UPSTREAM_KEY not in json.dumps(logs, default=str)


async def test_metrics_count_requests_by_path_status_and_provider(provider: MockProvider, dragoman: str) -> None:
    provider.script(Reply.from_fixture("openai-stream-text-after-tool.json"))
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{dragoman}/v1/messages", json={
                "model": "claude-x", "max_tokens": 10, "stream": True,
                "messages": [{"role": "user", "content": "hi"}]}) as resp:
            await resp.read()
        async with session.get(f"{dragoman}/metrics") as resp:
            text = await resp.text()
    assert 'dragoman_requests_total{outcome="ok",path="/v1/messages",provider="mock",status="200"} 1.0' in text
    assert 'dragoman_tokens_total{direction="output",provider="mock"} 9.0' in text
    assert "dragoman_time_to_first_byte_seconds_bucket" in text


async def test_route_system_prompt_is_used_only_when_the_request_has_none(provider: MockProvider, start_dragoman) -> None:
    url = await start_dragoman(routes=[{"match": "*", "provider": "claude", "model": "claude-haiku-4-5",
                                        "system_prompt": "You are a pirate."}])
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
               "content": [{"type": "text", "text": "Arr"}], "stop_reason": "end_turn", "stop_sequence": None,
               "usage": {"input_tokens": 5, "output_tokens": 1}}
    provider.script(Reply.json(message), Reply.json(message))
    async with aiohttp.ClientSession() as session:
        for messages in ([{"role": "user", "content": "hi"}],
                         [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]):
            async with session.post(f"{url}/v1/chat/completions",
                                    json={"model": "gpt-4o", "messages": messages}) as resp:
                assert resp.status == 200
                assert (await resp.json())["choices"][0]["message"]["content"] == "Arr"
    assert provider.requests[0]["system"] == [{"type": "text", "text": "You are a pirate."}]
    assert provider.requests[1]["system"] == [{"type": "text", "text": "Be brief."}]


# --- metrics that can't be abused ------------------------------------------------------------------

async def test_metrics_need_dragomans_key_when_auth_is_on(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(auth={"api_keys": ["right"]})
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/metrics") as resp:
            assert resp.status == 401
        async with session.get(f"{url}/metrics", headers={"Authorization": "Bearer right"}) as resp:
            assert resp.status == 200 and "dragoman_requests_total" in await resp.text()
        async with session.get(f"{url}/health") as resp:   # probes stay open
            assert resp.status == 200
    public = await start_dragoman(auth={"api_keys": ["right"]}, metrics={"public": True})
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{public}/metrics") as resp:
            assert resp.status == 200


async def test_metrics_port_moves_metrics_off_the_main_listener(start_dragoman) -> None:  # type: ignore[no-untyped-def]
    url = await start_dragoman(metrics={"port": 0})
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/metrics") as resp:
            assert resp.status == 404


async def test_url_routed_upstreams_share_one_metrics_label(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    """Any caller names its own host in a URL route; as a label it would grow the series without
    bound, so every URL-routed upstream is counted as one."""
    url = await start_dragoman(url_routing={"enabled": True, "allow_hosts": ["127.0.0.1", "localhost"],
                                            "allow_private": True})
    port = provider.root.rsplit(":", 1)[1]
    async with aiohttp.ClientSession() as session:
        for host in ("127.0.0.1", "localhost"):
            provider.script(Reply.from_fixture("openai-cached-tokens.json"))
            async with session.post(f"{url}/http/{host}:{port}/v1/m/v1/messages", headers={"x-api-key": "k"},
                                    json={"model": "c", "max_tokens": 5,
                                          "messages": [{"role": "user", "content": "hi"}]}) as resp:
                assert resp.status == 200
        async with session.get(f"{url}/metrics") as resp:
            text = await resp.text()
    assert 'provider="url-routing",status="200"} 2.0' in text
    assert "localhost" not in text and "127.0.0.1" not in text


async def test_stream_that_failed_midway_counts_its_real_outcome(provider: MockProvider, dragoman: str) -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "m",
             "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}
    provider.script(Reply(body=b"data: " + json.dumps(chunk).encode() + b"\n\n", content_type="text/event-stream",
                          chunk_size=40, cut=True))
    with capture_logs() as logs:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{dragoman}/v1/messages", json={
                    "model": "claude-x", "max_tokens": 10, "stream": True,
                    "messages": [{"role": "user", "content": "hi"}]}) as resp:
                assert resp.status == 200
                assert b"event: error" in await resp.read()
            async with session.get(f"{dragoman}/metrics") as resp:
                text = await resp.text()
    assert ('dragoman_requests_total{outcome="api_error",path="/v1/messages",provider="mock",status="200"} 1.0'
            in text)
    [line] = requests_logged(logs)
    assert (line["status"], line["error"]) == (200, "api_error")
