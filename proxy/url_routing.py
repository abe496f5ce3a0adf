"""URL-path routing, for users of the Workers-style proxies: the upstream is named in the path.

``POST /{scheme}/{host}/{base path...}/{model}/v1/messages`` sends an Anthropic request to the
OpenAI-compatible ``{scheme}://{host}/{base path}`` as ``model``, with the client's own key as
the upstream Bearer key. A model with a ``/`` in its name is written with ``%2F``.

Off by default. When on, it lets a client make dragoman open connections to hosts the client
names, so every part of the path is treated as hostile:
- the path is parsed strictly and the upstream URL is built from its validated parts with
  ``yarl.URL.build``, never by pasting decoded text together, so no encoded ``/ ? # @`` or dot
  segment can move the request to another host, path or query than the one checked;
- the host must match ``url_routing.allow_hosts``, label by label (``host_allowed``);
- an IP literal is checked here (aiohttp connects to literals without asking the resolver), in
  every spelling a resolver accepts (``literal_address``), and every address a name resolves to
  is checked at connection time by ``GuardedResolver``, so a DNS answer cannot point an allowed
  name at loopback, link-local (cloud metadata), private or other special addresses.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from .errors import ProxyError

__all__ = [
    "UrlTarget", "parse_url_route", "host_allowed", "validate_host_pattern", "literal_address",
    "address_allowed", "check_target", "GuardedResolver", "AddressRefused",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHAPE = "URL-path routes look like /{scheme}/{host}/{base path}/{model}/v1/messages."
# What a host name may be made of once lower-cased: letters, digits, '-' and (seen in real
# internal names) '_'. Anything else has no business in a host and is refused, not interpreted.
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_PORT = re.compile(r"[0-9]{1,5}")
# The only characters any numeric IPv4 spelling (decimal, octal, hex, 1-4 parts) is made of;
# checked before inet_aton, whose C implementation stops at whitespace and ignores what follows.
_INET_ATON_CHARS = re.compile(r"[0-9a-fA-FxX.]+")


@dataclass(frozen=True, slots=True)
class UrlTarget:
    base_url: URL        # scheme://host[:port][/base path]: what the request is sent under
    host: str            # normalised: lower case, no trailing dot, IPv6 unbracketed, literals canonical
    port: int | None
    model: str


def parse_url_route(raw_path: str) -> UrlTarget:
    """``/https/api.groq.com/openai/v1/llama-3.3-70b/v1/messages`` -> its base URL and model.

    ``raw_path`` is the request's path as sent (still percent-encoded), without the query: the
    segments are split on the real ``/`` before anything is decoded, and each is decoded at most
    once, so an encoded separator stays data and is then refused where it could steer the URL.
    """
    parts = raw_path[1:].split("/") if raw_path.startswith("/") else []
    if len(parts) < 5 or parts[-2:] != ["v1", "messages"]:
        raise ProxyError(404, _SHAPE)
    scheme, host_segment, *base, model_segment = parts[:-2]
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise ProxyError(400, f"URL-path route scheme must be http or https, got {scheme!r}.")
    host, port = _parse_host(host_segment)
    segments = [_base_segment(segment) for segment in base]
    model = _decode(model_segment, "model")
    if not model:
        raise ProxyError(400, "URL-path route needs a model before /v1/messages.")
    if (bad := _unprintable(model)) is not None:
        raise ProxyError(400, f"URL-path route model must not contain {bad}.")
    # Built from parts, so the host and path are exactly the ones validated above; the segments
    # contain no '/', '%', '?' or '#' and are no dot segments, so yarl's quoting keeps them as
    # they are, one segment each.
    path = "/" + "/".join(segments) if segments else ""
    try:
        base_url = URL.build(scheme=scheme, host=host, port=port, path=path)
    except ValueError:   # yarl's own host checks: a 400 for what slipped past ours, never a 500
        raise ProxyError(400, f"URL-path route host {host_segment!r} refused: not a valid URL host.") from None
    return UrlTarget(base_url, host, port, model)


def _parse_host(segment: str) -> tuple[str, int | None]:
    """``name``, ``name:port``, ``[IPv6]`` or ``[IPv6]:port`` -> the normalised host and port."""

    def refuse(why: str) -> ProxyError:
        return ProxyError(400, f"URL-path route host {segment!r} refused: {why}.")

    if not segment:
        raise refuse("it is empty")
    for char in segment:
        # No percent-encoding at all: a host has no use for it, and a decoded '/', '?', '#', '@'
        # or '\' would make the host that is checked differ from the one connected to.
        if char == "%":
            raise refuse("percent-encoding ('%') is not allowed in the host")
        if char in "/\\?#@":
            raise refuse(f"{char!r} is not allowed in the host")
        if _unprintable(char) is not None:
            raise refuse("whitespace and control characters are not allowed in the host")
        if not char.isascii():
            raise refuse("internationalised names must be sent in their punycode (xn--) form")
    if segment.startswith("["):
        address, bracket, rest = segment[1:].partition("]")
        if not bracket:
            raise refuse("'[' without its ']'")
        try:
            ip6 = ipaddress.IPv6Address(address)
        except ValueError:
            raise refuse("not an IPv6 address in brackets") from None
        return str(ip6), _port(rest, refuse)
    name, colon, port_text = segment.partition(":")
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]   # the root's dot: api.groq.com. is api.groq.com
    # A literal in any spelling is connected to in its canonical form, which is also the one the
    # address checks saw: aiohttp passes all-digit hosts such as 127.1 straight to the socket
    # layer, which reads them as addresses without asking the (guarded) resolver.
    ip = literal_address(name)
    if ip is not None:
        return str(ip), _port(colon + port_text, refuse)
    for char in name:
        if char not in _NAME_CHARS and char != ".":
            raise refuse(f"{char!r} is not a host name character")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise refuse("not a host name (labels of 1-63 characters separated by single dots)")
    return name, _port(colon + port_text, refuse)


def _port(text: str, refuse: Callable[[str], ProxyError]) -> int | None:
    """``""`` -> None, ``":8080"`` -> 8080; anything else is refused."""
    if not text:
        return None
    port = text[1:] if text.startswith(":") else ""
    if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
        raise refuse("the port must be a number from 1 to 65535")
    return int(port)


def _base_segment(raw: str) -> str:
    """One base path segment, decoded once and refused if it could change the URL's shape."""
    text = _decode(raw, "base path segment")

    def refuse(why: str) -> ProxyError:
        return ProxyError(400, f"URL-path route base path segment {raw!r} refused: {why}.")

    if not text:
        raise refuse("empty segments are not allowed")
    if text in (".", ".."):
        raise refuse("dot segments would move the upstream path")
    for char in text:
        # '%' left after one decode is double encoding (%252F): a later decode would produce the
        # separator this check exists to keep out.
        if char in "/\\?#%":
            raise refuse(f"{char!r} (sent raw or percent-encoded) would change the upstream URL")
    if (bad := _unprintable(text)) is not None:
        raise refuse(f"it contains {bad}")
    return text


