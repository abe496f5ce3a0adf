"""GET /v1/models and /v1/models/{id}: the models a client can ask for, in its dialect's shape."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..config import Config
from ..runtime import RUNTIME
from ..routing import Dialect, resolve

__all__ = ["routes"]

routes = web.RouteTableDef()
_GLOB_CHARS = frozenset("*?[")


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
    data = [_model(m, p, client) for m, p in _listed_models(request[RUNTIME].config, client).items()]
    if client == "anthropic":
        return web.json_response({"data": data, "has_more": False,
                                  "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None})
    return web.json_response({"object": "list", "data": data})


@routes.get("/v1/models/{model:.+}")
async def get_model(request: web.Request) -> web.Response:
    """A listed model, or any id a route would serve (routes are globs, so the list is partial)."""
    model_id = request.match_info["model"]
    config = request[RUNTIME].config
    client = _client(request)
    owner = _listed_models(config, client).get(model_id)
    if owner is None:
        owner = resolve(config, model_id, client).provider.name
    return web.json_response(_model(model_id, owner, client))
