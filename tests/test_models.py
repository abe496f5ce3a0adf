"""GET /v1/models and /v1/models/{id} with model discovery, through the official SDKs.

Mock providers on loopback answer GET /v1/models (OpenAI's shape, or Anthropic's with after_id
paging) with ids and dates taken from the providers' real lists; dragoman asks them at start-up
and on reload, and the lists the clients get are asserted id by id.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from proxy import discovery
from proxy.app import create_app
from proxy.catalog import CATALOG
from proxy.config import Config, load_config, parse_config
from proxy.reload import reload_config

Server = Callable[..., Awaitable[TestServer]]
KEY = "sk-upstream-secret-0123456789"
ANTHROPIC_KEY = "sk-ant-upstream-secret-0123456789"

OPENAI_MODELS = [  # id, created: as api.openai.com lists them
    ("gpt-4o", 1715367049), ("gpt-4o-mini", 1721172741), ("o3", 1744225308), ("text-embedding-3-small", 1705948997)]
ANTHROPIC_MODELS = [  # id, display_name, created_at: as api.anthropic.com lists them
    ("claude-opus-4-1", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-sonnet-4-5", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-haiku-4-5", "Claude Haiku 4.5", "2025-10-15T00:00:00Z")]
LOCAL_MODELS = ["llama3:8b", "gpt-oss:20b", "claude-local"]   # an Ollama's


class ModelList:
    """A provider's GET /v1/models: OpenAI's shape, or Anthropic's paged ``page`` at a time
    (whatever ``limit`` asks, as a provider with a smaller maximum would), with each request's
    query and headers kept. ``status``/``delay``/``body`` script a failing provider."""

    def __init__(self, items: list[dict[str, Any]], *, anthropic_shape: bool = False, page: int = 2) -> None:
        self.items = items
        self.anthropic_shape = anthropic_shape
        self.page = page
        self.status = 200
        self.delay = 0.0
        self.body: bytes | None = None
        self.queries: list[dict[str, str]] = []
        self.headers: list[dict[str, str]] = []
        self.server: TestServer | None = None

    async def start(self, aiohttp_server: Server) -> ModelList:
        app = web.Application()
        app.router.add_get("/v1/models", self._handle)
        self.server = await aiohttp_server(app)
        return self

    @property
    def url(self) -> str:      # an OpenAI-compatible base URL
        assert self.server is not None
        return str(self.server.make_url("/v1"))

    @property
    def root(self) -> str:     # an Anthropic base URL
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def _handle(self, request: web.Request) -> web.Response:
        self.queries.append(dict(request.query))
        self.headers.append(dict(request.headers))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.body is not None or self.status != 200:
            return web.Response(status=self.status, body=self.body or b'{"error": {"message": "boom"}}',
                                content_type="application/json")
        if not self.anthropic_shape:
            return web.json_response({"object": "list", "data": self.items})
        ids = [item["id"] for item in self.items]
        start = ids.index(request.query["after_id"]) + 1 if "after_id" in request.query else 0
        page = self.items[start:start + min(int(request.query.get("limit", "20")), self.page)]
        return web.json_response({"data": page, "has_more": start + len(page) < len(ids),
                                  "first_id": page[0]["id"] if page else None,
                                  "last_id": page[-1]["id"] if page else None})


def openai_items(models: list[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"id": m, "object": "model", "created": created, "owned_by": "system"} for m, created in models]


def anthropic_items(models: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [{"type": "model", "id": m, "display_name": name, "created_at": at} for m, name, at in models]


@pytest.fixture
async def providers(aiohttp_server: Server) -> tuple[ModelList, ModelList, ModelList]:
    return (await ModelList(openai_items(OPENAI_MODELS)).start(aiohttp_server),
            await ModelList(anthropic_items(ANTHROPIC_MODELS), anthropic_shape=True).start(aiohttp_server),
            await ModelList([{"id": m, "object": "model", "created": 0, "owned_by": "library"}
                             for m in LOCAL_MODELS]).start(aiohttp_server))


# Each route shows one rule (proxy/catalog.py):
ROUTES: list[dict[str, Any]] = [
    # conditional: passed over for a bare id, so it lists nothing of local's
    {"match": "claude-*", "thinking": True, "provider": "local", "client": "anthropic"},
    # rewrites to a fixed model: lists only what openai reported and *sonnet* matches (nothing)
    {"match": "*sonnet*", "provider": "openai", "model": "gpt-4o", "client": "anthropic"},
    {"match": "claude-*", "provider": "anthropic", "client": "anthropic"},
    {"match": "llama*", "provider": "local"},                                   # every client
    {"match": "gpt-*", "provider": "openai", "client": "anthropic"},
    {"match": "gpt-*", "provider": "openai", "client": "openai"},
    {"match": "claude-*", "provider": "anthropic", "client": "openai"},
    {"match": "o*", "provider": "openai", "client": "responses"},
    {"match": "my-alias", "provider": "openai", "model": "gpt-4o"},             # an exact name
]
ANTHROPIC_LIST = ["my-alias", "gpt-4.1", "gpt-4o", "gpt-4o-mini", "claude-opus-4-1", "claude-haiku-4-5", "llama3:8b"]
OPENAI_LIST = [("my-alias", "openai", 0), ("gpt-4.1", "openai", 0), ("gpt-4o", "openai", 1715367049),
               ("gpt-4o-mini", "openai", 1721172741), ("o3", "openai", 1744225308),     # a Responses route's
               ("claude-opus-4-1", "anthropic", 1754352000), ("claude-sonnet-4-5", "anthropic", 1759104000),
               ("claude-haiku-4-5", "anthropic", 1760486400), ("llama3:8b", "local", 0)]


def config_for(openai_url: str, anthropic_root: str, local_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "openai", "protocol": "openai", "base_url": openai_url, "api_key": KEY, "models": ["gpt-4.1"]},
            {"name": "anthropic", "protocol": "anthropic", "base_url": anthropic_root, "api_key": ANTHROPIC_KEY},
            {"name": "local", "protocol": "openai", "flavor": "ollama", "base_url": local_url},
        ],
        "routes": ROUTES,
        **extra,
    }


async def start(aiohttp_server: Server, config: Config) -> str:
    """dragoman on ``config``, once its start-up discovery has finished."""
    server = await aiohttp_server(create_app(config))
    await server.app[CATALOG].settled()
    return str(server.make_url("")).rstrip("/")


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, await resp.json()


def anthropic_client(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0)


def openai_client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)


async def test_glob_routes_list_what_their_own_providers_report(aiohttp_server: Server, providers) -> None:  # type: ignore[no-untyped-def]
    openai_list, anthropic_list, local_list = providers
    url = await start(aiohttp_server, parse_config(config_for(openai_list.url, anthropic_list.root, local_list.url),
                                                   environ={}))
    async with anthropic_client(url) as client:
        listed = [m async for m in client.models.list(limit=1000)]
    assert [m.id for m in listed] == ANTHROPIC_LIST
    # never listed for Anthropic clients: o3 and text-embedding-3-small (no route for them),
    # claude-sonnet-4-5 (its route goes to openai, which did not report it), gpt-oss:20b (gpt-*
    # goes to openai) and claude-local (claude-* goes to anthropic; the thinking route is passed over)
    opus = listed[4]
    assert (opus.display_name, opus.created_at) == ("Claude Opus 4.1", datetime.datetime(2025, 8, 5, tzinfo=datetime.UTC))
    assert (listed[0].display_name, listed[0].created_at.year) == ("my-alias", 1970)
    async with openai_client(url) as oa:
        page = await oa.models.list()
    assert [(m.id, m.owned_by, m.created) for m in page.data] == OPENAI_LIST
    assert {m.object for m in page.data} == {"model"}
    # each provider was asked once, with its own key; Anthropic's list page by page (2 a page)
    assert openai_list.queries == [{}] and local_list.queries == [{}]
    assert openai_list.headers[0]["Authorization"] == f"Bearer {KEY}"
    assert "Authorization" not in local_list.headers[0]
    assert anthropic_list.queries == [{"limit": "1000"}, {"limit": "1000", "after_id": "claude-sonnet-4-5"}]
    assert {(h["x-api-key"], h["anthropic-version"]) for h in anthropic_list.headers} == {(ANTHROPIC_KEY, "2023-06-01")}


async def test_anthropic_paging(aiohttp_server: Server, providers) -> None:  # type: ignore[no-untyped-def]
    openai_list, anthropic_list, local_list = providers
    url = await start(aiohttp_server, parse_config(config_for(openai_list.url, anthropic_list.root, local_list.url),
                                                   environ={}))
    async with anthropic_client(url) as client:
        first = await client.models.list(limit=3)
        assert [m.id for m in first.data] == ["my-alias", "gpt-4.1", "gpt-4o"]
        assert (first.has_more, first.first_id, first.last_id) == (True, "my-alias", "gpt-4o")
        second = await client.models.list(limit=3, after_id="gpt-4o")
        assert [m.id for m in second.data] == ["gpt-4o-mini", "claude-opus-4-1", "claude-haiku-4-5"]
        assert (second.has_more, second.last_id) == (True, "claude-haiku-4-5")
        last = await client.models.list(limit=3, after_id="claude-haiku-4-5")
        assert ([m.id for m in last.data], last.has_more, last.last_id) == (["llama3:8b"], False, "llama3:8b")
        before = await client.models.list(limit=2, before_id="claude-opus-4-1")
        assert ([m.id for m in before.data], before.has_more) == (["gpt-4o", "gpt-4o-mini"], True)
        # the SDK follows after_id while has_more: the whole list, three at a time
        assert [m.id async for m in client.models.list(limit=3)] == ANTHROPIC_LIST
        default = await client.models.list()          # limit 20
        assert (len(default.data), default.has_more) == (7, False)
        with pytest.raises(anthropic.BadRequestError) as too_many:
            await client.models.list(limit=1001)
        with pytest.raises(anthropic.BadRequestError) as unknown:
            await client.models.list(after_id="gpt-5")
    assert too_many.value.body["error"] == {
        "type": "invalid_request_error", "message": "limit must be an integer from 1 to 1000, got '1001'."}
    assert "'gpt-5' is not a model in this list" in unknown.value.body["error"]["message"]


async def test_claude_code_gateway_discovery(aiohttp_server: Server, providers) -> None:  # type: ignore[no-untyped-def]
    # Claude Code (CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1) asks once for up to 1000 and keeps
    # the ids containing "claude": those the Anthropic routes serve, not the OpenAI clients' ones
    openai_list, anthropic_list, local_list = providers
    url = await start(aiohttp_server, parse_config(config_for(openai_list.url, anthropic_list.root, local_list.url),
                                                   environ={}))
    status, body = await get(f"{url}/v1/models?limit=1000", {"anthropic-version": "2023-06-01", "x-api-key": "k"})
    assert status == 200
    assert (body["has_more"], body["first_id"], body["last_id"]) == (False, "my-alias", "llama3:8b")
    assert [m["id"] for m in body["data"] if "claude" in m["id"]] == ["claude-opus-4-1", "claude-haiku-4-5"]
    assert body["data"][4] == {"type": "model", "id": "claude-opus-4-1", "display_name": "Claude Opus 4.1",
                               "created_at": "2025-08-05T00:00:00Z"}


async def test_retrieve_says_404_for_models_no_route_serves(aiohttp_server: Server, providers) -> None:  # type: ignore[no-untyped-def]
    openai_list, anthropic_list, local_list = providers
    url = await start(aiohttp_server, parse_config(config_for(openai_list.url, anthropic_list.root, local_list.url),
                                                   environ={}))
    async with anthropic_client(url) as client:
        opus = await client.models.retrieve("claude-opus-4-1")
        assert (opus.id, opus.display_name, opus.type) == ("claude-opus-4-1", "Claude Opus 4.1", "model")
        # not listed, but *sonnet* serves it (as gpt-4o): retrieve answers what a request would get
        sonnet = await client.models.retrieve("claude-sonnet-4-5")
        assert (sonnet.id, sonnet.display_name) == ("claude-sonnet-4-5", "claude-sonnet-4-5")
        with pytest.raises(anthropic.NotFoundError) as caught:
            await client.models.retrieve("o3")                       # a Responses clients' route only
    assert caught.value.status_code == 404
    assert caught.value.body == {"type": "error", "error": {"type": "not_found_error", "message":
                                 "model: No route in dragoman's config serves model 'o3' on the Anthropic Messages API."}}
    async with openai_client(url) as oa:
        o3 = await oa.models.retrieve("o3")
        assert (o3.id, o3.owned_by, o3.created) == ("o3", "openai", 1744225308)
        unlisted = await oa.models.retrieve("gpt-5-nano")           # gpt-* serves any gpt- name
        assert (unlisted.id, unlisted.owned_by, unlisted.created) == ("gpt-5-nano", "openai", 0)
        with pytest.raises(openai.NotFoundError) as missing:
            await oa.models.retrieve("text-embedding-3-small")      # reported, but no route serves it
    assert missing.value.status_code == 404
    assert missing.value.body["type"] == "not_found_error"
    assert missing.value.body["message"] == ("No route in dragoman's config serves model 'text-embedding-3-small' "
                                             "on the OpenAI Chat Completions or Responses API.")


async def test_failing_providers_are_skipped_with_a_warning(aiohttp_server: Server, providers,  # type: ignore[no-untyped-def]
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    openai_list, anthropic_list, local_list = providers
    openai_list.status = 500                  # an error status
    anthropic_list.delay = 3                  # slower than discovery.timeout
    local_list.status = 404                   # no list at all: not a failure
    huge = await ModelList(openai_items([("big-1", 1)])).start(aiohttp_server)
    huge.body = b'{"data": [' + b'{"id": "x"},' * 50 + b'{"id": "y"}]}'
    monkeypatch.setattr(discovery, "MAX_BODY", 200)
    azure = await ModelList(openai_items([("gpt-4o", 1)])).start(aiohttp_server)
    raw = config_for(openai_list.url, anthropic_list.root, local_list.url, discovery={"timeout": 1})
    raw["providers"] += [
        {"name": "huge", "protocol": "openai", "base_url": huge.url},
        {"name": "gone", "protocol": "openai", "base_url": "http://127.0.0.1:9/v1"},   # nothing listens
        {"name": "azure", "protocol": "openai", "flavor": "azure", "base_url": azure.url, "api_key": "azure-key-0123"},
    ]
    raw["routes"] = [*ROUTES, {"match": "*", "provider": ["huge", "gone", "azure"]}]
    with capture_logs() as logs:
        started = asyncio.get_running_loop().time()
        server = await aiohttp_server(create_app(parse_config(raw, environ={})))
        url = str(server.make_url("")).rstrip("/")
        # listening never waits on providers: the slow one has not answered yet
        async with anthropic_client(url) as client:
            early = [m.id for m in (await client.models.list()).data]
        assert asyncio.get_running_loop().time() - started < 0.8
        await server.app[CATALOG].settled()
    assert "claude-opus-4-1" not in early
    warnings = {line["provider"]: line["cause"] for line in logs if line["log_level"] == "warning"}
    assert warnings == {
        "openai": 'HTTP 500: {"error": {"message": "boom"}}',
        "anthropic": "no model list within 1 s (discovery.timeout)",
        "huge": "model list larger than 200 bytes",
        "gone": warnings["gone"],
    }
    assert warnings["gone"].startswith("ClientConnectorError: Cannot connect to host 127.0.0.1:9")
    assert [(line["provider"], line["status"]) for line in logs if line["event"].startswith("provider has no model list")] \
        == [("local", 404)]
    assert azure.queries == []                # Azure's list names base models, not deployments
    async with anthropic_client(url) as client:
        # only the configured ids: my-alias, openai's models:, and the catch-all route serves them
        assert [m.id for m in (await client.models.list()).data] == ["my-alias", "gpt-4.1"]


async def test_reload_refreshes_the_list(aiohttp_server: Server, providers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    openai_list, anthropic_list, local_list = providers
    path = tmp_path / "config.yaml"
    raw = config_for(openai_list.url, anthropic_list.root, local_list.url)
    path.write_text(json.dumps(raw))          # JSON is YAML
    app = create_app(load_config(path, environ={}))
    server = await aiohttp_server(app)
    await app[CATALOG].settled()
    url = str(server.make_url("")).rstrip("/")

    async def anthropic_ids() -> list[str]:
        async with anthropic_client(url) as client:
            return [m.id async for m in client.models.list(limit=1000)]

    assert await anthropic_ids() == ANTHROPIC_LIST
    # the providers' lists change, and so does the config: llama* no longer served
    openai_list.items = openai_items([("gpt-4o", 1715367049), ("gpt-5", 1754425777)])
    anthropic_list.items = anthropic_items([ANTHROPIC_MODELS[0], ("claude-opus-4-5", "Claude Opus 4.5",
                                                                  "2025-11-24T00:00:00Z")])
    raw["routes"] = [route for route in ROUTES if route["match"] != "llama*"]
    path.write_text(json.dumps(raw))
    assert await reload_config(app, path)     # returns once the providers have answered
    assert await anthropic_ids() == ["my-alias", "gpt-4.1", "gpt-4o", "gpt-5", "claude-opus-4-1", "claude-opus-4-5"]
    assert len(openai_list.queries) == 2

    # a provider that fails on reload keeps its last answer while its settings are unchanged...
    openai_list.status = 503
    assert await reload_config(app, path)
    assert await anthropic_ids() == ["my-alias", "gpt-4.1", "gpt-4o", "gpt-5", "claude-opus-4-1", "claude-opus-4-5"]
    # ...and loses it when they change (a new key may see other models)
    raw["providers"][0]["api_key"] = "sk-another-upstream-key-0123"
    path.write_text(json.dumps(raw))
    assert await reload_config(app, path)
    assert await anthropic_ids() == ["my-alias", "gpt-4.1", "claude-opus-4-1", "claude-opus-4-5"]


async def test_discovery_off_and_gemini_names(aiohttp_server: Server) -> None:
    gemini = await ModelList(openai_items([("models/gemini-2.5-pro", 0), ("models/gemini-2.5-flash", 0)])).start(
        aiohttp_server)
    raw: dict[str, Any] = {"providers": [{"name": "gemini", "protocol": "openai", "flavor": "gemini",
                                          "base_url": gemini.url, "api_key": "gemini-key-0123"}],
                           "routes": [{"match": "gemini-*", "provider": "gemini"}]}
    url = await start(aiohttp_server, parse_config(raw, environ={}))
    async with openai_client(url) as oa:
        # Gemini names its models models/...; requests name them without the prefix
        assert [m.id for m in (await oa.models.list()).data] == ["gemini-2.5-pro", "gemini-2.5-flash"]
    url = await start(aiohttp_server, parse_config({**raw, "discovery": {"enabled": False}}, environ={}))
    async with openai_client(url) as oa:
        assert (await oa.models.list()).data == []
    assert len(gemini.queries) == 1
