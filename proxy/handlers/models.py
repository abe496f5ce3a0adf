"""GET /v1/models and /v1/models/{id}: the models a client can ask for, in its dialect's shape.

Which ids are listed is proxy/catalog.py's business; this module renders them. /v1/models is
both dialects' path: a request with ``anthropic-version`` (every Anthropic SDK sends it, and so
does Claude Code's gateway discovery, ``GET /v1/models?limit=1000``) gets Anthropic's shape and
paging (``limit`` 1..1000, default 20; ``after_id`` or ``before_id``); any other gets OpenAI's,
which has no paging: the whole list in one answer.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from ..catalog import CATALOG, Entry
from ..errors import ProxyError
from ..routing import Dialect
from ..runtime import RUNTIME

__all__ = ["routes", "anthropic_page"]

routes = web.RouteTableDef()

_ANTHROPIC: tuple[Dialect, ...] = ("anthropic",)
# OpenAI SDK apps call Chat Completions or Responses: the OpenAI shape lists what either is served
_OPENAI: tuple[Dialect, ...] = ("openai", "responses")
_DEFAULT_LIMIT, _MAX_LIMIT = 20, 1000   # Anthropic's


def _dialects(request: web.Request) -> tuple[Dialect, ...]:
    # the same test as the error middleware's (middlewares.dialect_of), so errors match the shape
    return _ANTHROPIC if "anthropic-version" in request.headers else _OPENAI


def _anthropic_model(entry: Entry) -> dict[str, Any]:
    created = datetime.datetime.fromtimestamp(entry.created, datetime.UTC)
    return {"type": "model", "id": entry.id, "display_name": entry.display_name,
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _openai_model(entry: Entry) -> dict[str, Any]:
    return {"id": entry.id, "object": "model", "created": entry.created, "owned_by": entry.owner}


def anthropic_page(entries: Sequence[Entry], query: Mapping[str, str]) -> dict[str, Any]:
    """One page of Anthropic's list: ``limit`` entries after ``after_id`` (or from the start), or
    the ``limit`` entries just before ``before_id``; ``has_more`` says whether more lie that way,
    which is what the SDKs' auto-pagination follows."""
    limit = _limit(query.get("limit"))
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None and before is not None:
        raise ProxyError(400, "Send after_id or before_id, not both.", param="after_id")
    ids = [entry.id for entry in entries]
    if before is not None:
        end = _position(ids, before, "before_id")
        start = max(0, end - limit)
        page, has_more = entries[start:end], start > 0
    else:
        start = _position(ids, after, "after_id") + 1 if after is not None else 0
        page, has_more = entries[start:start + limit], start + limit < len(entries)
    return {"data": [_anthropic_model(entry) for entry in page], "has_more": has_more,
            "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None}


def _limit(raw: str | None) -> int:
    if raw is None:
        return _DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= _MAX_LIMIT:
        raise ProxyError(400, f"limit must be an integer from 1 to {_MAX_LIMIT}, got {raw!r}.", param="limit")
    return limit


def _position(ids: list[str], cursor: str, param: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        # the list follows the config: after a reload a cursor may name a model no longer listed
        raise ProxyError(400, f"{param} {cursor!r} is not a model in this list; list again from the first page.",
                         param=param) from None


@routes.get("/v1/models")
async def list_models(request: web.Request) -> web.Response:
    dialects = _dialects(request)
    entries = list(request.app[CATALOG].listing(request[RUNTIME].config, dialects).values())
    if dialects == _ANTHROPIC:
        return web.json_response(anthropic_page(entries, request.query))
    return web.json_response({"object": "list", "data": [_openai_model(entry) for entry in entries]})


@routes.get("/v1/models/{model:.+}")
async def get_model(request: web.Request) -> web.Response:
    """A listed model, or any id a route would serve to the caller's dialect; else a 404."""
    model_id = request.match_info["model"]
    dialects = _dialects(request)
    entry = request.app[CATALOG].lookup(request[RUNTIME].config, model_id, dialects)
    if entry is None:
        apis = "the Anthropic Messages API" if dialects == _ANTHROPIC else "the OpenAI Chat Completions or Responses API"
        raise ProxyError(404, f"No route in dragoman's config serves model {model_id!r} on {apis}.", param="model")
    return web.json_response(_anthropic_model(entry) if dialects == _ANTHROPIC else _openai_model(entry))
