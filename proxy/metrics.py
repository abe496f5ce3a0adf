"""Prometheus metrics, one registry per app (so tests can build many apps), served at /metrics.

Every label value comes from the config or from a fixed set (paths are route patterns, statuses
and outcomes a handful, providers the configured names; URL-routed upstreams all share
``URL_PROVIDER``), so no caller can grow the series without bound. /metrics itself is served
behind dragoman's key when auth is on, unless ``metrics.public`` says otherwise or it has its
own loopback listener (``metrics.port``).
"""

from __future__ import annotations

from aiohttp import web
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from .runtime import STATE

__all__ = ["Metrics", "METRICS", "URL_PROVIDER", "metrics_handler"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
URL_PROVIDER = "url-routing"   # the one label of every URL-routed upstream


class Metrics:
    __slots__ = ("registry", "requests", "duration", "ttfb", "tokens", "failures", "fallbacks", "reloads",
                 "provider_up", "overloaded")

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("dragoman_requests_total",
                                "Requests answered, by HTTP status and outcome (ok, or the error the client "
                                "saw: a stream that failed after its 200 counts its real outcome)",
                                ["path", "status", "provider", "outcome"], registry=self.registry)
        self.duration = Histogram("dragoman_request_duration_seconds", "Whole request time (streams included)",
                                  ["path", "provider"], buckets=_BUCKETS, registry=self.registry)
        self.ttfb = Histogram("dragoman_time_to_first_byte_seconds", "Time until the first response byte",
                              ["path", "provider"], buckets=_BUCKETS, registry=self.registry)
        self.tokens = Counter("dragoman_tokens_total", "Tokens reported by upstreams",
                              ["provider", "direction"], registry=self.registry)
        self.failures = Counter("dragoman_upstream_failures_total",
                                "Upstream requests that failed, by phase (connect, dns, tls, refused, pool, "
                                "headers, read, total, redirect, status, body)",
                                ["provider", "phase"], registry=self.registry)
        self.fallbacks = Counter("dragoman_fallbacks_total", "Requests passed on to a route's next provider",
                                 ["provider", "next"], registry=self.registry)
        self.reloads = Counter("dragoman_config_reloads_total", "Config reloads, by result (ok, refused)",
                               ["result"], registry=self.registry)
        # with workers: 0 when any live worker rests the provider (each judges on its own traffic)
        self.provider_up = Gauge("dragoman_provider_available", "1 while a provider is asked, 0 while its circuit "
                                 "breaker rests it", ["provider"], registry=self.registry, multiprocess_mode="livemin")
        self.overloaded = Counter("dragoman_overloaded_total", "Requests refused at server.max_concurrent_requests",
                                  registry=self.registry)

    def observe(self, path: str, status: int, provider: str | None, outcome: str | None, seconds: float,
                ttfb_ms: float | None, input_tokens: int | None, output_tokens: int | None) -> None:
        provider = _label(provider)
        self.requests.labels(path, str(status), provider, outcome or "ok").inc()
        self.duration.labels(path, provider).observe(seconds)
        if ttfb_ms is not None:
            self.ttfb.labels(path, provider).observe(ttfb_ms / 1e3)
        if input_tokens:
            self.tokens.labels(provider, "input").inc(input_tokens)
        if output_tokens:
            self.tokens.labels(provider, "output").inc(output_tokens)

    def upstream_failure(self, provider: str, phase: str) -> None:
        self.failures.labels(_label(provider), phase).inc()

    def fallback(self, provider: str, following: str) -> None:
        self.fallbacks.labels(_label(provider), _label(following)).inc()

    def available(self, provider: str, up: bool) -> None:
        if not provider.startswith("url:"):   # a client-named host: its health is not the operator's
            self.provider_up.labels(provider).set(1 if up else 0)


def _label(provider: str | None) -> str:
    """A provider's label: its configured name; every URL-routed upstream (named by a client,
    ``url:<host>``) shares one, so no caller can grow the series without bound."""
    if not provider:
        return ""
    return URL_PROVIDER if provider.startswith("url:") else provider


METRICS = web.AppKey("metrics", Metrics)


async def metrics_handler(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    if (state := request.app.get(STATE)) is not None:   # a breaker's cooldown may have ended unseen
        for name, upstream in state.runtime.upstreams.items():
            metrics.available(name, upstream.breaker.available)
    registry = metrics.registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):   # workers (proxy/workers.py): the sum over them
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
