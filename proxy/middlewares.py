"""Request context (id + access log), errors in the client's dialect, and client auth.

Order matters: ``[request_context, dialect_errors, auth]``: the first is outermost, so the access
log sees the final status and auth failures are rendered by the error middleware.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Mapping
import uuid
from dataclasses import dataclass

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from .errors import ProxyError, UpstreamFailure, error_response
from .metrics import METRICS
from .runtime import RUNTIME, STATE

__all__ = [
    "AccessRecord", "ACCESS", "URL_ROUTE", "REQUEST_ID", "DRAGOMAN_KEY",
    "client_key", "presented_key", "request_context", "dialect_errors", "auth", "dialect_of",
]

log = structlog.get_logger("dragoman")

REQUEST_ID = web.RequestKey("request_id", str)
_OPEN_PATHS = frozenset({"/", "/health", "/ready"})   # probes send no key
URL_ROUTE = "url-routed-messages"
# URL-path routes carry the upstream's key in the usual headers, so dragoman's own key (when auth
# is on) travels in a header of its own.
DRAGOMAN_KEY = "x-dragoman-key"
_QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})  # probes: no access-log line, no metrics


@dataclass(slots=True)
class AccessRecord:
    """What handlers learn about a request, for its one access-log line."""

    started: float
    client_model: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    stream: bool | None = None
    ttfb_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None
    stream_error: str | None = None      # a stream that failed after its 200: what the client saw
    upstream_cause: str | None = None    # why the upstream failed, for the operator (keys redacted)

    def first_byte(self) -> None:
        if self.ttfb_ms is None:
            self.ttfb_ms = round((time.perf_counter() - self.started) * 1e3, 2)


ACCESS = web.RequestKey("access", AccessRecord)


def dialect_of(request: web.Request) -> str:
    """Which error shape the client reads. /v1/models is both dialects' path: Anthropic's SDKs
    always send anthropic-version, OpenAI's never do."""
    path = request.path
    if path.startswith("/v1/models"):
        return "anthropic" if "anthropic-version" in request.headers else "openai"
    if path.startswith("/v1/responses"):
        return "responses"
    return "openai" if path.startswith(("/v1/chat/", "/v1/completions")) else "anthropic"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    record = AccessRecord(started=time.perf_counter())
    request[ACCESS] = record
    state = request.app[STATE]
    runtime = state.runtime   # the config this request runs on, whatever a reload does
    request[RUNTIME] = runtime
    runtime.enter()
    task = asyncio.current_task()
    assert task is not None
    state.started(task)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except BaseException:
        status = 499  # client closed the connection (the handler was cancelled)
        raise
    finally:
        runtime.leave()
        state.ended(task)
        if request.path not in _QUIET_PATHS:
            seconds = time.perf_counter() - record.started
            resource = request.match_info.route.resource
            provider = record.provider
            outcome = record.error if status >= 400 or record.stream_error else None
            request.app[METRICS].observe(resource.canonical if resource else "(unmatched)", status, provider,
                                         outcome, seconds, record.ttfb_ms, record.input_tokens, record.output_tokens)
            log.info(
                "request", request_id=request_id, method=request.method, path=request.path,
                status=status, model=record.client_model, provider=provider,
                upstream_model=record.upstream_model, stream=record.stream,
                ms=round(seconds * 1e3, 2), ttfb_ms=record.ttfb_ms,
                input_tokens=record.input_tokens, output_tokens=record.output_tokens, error=record.error,
                upstream_error=record.upstream_cause,
            )


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: headers leave at prepare(), so streams get the id too."""
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers["request-id"] = request_id


@web.middleware
async def dialect_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProxyError as exc:
        record = request[ACCESS]
        record.error = exc.error_type
        if isinstance(exc, UpstreamFailure):
            record.upstream_cause = exc.detail
        return error_response(exc, dialect_of(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = _http_exception(exc)
        request[ACCESS].error = error.error_type
        return error_response(error, dialect_of(request))
    except asyncio.CancelledError:
        if not request.app[STATE].draining:
            raise  # the client went away
        # the drain's deadline: an answer that never came is a 503 the client can retry
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        request[ACCESS].error = "overloaded_error"
        return error_response(ProxyError(503, "dragoman is shutting down (a restart or deploy) and could not wait "
                                              "for this answer; retry the request.", headers={"Retry-After": "1"}),
                              dialect_of(request))
    except Exception:
        log.exception("unhandled error", request_id=request.get(REQUEST_ID), path=request.path)
        request[ACCESS].error = "api_error"
        error = ProxyError(500, f"Internal error in dragoman (request id {request.get(REQUEST_ID)}).")
        return error_response(error, dialect_of(request))


def _http_exception(exc: web.HTTPException) -> ProxyError:
    if exc.status == 413:
        return ProxyError(413, "Request body is larger than dragoman's server.max_body_bytes.")
    if exc.status == 404:
        return ProxyError(404, "Not found: dragoman serves /v1/messages, /v1/messages/count_tokens, "
                               "/v1/chat/completions, /v1/responses, /v1/models, /health and /ready.")
    if exc.status == 405:
        return ProxyError(405, f"Method {exc.headers.get('Allow') and 'not allowed; allowed: ' + exc.headers['Allow'] or 'not allowed'}.")
    return ProxyError(exc.status, exc.text or exc.reason)


def client_key(request: web.Request) -> str:
    """The key a client presented: x-api-key (Anthropic), api-key (Azure), or Authorization: Bearer."""
    return presented_key(request.headers)


def presented_key(headers: Mapping[str, str]) -> str:
    presented = headers.get("x-api-key") or headers.get("api-key") or ""
    if not presented:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        presented = token.strip() if scheme.lower() == "bearer" else ""
    return presented


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    config = request[RUNTIME].config
    keys = config.auth.api_keys
    path = request.path
    limit = config.server.max_concurrent_requests
    if limit and path not in _QUIET_PATHS and len(request.app[STATE].requests) > limit:
        request.app[METRICS].overloaded.inc()
        raise ProxyError(529, f"dragoman is answering its limit of {limit} concurrent requests "
                              "(server.max_concurrent_requests); retry shortly.", headers={"Retry-After": "1"})
    if not keys or path in _OPEN_PATHS or (path == "/metrics" and config.metrics.public):
        return await handler(request)
    url_route = request.match_info.route.name == URL_ROUTE
    presented = request.headers.get(DRAGOMAN_KEY, "") if url_route else client_key(request)
    # compare against every key, so timing does not tell which (or whether an early one) matched
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented.encode(), key.encode())
    if not matched:
        reason = "Invalid API key" if presented else "Missing API key"
        if url_route:
            raise ProxyError(401, f"{reason}: URL-path routes carry the upstream's key in the usual header; "
                                  f"send one of dragoman's auth.api_keys as {DRAGOMAN_KEY}.")
        raise ProxyError(401, f"{reason}: send one of dragoman's auth.api_keys as x-api-key or Authorization: Bearer.")
    return await handler(request)
