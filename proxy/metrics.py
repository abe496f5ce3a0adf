"""Prometheus metrics, one registry per app (so tests can build many apps), served at /metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

__all__ = ["Metrics", "METRICS", "routes", "observe"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    __slots__ = ("registry", "requests", "duration", "ttfb", "tokens")

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("dragoman_requests_total", "Requests answered",
                                ["path", "status", "provider"], registry=self.registry)
        self.duration = Histogram("dragoman_request_duration_seconds", "Whole request time (streams included)",
                                  ["path", "provider"], buckets=_BUCKETS, registry=self.registry)
        self.ttfb = Histogram("dragoman_time_to_first_byte_seconds", "Time until the first response byte",
                              ["path", "provider"], buckets=_BUCKETS, registry=self.registry)
        self.tokens = Counter("dragoman_tokens_total", "Tokens reported by upstreams",
                              ["provider", "direction"], registry=self.registry)


METRICS = web.AppKey("metrics", Metrics)
routes = web.RouteTableDef()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def observe(metrics: Metrics, path: str, status: int, provider: str | None, seconds: float,
            ttfb_ms: float | None, input_tokens: int | None, output_tokens: int | None) -> None:
    provider = provider or ""
    metrics.requests.labels(path, str(status), provider).inc()
    metrics.duration.labels(path, provider).observe(seconds)
    if ttfb_ms is not None:
        metrics.ttfb.labels(path, provider).observe(ttfb_ms / 1e3)
    if input_tokens:
        metrics.tokens.labels(provider, "input").inc(input_tokens)
    if output_tokens:
        metrics.tokens.labels(provider, "output").inc(output_tokens)
