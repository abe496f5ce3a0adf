"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API on an
OpenAI-compatible provider (translated), or on an Anthropic one (passed through).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from converters.chat_response import to_messages_response
from converters.messages_request import ConversionError, to_chat_request
from converters.token_count import estimate_input_tokens
from converters.tool_names import restore_map
from streaming.chat_decoder import ChatChunkDecoder
from streaming.messages_encoder import ANTHROPIC_PING, MessagesEncoder
from streaming.replay import message_events

from ..conditions import Facts, anthropic_facts
from ..config import Config, Provider, Route
from ..errors import ProxyError
from ..exchange import checked_response, read_body, read_json, relay_stream
from ..fallback import Outbound, first_answer
from ..flavors import chat_target, with_extra_body
from ..middlewares import ACCESS, AccessRecord, client_key
from ..routing import Target, candidates, resolve
from ..upstream import UPSTREAMS, URL_SESSION, Upstream
from ..url_routing import UrlTarget, check_target, parse_url_route
from ..validation import parse_count_tokens_request, parse_messages_request
from . import passthrough

__all__ = ["routes", "CONFIG", "url_routed_message"]

routes = web.RouteTableDef()
CONFIG = web.AppKey("config", Config)


@dataclass(slots=True)
class _Plan:
    """What answering needs once the upstream request is built; the request body is not in it."""

    target: Target
    stream: bool
    tool_names: dict[str, str]
    input_estimate: int
    passthrough: bool = False   # the provider speaks Anthropic too: the body is forwarded as it is


def _plan(raw: bytes, body: dict[str, Any], target: Target, upstream: Upstream,
          headers: CIMultiDictProxy[str]) -> tuple[_Plan, Outbound]:
    """The request for one provider (``body`` is ``raw`` parsed): translated for an
    OpenAI-compatible one, passed through to an Anthropic one."""
    stream = body.get("stream") is True
    if target.provider.protocol == "anthropic":
        return (_Plan(target, stream, {}, 0, passthrough=True),
                Outbound(upstream.messages_url, passthrough.anthropic_request(raw, body, target),
                         passthrough.anthropic_headers(headers, target.provider)))
    try:
        payload = orjson.dumps(with_extra_body(to_chat_request(body, chat_target(target)), target))
    except ConversionError as exc:
        raise ProxyError(400, str(exc), param=exc.param) from None
    return (_Plan(target, stream, restore_map(body.get("tools")), estimate_input_tokens(len(raw))),
            Outbound(upstream.chat_url(target.upstream_model), payload))


async def _send(request: web.Request, config: Config, record: AccessRecord) -> tuple[_Plan, aiohttp.ClientResponse]:
    """Validate the request and send it to the route's providers until one answers; the request
    body lives in this frame only, so not while the answer streams (a stream may last minutes)."""
    raw = await read_body(request, config.server.max_body_bytes)
    body = parse_messages_request(raw)
    record.client_model, record.stream = body["model"], body.get("stream") is True
    targets = candidates(config, body["model"], "anthropic", anthropic_facts(body))
    headers = request.headers
    return await first_answer(request, targets, lambda target, upstream: _plan(raw, body, target, upstream, headers))


