"""Liveness: GET /health, and the HEAD / probe Claude Code sends at start-up."""

from __future__ import annotations

import time

from aiohttp import web

__all__ = ["routes"]

routes = web.RouteTableDef()
_STARTED = time.monotonic()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "uptime_s": round(time.monotonic() - _STARTED, 1)})


@routes.route("HEAD", "/")
async def head_root(request: web.Request) -> web.Response:
    return web.Response(status=200)
