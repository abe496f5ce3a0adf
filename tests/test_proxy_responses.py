"""POST /v1/responses through dragoman with the official `openai` SDK as the client
(``responses.create`` and ``responses.stream``, strict validation), on every provider protocol,
and the other two client dialects on a ``protocol: responses`` provider.

The mock provider replays real recorded exchanges (tests/fixtures, SOURCES.md); expected values
come from the recordings. Every emitted Responses stream goes through the Responses stream
checker, every Anthropic one through the Anthropic checker.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from tests.conftest import FIXTURES, MockProvider, Reply, load_fixture
from tests.responses_stream_checker import check_responses_stream, terminal
from tests.stream_checker import check_stream
from tests.test_errors import post

MULTIPLY = {"type": "function", "name": "multiply", "description": "Multiply two integers",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                           "required": ["a", "b"]}}
RESPONSES_ONLY = ("input", "instructions", "store", "include", "previous_response_id", "max_output_tokens", "text",
                  "reasoning", "parallel_tool_calls", "prompt_cache_key")


@pytest.fixture
async def url(provider: MockProvider, start_dragoman) -> str:  # type: ignore[no-untyped-def]
    providers = [
        {"name": "oai", "protocol": "openai", "base_url": provider.url, "api_key": "sk-oai-key-0123456789"},
        {"name": "ant", "protocol": "anthropic", "base_url": provider.root, "api_key": "sk-ant-key-0123456789"},
        {"name": "resp", "protocol": "responses", "base_url": provider.url, "api_key": "sk-resp-key-0123456789"},
    ]
    return await start_dragoman(providers=providers, routes=[  # type: ignore[no-any-return]
        {"match": "via-chat", "provider": "oai", "model": "gpt-4o-mini"},
        {"match": "via-anthropic", "provider": "ant", "model": "claude-sonnet-4-5"},
        {"match": "via-responses", "provider": "resp", "model": "gpt-5.2"},
        {"match": "claude-*", "provider": "resp", "model": "gpt-5.2", "client": "anthropic"},
        {"match": "gpt-*", "provider": "resp", "model": "gpt-5.2", "client": "openai"},
    ])


@asynccontextmanager
async def sdk(base_url: str, strict: bool = True) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0,
                                  _strict_response_validation=strict) as client:
        yield client


async def raw_responses(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    status, _, raw = await post(url, body, path="/v1/responses")
    return status, raw


def recorded_json(name: str) -> dict[str, Any]:
    return json.loads(load_fixture(name)["response"]["body"])  # type: ignore[no-any-return]


# --- Responses clients on each provider protocol ----------------------------------------------------

async def test_responses_stream_with_a_tool_call_on_a_chat_provider(provider: MockProvider, url: str) -> None:
    provider.script(Reply.from_fixture("openai-stream-tool-call-streamed-args.json"))
    async with sdk(url) as client:
        async with client.responses.stream(model="via-chat", input="What is 1231 * 2331?", tools=[MULTIPLY],
                                           instructions="Use the tool.") as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in kinds
    [call] = final.output
    assert (call.type, call.name, json.loads(call.arguments)) == ("function_call", "multiply", {"a": 1231, "b": 2331})
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (54, 20)
    assert final.model == "via-chat" and final.status == "completed"
    sent = provider.requests[0]
    assert sent["model"] == "gpt-4o-mini" and sent["stream"] is True
    assert sent["messages"] == [{"role": "system", "content": "Use the tool."},
                                {"role": "user", "content": "What is 1231 * 2331?"}]
    assert sent["tools"][0]["function"]["name"] == "multiply"
    assert not set(RESPONSES_ONLY) & set(sent)   # nothing of the Responses dialect leaks upstream


async def test_responses_create_on_a_chat_provider(provider: MockProvider, url: str) -> None:
    provider.script(Reply.from_fixture("openai-cached-tokens.json"))
    recorded = recorded_json("openai-cached-tokens.json")
    async with sdk(url) as client:
        response = await client.responses.create(model="via-chat", input="Say OK")
    assert response.output_text == recorded["choices"][0]["message"]["content"]
    usage = recorded["usage"]
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.input_tokens_details.cached_tokens,
            response.usage.output_tokens) == (usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"],
                                              usage["completion_tokens"])
    assert response.id.startswith("resp_") and response.object == "response"


async def test_responses_reasoning_on_an_anthropic_provider_keeps_the_signature(provider: MockProvider,
                                                                                 url: str) -> None:
    """Claude's thinking comes back as a reasoning item whose encrypted_content carries the
    signature, so the next turn can return it to Anthropic (multi-turn thinking survives)."""
    provider.script(Reply.from_fixture("anthropic-stream-thinking-signature.json"))
    async with sdk(url) as client:
        async with client.responses.stream(model="via-anthropic", input="How do I cross the street?",
                                           reasoning={"effort": "high", "summary": "auto"}) as stream:
            final = await stream.get_final_response()
    reasoning, message = final.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content is not None
    assert reasoning.encrypted_content.startswith("dragoman:an:")
    assert reasoning.summary and reasoning.summary[0].text.startswith("This is a straightforward question")  # recorded
    assert message.type == "message" and final.output_text.startswith("Here are the basic steps")
    sent = provider.requests[0]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    # the next turn hands the signature back to Anthropic untouched
    provider.script(Reply.from_fixture("anthropic-stream-text-haiku.json"))
    history = [item.model_dump(exclude_none=True) for item in final.output]
    async with sdk(url) as client:
        async with client.responses.stream(model="via-anthropic", reasoning={"effort": "high"},
                                           input=[{"role": "user", "content": "How do I cross the street?"},
                                                  *history, {"role": "user", "content": "Thanks!"}]) as stream:
            await stream.get_final_response()
    assistant = provider.requests[1]["messages"][1]
    assert assistant["role"] == "assistant" and assistant["content"][0]["type"] == "thinking"
    assert assistant["content"][0]["signature"] == reasoning.encrypted_content[len("dragoman:an:"):]


async def test_responses_passthrough_stream_is_relayed_byte_for_byte(provider: MockProvider, url: str) -> None:
    provider.script(Reply.from_fixture("openai-responses-stream-plain-text.json"))
    status, raw = await raw_responses(url, {"model": "via-responses", "input": "What is 2+2?", "stream": True})
    assert status == 200
    assert raw == load_fixture("openai-responses-stream-plain-text.json")["response"]["body"].encode()
    assert provider.requests[0]["model"] == "gpt-5.2" and provider.paths[0] == "/v1/responses"
    assert terminal(check_responses_stream(raw))["status"] == "completed"


async def test_codex_passed_through_keeps_its_body_and_protocol_headers(provider: MockProvider, url: str) -> None:
    """Codex's default-model request, as recorded, on a Responses provider: the body goes on with only
    the model replaced, and its session and shape headers go with it (as to OpenAI itself)."""
    recorded = json.loads((FIXTURES / "codex" / "03_default_model_first_turn_request.json").read_text())
    provider.script(Reply.from_fixture("openai-responses-stream-plain-text.json"))
    client_headers = {k: v for k, v in recorded["headers"].items()
                      if k.lower() not in ("host", "content-length", "authorization", "accept-encoding")}
    status, _, raw = await post(url, {**recorded["body"], "model": "via-responses"}, headers=client_headers,
                                path="/v1/responses")
    assert status == 200 and terminal(check_responses_stream(raw))["status"] == "completed"
    assert provider.requests[0] == {**recorded["body"], "model": "gpt-5.2"}
    sent = {k.lower(): v for k, v in provider.headers[0].items()}
    for name in ("session-id", "thread-id", "originator", "x-client-request-id", "x-codex-window-id",
                 "x-codex-turn-metadata", "x-codex-beta-features", "x-openai-internal-codex-responses-lite"):
        assert sent[name] == recorded["headers"][name], name
    assert sent["authorization"] == "Bearer sk-resp-key-0123456789"


async def test_responses_passthrough_through_the_sdk(provider: MockProvider, url: str) -> None:
    provider.script(Reply.from_fixture("openai-responses-text.json"))
    async with sdk(url, strict=False) as client:   # the 2025 recording predates fields the SDK now requires
        response = await client.responses.create(model="via-responses", input="What is the capital of France?")
    assert response.output_text == "The capital of France is Paris."


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("anthropic-stream-*.json")) +
                         sorted(p.name for p in FIXTURES.glob("openai-stream-*.json")))
async def test_every_recorded_stream_is_a_valid_responses_stream(provider: MockProvider, url: str, name: str) -> None:
    """Each recorded provider stream, translated for a Responses client, passes the checker and
    the SDK's own accumulator (strict), ending as the recording did."""
    provider.script(Reply.from_fixture(name))
    model = "via-anthropic" if name.startswith("anthropic") else "via-chat"
    status, raw = await raw_responses(url, {"model": model, "input": "hi", "stream": True,
                                            "reasoning": {"effort": "low"}})
    assert status == 200
    events = check_responses_stream(raw)
    end = terminal(events)
    assert end["status"] in ("completed", "incomplete", "failed")
    provider.script(Reply.from_fixture(name))
    async with sdk(url) as client:
        async with client.responses.stream(model=model, input="hi", reasoning={"effort": "low"}) as stream:
            last = [event async for event in stream][-1]
    # the SDK's get_final_response() accepts only response.completed; its last event carries any end
    assert last.type == f"response.{end['status']}"
    final = last.response  # type: ignore[union-attr]
    assert final.status == end["status"]
    assert [item.type for item in final.output] == [item["type"] for item in end["output"]]


