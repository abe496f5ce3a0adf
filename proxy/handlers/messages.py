"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API, and URL-path
routing (proxy/url_routing.py) for it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..conditions import Facts, anthropic_facts
from ..config import Config, Provider, Route
from ..errors import ProxyError
from ..exchange import read_body
from ..flow import CLIENTS, answer, send, serve
from ..middlewares import ACCESS, client_key
from ..passthrough import anthropic_headers, anthropic_request, respond
from ..routing import Target, resolve
from ..runtime import RUNTIME
from ..upstream import Upstream
from ..url_routing import check_target, parse_url_route
from ..validation import parse_count_tokens_request

__all__ = ["routes", "url_routed_message"]

routes = web.RouteTableDef()


@routes.post("/v1/messages")
async def create_message(request: web.Request) -> web.StreamResponse:
    return await serve(request, "anthropic")


async def url_routed_message(request: web.Request) -> web.StreamResponse:
    """POST /{scheme}/{host}/{base path}/{model}/v1/messages (proxy/url_routing.py): the upstream
    named in the path, the client's key as its Bearer key. Registered only when enabled."""
    runtime = request[RUNTIME]
    config = runtime.config
    routing = config.url_routing
    named = parse_url_route(request.raw_path.split("?", 1)[0])
    check_target(named, routing.allow_hosts, routing.allow_private)
    key = client_key(request)
    if not key:
        raise ProxyError(401, "URL-path routing sends your key to the upstream as its Bearer key: send one "
                              "as x-api-key or Authorization: Bearer.")
    provider = Provider(name=f"url:{named.host}", protocol="openai", base_url=str(named.base_url), api_key=key,
                        timeout=routing.timeout)
    assert runtime.url_session is not None  # the route exists only when URL-path routing is on
    upstreams = {provider.name: Upstream(provider, runtime.url_session, config.server)}

    def route(body: dict[str, Any]) -> list[Target]:
        return [Target(Route(match=named.model, provider=provider.name), provider, named.model, body["model"])]

    plan, response = await send(request, config, request.app[CLIENTS]["anthropic"], upstreams, route)
    return await answer(request, config, plan, response)


@routes.post("/v1/messages/count_tokens")
async def count_message_tokens(request: web.Request) -> web.StreamResponse:
    """Asked of the provider when the route goes to an Anthropic one (an exact count), else
    answered locally: Claude Code calls this dozens of times at start-up."""
    runtime = request[RUNTIME]
    config = runtime.config
    record = request[ACCESS]
    raw = await read_body(request, config.server)
    body = parse_count_tokens_request(raw)
    record.client_model = body["model"]
    facts = anthropic_facts(body)  # a route's min_input_tokens counts once, for both uses
    target = _anthropic_target(config, body["model"], facts)
    if target is not None:
        record.provider, record.upstream_model = target.provider.name, target.upstream_model
        upstream = runtime.upstreams[target.provider.name]
        response = await upstream.post(upstream.count_tokens_url, anthropic_request(raw, body, target),
                                       anthropic_headers(request.headers, target.provider))
        if response.status not in (404, 405):
            return await respond(request, response, "anthropic", upstream, config.server, count_tokens=True)
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
