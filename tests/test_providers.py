"""Provider flavors against a mock that answers like each real provider (recorded responses),
recording the path, query, headers and body each request arrived with."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import aiohttp
import anthropic
import pytest
from aiohttp import web

from proxy.app import create_app
from proxy.config import parse_config

from .conftest import MockProvider, Reply, load_capture, load_fixture

REJECTED_BY_GEMINI = ("$schema", "additionalProperties", "propertyNames", "exclusiveMinimum")


class RecordingProvider:
    """Answers every POST with the next recorded exchange; remembers what it was sent."""

    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append({"path": request.path, "query": dict(request.query),
                          "headers": {k.lower(): v for k, v in request.headers.items()},
                          "body": await request.json()})
        response = self.replies.pop(0)["response"]
        return web.Response(status=response["status"], body=response["body"].encode(),
                            content_type=None, headers={"Content-Type": response["headers"]["content-type"]})


@pytest.fixture
async def upstream(aiohttp_server) -> tuple[RecordingProvider, str]:
    provider = RecordingProvider()
    app = web.Application()
    app.router.add_post("/{tail:.*}", provider.handle)
    server = await aiohttp_server(app)
    return provider, str(server.make_url("")).rstrip("/")


async def dragoman_for(aiohttp_server, provider: dict[str, Any], route: dict[str, Any] | None = None) -> str:
    config = parse_config({"providers": [{"name": "p", "protocol": "openai", **provider}],
                           "routes": [{"match": "*", "provider": "p", **(route or {})}]}, environ={})
    server = await aiohttp_server(create_app(config))
    return str(server.make_url("")).rstrip("/")


async def post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/v1/messages", json=body) as resp:
            return resp.status, await resp.json() if "json" in resp.content_type else await resp.read()


HELLO = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


async def test_azure_deployments_url_api_version_and_key_header(upstream, aiohttp_server) -> None:
    provider, base = upstream
    provider.replies.append(load_fixture("azure-content-filter-finish.json"))
    url = await dragoman_for(aiohttp_server, {"flavor": "azure", "base_url": base, "api_key": "azure-key-0123456789",
                                              "api_version": "2024-10-21"}, {"model": "gpt-4o-deploy"})
    status, message = await post(url, HELLO)
    seen = provider.seen[0]
    assert seen["path"] == "/openai/deployments/gpt-4o-deploy/chat/completions"
    assert seen["query"] == {"api-version": "2024-10-21"}
    assert seen["headers"]["api-key"] == "azure-key-0123456789" and "authorization" not in seen["headers"]
    # the recorded answer was cut by Azure's content filter
    assert status == 200 and message["stop_reason"] == "refusal"


async def test_azure_v1_form_without_api_version(upstream, aiohttp_server) -> None:
    provider, base = upstream
    provider.replies.append(load_fixture("azure-content-filter-finish.json"))
    url = await dragoman_for(aiohttp_server, {"flavor": "azure", "base_url": f"{base}/openai/v1", "api_key": "k" * 12})
    await post(url, HELLO)
    assert provider.seen[0]["path"] == "/openai/v1/chat/completions" and provider.seen[0]["query"] == {}


async def test_azure_stream_with_prompt_filter_chunk_first(upstream, aiohttp_server) -> None:
    provider, base = upstream
    provider.replies.append(load_fixture("azure-stream-prompt-filter-chunk.json"))
    url = await dragoman_for(aiohttp_server, {"flavor": "azure", "base_url": base, "api_key": "k" * 12,
                                              "api_version": "2024-10-21"}, {"model": "dep"})
    async with anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as client:
        async with client.messages.stream(**HELLO) as stream:
            message = await stream.get_final_message()
    assert message.content[0].text.startswith("Why did the Opentelemetry developer bring a ladder")


async def test_gemini_gets_clean_schemas_and_tool_ids_are_made(upstream, aiohttp_server) -> None:
    provider, base = upstream
    provider.replies.append(load_fixture("gemini-openai-tool-call-empty-id.json"))
    url = await dragoman_for(aiohttp_server, {"flavor": "gemini", "base_url": base, "api_key": "g" * 20},
                             {"model": "gemini-2.5-flash"})
    body = {**load_capture("01_main_first_request.json")["request"]["body"], "stream": False}
    status, message = await post(url, body)
    sent = json.dumps(provider.seen[0]["body"]["tools"])
    assert all(word not in sent for word in REJECTED_BY_GEMINI)
    assert len(provider.seen[0]["body"]["tools"]) == 24
    assert status == 200
    tool = [block for block in message["content"] if block["type"] == "tool_use"][0]
    assert tool["id"].startswith("toolu_")   # Gemini sent an empty id


async def test_deepseek_reasoning_passback_on_tool_turns(upstream, aiohttp_server) -> None:
    provider, base = upstream
    provider.replies.append(load_fixture("deepseek-reasoning-content.json"))
    url = await dragoman_for(aiohttp_server, {"flavor": "deepseek", "base_url": base, "api_key": "d" * 20},
                             {"model": "deepseek-reasoner"})
    body = {"model": "claude-opus-4-8", "max_tokens": 100, "messages": [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Use Bash ls.", "signature": "dragoman:v1"},
            {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a.txt"}]}]}
    status, message = await post(url, body)
    assistant = [m for m in provider.seen[0]["body"]["messages"] if m["role"] == "assistant"][0]
    assert assistant["reasoning_content"] == "Use Bash ls."
    assert status == 200 and message["content"][0]["type"] == "thinking"


async def test_openrouter_extra_body_and_max_completion_tokens(upstream, aiohttp_server) -> None:
    provider, base = upstream
    provider.replies.append(load_fixture("openrouter-stream-reasoning.json"))
    url = await dragoman_for(
        aiohttp_server, {"flavor": "openrouter", "base_url": base, "api_key": "o" * 20,
                         "max_tokens_field": "max_completion_tokens"},
        {"model": "openai/o3", "extra_body": {"provider": {"order": ["openai"]}, "model": "ignored"}})
    async with anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0) as client:
        async with client.messages.stream(**HELLO) as stream:
            message = await stream.get_final_message()
    sent = provider.seen[0]["body"]
    assert sent["provider"] == {"order": ["openai"]}
    assert sent["model"] == "openai/o3"          # extra_body never overrides the translation
    assert sent["max_completion_tokens"] == 100 and "max_tokens" not in sent
    assert message.content[0].text.startswith("I’m ChatGPT")


async def test_ollama_needs_no_key(upstream, aiohttp_server) -> None:
    provider, base = upstream
    provider.replies.append(load_fixture("ollama-cloud-tool-call.json"))
    url = await dragoman_for(aiohttp_server, {"flavor": "ollama", "base_url": f"{base}/v1"}, {"model": "gpt-oss:20b"})
    status, message = await post(url, HELLO)
    assert status == 200 and "authorization" not in provider.seen[0]["headers"]
    assert provider.seen[0]["path"] == "/v1/chat/completions"
    assert any(block["type"] == "tool_use" for block in message["content"])


def test_flavor_settings_are_checked() -> None:
    from proxy.config import ConfigError
    with pytest.raises(ConfigError, match="api_version is only used by flavor: azure"):
        parse_config({"providers": [{"name": "p", "protocol": "openai", "base_url": "http://x", "api_version": "1"}],
                      "routes": [{"match": "*", "provider": "p"}]}, environ={})
    with pytest.raises(ConfigError, match="flavor 'gemini' is for protocol: openai"):
        parse_config({"providers": [{"name": "p", "protocol": "anthropic", "base_url": "http://x", "flavor": "gemini"}],
                      "routes": [{"match": "*", "provider": "p"}]}, environ={})


async def test_vertex_uses_a_google_token_and_gemini_schemas(upstream, aiohttp_server, monkeypatch) -> None:
    import datetime

    google_auth = pytest.importorskip("google.auth", reason="google-auth is the optional 'vertex' extra")

    class Credentials:
        token, expiry, refreshes = None, None, 0

        def refresh(self, request) -> None:
            self.refreshes += 1
            self.token = f"ya29.vertex-{self.refreshes}"
            self.expiry = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(hours=1)

    credentials = Credentials()
    monkeypatch.setattr(google_auth, "default", lambda scopes: (credentials, "proj"))
    provider, base = upstream
    provider.replies += [load_fixture("gemini-openai-tool-call-empty-id.json")] * 2
    vertex_base = f"{base}/v1/projects/proj/locations/us-central1/endpoints/openapi"
    url = await dragoman_for(aiohttp_server, {"flavor": "vertex", "base_url": vertex_base},
                             {"model": "google/gemini-2.5-pro"})
    tool = {"name": "fetch", "input_schema": {"type": "object", "additionalProperties": False,
                                              "properties": {"url": {"type": "string", "format": "uri"}}}}
    for _ in range(2):
        status, _message = await post(url, {**HELLO, "tools": [tool]})
        assert status == 200
    assert [seen["headers"]["authorization"] for seen in provider.seen] == ["Bearer ya29.vertex-1"] * 2
    assert provider.seen[0]["path"] == "/v1/projects/proj/locations/us-central1/endpoints/openapi/chat/completions"
    assert provider.seen[0]["body"]["tools"][0]["function"]["parameters"] == {
        "type": "object", "properties": {"url": {"type": "string"}}}


async def test_conversation_key_becomes_openais_prompt_cache_key(provider: MockProvider, start_dragoman) -> None:  # type: ignore[no-untyped-def]
    """Claude Code's session (its user_id, hashed short) reaches OpenAI as prompt_cache_key, so
    its prompt cache keeps hitting; flavors that reject unknown fields (Azure) get none."""
    completion = {"id": "c", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}]}
    providers = [{"name": "oai", "protocol": "openai", "base_url": provider.url, "api_key": "k"},
                 {"name": "az", "protocol": "openai", "flavor": "azure", "base_url": provider.url, "api_key": "k"}]
    url = await start_dragoman(providers=providers, routes=[{"match": "to-oai", "provider": "oai"},
                                                             {"match": "to-az", "provider": "az"}])
    user = '{"device_id":"d","account_uuid":"","session_id":"0b6c5b3f-1f0e-4f8f-9e0e-2f3a4b5c6d7e"}' * 2
    async with aiohttp.ClientSession() as session:
        for model in ("to-oai", "to-az"):
            provider.script(Reply.json(completion))
            async with session.post(f"{url}/v1/messages", json={
                    "model": model, "max_tokens": 10, "metadata": {"user_id": user},
                    "messages": [{"role": "user", "content": "hi"}]}) as resp:
                assert resp.status == 200
    expected = "cache-" + hashlib.sha256(user.encode()).hexdigest()[:32]
    assert provider.requests[0]["prompt_cache_key"] == expected
    assert "prompt_cache_key" not in provider.requests[1]