# --- the other dialects on a Responses provider -----------------------------------------------------

async def test_anthropic_client_on_a_responses_provider(provider: MockProvider, url: str) -> None:
    """Claude Code's dialect on a Responses-only model: the recorded function call comes back as
    a tool_use block, in a stream the Anthropic checker and SDK accept."""
    provider.script(Reply.from_fixture("openai-responses-stream-function-call-legacy.json"))
    tool = {"name": "get_capital", "description": "", "input_schema": {
        "type": "object", "properties": {"country": {"type": "string"}}, "required": ["country"]}}
    status, _, raw = await post(url, {"model": "claude-sonnet-4-6", "max_tokens": 1000, "stream": True,
                                      "tools": [tool], "metadata": {"user_id": "u" * 150},
                                      "messages": [{"role": "user", "content": "What is the capital of France?"}]})
    assert status == 200
    events = check_stream(raw)
    starts = [e["content_block"] for n, e in events if n == "content_block_start"]
    assert [(b["type"], b.get("name")) for b in starts] == [("tool_use", "get_capital")]
    args = "".join(e["delta"]["partial_json"] for n, e in events if n == "content_block_delta")
    assert json.loads(args) == {"country": "France"}
    stop = [e for n, e in events if n == "message_delta"][0]
    assert stop["delta"]["stop_reason"] == "tool_use"
    sent = provider.requests[0]
    assert sent["store"] is False and sent["model"] == "gpt-5.2"
    assert sent["input"] == [{"type": "message", "role": "user",
                              "content": [{"type": "input_text", "text": "What is the capital of France?"}]}]
    assert len(sent["safety_identifier"]) <= 64 and sent["prompt_cache_key"].startswith("cache-")
    assert not {"messages", "max_tokens", "metadata", "system"} & set(sent)
    async with anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0) as client:
        provider.script(Reply.from_fixture("openai-responses-stream-function-call-legacy.json"))
        async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1000, tools=[tool],  # type: ignore[list-item]
                                          messages=[{"role": "user", "content": "Capital?"}]) as stream:
            message = await stream.get_final_message()
    assert message.content[0].type == "tool_use" and message.content[0].input == {"country": "France"}


