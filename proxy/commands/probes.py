"""``dragoman doctor``'s provider check: one tiny request, and exactly what went wrong.

The request is the cheapest one of the provider's protocol that proves the key and the model: a
non-stream answer of at most 1 token (16 on the Responses API, its minimum) for the first model a
route sends it, or, when no route names one, its models list. It is sent with the headers
proxy/upstream.py sends (the same key header per protocol and flavor, the provider's ``headers:``),
no redirect followed, and one short timeout, so a dead host fails in seconds, not minutes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from yarl import URL

from ..config import Config, Provider
from ..errors import ProxyError, redact
from ..keys import mask
from ..upstream import Upstream

__all__ = ["Check", "probe", "probe_model", "TIMEOUT"]

TIMEOUT = 10.0
Level = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True)
class Check:
    level: Level
    name: str
    detail: str


def probe_model(config: Config, provider: Provider) -> str | None:
    """The first model a route sends to ``provider``, else the first of its ``models:``."""
    for route in config.routes:
        for ref in route.chain:
            if ref.provider == provider.name and (model := ref.model or route.model):
                return model
    return provider.models[0] if provider.models else None


def _request(upstream: Upstream, model: str | None) -> tuple[str, URL, dict[str, Any] | None]:
    """(method, URL, JSON body) of the probe."""
    provider = upstream.provider
    if model is None:
        return "GET", upstream.base.joinpath("v1", "models") if provider.protocol == "anthropic" \
            else upstream.base.joinpath("models"), None
    ping = [{"role": "user", "content": "Say ok."}]
    if provider.protocol == "anthropic":
        return "POST", upstream.messages_url, {"model": model, "max_tokens": 1, "messages": ping}
    if provider.protocol == "responses":
        return "POST", upstream.responses_url, {"model": model, "input": "Say ok.", "max_output_tokens": 16,
                                                "store": False}
    return "POST", upstream.chat_url(model), {"model": model, "messages": ping, provider.max_tokens_field: 1}


async def probe(config: Config, provider: Provider, timeout: float = TIMEOUT) -> Check:
    """One check per provider; a key pool's keys are each tried, and the worst answer is named."""
    keys = provider.api_keys
    if len(keys) < 2:
        return await _probe_key(config, provider, None, timeout)
    checks = [await _probe_key(config, provider, key, timeout) for key in keys]
    worst = max(range(len(checks)), key=lambda n: _RANK[checks[n].level])
    if checks[worst].level == "ok":
        return Check("ok", checks[0].name, f"{checks[0].detail}; each of the {len(keys)} keys accepted")
    return Check(checks[worst].level, checks[worst].name,
                 f"key {worst + 1} of {len(keys)} ({mask(keys[worst])}): {checks[worst].detail}")


_RANK = {"ok": 0, "warn": 1, "FAIL": 2}


async def _probe_key(config: Config, provider: Provider, key: str | None, timeout: float) -> Check:
    name = f"provider {provider.name}"
    model = probe_model(config, provider)
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False) as session:
        upstream = Upstream(provider, session)
        try:
            method, url, body = _request(upstream, model)
            headers = await upstream.headers_with_key(key)   # the key header dragoman itself sends
        except ProxyError as exc:  # no Google credentials; a model that cannot name a deployment
            return Check("FAIL", name, exc.message)
        what = f"{method} {url.with_query(None)}" + (f" ({model})" if model else "")
        try:
            async with session.request(method, url, json=body, headers=headers, allow_redirects=False) as response:
                text = (await _head(response)).decode(errors="replace")
                status = response.status
                location = response.headers.get("Location", "")
        except aiohttp.ClientConnectorDNSError as exc:
            return Check("FAIL", name, f"DNS: {url.host} does not resolve ({_reason(exc)})")
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
            return Check("FAIL", name, f"TLS: the handshake with {url.host}:{url.port} failed ({_reason(exc)})")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                return Check("FAIL", name, f"refused: nothing listens at {url.host}:{url.port}")
            return Check("FAIL", name, f"cannot connect to {url.host}:{url.port} ({_reason(exc)})")
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return Check("FAIL", name, f"timeout: no answer within {timeout:g} s ({what})")
        except aiohttp.ClientError as exc:
            return Check("FAIL", name, f"{what}: {type(exc).__name__}: {exc}")
    seconds = time.monotonic() - started
    message = redact(_message(text), *provider.api_keys)
    return _verdict(name, what, status, seconds, message, location, model)


def _verdict(name: str, what: str, status: int, seconds: float, message: str, location: str,
             model: str | None) -> Check:
    said = f": {message}" if message else ""
    if 200 <= status < 300:
        return Check("ok", name, f"{what}: {status} in {seconds:.2f} s")
    if 300 <= status < 400:
        return Check("FAIL", name, f"{what}: redirect {status} to {location or '(nowhere)'}: is base_url right?")
    if status in (401, 403):
        return Check("FAIL", name, f"{what}: {status}: the provider refused the key (api_key){said}")
    if status == 404:
        cause = f"model {model!r} not found, or base_url is wrong" if model else "base_url is wrong"
        return Check("FAIL", name, f"{what}: 404: {cause}{said}")
    if status == 429:
        return Check("warn", name, f"{what}: 429: rate-limited or out of quota{said}")
    if status < 500:
        return Check("warn", name, f"{what}: {status}: reachable, but the test request was refused{said}")
    return Check("FAIL", name, f"{what}: {status}: the provider failed{said}")


async def _head(response: aiohttp.ClientResponse, limit: int = 65536) -> bytes:
    """The body's first ``limit`` bytes: an error message is at the start, and a hostile or broken
    host's endless body must not hold the doctor."""
    head = bytearray()
    while len(head) < limit and (chunk := await response.content.read(limit - len(head))):
        head += chunk
    return bytes(head)


def _message(text: str) -> str:
    """The provider's own error message (OpenAI's and Anthropic's shapes), else the start of the body."""
    try:
        body = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:300]
    return ""


def _reason(exc: aiohttp.ClientConnectorError | aiohttp.ClientSSLError) -> str:
    os_error = getattr(exc, "os_error", None)
    return str(getattr(os_error, "strerror", None) or os_error or exc)
