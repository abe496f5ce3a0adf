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
URL_PROVIDER = "url-routing"
_MAX_SERIES = 4096   # the one label of every URL-routed upstream


class Metrics:
    __slots__ = ("registry", "requests", "duration", "ttfb", "tokens", "failures", "fallbacks", "reloads",
                 "provider_up", "overloaded", "_series")

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
        # each request's series, looked up once: labels() costs a lock and a tuple per call, and the
        # label sets are few (paths, statuses and outcomes are fixed; providers come from the config)
        self._series: dict[tuple[str, int, str, str], _Series] = {}

    def observe(self, path: str, status: int, provider: str | None, outcome: str | None, seconds: float,
                ttfb_ms: float | None, input_tokens: int | None, output_tokens: int | None) -> None:
        key = (path, status, provider or "", outcome or "ok")
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= _MAX_SERIES:   # reloads renamed providers many times over
                self._series.clear()
            series = self._series[key] = _Series(self, path, status, _label(provider), key[3])
        series.requests.inc()
        series.duration.observe(seconds)
        if ttfb_ms is not None:
            series.ttfb().observe(ttfb_ms / 1e3)
        if input_tokens:
            series.tokens("input").inc(input_tokens)
        if output_tokens:
            series.tokens("output").inc(output_tokens)

    def upstream_failure(self, provider: str, phase: str) -> None:
        self.failures.labels(_label(provider), phase).inc()

    def fallback(self, provider: str, following: str) -> None:
        self.fallbacks.labels(_label(provider), _label(following)).inc()

    def available(self, provider: str, up: bool) -> None:
        if not provider.startswith("url:"):   # a client-named host: its health is not the operator's
            self.provider_up.labels(provider).set(1 if up else 0)


class _Series:
    """One (path, status, provider, outcome)'s metric children; the optional ones made on first
    use, so a series appears only once it has something to say (as with labels() each time)."""

    __slots__ = ("_metrics", "_path", "_provider", "requests", "duration", "_ttfb", "_tokens")

    def __init__(self, metrics: Metrics, path: str, status: int, provider: str, outcome: str) -> None:
        self._metrics, self._path, self._provider = metrics, path, provider
        self.requests = metrics.requests.labels(path, str(status), provider, outcome)
        self.duration = metrics.duration.labels(path, provider)
        self._ttfb: Histogram | None = None
        self._tokens: dict[str, Counter] = {}

    def ttfb(self) -> Histogram:
        if self._ttfb is None:
            self._ttfb = self._metrics.ttfb.labels(self._path, self._provider)
        return self._ttfb

    def tokens(self, direction: str) -> Counter:
        child = self._tokens.get(direction)
        if child is None:
            child = self._tokens[direction] = self._metrics.tokens.labels(self._provider, direction)
        return child


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
