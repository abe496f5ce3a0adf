"""POST /v1/chat/completions: the OpenAI Chat Completions API."""

from __future__ import annotations

from aiohttp import web

from ..flow import serve

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/v1/chat/completions")
async def create_chat_completion(request: web.Request) -> web.StreamResponse:
    return await serve(request, "openai")
