"""Errors as the client's dialect expects them, and upstream failures mapped onto them.

Claude Code shows an error's message to the user word for word and retries 429 and 5xx by itself
(529 only three times), so statuses and messages here are chosen for that reader.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web

from converters.messages_response import openai_error

__all__ = [
    "ProxyError", "UpstreamFailure", "anthropic_error_body", "openai_error_body", "upstream_error",
    "redact", "error_response", "retryable",
]

# Anthropic error type for each status we send.
_ANTHROPIC_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
    429: "rate_limit_error", 500: "api_error", 502: "api_error", 503: "overloaded_error",
    504: "timeout_error", 529: "overloaded_error",
}
_SECRET = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{6,}|sk-ant-[A-Za-z0-9_\-*]{6,}|Bearer\s+[A-Za-z0-9._\-]{8,})")


class ProxyError(Exception):
    """An error to answer in the client's dialect. ``param`` names the offending field, if any."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 error_type: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.error_type = error_type or _ANTHROPIC_TYPES.get(status, "api_error")
        self.headers = headers or {}


class UpstreamFailure(ProxyError):
    """A provider that failed before answering, or answered with an error: ``phase`` says where
    (connect, dns, tls, refused, pool, headers, read, total, redirect, status) for the operator's
    log line and the failure counter; the message is what the client reads."""

    def __init__(self, status: int, message: str, *, phase: str, provider: str,
                 headers: dict[str, str] | None = None, detail: str | None = None) -> None:
        super().__init__(status, message, headers=headers)
        self.phase = phase
        self.provider = provider
        self.detail = detail or message   # for the log: the cause, keys redacted


def retryable(status: int) -> bool:
    """Whether asking again may give another answer: timeouts, rate limits, server errors.
    Both official SDKs (and Claude Code) retry unless told ``x-should-retry: false``: a wrong key
    or a refused request would otherwise fail only after minutes of silent retries."""
    return status in (408, 409, 429) or status >= 500


def redact(text: str, *secrets: str | None) -> str:
    """Mask anything shaped like an API key before it reaches a client or a log line.

    ``secrets`` (a provider's configured key) are masked verbatim too: keys such as Groq's
    ``gsk_...`` or Azure's hex keys have no ``sk-`` shape, and upstreams echo bad keys in errors.
    """
    for secret in secrets:
        if secret and len(secret) >= 8:  # a placeholder key such as "ollama" is no secret to hide
            text = text.replace(secret, "[redacted]")
    return _SECRET.sub("[redacted]", text)


def anthropic_error_body(error: ProxyError) -> dict[str, Any]:
    """Anthropic's error shape has no ``param``: the field a 400 is about leads the message."""
    message, param = error.message, error.param
    if param and not message.startswith(param):
        message = f"{param}: {message}"
    return {"type": "error", "error": {"type": error.error_type, "message": message}}


def openai_error_body(error: ProxyError) -> dict[str, Any]:
    """OpenAI's error shape; ``code`` carries the Anthropic-style type for finer handling."""
    return openai_error(error.error_type, error.message, error.param)


def error_response(error: ProxyError, dialect: str) -> web.Response:
    """The error as the client's dialect shapes it (the Responses API uses OpenAI's)."""
    if dialect == "anthropic":
        status, body = error.status, anthropic_error_body(error)
    else:
        # 529 is Anthropic's own "overloaded"; OpenAI clients know 503 (and retry it)
        status = 503 if error.status == 529 else error.status
        body = openai_error_body(error)
    headers = error.headers if retryable(status) else {**error.headers, "x-should-retry": "false"}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


def upstream_error(provider: str, status: int, body: bytes, retry_after: str | None = None,
                   secrets: tuple[str, ...] = ()) -> UpstreamFailure:
    """A non-2xx upstream answer -> the error the client gets, with the upstream's own message.

    ``secrets`` are the provider's API keys, masked wherever the upstream echoed one.
    """
    message = _upstream_message(body) or f"HTTP {status}"
    message = redact(f"Upstream provider '{provider}' returned {status}: {message}", *secrets)
    headers = {"retry-after": retry_after} if retry_after and status in (429, 503, 529) else None
    if status in (400, 413, 422):
        mapped = 400 if status == 422 else status
    elif status in (401, 403, 404, 429):
        mapped = status
    elif status in (503, 529):
        mapped = 529
    elif status in (504, 408):
        mapped = 504
    elif 400 <= status < 500:
        mapped = 400
    else:
        mapped = 502
    return UpstreamFailure(mapped, message, phase="status", provider=provider, headers=headers,
                           detail=redact(f"HTTP {status}: {body[:300].decode('utf-8', 'replace')}", *secrets))


def _upstream_message(body: bytes) -> str:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:500].decode("utf-8", "replace").strip()
    if isinstance(payload, list) and payload:
        payload = payload[0]  # some OpenAI-compatible servers wrap the error in a list
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or error.get("msg")
            if message:
                return str(message)
        elif isinstance(error, str):
            return error
        detail = payload.get("detail")
        if isinstance(detail, str):
            return detail
    return body[:500].decode("utf-8", "replace").strip()
