"""POST /v1/chat/completions and GET /v1/models: the OpenAI Chat Completions API on an
Anthropic (or Anthropic-compatible) provider (translated), or on an OpenAI-compatible one
(passed through).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog
from aiohttp import web

from converters.chat_request import (
    ConversionError,
    MessagesTarget,
    dropped_options,
    to_messages_request,
)
from converters.messages_response import to_chat_completion
from streaming.chat_encoder import OPENAI_KEEPALIVE, ChatChunkEncoder
from streaming.messages_decoder import MessagesEventDecoder

from ..conditions import openai_facts
from ..config import Config
from ..errors import ProxyError
from ..exchange import checked_response, read_body, read_json, relay_stream
from ..fallback import Outbound, first_answer
from ..middlewares import ACCESS, AccessRecord
from ..routing import Dialect, Target, candidates, resolve
from ..upstream import UPSTREAMS, Upstream
from ..validation import parse_chat_request
from . import passthrough
from .messages import CONFIG

__all__ = ["routes"]

log = structlog.get_logger("dragoman")
routes = web.RouteTableDef()
_DEFAULT_MAX_TOKENS = 16384   # Anthropic requires max_tokens; OpenAI clients often send none
_GLOB_CHARS = frozenset("*?[")


@dataclass(slots=True)
class _Plan:
    """What answering needs once the upstream request is built; the request body is not in it."""

    target: Target
    stream: bool
    include_usage: bool
    passthrough: bool = False   # the provider speaks OpenAI too: the body is forwarded as it is


def _plan(raw: bytes, body: dict[str, Any], target: Target, upstream: Upstream) -> tuple[_Plan, Outbound]:
    """The request for one provider (``body`` is ``raw`` parsed): translated for an Anthropic
    one, passed through to an OpenAI-compatible one."""
    stream = body.get("stream") is True
    if target.provider.protocol == "openai":
        return (_Plan(target, stream, False, passthrough=True),
                Outbound(upstream.chat_url(target.upstream_model), passthrough.openai_request(raw, body, target)))
    route = target.route
    messages_target = MessagesTarget(
        model=target.upstream_model, max_tokens=route.max_tokens,
        default_max_tokens=min(route.default_max_tokens or _DEFAULT_MAX_TOKENS,
                               route.max_tokens or _DEFAULT_MAX_TOKENS),
        system_prompt=route.system_prompt)
    try:
        payload = orjson.dumps(to_messages_request(body, messages_target))
    except ConversionError as exc:
        raise ProxyError(400, str(exc), param=exc.param) from None
    if dropped := dropped_options(body):
        log.debug("options dropped", options=dropped, model=body["model"])
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return _Plan(target, stream, include_usage), Outbound(upstream.messages_url, payload)


async def _send(request: web.Request, config: Config, record: AccessRecord) -> tuple[_Plan, aiohttp.ClientResponse]:
    """Validate the request and send it to the route's providers until one answers; the request
    body lives in this frame only, so not while the answer streams (a stream may last minutes)."""
    raw = await read_body(request, config.server.max_body_bytes)
    body = parse_chat_request(raw)
    record.client_model, record.stream = body["model"], body.get("stream") is True
    targets = candidates(config, body["model"], "openai", openai_facts(body))
    return await first_answer(request, targets, lambda target, upstream: _plan(raw, body, target, upstream))


@routes.post("/v1/chat/completions")
async def create_chat_completion(request: web.Request) -> web.StreamResponse:
    config, record = request.app[CONFIG], request[ACCESS]
    created = int(time.time())
    plan, response = await _send(request, config, record)
    target = plan.target
    if plan.passthrough:
        return await passthrough.respond(request, response, "openai", target.provider.name)
    upstream = request.app[UPSTREAMS][target.provider.name]

    async with checked_response(upstream, response):
        if not plan.stream:
            completion = _completion(await read_json(response, target.provider.name), target, created)
            usage = completion["usage"]
            record.input_tokens, record.output_tokens = usage["prompt_tokens"], usage["completion_tokens"]
            record.first_byte()
            return web.Response(body=orjson.dumps(completion), content_type="application/json")
        encoder = ChatChunkEncoder("chatcmpl-" + secrets.token_hex(12), target.response_model, created,
                                   plan.include_usage)
        return await relay_stream(request, response, keepalive=OPENAI_KEEPALIVE,
                                  ping_interval=config.server.ping_interval,
                                  decoder=MessagesEventDecoder(), encoder=encoder,
                                  secret=target.provider.api_key)


def _completion(payload: Any, target: Target, created: int) -> dict[str, Any]:
    try:
        return to_chat_completion(payload, model=target.response_model, created=created)
    except (ValueError, TypeError, AttributeError, KeyError):
        raise ProxyError(502, f"Upstream provider '{target.provider.name}' sent a response dragoman "
                              "could not read as an Anthropic message.") from None


def _listed_models(config: Config, client: Dialect) -> dict[str, str]:
    """Model id -> owning provider, for the routes that serve ``client``: route globs without
    wildcards, then the ``models:`` of the providers those routes reach."""
    listed: dict[str, str] = {}
    reached: set[str] = set()
    for route in config.routes:
        if route.client in (None, client):
            reached.update(ref.provider for ref in route.chain)
            if not _GLOB_CHARS & set(route.match):
                listed.setdefault(route.match, route.provider[0].provider)
    for provider in config.providers:
        if provider.name in reached:
            for model in provider.models:
                listed.setdefault(model, provider.name)
    return listed


def _model(model_id: str, owner: str, client: Dialect) -> dict[str, Any]:
    if client == "anthropic":  # the Anthropic SDK's models.list()/retrieve() shape
        return {"type": "model", "id": model_id, "display_name": model_id, "created_at": "1970-01-01T00:00:00Z"}
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


def _client(request: web.Request) -> Dialect:
    # /v1/models is both dialects' path: Anthropic's SDKs always send anthropic-version
    return "anthropic" if "anthropic-version" in request.headers else "openai"


@routes.get("/v1/models")
async def list_models(request: web.Request) -> web.Response:
    client = _client(request)
    data = [_model(m, p, client) for m, p in _listed_models(request.app[CONFIG], client).items()]
    if client == "anthropic":
        return web.json_response({"data": data, "has_more": False,
                                  "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None})
    return web.json_response({"object": "list", "data": data})


@routes.get("/v1/models/{model:.+}")
async def get_model(request: web.Request) -> web.Response:
    """A listed model, or any id a route would serve (routes are globs, so the list is partial)."""
    model_id = request.match_info["model"]
    config = request.app[CONFIG]
    client = _client(request)
    owner = _listed_models(config, client).get(model_id)
    if owner is None:
        owner = resolve(config, model_id, client).provider.name
    return web.json_response(_model(model_id, owner, client))
