"""One pooled aiohttp ClientSession per provider, and the request every handler sends through it.

Every upstream request: a URL built with yarl from the provider's parsed base URL (never by
string concatenation), no redirect ever followed (a 3xx is a failure naming the provider: a key
or body must not go anywhere but the configured origin), and a timeout per phase (connect, a free
connection when ``max_connections`` is set, response headers, silence between bytes, total), so a
failure says which phase failed and why (refused, DNS, TLS...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from .config import Provider, ServerConfig
from .breaker import Breaker
from .errors import ProxyError, UpstreamFailure
from .keys import KeyPool
from .retry_after import retry_after
from .google_auth import GoogleToken
from .url_routing import AddressRefused

__all__ = ["Upstream", "make_session"]

# Small read buffer: aiohttp pauses the upstream socket at twice this much unread data, which is
# what bounds memory per stream when the client reads slower than the provider writes.
READ_BUFSIZE = 16 * 1024
_UNSAFE_SEGMENT = frozenset("/\\?#%")


class Upstream:
    """A provider's connection pool plus the headers every request to it carries."""

    __slots__ = ("provider", "session", "base", "limits", "breaker", "keys", "_headers", "_key_header", "_google",
                 "_slots")

    def __init__(self, provider: Provider, session: aiohttp.ClientSession, limits: ServerConfig | None = None) -> None:
        self.provider = provider
        self.session = session
        self.base = URL(provider.base_url)
        self.limits = limits or ServerConfig()
        self.breaker = Breaker(provider.circuit_breaker.failures, provider.circuit_breaker.cooldown)
        self.keys = KeyPool(provider.name, provider.api_keys) if len(provider.api_keys) > 1 else None
        # Vertex AI: a Google access token from Application Default Credentials, per request
        self._google = GoogleToken() if provider.flavor == "vertex" else None
        # max_connections: dragoman's own queue, so the time spent waiting is its own phase
        self._slots = asyncio.Semaphore(provider.max_connections) if provider.max_connections else None
        headers = {"Content-Type": "application/json"}
        if provider.protocol == "anthropic":
            headers["anthropic-version"] = provider.anthropic_version
            if provider.anthropic_beta:
                headers["anthropic-beta"] = ",".join(provider.anthropic_beta)
            self._key_header = "x-api-key"
        else:  # Azure OpenAI's own key header, or a bearer token
            self._key_header = "api-key" if provider.flavor == "azure" else "Authorization"
        if len(provider.api_keys) == 1:
            headers.update(self._auth(provider.api_keys[0]))
        headers.update(provider.headers)
        self._headers = headers

    def _auth(self, key: str) -> dict[str, str]:
        return {self._key_header: f"Bearer {key}" if self._key_header == "Authorization" else key}

    # -- URLs -------------------------------------------------------------------------------

    def chat_url(self, model: str) -> URL:
        """Azure's deployments form names the deployment (the route's model) in the path;
        without api_version, Azure's v1 form (base_url ending in /openai/v1) is used as is."""
        provider = self.provider
        if provider.flavor == "azure" and provider.api_version:
            return (self.base.joinpath("openai", "deployments", _segment(model, provider.name), "chat", "completions")
                    .with_query({"api-version": provider.api_version}))
        return self.base.joinpath("chat", "completions")

    @property
    def messages_url(self) -> URL:
        return self.base.joinpath("v1", "messages")

    @property
    def count_tokens_url(self) -> URL:
        return self.base.joinpath("v1", "messages", "count_tokens")

    @property
    def responses_url(self) -> URL:
        return self.base.joinpath("responses")

    # -- the request ------------------------------------------------------------------------

    async def post(self, url: URL, body: bytes, extra_headers: Mapping[str, str] | None = None,
                   *, stream: bool = False, affinity: str | None = None) -> aiohttp.ClientResponse:
        """Send the request and wait for the response headers; the caller must release the response.

        Failures before the response starts (no connection, a timeout, a redirect) raise
        UpstreamFailure naming the phase. ``stream``: the answer is a stream, so its headers must
        come within ``timeout.headers``; a whole answer's headers come with it, bounded by
        ``timeout.read`` like any silence. With a key pool, ``affinity`` (the conversation) picks
        the key, and a key answered with 429, 401 or 403 hands the request to the next one.
        """
        headers = self._headers if not extra_headers else {**self._headers, **extra_headers}
        if self._google is not None:
            headers = {**headers, "Authorization": f"Bearer {await self._google.token()}"}
        if self.keys is None:
            return await self._attempt(url, body, headers, stream)
        order = self.keys.order(affinity)
        for n, key in enumerate(order):
            response = await self._attempt(url, body, {**headers, **self._auth(key)}, stream)
            status = response.status
            if status == 429:
                self.keys.rest(key, retry_after(response.headers))
            elif status in (401, 403):
                self.keys.disable(key, status)
            if status not in (401, 403, 429) or n == len(order) - 1:
                return response
            response.release()   # the next key may do better, and nothing reached the client yet
        raise self._failure(502, "status", f"Upstream provider '{self.provider.name}' has no usable key left "
                            "(all refused: 401/403).")

    async def _attempt(self, url: URL, body: bytes, headers: Mapping[str, str], stream: bool) -> aiohttp.ClientResponse:
        timeout, name = self.provider.timeout, self.provider.name
        if self._slots is not None:
            try:
                async with asyncio.timeout(timeout.pool):
                    await self._slots.acquire()
            except TimeoutError:
                raise self._failure(504, "pool", f"No free connection to upstream provider '{name}' within "
                                    f"{timeout.pool:g} s (max_connections: {self.provider.max_connections}, "
                                    "timeout.pool).") from None
        try:
            response = await self._send(url, body, headers, timeout.headers if stream else None)
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        if self._slots is not None:
            connection = response.connection
            if connection is None:
                self._slots.release()  # already read to the end and released
            else:
                connection.add_callback(self._slots.release)
        if 300 <= response.status < 400:
            target = URL(response.headers.get("Location", "")).host
            response.release()
            raise self._failure(502, "redirect", f"Upstream provider '{name}' answered with a redirect (HTTP "
                                f"{response.status}); dragoman does not follow redirects.",
                                f"redirect {response.status} to {target or '(no location)'}")
        return response

    async def get(self, url: URL) -> aiohttp.ClientResponse:
        """A GET with the provider's headers (its key), for model discovery: no redirect followed,
        aiohttp's own errors raised as they are. The caller bounds the time and releases the
        response. It takes no ``max_connections`` slot: one short request at start-up or reload."""
        return await self.session.get(url, headers=await self.headers_with_key(), allow_redirects=False)

    async def headers_with_key(self, key: str | None = None) -> dict[str, str]:
        """The headers a request carries, with ``key`` (one of a pool; default: the provider's only
        or first key) or Vertex's Google token: for the requests outside ``post`` (discovery, doctor)."""
        headers = dict(self._headers)
        if key is not None or self.keys is not None:
            headers.update(self._auth(key if key is not None else self.provider.api_keys[0]))
        if self._google is not None:
            headers["Authorization"] = f"Bearer {await self._google.token()}"
        return headers

    async def _send(self, url: URL, body: bytes, headers: Mapping[str, str],
                    headers_timeout: float | None) -> aiohttp.ClientResponse:
        deadline = asyncio.timeout(headers_timeout)
        timeout, where = self.provider.timeout, f"{url.host}:{url.port}"
        name = self.provider.name
        connect = f"Cannot connect to upstream provider '{name}'"
        try:
            async with deadline:
                return await self.session.post(url, data=body, headers=headers, allow_redirects=False)
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, AddressRefused):
                raise self._failure(502, "refused", f"{connect}: its host resolves only to addresses "
                                    "URL-path routing refuses (loopback, link-local, private).", str(exc.os_error)) from None
            raise self._failure(502, "dns", f"{connect}: its host name did not resolve.",
                                f"DNS lookup of {url.host} failed: {_reason(exc)}") from None
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
            raise self._failure(502, "tls", f"{connect}: the TLS handshake failed.",
                                f"TLS with {where} failed: {_reason(exc)}") from None
        except aiohttp.ConnectionTimeoutError:
            raise self._failure(504, "connect", f"{connect}: no connection within {timeout.connect:g} s "
                                "(timeout.connect).", f"connect to {where} timed out") from None
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, ConnectionRefusedError)
            reason = "connection refused" if refused else _reason(exc)
            raise self._failure(502, "refused" if refused else "connect", f"{connect}: {reason}.",
                                f"connect to {where}: {_reason(exc)}") from None
        except aiohttp.SocketTimeoutError:
            raise self._failure(504, "read", f"Upstream provider '{name}' did not answer within {timeout.read:g} s "
                                "(timeout.read).") from None
        except TimeoutError:
            if deadline.expired():
                raise self._failure(504, "headers", f"Upstream provider '{name}' sent no response headers within "
                                    f"{headers_timeout:g} s (timeout.headers).") from None
            raise self._failure(504, "total", f"Upstream provider '{name}' did not answer within "
                                f"{timeout.total:g} s (timeout.total).") from None
        except aiohttp.ServerDisconnectedError:
            raise self._failure(502, "connect", f"Upstream provider '{name}' closed the connection without answering.",
                                f"{where} closed the connection before answering") from None
        except aiohttp.ClientError as exc:
            raise self._failure(502, "connect", f"Upstream provider '{name}' failed: {type(exc).__name__}.",
                                f"{where}: {exc!r}") from None

    def _failure(self, status: int, phase: str, message: str, detail: str | None = None) -> UpstreamFailure:
        """``message`` for the client, ``detail`` for the operator's log (hosts and the system's
        reason); keys appear in neither."""
        return UpstreamFailure(status, message, phase=phase, provider=self.provider.name,
                               detail=f"{phase}: {detail or message}")


def _segment(model: str, provider: str) -> str:
    """A model name used as a URL path segment (an Azure deployment): it must stay one segment,
    so a client-chosen name cannot steer the path (yarl resolves ``..``)."""
    if not model or model in (".", "..") or _UNSAFE_SEGMENT & set(model) or not model.isprintable():
        raise ProxyError(400, f"Model {model!r} cannot name a deployment of provider '{provider}'.", param="model")
    return model


def _reason(exc: aiohttp.ClientConnectorError | aiohttp.ClientSSLError) -> str:
    os_error = getattr(exc, "os_error", None)
    return str(getattr(os_error, "strerror", None) or os_error or exc)


def make_session(provider: Provider, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(
        total=provider.timeout.total,  # None by default: a stream has no total time cap
        sock_connect=provider.timeout.connect,
        sock_read=provider.timeout.read,
    )
    # limit=0: the connection count is bounded by Upstream's own queue when max_connections is set
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, resolver=resolver)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, read_bufsize=READ_BUFSIZE,
                                 raise_for_status=False, trust_env=False, auto_decompress=True)
