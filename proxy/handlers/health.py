"""Probes, open without a key: GET /health (the process is alive), GET /ready (send it traffic),
and the HEAD / probe Claude Code sends at start-up."""

from __future__ import annotations

import os
import time

from aiohttp import web

from ..runtime import STATE

__all__ = ["routes"]

routes = web.RouteTableDef()
_STARTED = time.monotonic()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    # the pid tells workers apart (server.workers), for an operator as for the tests
    return web.json_response({"status": "ok", "uptime_s": round(time.monotonic() - _STARTED, 1), "pid": os.getpid()})


@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    """200 while this process takes traffic; 503 while it starts and from the moment a drain
    begins (a load balancer stops sending new requests while running ones finish)."""
    state = request.app[STATE]
    if state.draining:
        return web.json_response({"status": "draining"}, status=503)
    if not state.ready:
        return web.json_response({"status": "starting"}, status=503)
    runtime = state.runtime
    providers = {name: "available" if u.breaker.available else "resting" for name, u in runtime.upstreams.items()}
    # ready while any route can still be served: one of its providers is not resting
    servable = any(runtime.upstreams[ref.provider].breaker.available
                   for route in runtime.config.routes for ref in route.chain)
    return web.json_response({"status": "ready" if servable else "unavailable", "providers": providers},
                             status=200 if servable else 503)


@routes.route("HEAD", "/")
async def head_root(request: web.Request) -> web.Response:
    return web.Response(status=200)
