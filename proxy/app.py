"""The application factory: a validated Config in, a ready aiohttp Application out."""

from __future__ import annotations

import structlog
from aiohttp import web

from .config import Config
from . import metrics
from .handlers import chat, health, messages
from .handlers.messages import CONFIG
from .middlewares import API_KEYS, add_request_id, auth, dialect_errors, request_context
from .upstream import upstream_sessions

__all__ = ["create_app", "CONFIG"]

log = structlog.get_logger("dragoman")


def create_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[request_context, dialect_errors, auth],
        client_max_size=config.server.max_body_bytes,
    )
    app[CONFIG] = config
    app[API_KEYS] = config.auth.api_keys
    app[metrics.METRICS] = metrics.Metrics()
    app.cleanup_ctx.append(upstream_sessions(config))
    app.on_response_prepare.append(add_request_id)
    app.router.add_routes(health.routes)
    app.router.add_routes(messages.routes)
    app.router.add_routes(chat.routes)
    app.router.add_routes(metrics.routes)
    return app


def describe(config: Config) -> list[dict[str, object]]:
    """The resolved routing table, secrets left out: for the start-up line and check-config."""
    rows: list[dict[str, object]] = []
    for route in config.routes:
        provider = config.provider(route.provider)
        rows.append({
            "match": route.match,
            "clients": route.client or "any",
            "provider": provider.name, "protocol": provider.protocol,
            "base_url": provider.base_url, "model": route.model or "(as requested)",
            "max_tokens": route.max_tokens, "api_key": _mask(provider.api_key),
        })
    return rows


def _mask(secret: str | None) -> str:
    if not secret:
        return "(none)"
    return secret[:3] + "…" + secret[-2:] if len(secret) > 12 else "***"
