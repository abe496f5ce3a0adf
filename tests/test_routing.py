"""Routing conditions (thinking, long context, tools) and fallbacks between providers.

Conditions are checked through ``candidates`` on parsed configs and end to end through the
handlers. Fallbacks run against several mock providers on loopback that record, in one shared
list, which of them was asked and in what order; timings are only ever asserted as lower bounds.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from structlog.testing import capture_logs

from converters.token_count import count_tokens
from proxy import fallback
from proxy.cli import main
from proxy.conditions import Facts, anthropic_facts, openai_facts, responses_facts
from proxy.config import ConfigError, parse_config
from proxy.routing import candidates, resolve
from tests.conftest import MockProvider, Reply, load_capture
from tests.stream_checker import check_stream, parse_sse
from tests.test_errors import (
    GOOD,
    GOOD_STREAM,
    OK_REPLY,
    PARTIAL_SSE,
    chunk,
    closed_port,
    post,
)

KEY = "sk-upstream-secret-0123456789"
ANTHROPIC_MESSAGE = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                     "content": [{"type": "text", "text": "from anthropic"}], "stop_reason": "end_turn",
                     "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 2}}


def completion(text: str) -> dict[str, Any]:
    return {**OK_REPLY, "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": text}}]}


def config(routes: list[dict[str, Any]], *names: str) -> Any:
    providers = [{"name": n, "protocol": "anthropic" if n.startswith("claude") else "openai",
                  "base_url": f"http://{n}.example"} for n in names or ("a", "b", "c")]
    return parse_config({"providers": providers, "routes": routes}, environ={})


def served_by(cfg: Any, body: dict[str, Any], client: str = "anthropic") -> str:
    facts = anthropic_facts(body) if client == "anthropic" else openai_facts(body)
    return resolve(cfg, body["model"], client, facts).provider.name  # type: ignore[arg-type]


# --- conditions ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("thinking", "expected"), [
    ({"type": "enabled", "budget_tokens": 2048}, "a"),
    ({"type": "adaptive"}, "a"),
    ({"type": "disabled"}, "b"),
    (None, "b"),
])
def test_thinking_condition(thinking: dict[str, Any] | None, expected: str) -> None:
    cfg = config([{"match": "claude-*", "thinking": True, "provider": "a"},
                  {"match": "claude-*", "thinking": False, "provider": "b"}])
    body = {**GOOD, **({"thinking": thinking} if thinking else {})}
    assert served_by(cfg, body) == expected


def test_min_input_tokens_by_the_local_count() -> None:
    big = load_capture("01_main_first_request.json")["request"]["body"]  # Claude Code's 85 kB first request
    tokens = count_tokens(big)
    assert tokens > 10_000
    routes = [{"match": "*", "min_input_tokens": 10_000, "provider": "a"}, {"match": "*", "provider": "b"}]
    assert served_by(config(routes), big) == "a"
    assert served_by(config(routes), GOOD) == "b"
    # "min": a request of exactly that many tokens is long enough, one more is not
    assert served_by(config([{**routes[0], "min_input_tokens": tokens}, routes[1]]), big) == "a"
    assert served_by(config([{**routes[0], "min_input_tokens": tokens + 1}, routes[1]]), big) == "b"


def test_token_count_only_when_a_route_that_could_match_asks() -> None:
    calls: list[int] = []

    def counting() -> int:
        calls.append(1)
        return 5

    cfg = config([{"match": "gpt-*", "min_input_tokens": 10, "provider": "a"},
                  {"match": "*", "thinking": True, "min_input_tokens": 10, "provider": "a"},
                  {"match": "*", "provider": "b"}])
    facts = Facts(lambda: False, tuple, counting)
    assert resolve(cfg, "claude-x", "anthropic", facts).provider.name == "b"
    assert calls == []        # neither the other glob nor a failed thinking condition needed a count
    facts = Facts(lambda: True, tuple, counting)
    assert resolve(cfg, "claude-x", "anthropic", facts).provider.name == "b"
    assert resolve(cfg, "claude-y", "anthropic", facts).provider.name == "b"
    assert calls == [1]       # counted once per request, however many routes ask


CUSTOM_TOOL = {"name": "Task", "description": "Run a sub-agent", "input_schema": {"type": "object"}}
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}


@pytest.mark.parametrize(("tools", "include", "matches"), [
    ([CUSTOM_TOOL], ["Task"], True),
    ([CUSTOM_TOOL], ["Bash", "Task"], True),        # any of the names
    ([CUSTOM_TOOL], ["Tas"], False),                # a custom tool's name must be equal
    ([WEB_SEARCH], ["web_search"], True),
    ([{**WEB_SEARCH, "name": "search"}], ["web_search"], True),   # a server tool by its type's prefix
    ([{**CUSTOM_TOOL, "name": "web_search_helper"}], ["web_search"], False),
    ([CUSTOM_TOOL, WEB_SEARCH], ["web_search"], True),
    ([], ["web_search"], False),
])
def test_tools_include(tools: list[dict[str, Any]], include: list[str], matches: bool) -> None:
    cfg = config([{"match": "*", "tools_include": include, "provider": "a"}, {"match": "*", "provider": "b"}])
    assert served_by(cfg, {**GOOD, "tools": tools}) == ("a" if matches else "b")


def test_conditions_on_openai_requests() -> None:
    cfg = config([{"match": "*", "thinking": True, "provider": "a"},
                  {"match": "*", "tools_include": ["web_search", "lookup"], "provider": "b"},
                  {"match": "*", "min_input_tokens": 2000, "provider": "c"},
                  {"match": "*", "provider": "claude"}], "a", "b", "c", "claude")
    base = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert served_by(cfg, {**base, "reasoning_effort": "high"}, "openai") == "a"
    assert served_by(cfg, {**base, "reasoning_effort": "none"}, "openai") == "claude"
    function = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    assert served_by(cfg, {**base, "tools": [function]}, "openai") == "b"
    assert served_by(cfg, {**base, "web_search_options": {}}, "openai") == "b"
    long = {**base, "messages": [{"role": "user", "content": [{"type": "text", "text": "word " * 3000}]}]}
    assert served_by(cfg, long, "openai") == "c"


def test_conditions_on_responses_requests_see_tools_declared_in_the_input() -> None:
    cfg = config([{"match": "*", "tools_include": ["spawn_agent"], "provider": "a"},
                  {"match": "*", "min_input_tokens": 5000, "provider": "b"},
                  {"match": "*", "provider": "c"}], "a", "b", "c")
    codex = json.loads((Path(__file__).parent / "fixtures" / "codex" / "03_default_model_first_turn_request.json")
                       .read_text())["body"]
    facts = responses_facts(codex)
    assert {"spawn_agent", "exec", "sleep"} <= {name for name, _ in facts.tools}
    assert resolve(cfg, codex["model"], "responses", facts).provider.name == "a"
    without = {**codex, "input": codex["input"][1:]}   # the tools item taken out: only the size is left
    assert responses_facts(without).tools == ()
    assert resolve(cfg, codex["model"], "responses", responses_facts(without)).provider.name == "b"
    assert responses_facts(codex).input_tokens > responses_facts(without).input_tokens + 3000   # the tools count too


def test_all_conditions_of_a_route_must_hold() -> None:
    cfg = config([{"match": "*", "thinking": True, "tools_include": ["web_search"], "provider": "a"},
                  {"match": "*", "provider": "b"}])
    assert served_by(cfg, {**GOOD, "thinking": {"type": "adaptive"}, "tools": [WEB_SEARCH]}) == "a"
    assert served_by(cfg, {**GOOD, "thinking": {"type": "adaptive"}}) == "b"
    assert served_by(cfg, {**GOOD, "tools": [WEB_SEARCH]}) == "b"


def test_first_match_wins_in_table_order() -> None:
    thinking_first = config([{"match": "claude-*", "thinking": True, "provider": "a"},
                             {"match": "claude-*", "provider": "b"},
                             {"match": "claude-*", "thinking": True, "provider": "c"}])
    assert served_by(thinking_first, {**GOOD, "thinking": {"type": "adaptive"}}) == "a"
    assert served_by(thinking_first, GOOD) == "b"
    catch_all_first = config([{"match": "*", "provider": "b"},
                              {"match": "claude-*", "thinking": True, "provider": "a"}])
    assert served_by(catch_all_first, {**GOOD, "thinking": {"type": "adaptive"}}) == "b"
    # the glob still has to match: a conditional route for other names is passed over
    other_names = config([{"match": "gpt-*", "thinking": True, "provider": "a"}, {"match": "*", "provider": "b"}])
    assert served_by(other_names, {**GOOD, "thinking": {"type": "adaptive"}}) == "b"


def test_without_a_request_only_unconditional_routes_match() -> None:
    cfg = config([{"match": "*", "thinking": True, "provider": "a"}, {"match": "*", "provider": "b"}])
    assert resolve(cfg, "claude-x", "anthropic").provider.name == "b"


# --- fallback lists in the config ----------------------------------------------------------------

def test_provider_list_and_fallbacks_key_are_the_same_chain() -> None:
    cfg = config([{"match": "x", "provider": ["a", {"provider": "b", "model": "b-model"}, "c"], "model": "m"},
                  {"match": "y", "provider": "a", "fallbacks": [{"provider": "b", "model": "b-model"}, "c"],
                   "model": "m"},
                  {"match": "z", "provider": {"provider": "c", "model": "own"}}])
    for model in ("x", "y"):
        targets = candidates(cfg, model, "anthropic")
        assert [(t.provider.name, t.upstream_model) for t in targets] == [("a", "m"), ("b", "b-model"), ("c", "m")]
        assert {t.response_model for t in targets} == {model}
    assert [(t.provider.name, t.upstream_model) for t in candidates(cfg, "z", "anthropic")] == [("c", "own")]


@pytest.mark.parametrize(("route", "expected"), [
    ({"provider": ["a", "b"], "fallbacks": ["c"]}, "routes[0]: name the fallbacks either in a provider list"),
    ({"provider": "a", "fallbacks": ["b", "nope"]}, "routes[0].fallbacks[1]: unknown provider 'nope'"),
    ({"provider": ["a", "nope"]}, "routes[0].provider[1]: unknown provider 'nope'"),
    ({"provider": "nope"}, "routes[0].provider: unknown provider 'nope'"),
    ({"provider": ["a", {"provider": "b", "colour": "blue"}]}, "routes[0].provider[1].colour: unknown key"),
    ({"provider": []}, "routes[0].provider"),
    ({"provider": "a", "min_input_tokens": 0}, "routes[0].min_input_tokens"),
    ({"provider": "a", "thinking": "sometimes"}, "routes[0].thinking"),
    ({"provider": "a", "tools_include": [""]}, "routes[0].tools_include[0]"),
])
def test_invalid_routes_say_where(route: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        config([{"match": "*", **route}])
    assert expected in str(err.value)


def test_check_config_prints_conditions_and_fallbacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("""
providers:
  - {name: openai, protocol: openai, base_url: "https://api.openai.com/v1", api_key: sk-live-0123456789abcdef}
  - {name: openrouter, protocol: openai, base_url: "https://openrouter.ai/api/v1"}
