"""Asking one provider which models it has, for GET /v1/models (proxy/catalog.py keeps the answers).

- OpenAI-compatible and Responses providers: ``GET {base_url}/models``, OpenAI's shape
  ``{"object": "list", "data": [{"id": ..., "created": ...}]}`` (Ollama, vLLM, Groq, DeepSeek,
  OpenRouter answer the same). Only the first page is read: OpenAI's list has no paging, and
  the compatible servers that page have no common way to say so.
- Anthropic providers: ``GET {base_url}/v1/models?limit=1000``, following ``after_id`` while
  ``has_more`` says there is more, at most ``MAX_PAGES`` pages.
- Gemini's OpenAI-compatible list names its models ``models/gemini-2.5-pro`` while requests name
  ``gemini-2.5-pro``: the prefix is dropped.
- Not asked (``reason_not_asked``): Azure, whose list names base models while requests name
  deployments, and Vertex AI, whose OpenAI-compatible endpoint has no model list.

Each provider is asked with its own session and headers (its key), follows no redirect, gets
``timeout`` seconds for all its pages, and may send at most ``MAX_BODY`` bytes a page. A 404 or
405 means the provider has no list: one info line, and no models from it. Any other failure (no
connection, the timeout, an error status, a body that is not a model list) is one warning naming
the provider and the cause, and the provider is skipped.
"""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog
from yarl import URL

from .config import Provider
from .errors import ProxyError, redact
from .upstream import Upstream

__all__ = ["ReportedModel", "ask", "reason_not_asked", "MAX_PAGES", "MAX_BODY", "MAX_MODELS"]

log = structlog.get_logger("dragoman")

MAX_PAGES = 10                  # Anthropic pages of 1000: far more than any provider lists
MAX_BODY = 8 * 1024 * 1024      # one page; OpenRouter's list (hundreds of models, described) is ~1 MB
MAX_MODELS = 10_000             # per provider: the listing is computed over all of them
_MAX_ID = 256                   # longer "ids" are not model names anyone types


@dataclass(frozen=True, slots=True)
class ReportedModel:
    id: str
    created: int | None = None          # Unix seconds: OpenAI's created, Anthropic's created_at
    display_name: str | None = None     # Anthropic's


class _NoList(Exception):
    """The provider has no model endpoint (404, 405): not a failure."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Failure(Exception):
    """Why a provider's list could not be read, for the operator's warning (keys redacted)."""


def reason_not_asked(provider: Provider) -> str | None:
    """Why ``provider`` is not asked for its models, or None when it is."""
    if provider.flavor == "azure":
        return "Azure lists base models, while requests name deployments"
    if provider.flavor == "vertex":
        return "Vertex AI's OpenAI-compatible endpoint has no model list"
    return None


async def ask(upstream: Upstream, timeout: float) -> tuple[ReportedModel, ...] | None:
    """The models ``upstream``'s provider reports, () when it has no list, None when asking failed
    (logged as one warning)."""
    name = upstream.provider.name
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            if upstream.provider.protocol == "anthropic":
                return await _anthropic(upstream)
            return await _openai(upstream)
    except _NoList as exc:
        log.info("provider has no model list; only its configured models are listed", provider=name,
                 status=exc.status)
        return ()
    except TimeoutError as exc:   # ours, or one of the provider's own phases (timeout.connect...)
        cause = (f"no model list within {timeout:g} s (discovery.timeout)" if deadline.expired()
                 else f"{type(exc).__name__}: {exc or 'timed out'}")
    except _Failure as exc:
        cause = str(exc)
    except (aiohttp.ClientError, OSError, ValueError) as exc:   # no connection, DNS, TLS, a cut, a bad URL
        cause = f"{type(exc).__name__}: {exc}"
    except ProxyError as exc:            # no Google credentials for a token
        cause = exc.message
    log.warning("model discovery failed; provider skipped", provider=name,
                cause=redact(cause, *upstream.provider.api_keys))
    return None


async def _openai(upstream: Upstream) -> tuple[ReportedModel, ...]:
    payload = await _get_json(upstream, upstream.base.joinpath("models"))
    return tuple(_models(payload, strip="models/" if upstream.provider.flavor == "gemini" else "")[:MAX_MODELS])


async def _anthropic(upstream: Upstream) -> tuple[ReportedModel, ...]:
    models: list[ReportedModel] = []
    after: str | None = None
    for _ in range(MAX_PAGES):
        query = {"limit": "1000"} if after is None else {"limit": "1000", "after_id": after}
        payload = await _get_json(upstream, upstream.base.joinpath("v1", "models").with_query(query))
        models += _models(payload)
        last = payload.get("last_id")
        # a provider that says "more" but names no cursor, or the same one again, would loop
        if payload.get("has_more") is not True or not isinstance(last, str) or last == after:
            break
        after = last
    return tuple(models[:MAX_MODELS])


async def _get_json(upstream: Upstream, url: URL) -> dict[str, Any]:
    response = await upstream.get(url)
    try:
        status = response.status
        if 300 <= status < 400:
            raise _Failure(f"redirect {status} to {URL(response.headers.get('Location', '')).host or '(none)'} "
                           "(dragoman follows no redirect)")
        if status in (404, 405):
            raise _NoList(status)
        body = await _read(response)
    finally:
        response.release()
    if status != 200:
        raise _Failure(f"HTTP {status}: {body[:300].decode('utf-8', 'replace')}")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _Failure("the answer is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise _Failure("the answer is not a model list (no data array)")
    return payload


async def _read(response: aiohttp.ClientResponse) -> bytes:
    if (response.content_length or 0) > MAX_BODY:
        raise _Failure(f"model list larger than {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > MAX_BODY:
            raise _Failure(f"model list larger than {MAX_BODY} bytes")
    return bytes(body)


def _models(payload: dict[str, Any], strip: str = "") -> list[ReportedModel]:
    """The usable entries of one page; anything else in it is ignored."""
    found: list[ReportedModel] = []
    for item in payload["data"]:
        if not isinstance(item, dict) or not isinstance(raw := item.get("id"), str):
            continue
        model_id = raw.removeprefix(strip) if strip else raw
        if not 0 < len(model_id) <= _MAX_ID or not model_id.isprintable() or " " in model_id:
            continue
        display = item.get("display_name")
        found.append(ReportedModel(model_id, _created(item), display if isinstance(display, str) else None))
    return found


def _created(item: dict[str, Any]) -> int | None:
    created = item.get("created")
    if isinstance(created, int) and not isinstance(created, bool) and created >= 0:
        return created
    created_at = item.get("created_at")
    if isinstance(created_at, str):
        try:
            moment = datetime.datetime.fromisoformat(created_at)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return max(0, int(moment.timestamp()))
    return None
