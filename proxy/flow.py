"""The one handler flow every (client dialect, provider dialect) pair goes through.

read (bounded) -> parse and validate -> route -> for each provider of the route, plan the request
(passed through, or translated through the hub: proxy/dialects.py) and send it until one answers
(proxy/fallback.py) -> answer: relayed and checked, or translated whole or as a stream.

The request body lives only in ``_send``'s frame, so not while the answer streams (a stream may
last minutes, and thousands may be open): what answering needs is kept in the small ``Plan``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from converters.errors import ConversionError
from streaming.pump import Translation
from streaming.replay import Replay

from . import passthrough
from .config import Config
from .dialects import ClientSide, ProviderSide, Reply
from .dialects.anthropic import AnthropicClient, AnthropicProvider
from .dialects.chat import ChatClient, ChatProvider
from .dialects.responses import ResponsesClient, ResponsesProvider
from .response_store import ResponseStore
from .errors import ProxyError, UpstreamFailure, redact
from .exchange import answer_error, read_body, read_json, releasing
from .fallback import Outbound, first_answer
from .metrics import METRICS
from .middlewares import ACCESS, presented_key
from .routing import Target, candidates
from .streams import stream_answer
from .runtime import RUNTIME
from .upstream import Upstream

__all__ = ["serve", "send", "Plan", "prepare", "answer", "CLIENTS", "PROVIDERS", "make_clients"]

CLIENTS = web.AppKey("clients", dict[str, ClientSide])
PROVIDERS: dict[str, ProviderSide] = {"anthropic": AnthropicProvider(), "openai": ChatProvider(),
                                      "responses": ResponsesProvider()}


def make_clients(store: ResponseStore) -> dict[str, ClientSide]:
    """The client sides of one app (the Responses one keeps the app's store of recent answers)."""
    return {"anthropic": AnthropicClient(), "openai": ChatClient(), "responses": ResponsesClient(store)}


@dataclass(slots=True)
class Plan:
    """What answering needs once the upstream request is built; the request body is not in it."""

    client: ClientSide
    target: Target
    upstream: Upstream
    stream: bool
    conversation: str | None     # the client's session, for prompt caches (and key affinity)
    reply: Reply | None          # None: passed through, the provider speaks the client's dialect
    tool_names: dict[str, str]   # shortened tool name -> the client's (for the provider's answer)


def prepare(client: ClientSide, raw: bytes, body: dict[str, Any], target: Target, upstream: Upstream,
            headers: CIMultiDictProxy[str]) -> tuple[Plan, Outbound]:
    """The request for one provider: passed through to one of the client's dialect, else
    translated through the hub. A request the provider's dialect cannot carry is a 400."""
    stream = body.get("stream") is True
    provider = PROVIDERS[target.provider.protocol]
    conversation = client.conversation(body, headers)
    affinity = conversation or presented_key(headers) or None   # keeps a conversation on one key of a pool
    if target.provider.protocol == client.dialect:
        payload, extra = client.passthrough(raw, body, target, headers)
        return (Plan(client, target, upstream, stream, conversation, None, {}),
                Outbound(provider.url(upstream, target), payload, extra, stream=stream, affinity=affinity))
    try:
        hub, reply = client.to_hub(raw, body, target)
        outbound, tool_names = provider.request(hub, target, upstream, conversation)
    except ConversionError as exc:
        raise ProxyError(400, str(exc), param=exc.param) from None
    outbound = dataclasses.replace(outbound, affinity=affinity)
    return Plan(client, target, upstream, stream, conversation, reply, tool_names), outbound


async def serve(request: web.Request, dialect: str) -> web.StreamResponse:
    """Answer one request of ``dialect`` (a POST of /v1/messages, /v1/chat/completions...)."""
    runtime = request[RUNTIME]
    config, upstreams = runtime.config, runtime.upstreams
    client = request.app[CLIENTS][dialect]

    def route(body: dict[str, Any]) -> Sequence[Target]:
        return candidates(config, body["model"], client.dialect, client.facts(body))

    plan, response = await send(request, config, client, upstreams, route)
    return await answer(request, config, plan, response)


async def send(request: web.Request, config: Config, client: ClientSide, upstreams: Mapping[str, Upstream],
               route: Callable[[dict[str, Any]], Sequence[Target]]) -> tuple[Plan, aiohttp.ClientResponse]:
    """Read and parse the request, then ask ``route``'s targets in order until one answers."""
    record = request[ACCESS]
    raw = await read_body(request, config.server)
    body = client.parse(raw)
    record.client_model, record.stream = body["model"], body.get("stream") is True
    targets = route(body)
    headers = request.headers
    return await first_answer(request, targets, upstreams,
                              lambda target, upstream: prepare(client, raw, body, target, upstream, headers))


async def answer(request: web.Request, config: Config, plan: Plan, response: aiohttp.ClientResponse) -> web.StreamResponse:
    """The provider's answer in the client's dialect: relayed and checked, or translated."""
    client, target, upstream = plan.client, plan.target, plan.upstream
    if plan.reply is None:
        return await passthrough.respond(request, response, client.dialect, upstream, config.server)
    if response.status >= 400:
        if response.status == 429 or response.status >= 500:
            request.app[METRICS].upstream_failure(target.provider.name, "status")
        async with releasing(response):
            raise await answer_error(upstream, response)
    provider = PROVIDERS[target.provider.protocol]
    record = request[ACCESS]

    def to_message(payload: Any) -> dict[str, Any]:
        return provider.message(payload, target, plan.tool_names)

    if not plan.stream:
        async with releasing(response):
            payload = await read_json(response, upstream)
        try:
            message = to_message(payload)
        except (ValueError, TypeError, AttributeError, KeyError):
            raise UpstreamFailure(502, f"Upstream provider '{target.provider.name}' sent a response dragoman "
                                       "could not read.", phase="body", provider=target.provider.name) from None
        usage = message.get("usage") or {}
        record.input_tokens, record.output_tokens = usage.get("input_tokens"), usage.get("output_tokens")
        record.first_byte()
        return web.Response(body=orjson.dumps(plan.reply.render(message)), content_type="application/json")

    encoder = plan.reply.encoder()
    server = config.server
    transcoder: Translation | Replay
    if "text/event-stream" in response.headers.get("Content-Type", ""):
        secrets = target.provider.api_keys
        transcoder = Translation(provider.decoder(plan.tool_names), encoder, lambda text: redact(text, *secrets),
                                 server.max_event_bytes, server.max_json_elements)
    else:
        transcoder = Replay(to_message, encoder, server.max_response_bytes, server.max_json_elements)
    answered = await stream_answer(request, response, transcoder, client.dialect, server, opening=encoder.start())
    plan.reply.finish(encoder)
    return answered