@routes.post("/v1/messages")
async def create_message(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    plan, response = await _send(request, config, request[ACCESS])
    return await _answer(request, config, plan, response, request.app[UPSTREAMS][plan.target.provider.name])


async def url_routed_message(request: web.Request) -> web.StreamResponse:
    """POST /{scheme}/{host}/{base path}/{model}/v1/messages (proxy/url_routing.py): the upstream
    named in the path, the client's key as its Bearer key. Registered only when enabled."""
    config, record = request.app[CONFIG], request[ACCESS]
    routing = config.url_routing
    named = parse_url_route(request.raw_path.split("?", 1)[0])
    check_target(named, routing.allow_hosts, routing.allow_private)
    key = client_key(request)
    if not key:
        raise ProxyError(401, "URL-path routing sends your key to the upstream as its Bearer key: send one "
                              "as x-api-key or Authorization: Bearer.")
    plan, response = await _send_to_url(request, config, record, named, key)
    return await _answer(request, config, plan, response, Upstream(plan.target.provider, request.app[URL_SESSION]))


async def _send_to_url(request: web.Request, config: Config, record: AccessRecord, named: UrlTarget,
                       key: str) -> tuple[_Plan, aiohttp.ClientResponse]:
    raw = await read_body(request, config.server.max_body_bytes)
    body = parse_messages_request(raw)
    record.client_model, record.stream = body["model"], body.get("stream") is True
    provider = Provider(name=f"url:{named.host}", protocol="openai", base_url=str(named.base_url), api_key=key,
                        timeout=config.url_routing.timeout)
    target = Target(Route(match=named.model, provider=provider.name), provider, named.model, body["model"])
    upstream = Upstream(provider, request.app[URL_SESSION])
    record.provider, record.upstream_model = provider.name, named.model
    plan, outbound = _plan(raw, body, target, upstream, request.headers)
    return plan, await upstream.post(outbound.url, outbound.body, outbound.headers)


async def _answer(request: web.Request, config: Config, plan: _Plan, response: aiohttp.ClientResponse,
                  upstream: Upstream) -> web.StreamResponse:
    """The provider's answer in the Anthropic dialect: relayed as it is, or translated."""
    record = request[ACCESS]
    target, tool_names = plan.target, plan.tool_names
    if plan.passthrough:
        return await passthrough.respond(request, response, "anthropic", target.provider.name)

    async with checked_response(upstream, response):
        if not plan.stream:
            message = _message(await read_json(response, target.provider.name), target, tool_names)
            usage = message["usage"]
            record.input_tokens, record.output_tokens = usage["input_tokens"], usage["output_tokens"]
            record.first_byte()
            return web.Response(body=orjson.dumps(message), content_type="application/json")

        encoder = MessagesEncoder("msg_" + secrets.token_hex(12), target.response_model, plan.input_estimate)

        async def replay() -> tuple[bytes, dict[str, int]]:
            # an upstream that answered a stream request with one JSON body (some servers ignore
            # "stream" in some modes): the converted message, replayed as stream events
            message = _message(await read_json(response, target.provider.name), target, tool_names)
            return b"".join([encoder.feed(e) for e in message_events(message)]), message["usage"]

        return await relay_stream(request, response, keepalive=ANTHROPIC_PING,
                                  ping_interval=config.server.ping_interval,
                                  decoder=ChatChunkDecoder(tool_names), encoder=encoder,
                                  secret=target.provider.api_key, replay=replay)


def _message(payload: Any, target: Target, tool_names: dict[str, str]) -> dict[str, Any]:
    try:
        return to_messages_response(payload, model=target.response_model, tool_names=tool_names)
    except (ValueError, TypeError, AttributeError, KeyError):
        raise ProxyError(502, f"Upstream provider '{target.provider.name}' sent a response dragoman "
                              "could not read as a chat completion.") from None


@routes.post("/v1/messages/count_tokens")
async def count_message_tokens(request: web.Request) -> web.StreamResponse:
    """Asked of the provider when the route goes to an Anthropic one (an exact count), else
    answered locally: Claude Code calls this dozens of times at start-up."""
    config = request.app[CONFIG]
    record = request[ACCESS]
    raw = await read_body(request, config.server.max_body_bytes)
    body = parse_count_tokens_request(raw)
    record.client_model = body["model"]
    facts = anthropic_facts(body)  # a route's min_input_tokens counts once, for both uses
    target = _anthropic_target(config, body["model"], facts)
    if target is not None:
        record.provider, record.upstream_model = target.provider.name, target.upstream_model
        upstream = request.app[UPSTREAMS][target.provider.name]
        response = await upstream.post(upstream.messages_url + "/count_tokens",
                                       passthrough.anthropic_request(raw, body, target),
                                       passthrough.anthropic_headers(request.headers, target.provider))
        if response.status not in (404, 405):
            return await passthrough.respond(request, response, "anthropic", target.provider.name)
        response.release()  # an Anthropic-compatible endpoint without count_tokens: count here
    return web.json_response({"input_tokens": facts.input_tokens})


def _anthropic_target(config: Config, model: str, facts: Facts) -> Target | None:
    """The route's (first) target if it is an Anthropic provider; None for the local count (also
    for a model no route serves: a count is still useful to the client)."""
    try:
        target = resolve(config, model, "anthropic", facts)
    except ProxyError:
        return None
    return target if target.provider.protocol == "anthropic" else None
