"""URL-path routing, for users of the Workers-style proxies: the upstream is named in the path.

``POST /{scheme}/{host}/{base path...}/{model}/v1/messages`` sends an Anthropic request to the
OpenAI-compatible ``{scheme}://{host}/{base path}`` as ``model``, with the client's own key as
the upstream Bearer key. A model with a ``/`` in its name is written with ``%2F``.

Off by default. When on it is a way to make dragoman open connections to hosts a client names,
so two guards stand between a client and server-side request forgery:
- the host must match the configured allow-list (globs, case-insensitive);
- every address the host resolves to is checked at connection time by GuardedResolver, so a DNS
  answer cannot point an allowed name at loopback, link-local, private or other special addresses
  (unless ``allow_private`` says so); IP literals are checked the same way.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from .errors import ProxyError

__all__ = ["UrlTarget", "parse_url_route", "check_target", "host_allowed", "address_allowed", "GuardedResolver"]


@dataclass(frozen=True, slots=True)
class UrlTarget:
    base_url: str   # scheme://host[/base path], without a trailing slash
    host: str
    model: str


def parse_url_route(raw_path: str) -> UrlTarget:
    """``/https/api.groq.com/openai/v1/llama-3.3-70b/v1/messages`` -> its base URL and model."""
    parts = raw_path.strip("/").split("/")
    if len(parts) < 5 or parts[-2:] != ["v1", "messages"]:
        raise ProxyError(404, "URL-path routes look like /{scheme}/{host}/{base path}/{model}/v1/messages.")
    scheme, host, *base, model = parts[:-2]
    scheme, host, model = unquote(scheme).lower(), unquote(host).lower(), unquote(model)
    if scheme not in ("http", "https"):
        raise ProxyError(400, f"URL-path route scheme must be http or https, got {scheme!r}.")
    if not host or not model or any(c in host for c in "@?#\\"):
        raise ProxyError(400, "URL-path route needs a plain host name and a model.")
    path = "/".join(unquote(segment) for segment in base)
    return UrlTarget(f"{scheme}://{host}" + (f"/{path}" if path else ""), host, model)


def _hostname(host: str) -> str:
    if host.startswith("["):  # [IPv6]:port
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    name = _hostname(host).lower()
    return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in patterns)


def check_target(target: UrlTarget, allow_hosts: tuple[str, ...], allow_private: bool) -> None:
    """403 unless the host is allow-listed and, when it is an IP literal, an allowed address.
    (aiohttp connects to IP literals without asking the resolver, so they are checked here.)"""
    if not host_allowed(target.host, allow_hosts):
        raise ProxyError(403, f"URL-path routing does not allow host {target.host!r} (url_routing.allow_hosts).")
    name = _hostname(target.host)
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return  # a name: its addresses are checked by GuardedResolver at connection time
    if not address_allowed(name, allow_private):
        raise ProxyError(403, f"URL-path routing refuses the address {name} (loopback, link-local or private).")


def address_allowed(address: str, allow_private: bool) -> bool:
    """Public unicast addresses only, unless private ones are explicitly allowed."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False
    if ip.is_loopback or ip.is_link_local or ip.is_private or not ip.is_global:
        return allow_private
    return True


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then drops every address that is not allowed;
    a host left with none fails to connect with a message saying why."""

    def __init__(self, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self._allow_private = allow_private
        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if address_allowed(r["host"], self._allow_private)]
        if not allowed:
            raise OSError(f"{host} resolves only to loopback, link-local or private addresses, "
                          "which URL-path routing refuses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()