async def test_chat_client_on_a_responses_provider(provider: MockProvider, url: str) -> None:
    provider.script(Reply.from_fixture("openai-responses-text.json"))
    async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert completion.choices[0].message.content == "The capital of France is Paris."
    assert completion.choices[0].finish_reason == "stop"
    assert provider.paths == ["/v1/responses"] and provider.requests[0]["model"] == "gpt-5.2"


# --- previous_response_id ---------------------------------------------------------------------------

async def test_previous_response_id_continues_a_translated_conversation(provider: MockProvider, url: str) -> None:
    provider.script(Reply.from_fixture("openai-cached-tokens.json"), Reply.from_fixture("openai-cached-tokens.json"))
    async with sdk(url) as client:
        first = await client.responses.create(model="via-chat", input="Say OK")
        second = await client.responses.create(model="via-chat", input="Again", previous_response_id=first.id)
    assert second.id != first.id
    assert provider.requests[1]["messages"] == [
        {"role": "user", "content": "Say OK"}, {"role": "assistant", "content": first.output_text},
        {"role": "user", "content": "Again"}]


async def test_unknown_previous_response_id_is_a_400(provider: MockProvider, url: str) -> None:
    async with sdk(url) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(model="via-chat", input="Hi", previous_response_id="resp_nope")
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert "unknown or expired" in caught.value.body["message"]  # type: ignore[index]
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert provider.requests == []


