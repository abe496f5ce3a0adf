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
    "ProxyError", "anthropic_error_body", "openai_error_body", "upstream_error", "redact",
    "error_response",
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
    return {"type": "error", "error": {"type": error.error_type, "message": error.message}}


def openai_error_body(error: ProxyError) -> dict[str, Any]:
    """OpenAI's error shape; ``code`` carries the Anthropic-style type for finer handling."""
    return openai_error(error.error_type, error.message, error.param)


def error_response(error: ProxyError, dialect: str) -> web.Response:
    if dialect == "openai":
        # 529 is Anthropic's own "overloaded"; OpenAI clients know 503 (and retry it)
        status = 503 if error.status == 529 else error.status
        body = openai_error_body(error)
    else:
        status, body = error.status, anthropic_error_body(error)
    return web.Response(status=status, body=orjson.dumps(body),
                        content_type="application/json", headers=error.headers)


def upstream_error(provider: str, status: int, body: bytes, retry_after: str | None = None,
                   secret: str | None = None) -> ProxyError:
    """A non-2xx upstream answer -> the error the client gets, with the upstream's own message.

    ``secret`` is the provider's API key, masked wherever the upstream echoed it.
    """
    message = _upstream_message(body) or f"HTTP {status}"
    message = redact(f"Upstream provider '{provider}' returned {status}: {message}", secret)
    headers = {"retry-after": retry_after} if retry_after and status in (429, 503, 529) else None
    if status in (400, 413, 422):
        return ProxyError(400 if status == 422 else status, message, headers=headers)
    if status in (401, 403, 404, 429):
        return ProxyError(status, message, headers=headers)
    if status in (503, 529):
        return ProxyError(529, message, headers=headers)
    if status == 504 or status == 408:
        return ProxyError(504, message, headers=headers)
    if 400 <= status < 500:
        return ProxyError(400, message, headers=headers)
    return ProxyError(502, message, headers=headers)


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
