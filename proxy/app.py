"""The application factory: a validated Config in, a ready aiohttp Application out."""

from __future__ import annotations

import structlog
from aiohttp import web

from .config import Config, ProviderRef, Route
from .flow import CLIENTS, make_clients
from .handlers import chat, health, messages, models, responses
from .metrics import METRICS, Metrics, metrics_handler
from .middlewares import (
    URL_ROUTE,
    add_request_id,
    auth,
    dialect_errors,
    request_context,
)
from .response_store import ResponseStore
from .runtime import STATE, runtime_context

__all__ = ["create_app", "describe"]

log = structlog.get_logger("dragoman")


def create_app(config: Config, *, ready_at_startup: bool = True) -> web.Application:
    """The app for ``config``. ``ready_at_startup``: /ready says ready once the app has started;
    the daemon (proxy/server.py) passes False and says so itself once it is listening."""
    app = web.Application(
        middlewares=[request_context, dialect_errors, auth],
        client_max_size=config.server.max_body_bytes,
    )
    app[METRICS] = Metrics()
    store = config.responses_store
    app[CLIENTS] = make_clients(ResponseStore(store.max_entries, store.max_bytes, store.ttl))
    app.cleanup_ctx.append(runtime_context(config, ready_at_startup))
    app.on_shutdown.append(_drain)
    app.on_response_prepare.append(add_request_id)
    app.router.add_routes(health.routes)
    app.router.add_routes(messages.routes)
    app.router.add_routes(chat.routes)
    app.router.add_routes(responses.routes)
    app.router.add_routes(models.routes)
    if config.url_routing.enabled:
        app.router.add_post("/{scheme:https?}/{rest:.+}/v1/messages", messages.url_routed_message, name=URL_ROUTE)
    if config.metrics.port is None:  # else served by its own loopback listener (proxy/cli.py)
        app.router.add_get("/metrics", metrics_handler)
    return app


async def _drain(app: web.Application) -> None:
    """aiohttp's shutdown has stopped listening and now lets running requests finish: /ready says
    so, and streams cut at the end of the wait get the dialect's error event (proxy/streams.py)."""
    app[STATE].draining = True


def describe(config: Config) -> list[dict[str, object]]:
    """The resolved routing table, secrets left out: for the start-up line and check-config.
    One row per route, its first provider's; the providers tried after it under ``fallbacks``."""
    rows: list[dict[str, object]] = []
    for route in config.routes:
        first, *rest = [_provider_columns(config, route, ref) for ref in route.chain]
        rows.append({"match": route.match, "clients": route.client or "any", "when": _conditions(route),
                     **first, "max_tokens": route.max_tokens, "fallbacks": rest})
    return rows


def _provider_columns(config: Config, route: Route, ref: ProviderRef) -> dict[str, object]:
    provider = config.provider(ref.provider)
    return {"provider": provider.name, "protocol": provider.protocol, "base_url": provider.base_url,
            "model": ref.model or route.model or "(as requested)", "api_key": _mask(provider.api_key)}


def _conditions(route: Route) -> str:
    """A route's conditions besides the glob, as check-config prints them; "-" for none."""
    parts = []
    if route.thinking is not None:
        parts.append("thinking" if route.thinking else "no thinking")
    if route.min_input_tokens is not None:
        parts.append(f"tokens >= {route.min_input_tokens}")
    if route.tools_include:
        parts.append("tools: " + " | ".join(route.tools_include))
    return ", ".join(parts) or "-"


def _mask(secret: str | None) -> str:
    if not secret:
        return "(none)"
    return secret[:3] + "…" + secret[-2:] if len(secret) > 12 else "***"
