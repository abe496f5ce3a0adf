"""POST /v1/responses: the OpenAI Responses API (Codex CLI, the Agents SDK, ``client.responses``).

A WebSocket upgrade on GET /v1/responses (newer Codex tries one first) gets a plain 405 in the
dialect, after which Codex falls back to HTTP.
"""

from __future__ import annotations

from aiohttp import web

from ..flow import serve

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/v1/responses")
async def create_response(request: web.Request) -> web.StreamResponse:
    return await serve(request, "responses")