async def test_store_false_stores_nothing(provider: MockProvider, url: str) -> None:
    provider.script(Reply.from_fixture("openai-cached-tokens.json"))
    async with sdk(url) as client:
        first = await client.responses.create(model="via-chat", input="Say OK", store=False)
        with pytest.raises(openai.BadRequestError):
            await client.responses.create(model="via-chat", input="Again", previous_response_id=first.id)


async def test_a_providers_own_previous_response_id_is_passed_to_it(provider: MockProvider, url: str) -> None:
    provider.script(Reply.from_fixture("openai-responses-text.json"))
    status, _ = await raw_responses(url, {"model": "via-responses", "input": "And?", "previous_response_id": "resp_abc"})
    assert status == 200 and provider.requests[0]["previous_response_id"] == "resp_abc"


# --- failures -----------------------------------------------------------------------------------------

async def test_upstream_cut_mid_stream_ends_with_response_failed(provider: MockProvider, url: str) -> None:
    body = load_fixture("openai-stream-text-after-tool.json")["response"]["body"].encode()
    provider.script(Reply(body=body[:len(body) // 2], content_type="text/event-stream", chunk_size=64, cut=True))
    status, raw = await raw_responses(url, {"model": "via-chat", "input": "hi", "stream": True})
    assert status == 200
    end = terminal(check_responses_stream(raw))
    assert end["status"] == "failed"
    assert end["error"] == {"code": "server_error", "message": "The connection to the upstream provider was lost mid-stream."}


async def test_rate_limit_before_the_stream_is_an_openai_error_with_retry_after(provider: MockProvider,
                                                                                url: str) -> None:
    provider.script(Reply(status=429, body=b'{"error":{"message":"slow down"}}', headers={"Retry-After": "3"}))
    async with sdk(url) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.responses.create(model="via-chat", input="hi")
    assert caught.value.response.headers["retry-after"] == "3"
    assert "slow down" in caught.value.body["message"]  # type: ignore[index]


async def test_what_the_responses_dialect_cannot_carry_is_a_400_naming_it(provider: MockProvider, url: str) -> None:
    status, raw = await raw_responses(url, {"model": "via-chat", "input": "hi",
                                            "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]})
    assert status == 400
    error = json.loads(raw)["error"]
    assert error["param"] == "tools.0.type" and provider.requests == []


async def test_websocket_upgrade_attempt_gets_a_plain_http_answer(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/v1/responses", headers={
                "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:
            assert resp.status == 405
            assert (await resp.json())["error"]["type"] == "invalid_request_error"

