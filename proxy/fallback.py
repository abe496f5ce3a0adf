"""Fallbacks: a route's providers asked in order until one answers, used by both handlers.

The next provider is asked only when the failure says nothing about the request and nothing has
reached the client yet: no connection, a timeout before the answer, 429, 5xx. Any other answer
(a 400, a 401) would fail the same way elsewhere and goes back to the client; so does the last
provider's failure, as it would without fallbacks. A provider that answered with a success
status is committed to: its stream is relayed, and a stream it breaks off later ends with an
error event, never with a second provider's answer glued to the first's.

Each provider is planned for separately (``prepare``), since a fallback may speak the other
protocol: the request is translated for one and passed through to the other.

Retry-After is a provider's word about itself, so it is honoured when the same provider is asked
again (a route lists it twice to retry it); a different provider is asked at once. A provider
asked again without a Retry-After waits a doubling backoff. Every wait is at most ``MAX_WAIT``
and all of a request's waits at most ``WAIT_BUDGET``: the client (Claude Code retries 429 and
5xx itself) should not sit through a long silence before any answer.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import structlog
from aiohttp import web
from yarl import URL

from .errors import ProxyError, UpstreamFailure
from .metrics import METRICS, Metrics
from .middlewares import ACCESS, REQUEST_ID
from .retry_after import retry_after
from .routing import Target
from .upstream import Upstream

__all__ = ["Outbound", "first_answer", "retry_after", "pause", "MAX_WAIT", "WAIT_BUDGET", "BACKOFF"]

log = structlog.get_logger("dragoman")
P = TypeVar("P")

MAX_WAIT = 10.0      # seconds, any one wait
WAIT_BUDGET = 15.0   # seconds, all the waits of one request
BACKOFF = 0.5        # seconds before asking a provider again the first time; doubles after


@dataclass(frozen=True, slots=True)
class Outbound:
    """One upstream request, as a handler planned it for one provider."""

    url: URL
    body: bytes
    headers: Mapping[str, str] | None = None
    stream: bool = False   # the answer will be a stream: its headers come at once (timeout.headers)
    affinity: str | None = None   # what keeps a conversation on one key of a pool


async def first_answer(request: web.Request, targets: Sequence[Target], upstreams: Mapping[str, Upstream],
                       prepare: Callable[[Target, Upstream], tuple[P, Outbound]]) -> tuple[P, aiohttp.ClientResponse]:
    """Ask ``targets`` in order: (the plan of the provider that answered, its unread response).

    The response is the last provider's whatever its status, or an earlier one's that is not worth
    another provider; the caller checks and releases it. The last provider's connection failure
    or timeout is raised, as ``Upstream.post`` raises it. ``prepare`` errors (a request that
    cannot be translated) are raised as they are. A provider whose circuit breaker is open is
    skipped (proxy/breaker.py); when every one is, the answer is a 503 saying when to retry.
    """
    record, metrics = request[ACCESS], request.app[METRICS]
    clock = asyncio.get_running_loop().time
    failures: dict[str, int] = {}    # provider -> its failures so far in this request
    ready_at: dict[str, float] = {}  # provider -> when it may be asked again
    budget = WAIT_BUDGET
    for i, target in enumerate(targets):
        name = target.provider.name
        upstream = upstreams[name]
        if not upstream.breaker.allow():
            continue
        last = not any(upstreams[t.provider.name].breaker.available for t in targets[i + 1:])
        plan, outbound = prepare(target, upstream)
        record.provider, record.upstream_model = name, target.upstream_model
        try:
            response = await upstream.post(outbound.url, outbound.body, outbound.headers, stream=outbound.stream,
                                           affinity=outbound.affinity)
        except UpstreamFailure as exc:  # no connection, or no answer in time
            metrics.upstream_failure(name, exc.phase)
            _failed(upstream, metrics)
            record.upstream_cause = exc.detail
            if last:
                raise
            reason, after = exc.phase, None
        else:
            if response.status >= 500:
                _failed(upstream, metrics)
            else:
                upstream.breaker.success()
                metrics.available(name, True)
            if last or not (response.status == 429 or response.status >= 500):
                return plan, response
            metrics.upstream_failure(name, "status")
            reason, after = f"HTTP {response.status}", retry_after(response.headers)
            record.upstream_cause = f"status: HTTP {response.status}"
            response.release()  # an unread error body: the connection is closed, not reused
        del plan, outbound
        failures[name] = failures.get(name, 0) + 1
        ready_at[name] = clock() + pause(after, failures[name])
        following = next(t.provider.name for t in targets[i + 1:] if upstreams[t.provider.name].breaker.available)
        metrics.fallback(name, following)
        wait = min(max(0.0, ready_at.get(following, 0.0) - clock()), budget)
        log.warning("upstream failed, trying the next provider", request_id=request.get(REQUEST_ID),
                    provider=name, reason=reason, cause=record.upstream_cause, next=following, wait_s=round(wait, 3))
        if wait > 0:
            await asyncio.sleep(wait)
            budget -= wait
    raise _unavailable([upstreams[t.provider.name] for t in targets])


def _failed(upstream: Upstream, metrics: Metrics) -> None:
    if upstream.breaker.failure():
        metrics.available(upstream.provider.name, False)
        log.warning("provider unavailable: circuit breaker open", provider=upstream.provider.name,
                    failures=upstream.provider.circuit_breaker.failures,
                    cooldown_s=upstream.provider.circuit_breaker.cooldown)


def _unavailable(upstreams: list[Upstream]) -> ProxyError:
    """Every provider of the route is resting after repeated failures: say when one may be asked."""
    wait = max(1, math.ceil(min(u.breaker.retry_in() for u in upstreams)))
    names = ", ".join(f"'{u.provider.name}'" for u in upstreams)
    return ProxyError(503, f"Upstream provider {names} failed repeatedly and is resting (circuit breaker); "
                           f"retry in {wait} s.", headers={"Retry-After": str(wait)})


def pause(retry_after: float | None, failures: int) -> float:
    """How long a provider that failed ``failures`` times in a row is left alone: its Retry-After
    if it sent one, else a doubling backoff; at most ``MAX_WAIT``."""
    return min(retry_after if retry_after is not None else BACKOFF * 2 ** (failures - 1), MAX_WAIT)