routes:
  - {match: "claude-*", thinking: true, provider: openai, model: o3,
     fallbacks: [{provider: openrouter, model: openai/o3}]}
  - {match: "claude-*", min_input_tokens: 60000, tools_include: [web_search], provider: [openrouter, openai]}
  - {match: "*", provider: openai}
""")
    assert main(["check-config", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["match", "clients", "when", "provider", "protocol", "base_url", "model",
                                "max_tokens", "api_key"]
    assert lines[1].split()[:5] == ["claude-*", "any", "thinking", "openai", "openai"]
    assert lines[2].split()[:3] == ["or", "openrouter", "openai"] and "openai/o3" in lines[2]
    assert "tokens >= 60000, tools: web_search" in lines[3] and lines[3].split()[-1] == "(none)"
    assert lines[4].split()[:2] == ["or", "openai"] and "sk-…ef" in lines[4]
    assert lines[5].split()[:3] == ["*", "any", "-"]
    assert "sk-live-0123456789abcdef" not in "\n".join(lines)


# --- end to end: several mock providers ----------------------------------------------------------

class Named(MockProvider):
    """A mock provider that writes its name into a list shared with the others when asked."""

    def __init__(self, name: str, calls: list[str]) -> None:
        super().__init__()
        self.name, self.calls = name, calls

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(self.name)
        return await super()._handle(request)


Mocks = Callable[[str], Awaitable[Named]]


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def mock(aiohttp_server: Callable[..., Awaitable[TestServer]], calls: list[str]) -> Mocks:
    async def make(name: str) -> Named:
        named = Named(name, calls)
        named.server = await aiohttp_server(named.app())
        return named

    return make


def openai(name: str, url: str, read: float = 30) -> dict[str, Any]:
    return {"name": name, "protocol": "openai", "base_url": url, "api_key": KEY,
            "timeout": {"connect": 5, "read": read}}


def anthropic(name: str, root: str) -> dict[str, Any]:
    return {"name": name, "protocol": "anthropic", "base_url": root, "api_key": "sk-ant-upstream-secret-0123456789"}


async def start_chain(start_dragoman: Callable[..., Awaitable[str]], *providers: dict[str, Any],
                      **route: Any) -> str:
    return await start_dragoman(providers=list(providers), routes=[
        {"match": "*", "provider": [p["name"] for p in providers], **route}])


def text_of(raw: bytes) -> str:
    return "".join(block["text"] for block in json.loads(raw)["content"])


@pytest.mark.parametrize("failure", [
    Reply.json({"error": {"message": "slow down"}}, status=429),
    Reply(status=429, body=b'{"error":{"message":"slow down"}}', headers={"Retry-After": "0"}),
    Reply.json({"error": {"message": "overloaded"}}, status=503),
    Reply.json({"error": {"message": "boom"}}, status=500),
    Reply.json({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, status=529),
], ids=["429", "429-retry-after-0", "503", "500", "529"])
@pytest.mark.parametrize("stream", [False, True])
async def test_fallback_on_429_and_5xx(start_dragoman, mock: Mocks, calls: list[str], failure: Reply,  # type: ignore[no-untyped-def]
                                       stream: bool) -> None:
    first, second = await mock("first"), await mock("second")
    url = await start_chain(start_dragoman, openai("first", first.url), openai("second", second.url))
    first.script(failure)
    if stream:
        second.script(Reply.sse(chunk({"role": "assistant", "content": "from second"}), chunk({}, "stop")))
    else:
        second.script(Reply.json(completion("from second")))
    with capture_logs() as logs:
        status, _, raw = await post(url, GOOD_STREAM if stream else GOOD)
    assert status == 200, raw[:300]
    assert calls == ["first", "second"]
    if stream:
        events = check_stream(raw)
        assert "".join(e["delta"]["text"] for n, e in events if n == "content_block_delta") == "from second"
    else:
        assert text_of(raw) == "from second"
    [warning] = [line for line in logs if line["event"] == "upstream failed, trying the next provider"]
    assert (warning["provider"], warning["next"], warning["reason"]) == ("first", "second", f"HTTP {failure.status}")
    assert warning["wait_s"] == 0   # a different provider is asked at once, whatever Retry-After says
    [access] = [line for line in logs if line["event"] == "request"]
    assert access["provider"] == "second"


@pytest.mark.parametrize("stream", [False, True])
async def test_fallback_on_connection_refused(start_dragoman, mock: Mocks, calls: list[str], stream: bool) -> None:  # type: ignore[no-untyped-def]
    second = await mock("second")
    url = await start_chain(start_dragoman, openai("dead", f"http://127.0.0.1:{closed_port()}/v1"),
                            openai("second", second.url))
    second.script(Reply.json(completion("from second")) if not stream else
                  Reply.sse(chunk({"role": "assistant", "content": "from second"}), chunk({}, "stop")))
    status, _, raw = await post(url, GOOD_STREAM if stream else GOOD)
    assert status == 200 and calls == ["second"]
    assert b"from second" in raw


async def test_fallback_on_timeout_before_the_answer(start_dragoman, mock: Mocks, calls: list[str]) -> None:  # type: ignore[no-untyped-def]
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        second = await mock("second")
        port = server.sockets[0].getsockname()[1]
        url = await start_chain(start_dragoman, openai("silent", f"http://127.0.0.1:{port}/v1", read=0.3),
                                openai("second", second.url))
        second.script(Reply.json(completion("from second")))
        with capture_logs() as logs:
            status, _, raw = await post(url, GOOD)
        assert status == 200 and text_of(raw) == "from second"
        assert len(writers) == 1 and calls == ["second"]
        assert [line["reason"] for line in logs if line.get("next") == "second"] == ["read"]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_client_errors_are_not_retried(start_dragoman, mock: Mocks, calls: list[str], status: int) -> None:  # type: ignore[no-untyped-def]
    first, second = await mock("first"), await mock("second")
    url = await start_chain(start_dragoman, openai("first", first.url), openai("second", second.url))
    first.script(Reply.json({"error": {"message": "bad field 'frobnicate'"}}, status=status))
    second.script(Reply.json(completion("from second")))
    got, _, raw = await post(url, GOOD)
    assert calls == ["first"]
    assert got == (400 if status == 422 else status)
    assert "bad field 'frobnicate'" in json.loads(raw)["error"]["message"]


async def test_the_last_providers_failure_reaches_the_client(start_dragoman, mock: Mocks, calls: list[str]) -> None:  # type: ignore[no-untyped-def]
    first, second = await mock("first"), await mock("second")
    url = await start_chain(start_dragoman, openai("first", first.url), openai("second", second.url))
    first.script(Reply.json({"error": {"message": "first is down"}}, status=503))
    second.script(Reply(status=429, body=b'{"error":{"message":"second is busy"}}', headers={"Retry-After": "7"}))
    status, headers, raw = await post(url, GOOD)
    assert calls == ["first", "second"]
    assert status == 429 and {k.lower(): v for k, v in headers.items()}.get("retry-after") == "7"
    assert "second is busy" in json.loads(raw)["error"]["message"]


async def test_no_retry_once_bytes_reached_the_client(start_dragoman, mock: Mocks, calls: list[str]) -> None:  # type: ignore[no-untyped-def]
    first, second = await mock("first"), await mock("second")
    url = await start_chain(start_dragoman, openai("first", first.url), openai("second", second.url))
    first.script(Reply(body=PARTIAL_SSE, content_type="text/event-stream", chunk_size=60, cut=True))
    second.script(Reply.json(completion("from second")))
    status, _, raw = await post(url, GOOD_STREAM)
    assert status == 200
    names = [name for name, _ in parse_sse(raw)]
    assert names[-1] == "error" and "message_stop" not in names
    assert b"The answer" in raw and b"from second" not in raw
    assert calls == ["first"]


async def test_retry_after_is_honoured_when_the_same_provider_is_asked_again(  # type: ignore[no-untyped-def]
        start_dragoman, mock: Mocks, calls: list[str]) -> None:
    only = await mock("only")
    url = await start_dragoman(providers=[openai("only", only.url)],
                               routes=[{"match": "*", "provider": ["only", "only"]}])
    only.script(Reply(status=429, body=b'{"error":{"message":"later"}}', headers={"Retry-After": "0.2"}),
                Reply.json(completion("second try")))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with capture_logs() as logs:
        status, _, raw = await post(url, GOOD)
    assert loop.time() - started >= 0.2
    assert status == 200 and text_of(raw) == "second try" and calls == ["only", "only"]
    assert [line["wait_s"] for line in logs if "wait_s" in line] == [0.2]


async def test_backoff_and_budget_bound_the_waits(start_dragoman, mock: Mocks, calls: list[str],  # type: ignore[no-untyped-def]
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fallback, "BACKOFF", 0.05)
    monkeypatch.setattr(fallback, "WAIT_BUDGET", 0.25)
    only = await mock("only")
    url = await start_dragoman(providers=[openai("only", only.url)],
                               routes=[{"match": "*", "provider": "only", "fallbacks": ["only"] * 4}])
    only.script(*[Reply.json({"error": {"message": "down"}}, status=502)] * 4, Reply.json(completion("up")))
    with capture_logs() as logs:
        status, _, raw = await post(url, GOOD)
    assert status == 200 and text_of(raw) == "up" and calls == ["only"] * 5
    # no Retry-After: 0.05, 0.1, then what is left of the 0.25 s budget, then nothing
    assert [line["wait_s"] for line in logs if "wait_s" in line] == [0.05, 0.1, 0.1, 0]


def test_retry_after_forms_and_bounds() -> None:
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert fallback.retry_after(CIMultiDict({"Retry-After": "3"})) == 3
    assert fallback.retry_after(CIMultiDict({"Retry-After": "0.25"})) == 0.25
    assert fallback.retry_after(CIMultiDict({"Retry-After": "3", "retry-after-ms": "1500"})) == 1.5
    assert 25 < (fallback.retry_after(CIMultiDict({"Retry-After": future})) or 0) <= 30
    assert fallback.retry_after(CIMultiDict({"Retry-After": past})) == 0
    for unreadable in ("soon", "inf", "nan", ""):
        assert fallback.retry_after(CIMultiDict({"Retry-After": unreadable})) is None
    assert fallback.retry_after(CIMultiDict()) is None
    assert fallback.pause(3600, 1) == fallback.MAX_WAIT
    assert fallback.pause(None, 1) == fallback.BACKOFF and fallback.pause(None, 3) == 4 * fallback.BACKOFF
    assert fallback.pause(None, 20) == fallback.MAX_WAIT


async def test_each_provider_gets_the_request_in_its_own_protocol(start_dragoman, mock: Mocks,  # type: ignore[no-untyped-def]
                                                                  calls: list[str]) -> None:
    """Anthropic client: an Anthropic provider (passed through) fails, an OpenAI one (translated)
    answers; then the reverse."""
    claude, gpt = await mock("claude"), await mock("gpt")
    providers = [anthropic("claude", claude.root), openai("gpt", gpt.url)]
    url = await start_dragoman(providers=providers, routes=[
        {"match": "claude-*", "provider": [{"provider": "claude", "model": "claude-sonnet-4-5"},
                                           {"provider": "gpt", "model": "gpt-4o"}]},
        {"match": "gpt-*", "provider": [{"provider": "gpt", "model": "gpt-4o"},
                                        {"provider": "claude", "model": "claude-sonnet-4-5"}]}])
    claude.script(Reply.json({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, status=529))
    gpt.script(Reply.json(completion("translated from gpt")))
    status, _, raw = await post(url, {**GOOD, "system": "be brief"})
    assert status == 200 and text_of(raw) == "translated from gpt"
    assert calls == ["claude", "gpt"]
    assert claude.paths == ["/v1/messages"] and claude.requests[0]["model"] == "claude-sonnet-4-5"
    assert claude.requests[0]["system"] == "be brief"      # as the client sent it
    assert gpt.paths == ["/v1/chat/completions"] and gpt.requests[0]["model"] == "gpt-4o"
    assert gpt.requests[0]["messages"][0] == {"role": "system", "content": "be brief"}   # translated

    gpt.script(Reply.json({"error": {"message": "rate limited"}}, status=429))
    claude.script(Reply.json(ANTHROPIC_MESSAGE))
    status, _, raw = await post(url, {**GOOD, "model": "gpt-4o-mini"})
    assert status == 200 and raw == json.dumps(ANTHROPIC_MESSAGE).encode()   # passed through byte for byte
    assert calls[2:] == ["gpt", "claude"] and claude.paths[1] == "/v1/messages"


async def test_openai_clients_fall_back_too(start_dragoman, mock: Mocks, calls: list[str]) -> None:  # type: ignore[no-untyped-def]
    claude, gpt = await mock("claude"), await mock("gpt")
    url = await start_dragoman(providers=[anthropic("claude", claude.root), openai("gpt", gpt.url)],
                               routes=[{"match": "*", "provider": "claude", "fallbacks": ["gpt"]}])
    claude.script(Reply.json({"type": "error", "error": {"type": "api_error", "message": "down"}}, status=500))
    reply = json.dumps(completion("passed through from gpt")).encode()
    gpt.script(Reply(body=reply))
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    status, _, raw = await post(url, body, path="/v1/chat/completions")
    assert status == 200 and raw == reply
    assert calls == ["claude", "gpt"] and claude.paths == ["/v1/messages"]


async def test_conditions_route_requests_end_to_end(start_dragoman, mock: Mocks, calls: list[str]) -> None:  # type: ignore[no-untyped-def]
    plain, thinker, long, search = [await mock(n) for n in ("plain", "thinker", "long", "search")]
    url = await start_dragoman(
        providers=[openai(m.name, m.url) for m in (plain, thinker, long, search)],
        routes=[{"match": "claude-*", "tools_include": ["web_search"], "provider": "search"},
                {"match": "claude-*", "min_input_tokens": 10_000, "provider": "long"},
                {"match": "claude-*", "thinking": True, "provider": "thinker"},
                {"match": "*", "provider": "plain"}])
    for m in (plain, thinker, long, search):
        m.responder = lambda body, name=m.name: Reply.json(completion(name))
    big = {**load_capture("01_main_first_request.json")["request"]["body"], "stream": False}
    bodies = [GOOD, {**GOOD, "thinking": {"type": "enabled", "budget_tokens": 2048}}, big,
              {**GOOD, "tools": [WEB_SEARCH]}]
    answers = []
    for body in bodies:
        status, _, raw = await post(url, body)
        assert status == 200, raw[:300]
        answers.append(text_of(raw))
    assert answers == calls == ["plain", "thinker", "long", "search"]


async def test_request_body_is_not_kept_while_the_answer_streams(start_dragoman, mock: Mocks,  # type: ignore[no-untyped-def]
                                                                 calls: list[str]) -> None:
    first, second = await mock("first"), await mock("second")
    url = await start_chain(start_dragoman, openai("first", first.url), openai("second", second.url))
    marker = "marker-7f3a9c-in-the-request-body"
    first.script(Reply.json({"error": {"message": "down"}}, status=503))
    second.script(Reply(body=PARTIAL_SSE, content_type="text/event-stream", chunk_size=60, hang=-1))
    data = json.dumps({**GOOD_STREAM, "metadata": {"user_id": marker}}).encode()  # no dict of it here
    async with aiohttp.ClientSession() as session, session.post(
            url + "/v1/messages", data=data, headers={"Content-Type": "application/json"}) as response:
        assert b"The answer" in await response.content.readuntil(b"The answer")
        assert calls == ["first", "second"]
        gc.collect()
        # the parsed body (a dict holding lists, so the collector tracks it), by its metadata
        alive = [o for o in gc.get_objects() if isinstance(o, dict) and isinstance(o.get("metadata"), dict)
                 and o["metadata"].get("user_id") == marker]
        assert alive == []


async def test_no_retry_once_a_passed_through_stream_started(start_dragoman, mock: Mocks, calls: list[str]) -> None:  # type: ignore[no-untyped-def]
    claude, gpt = await mock("claude"), await mock("gpt")
    url = await start_dragoman(providers=[anthropic("claude", claude.root), openai("gpt", gpt.url)],
                               routes=[{"match": "*", "provider": ["claude", "gpt"]}])
    start = {"type": "message_start", "message": {**ANTHROPIC_MESSAGE, "content": [], "stop_reason": None}}
    events = b"event: message_start\ndata: " + json.dumps(start).encode() + b"\n\n"
    claude.script(Reply(body=events, content_type="text/event-stream", chunk_size=len(events), cut=True))
    gpt.script(Reply.json(completion("from gpt")))
    status, _, raw = await post(url, GOOD_STREAM)
    assert status == 200 and raw.startswith(events)
    assert [name for name, _ in parse_sse(raw)] == ["message_start", "error"]
    assert calls == ["claude"]


def test_routing_example_in_the_docs_is_valid_config() -> None:
    import yaml
    doc = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Routing"):]
    start = section.index("```yaml") + len("```yaml")
    text = section[start:section.index("```", start)].replace("provider: anthropic", "provider: claude")
    routes = yaml.safe_load(text)["routes"]
    cfg = config(routes, "claude", "openrouter", "gemini", "deepseek", "openai")
    assert served_by(cfg, {**GOOD, "tools": [WEB_SEARCH]}) == "claude"
    assert served_by(cfg, {**GOOD, "thinking": {"type": "adaptive"}}) == "deepseek"
    assert [t.provider.name for t in candidates(cfg, "claude-sonnet-4-5", "anthropic", anthropic_facts(GOOD))] == [
        "openai", "openrouter"]


async def test_count_tokens_follows_the_route_the_message_would_take(start_dragoman, mock: Mocks,  # type: ignore[no-untyped-def]
                                                                     calls: list[str]) -> None:
    claude, gpt = await mock("claude"), await mock("gpt")
    url = await start_dragoman(providers=[anthropic("claude", claude.root), openai("gpt", gpt.url)],
                               routes=[{"match": "*", "thinking": True, "provider": "claude"},
                                       {"match": "*", "provider": "gpt"}])
    claude.script(Reply.json({"input_tokens": 4242}))
    body = {k: GOOD[k] for k in ("model", "messages")}
    status, _, raw = await post(url, {**body, "thinking": {"type": "enabled", "budget_tokens": 1024}},
                                path="/v1/messages/count_tokens")
    assert (status, json.loads(raw), calls) == (200, {"input_tokens": 4242}, ["claude"])
    status, _, raw = await post(url, body, path="/v1/messages/count_tokens")
    assert (status, json.loads(raw), calls) == (200, {"input_tokens": count_tokens(body)}, ["claude"])  # local
