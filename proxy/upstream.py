"""One pooled aiohttp ClientSession per provider, opened at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver

from .config import Config, Provider
from .errors import ProxyError
from .google_auth import GoogleToken
from .url_routing import GuardedResolver

__all__ = ["Upstream", "UPSTREAMS", "URL_SESSION", "upstream_sessions"]

# Small read buffer: aiohttp pauses the upstream socket at twice this much unread data, which is
# what bounds memory per stream when the client reads slower than the provider writes.
READ_BUFSIZE = 16 * 1024


class Upstream:
    """A provider's connection pool plus the headers every request to it carries."""

    __slots__ = ("provider", "session", "_headers", "_google")

    def __init__(self, provider: Provider, session: aiohttp.ClientSession) -> None:
        self.provider = provider
        self.session = session
        # Vertex AI: a Google access token from Application Default Credentials, per request
        self._google = GoogleToken() if provider.flavor == "vertex" else None
        headers = {"Content-Type": "application/json"}
        if provider.protocol == "anthropic":
            if provider.api_key:
                headers["x-api-key"] = provider.api_key
            headers["anthropic-version"] = provider.anthropic_version
            if provider.anthropic_beta:
                headers["anthropic-beta"] = ",".join(provider.anthropic_beta)
        elif provider.api_key and provider.flavor == "azure":
            headers["api-key"] = provider.api_key  # Azure OpenAI's key header
        elif provider.api_key:
            headers["Authorization"] = f"Bearer {provider.api_key}"
        headers.update(provider.headers)
        self._headers = headers

    def chat_url(self, model: str) -> str:
        """Azure's deployments form names the deployment (the route's model) in the path;
        without api_version, Azure's v1 form (base_url ending in /openai/v1) is used as is."""
        provider = self.provider
        if provider.flavor == "azure" and provider.api_version:
            return (f"{provider.base_url}/openai/deployments/{quote(model, safe='')}/chat/completions"
                    f"?api-version={quote(provider.api_version, safe='')}")
        return provider.base_url + "/chat/completions"

    @property
    def messages_url(self) -> str:
        return self.provider.base_url + "/v1/messages"

    async def post(self, url: str, body: bytes, extra_headers: Mapping[str, str] | None = None) -> aiohttp.ClientResponse:
        """Send the request and wait for the response headers; the caller must release the response.

        Connection failures and timeouts before the response starts become ProxyErrors.
        """
        headers = self._headers if not extra_headers else {**self._headers, **extra_headers}
        if self._google is not None:
            headers = {**headers, "Authorization": f"Bearer {await self._google.token()}"}
        name = self.provider.name
        try:
            return await self.session.post(url, data=body, headers=headers)
        except TimeoutError:
            raise ProxyError(504, f"Upstream provider '{name}' did not answer in time.") from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.strerror or str(exc.os_error) or type(exc).__name__  # e.g. the SSRF guard's refusal
            raise ProxyError(502, f"Cannot connect to upstream provider '{name}': {reason}.") from None
        except aiohttp.ClientError as exc:
            raise ProxyError(502, f"Upstream provider '{name}' failed: {type(exc).__name__}.") from None


UPSTREAMS = web.AppKey("upstreams", dict[str, Upstream])
URL_SESSION = web.AppKey("url_session", aiohttp.ClientSession)   # URL-path routing's upstreams


def _session(provider: Provider, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(
        total=None,  # a stream has no total time cap
        sock_connect=provider.timeout.connect,
        sock_read=provider.timeout.read,
    )
    connector = aiohttp.TCPConnector(limit=provider.max_connections, ttl_dns_cache=300, resolver=resolver)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, read_bufsize=READ_BUFSIZE,
                                 raise_for_status=False, trust_env=False)


def upstream_sessions(config: Config):  # type: ignore[no-untyped-def]
    """cleanup_ctx factory: sessions exist exactly while the app runs."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        upstreams = {p.name: Upstream(p, _session(p)) for p in config.providers}
        app[UPSTREAMS] = upstreams
        sessions = [u.session for u in upstreams.values()]
        routing = config.url_routing
        if routing.enabled:
            # every address a client-named host resolves to passes the SSRF guard
            template = Provider(name="url", protocol="openai", base_url="http://url", timeout=routing.timeout)
            app[URL_SESSION] = _session(template, GuardedResolver(routing.allow_private))
            sessions.append(app[URL_SESSION])
        try:
            yield
        finally:
            await asyncio.gather(*(session.close() for session in sessions))

    return ctx
