"""The baseline: a minimal aiohttp pass-through proxy, no translation.

    python bench/passthrough.py --port 18002 --upstream http://127.0.0.1:18001

Any POST is forwarded, raw body bytes unchanged, to the same path on the upstream through one
pooled ClientSession; the response is streamed back chunk by chunk (``iter_any`` + ``write``).
It runs with the settings ``dragoman serve`` uses: one process, the default asyncio loop,
``handler_cancellation=True``, no access log, aiohttp's default listen backlog.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"})


async def forward(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    session = request.app[SESSION]
    headers = {"Content-Type": request.headers.get("Content-Type", "application/json"),
               "Authorization": "Bearer sk-bench-passthrough"}
    async with session.post(request.app[UPSTREAM] + request.path, data=body, headers=headers) as upstream:
        response = web.StreamResponse(
            status=upstream.status,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP},
        )
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[UPSTREAM] = upstream.rstrip("/")

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=600)
        app[SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout,
                                             auto_decompress=False, trust_env=False)
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/_health", health)
    app.router.add_post("/{path:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18002)
    parser.add_argument("--upstream", default="http://127.0.0.1:18001")
    args = parser.parse_args()
    web.run_app(make_app(args.upstream), host=args.host, port=args.port, access_log=None,
                handler_cancellation=True, print=None)


if __name__ == "__main__":
    main()