def _decode(raw: str, what: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise ProxyError(400, f"URL-path route {what} {raw!r} is not percent-encoded UTF-8.") from None


def _unprintable(text: str) -> str | None:
    """What kind of character in ``text`` has no place in a URL part or model name, if any."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs"):   # controls (\t \r \n too), lone surrogates
            return "control characters"
        if char.isspace():
            return "whitespace"
    return None


# --- the allow-list ------------------------------------------------------------------------------


def _normalised(host: str) -> str:
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``host`` (no port) matches one of ``patterns``, compared per DNS label.

    A pattern's labels are literal, except that a leading ``*.`` stands for one or more whole
    labels (``*.openai.azure.com`` matches ``x.openai.azure.com`` and ``a.b.openai.azure.com``,
    not ``openai.azure.com``) and any other ``*`` label for exactly one. Nothing else is special.
    An IP literal matches only a pattern naming the same address: a wildcard such as ``*.0.0.1``
    must never let ``127.0.0.1`` through.
    """
    name = _normalised(host)
    ip = literal_address(name)
    if ip is not None:
        return any("*" not in p and literal_address(_normalised(p)) == ip for p in patterns)
    # Only well-formed names get compared, so no pattern can match one containing '/', '%' ...
    if not all(_LABEL.fullmatch(label) for label in name.split(".")):
        return False
    labels = name.split(".")
    return any(_labels_match(labels, _normalised(p).split(".")) for p in patterns)


def _labels_match(labels: list[str], pattern: list[str]) -> bool:
    if len(pattern) > 1 and pattern[0] == "*":
        pattern = pattern[1:]
        if len(labels) <= len(pattern):
            return False   # '*.' needs at least one label of its own
        labels = labels[-len(pattern):]
    return len(labels) == len(pattern) and all(p in ("*", label) for label, p in zip(labels, pattern, strict=True))


def validate_host_pattern(pattern: str) -> str | None:
    """An allow_hosts entry's error, or None when it is usable: for proxy/config.py, so a
    pattern that could only mislead (``api*.x.com``, ``api?.x.com``) fails at start-up."""
    name = _normalised(pattern)
    if not name:
        return "an empty host pattern matches nothing"
    if "%" not in name and literal_address(name) is not None:
        return None
    for label in name.split("."):
        if not label:
            return f"{pattern!r} has an empty label"
        if label == "*":
            continue
        if "*" in label:
            return f"{pattern!r}: '*' stands for whole labels only ('*.example.com'), not part of {label!r}"
        for char in label:
            if char not in _NAME_CHARS:
                return f"{pattern!r}: {char!r} is not a host name character (only a '*' label is a wildcard)"
    return None


# --- addresses -----------------------------------------------------------------------------------


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form a resolver reads as one (so none slips past as a
    "name"): dotted IPv4, what inet_aton accepts (``2130706433``, ``0177.0.0.1``, ``0x7f.1``,
    ``127.1``), either with one trailing dot, and IPv6 with or without brackets (a zone id is
    kept, and refused by ``address_allowed``). None for anything else."""
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name)
        except ValueError:
            return None
    if name.endswith("."):
        name = name[:-1]
    if not _INET_ATON_CHARS.fullmatch(name):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")          # RFC 6052 well-known prefix
_COMPATIBLE = ipaddress.IPv6Network("::/96")            # deprecated IPv4-compatible form
# Named explicitly because ipaddress's tables changed across patch releases (several of these
# were "global" before Python 3.11.10 / 3.12.4) and a guard must not depend on the patch level.
_NOT_PUBLIC: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("this-network", ("0.0.0.0/8",)),
    ("shared (CGNAT)", ("100.64.0.0/10",)),
    ("benchmarking", ("198.18.0.0/15", "2001:2::/48")),
    ("documentation", ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")),
    ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("site-local", ("fec0::/10",)),
)
_NETWORKS = tuple((kind, tuple(ipaddress.ip_network(n) for n in nets)) for kind, nets in _NOT_PUBLIC)
# Never connectable, whatever allow_private says.
_NEVER = ("zoned", "multicast", "unspecified", "this-network", "reserved")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and leads to (mapped, compatible, 6to4, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):   # not :: or ::1, which are themselves
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _address_kind(ip: IPAddress) -> str | None:
    """The class of a non-public address ("loopback", "private" ...), None for public unicast."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "zoned"   # fe80::1%eth0: only meaningful on a local link
        ip = _embedded_ipv4(ip) or ip
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"   # includes 169.254.169.254, the cloud metadata service
    for kind, networks in _NETWORKS:
        if any(ip in network for network in networks):
            return kind
    if ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "special-purpose (not globally routable)"
    return None


def _refusal(ip: IPAddress, allow_private: bool) -> str | None:
    """Why ``ip`` may not be connected to, or None."""
    kind = _address_kind(ip)
    if kind is None or (allow_private and kind not in _NEVER):
        return None
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) and not ip.scope_id else None
    return f"the {kind} address {embedded or ip}" + (f" (embedded in {ip})" if embedded else "")


def address_allowed(ip: IPAddress, allow_private: bool) -> bool:
    """Public unicast addresses only; with ``allow_private`` also loopback, link-local, private
    and the other special-purpose ranges, but never multicast, unspecified or reserved ones.
    An IPv6 address carrying an IPv4 one is judged by the IPv4 address it leads to."""
    return _refusal(ip, allow_private) is None


def check_target(target: UrlTarget, allow_hosts: tuple[str, ...], allow_private: bool) -> None:
    """403 unless the host is allow-listed and, when it is an IP literal, an allowed address.
    (aiohttp connects to IP literals without asking the resolver, so they are checked here.)"""
    if not host_allowed(target.host, allow_hosts):
        raise ProxyError(403, f"URL-path routing does not allow host {target.host!r} (url_routing.allow_hosts).")
    ip = literal_address(target.host)
    if ip is not None and (why := _refusal(ip, allow_private)) is not None:
        raise ProxyError(403, f"URL-path routing refuses {why}.")


class AddressRefused(OSError):
    """A client-named host resolved only to addresses the guard refuses."""


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then drops every address ``address_allowed``
    refuses; a name left with none fails to connect with an OSError saying why."""

    def __init__(self, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self._allow_private = allow_private
        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        allowed: list[ResolveResult] = []
        refused: list[str] = []
        for result in await self._inner.resolve(host, port, family):
            ip = literal_address(result["host"])
            why = f"{result['host']!r}, not an address" if ip is None else _refusal(ip, self._allow_private)
            if why is None:
                allowed.append(result)
            else:
                refused.append(why)
        if not allowed:
            raise AddressRefused(f"{host} resolves only to addresses URL-path routing refuses: "
                          + (", ".join(refused) or "none"))
        return allowed

    async def close(self) -> None:
        await self._inner.close()
