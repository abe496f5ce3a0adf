"""URL-path routing's parsing and its guards against server-side request forgery."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from yarl import URL

from proxy.errors import ProxyError
from proxy.url_routing import (
    GuardedResolver,
    UrlTarget,
    address_allowed,
    check_target,
    host_allowed,
    literal_address,
    parse_url_route,
    validate_host_pattern,
)


def refused(path: str) -> ProxyError:
    """The ProxyError parse_url_route raises for ``path``."""
    with pytest.raises(ProxyError) as err:
        parse_url_route(path)
    return err.value


def forbidden(target: UrlTarget, allow_hosts: tuple[str, ...], allow_private: bool = False) -> ProxyError:
    with pytest.raises(ProxyError) as err:
        check_target(target, allow_hosts, allow_private)
    assert err.value.status == 403
    return err.value


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = literal_address(text)
    assert address is not None, text
    return address


def test_parse_base_path_and_model() -> None:
    target = parse_url_route("/https/api.groq.com/openai/v1/llama-3.3-70b-versatile/v1/messages")
    assert target == UrlTarget(URL("https://api.groq.com/openai/v1"), "api.groq.com", None, "llama-3.3-70b-versatile")
    assert str(target.base_url) == "https://api.groq.com/openai/v1"
    slashed = parse_url_route("/https/openrouter.ai/api/v1/qwen%2Fqwen3-coder/v1/messages")
    assert (str(slashed.base_url), slashed.model) == ("https://openrouter.ai/api/v1", "qwen/qwen3-coder")
    bare = parse_url_route("/http/127.0.0.1:11434/v1/llama3/v1/messages")
    assert (str(bare.base_url), bare.host, bare.port) == ("http://127.0.0.1:11434/v1", "127.0.0.1", 11434)
    no_base = parse_url_route("/https/api.example.com/m/v1/messages")
    assert (str(no_base.base_url), no_base.base_url.path, no_base.model) == ("https://api.example.com", "/", "m")


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/https/api.groq.com/v1/messages", 404, "URL-path routes look like"),
    ("https/api.groq.com/v1/m/v1/messages", 404, "URL-path routes look like"),
    ("/ftp/example.com/v1/m/v1/messages", 400, "must be http or https, got 'ftp'"),
    ("/https/user@evil.com/v1/m/v1/messages", 400, "'@' is not allowed in the host"),
    ("/https/api.groq.com/openai/v1/m/v1/chat", 404, "URL-path routes look like"),
    ("/https//v1/m/v1/messages", 400, "it is empty"),
    ("/https/api.groq.com/v1//v1/messages", 400, "needs a model"),
])
def test_bad_paths(path: str, status: int, message: str) -> None:
    err = refused(path)
    assert err.status == status and message in err.message


def test_host_allow_list_globs() -> None:
    allowed = ("api.groq.com", "*.openai.azure.com")
    assert host_allowed("api.groq.com", allowed) and host_allowed("API.GROQ.COM.", allowed)
    assert host_allowed("team.openai.azure.com", allowed)
    assert not host_allowed("api.groq.com.evil.net", allowed)
    assert not host_allowed("openai.azure.com.evil.net", allowed)


# --- hostile host segments -------------------------------------------------------------------------


def test_encoded_slash_in_host_is_refused() -> None:
    # fnmatch's '*' crossed the decoded '/', and the connection then went to 127.0.0.1 unchecked
    err = refused("/https/127.0.0.1%2F.openai.azure.com/v1/m/v1/messages")
    assert err.status == 400
    assert err.message == ("URL-path route host '127.0.0.1%2F.openai.azure.com' refused: "
                           "percent-encoding ('%') is not allowed in the host.")
    assert not host_allowed("127.0.0.1/.openai.azure.com", ("*.openai.azure.com",))


@pytest.mark.parametrize(("host", "message"), [
    ("evil.com%5C.openai.azure.com", "percent-encoding ('%')"),
    ("evil.com%3F.openai.azure.com", "percent-encoding ('%')"),
    ("evil.com%23.openai.azure.com", "percent-encoding ('%')"),
    ("x%40evil.com", "percent-encoding ('%')"),
    ("x%252F.openai.azure.com", "percent-encoding ('%')"),
    ("evil.com\\.openai.azure.com", "'\\\\' is not allowed in the host"),
    ("a\tb.com", "whitespace and control characters"),
    ("a\x00b.com", "whitespace and control characters"),
    ("bücher.example", "punycode (xn--) form"),
    ("a..b.com", "not a host name"),
    ("a*.example.com", "'*' is not a host name character"),
    ("api.groq.com:0", "the port must be a number from 1 to 65535"),
    ("api.groq.com:65536", "the port must be a number from 1 to 65535"),
    ("api.groq.com:+443", "the port must be a number from 1 to 65535"),
    ("api.groq.com:443:1", "the port must be a number from 1 to 65535"),
    ("[::1", "'[' without its ']'"),
    ("[127.0.0.1]", "not an IPv6 address in brackets"),
])
def test_hostile_host_segments_are_refused(host: str, message: str) -> None:
    err = refused(f"/https/{host}/v1/m/v1/messages")
    assert err.status == 400 and f"host {host!r} refused: " in err.message and message in err.message


def test_ipv6_literal_and_port() -> None:
    target = parse_url_route("/http/[::1]:8000/v1/m/v1/messages")
    assert (str(target.base_url), target.host, target.port) == ("http://[::1]:8000/v1", "::1", 8000)


def test_trailing_dot_host_is_normalised() -> None:
    target = parse_url_route("/https/API.GROQ.COM.:8443/openai/v1/m/v1/messages")
    assert (target.host, target.port) == ("api.groq.com", 8443)
    assert str(target.base_url) == "https://api.groq.com:8443/openai/v1"   # what is connected to
    check_target(target, ("Api.Groq.Com.",), False)
    assert refused("/https/api.groq.com../v1/m/v1/messages").status == 400   # one dot, not any number


# --- hostile base paths ----------------------------------------------------------------------------


def test_dotdot_in_base_path_is_refused() -> None:
    for segment in ("..%2Fadmin", "..", "%2e%2e", "%2E", "."):
        err = refused(f"/https/api.groq.com/openai/{segment}/m/v1/messages")
        assert err.status == 400 and f"segment {segment!r} refused: " in err.message
    assert "dot segments would move the upstream path" in refused("/https/h.com/%2e%2e/m/v1/messages").message
    assert "'/' (sent raw or percent-encoded)" in refused("/https/h.com/..%2Fadmin/m/v1/messages").message


@pytest.mark.parametrize(("segment", "char"), [("v1%3Fx=1", "?"), ("v1%23", "#"), ("v1%5C..", "\\")])
def test_encoded_query_fragment_and_backslash_in_base_path_are_refused(segment: str, char: str) -> None:
    err = refused(f"/https/api.groq.com/{segment}/m/v1/messages")
    assert err.status == 400 and f"{char!r} (sent raw or percent-encoded) would change the upstream URL" in err.message


def test_double_encoded_separator_is_refused() -> None:
    err = refused("/https/api.groq.com/openai%252F..%252Fadmin/m/v1/messages")
    assert err.status == 400
    assert err.message == ("URL-path route base path segment 'openai%252F..%252Fadmin' refused: "
                           "'%' (sent raw or percent-encoded) would change the upstream URL.")


@pytest.mark.parametrize(("segment", "message"), [
    ("a%20b", "it contains whitespace"), ("a%0Ab", "it contains control characters"),
    ("%FF", "is not percent-encoded UTF-8"),
])
def test_unprintable_base_path_segments_are_refused(segment: str, message: str) -> None:
    err = refused(f"/https/api.groq.com/{segment}/m/v1/messages")
    assert err.status == 400 and message in err.message


def test_base_url_is_built_from_the_validated_segments() -> None:
    target = parse_url_route("/https/api.example.com/caf%C3%A9/a;b=c/v1/m/v1/messages")
    assert str(target.base_url) == "https://api.example.com/caf%C3%A9/a;b=c/v1"
    assert target.base_url.path == "/café/a;b=c/v1" and target.base_url.query_string == ""
    # the handler hands str(base_url) on and appends /chat/completions: the round trip keeps it
    assert URL(str(target.base_url) + "/chat/completions").path == "/café/a;b=c/v1/chat/completions"


def test_model_segment_is_decoded_once() -> None:
    assert parse_url_route("/https/api.groq.com/meta-llama%2Fllama-3/v1/messages").model == "meta-llama/llama-3"
    assert parse_url_route("/https/api.groq.com/a%252Fb/v1/messages").model == "a%2Fb"
    assert "must not contain whitespace" in refused("/https/api.groq.com/a%20b/v1/messages").message
    assert "must not contain control characters" in refused("/https/api.groq.com/a%0Db/v1/messages").message


# --- host patterns ---------------------------------------------------------------------------------


def test_wildcard_matches_whole_labels_only() -> None:
    azure = ("*.openai.azure.com",)
    assert host_allowed("x.openai.azure.com", azure) and host_allowed("a.b.openai.azure.com", azure)
    assert not host_allowed("openai.azure.com", azure)
    assert not host_allowed("xopenai.azure.com", azure)
    assert not host_allowed("x.openai.azure.com.evil.net", azure)
    middle = ("api.*.com",)
    assert host_allowed("api.groq.com", middle)
    assert not host_allowed("api.a.b.com", middle) and not host_allowed("api.com", middle)
    assert host_allowed("localhost", ("*",)) and not host_allowed("api.groq.com", ("*",))
    # no other glob syntax: '?' and '[...]' are literal characters, which no host can contain
    assert not host_allowed("api1.x.com", ("api?.x.com",)) and not host_allowed("api.x.com", ("[a]pi.x.com",))


def test_wildcard_never_matches_an_ip_literal() -> None:
    assert not host_allowed("127.0.0.1", ("*.0.0.1", "*.*.*.*", "*"))
    assert host_allowed("127.0.0.1", ("127.0.0.1",)) and host_allowed("::1", ("[::1]",))
    assert host_allowed("127.0.0.1", ("2130706433",))   # the same address, spelled otherwise


def test_star_inside_a_label_is_a_config_error() -> None:
    from proxy.config import ConfigError, parse_config
    assert validate_host_pattern("api*.x.com") == (
        "'api*.x.com': '*' stands for whole labels only ('*.example.com'), not part of 'api*'")
    assert validate_host_pattern("api?.x.com") == (
        "'api?.x.com': '?' is not a host name character (only a '*' label is a wildcard)")
    assert validate_host_pattern("a..b") == "'a..b' has an empty label"
    assert validate_host_pattern("") == "an empty host pattern matches nothing"
    for good in ("api.groq.com", "*.openai.azure.com", "api.*.com", "localhost", "127.0.0.1", "[::1]", "example.com."):
        assert validate_host_pattern(good) is None, good
    with pytest.raises(ConfigError, match=r"url_routing\.allow_hosts: 'api\*\.x\.com': '\*' stands for whole labels"):
        parse_config({"url_routing": {"enabled": True, "allow_hosts": ["api.groq.com", "api*.x.com"]}, "providers": [
            {"name": "p", "protocol": "openai", "base_url": "http://x"}], "routes": [{"match": "*", "provider": "p"}]},
            environ={})


# --- literal addresses -----------------------------------------------------------------------------


def assert_loopback_literal_refused(host: str, canonical: str = "127.0.0.1", base_url: str = "http://127.0.0.1/v1") -> None:
    """``host`` is read as the loopback address, connected to as ``canonical``, matched by no
    wildcard, and refused by the address check even when the allow-list names the address."""
    target = parse_url_route(f"/http/{host}/v1/m/v1/messages")
    assert (target.host, str(target.base_url)) == (canonical, base_url)
    assert "does not allow host" in forbidden(target, ("*", "*.*", "*.*.*.*")).message
    message = forbidden(target, (canonical,)).message
    assert message.startswith("URL-path routing refuses the loopback address 127.0.0.1")


def test_integer_ipv4_literal_is_refused() -> None:
    assert_loopback_literal_refused("2130706433")


def test_octal_ipv4_literal_is_refused() -> None:
    assert_loopback_literal_refused("0177.0.0.1")


def test_hex_ipv4_literal_is_refused() -> None:
    assert_loopback_literal_refused("0x7f.1")


def test_short_ipv4_literal_is_refused() -> None:
    assert_loopback_literal_refused("127.1")


def test_trailing_dot_ipv4_literal_is_refused() -> None:
    assert_loopback_literal_refused("127.0.0.1.")


def test_ipv4_mapped_ipv6_loopback_is_refused() -> None:
    assert_loopback_literal_refused("[::ffff:127.0.0.1]", "::ffff:7f00:1", "http://[::ffff:7f00:1]/v1")
    target = parse_url_route("/http/[::ffff:127.0.0.1]/v1/m/v1/messages")
    assert forbidden(target, ("::ffff:7f00:1",)).message == (
        "URL-path routing refuses the loopback address 127.0.0.1 (embedded in ::ffff:7f00:1).")


@pytest.mark.parametrize(("address", "embedded"), [
    ("::7f00:1", "127.0.0.1"),            # IPv4-compatible
    ("2002:7f00:1::", "127.0.0.1"),       # 6to4
    ("64:ff9b::a9fe:a9fe", "169.254.169.254"),   # NAT64
    ("64:ff9b::a00:1", "10.0.0.1"),
])
def test_ipv6_forms_carrying_ipv4_are_judged_by_it(address: str, embedded: str) -> None:
    assert not address_allowed(ip(address), False)
    target = parse_url_route(f"/http/[{address}]/v1/m/v1/messages")
    assert f"address {embedded} (embedded in {ipaddress.IPv6Address(address)})" in forbidden(target, (address,)).message
    assert address_allowed(ip("64:ff9b::808:808"), False) and address_allowed(ip("2002:808:808::1"), False)


def test_metadata_address_is_refused() -> None:
    assert not address_allowed(ip("169.254.169.254"), False)
    target = parse_url_route("/http/169.254.169.254/latest/m/v1/messages")
    assert str(target.base_url) == "http://169.254.169.254/latest"
    assert forbidden(target, ("169.254.169.254",)).message == (
        "URL-path routing refuses the link-local address 169.254.169.254.")


def test_literal_address_forms() -> None:
    for text in ("2130706433", "0177.0.0.1", "0x7f.1", "127.1", "127.0.0.1.", "0x7F.0X0.0.1", "[127.0.0.1]"[1:-1]):
        assert literal_address(text) == ipaddress.IPv4Address("127.0.0.1"), text
    assert literal_address("[::1]") == ipaddress.IPv6Address("::1")
    assert literal_address("fe80::1%eth0") == ipaddress.IPv6Address("fe80::1%eth0")
    # names, and what inet_aton would read only by ignoring what follows whitespace
    for text in ("api.groq.com", "cafe.face", "127.0.0.1 x", "1.2.3.256", "4294967296", "127.0.0.1..", "", "fe80::1%"):
        assert literal_address(text) is None, text


# --- address classes -------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fe80::1%eth0",
    "fc00::1", "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1", "198.18.0.1", "192.0.2.1",
    "198.51.100.7", "203.0.113.9", "2001:db8::1", "3fff::1", "fec0::1", "240.0.0.1", "255.255.255.255",
    "0.1.2.3", "ff02::1", "::", "2001:2::1",
])
def test_special_addresses_are_refused(address: str) -> None:
    assert not address_allowed(ip(address), allow_private=False)


def test_public_addresses_pass_and_private_ones_only_when_allowed() -> None:
    assert address_allowed(ip("8.8.8.8"), False) and address_allowed(ip("2606:4700:4700::1111"), False)
    assert address_allowed(ip("::ffff:8.8.8.8"), False)
    for private in ("10.0.0.5", "127.0.0.1", "169.254.169.254", "100.64.0.1", "198.18.0.1", "fd00::1"):
        assert address_allowed(ip(private), True), private
    # never, whatever allow_private says
    for never in ("224.0.0.1", "ff02::1", "0.0.0.0", "::", "0.1.2.3", "240.0.0.1", "255.255.255.255", "fe80::1%eth0"):
        assert not address_allowed(ip(never), True), never
    assert literal_address("not-an-ip") is None


class FakeResolver:
    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
                for a in self.addresses]

    async def close(self) -> None:
        pass


async def test_resolver_drops_private_answers_and_refuses_a_rebound_name() -> None:
    mixed = GuardedResolver(False, FakeResolver(["10.0.0.7", "93.184.216.34"]))  # type: ignore[arg-type]
    assert [r["host"] for r in await mixed.resolve("api.example.com", 443)] == ["93.184.216.34"]
    rebound = GuardedResolver(False, FakeResolver(["127.0.0.1"]))  # type: ignore[arg-type]
    with pytest.raises(OSError, match="refuses"):
        await rebound.resolve("allowed.example.com", 443)
    permitted = GuardedResolver(True, FakeResolver(["127.0.0.1"]))  # type: ignore[arg-type]
    assert [r["host"] for r in await permitted.resolve("localhost", 80)] == ["127.0.0.1"]


async def test_resolver_refuses_names_resolving_to_refused_literal_forms() -> None:
    answers = ["::ffff:169.254.169.254", "ff02::1", "fe80::1%eth0"]
    with pytest.raises(OSError) as err:
        await GuardedResolver(False, FakeResolver(answers)).resolve("allowed.example.com", 443)  # type: ignore[arg-type]
    assert str(err.value) == (
        "allowed.example.com resolves only to addresses URL-path routing refuses: the link-local address "
        "169.254.169.254 (embedded in ::ffff:a9fe:a9fe), the multicast address ff02::1, the zoned address fe80::1%eth0")
    # allow_private lets the metadata address through (the operator said so), never the other two
    permitted = GuardedResolver(True, FakeResolver(answers))  # type: ignore[arg-type]
    assert [r["host"] for r in await permitted.resolve("allowed.example.com", 443)] == ["::ffff:169.254.169.254"]


# --- through dragoman ------------------------------------------------------------------------------

import aiohttp  # noqa: E402

from tests.conftest import MockProvider, Reply  # noqa: E402

HELLO = {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


async def post(url: str | URL, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=HELLO, headers=headers or {"x-api-key": "sk-client-own-key"}) as resp:
            return resp.status, await resp.json()


def routed(dragoman: str, provider: MockProvider, model: str = "llama3") -> str:
    host = provider.root.split("://", 1)[1]
    return f"{dragoman}/http/{host}/v1/{model}/v1/messages"


async def test_url_route_reaches_the_named_upstream_with_the_clients_key(provider: MockProvider, start_dragoman) -> None:
    provider.script(Reply.from_fixture("openai-cached-tokens.json"))
    url = await start_dragoman(url_routing={"enabled": True, "allow_hosts": ["127.0.0.1"], "allow_private": True},
                               auth={"api_keys": ["dragoman-key"]})
    status, message = await post(routed(url, provider, "qwen%2Fqwen3-coder") + "?beta=true",
                                 {"x-api-key": "sk-client-own-key", "x-dragoman-key": "dragoman-key"})
    assert status == 200 and message["content"][0]["text"] == "OK"
    assert message["model"] == "claude-sonnet-4-6"
    assert provider.requests[0]["model"] == "qwen/qwen3-coder"
    assert provider.headers[0]["Authorization"] == "Bearer sk-client-own-key"
    assert "x-dragoman-key" not in {k.lower() for k in provider.headers[0]}


async def test_url_route_needs_dragomans_key_in_its_own_header_when_auth_is_on(provider: MockProvider,
                                                                                start_dragoman) -> None:
    """The upstream's key travels in the usual header, so it can't also be dragoman's: without
    x-dragoman-key (or with a wrong one) a URL route is refused before anything is sent."""
    url = await start_dragoman(url_routing={"enabled": True, "allow_hosts": ["127.0.0.1"], "allow_private": True},
                               auth={"api_keys": ["dragoman-key"]})
    status, body = await post(routed(url, provider), {"x-api-key": "dragoman-key"})
    assert status == 401 and "x-dragoman-key" in body["error"]["message"]
    status, body = await post(routed(url, provider), {"x-api-key": "sk-client-own-key", "x-dragoman-key": "wrong"})
    assert status == 401 and body["error"]["message"].startswith("Invalid API key")
    assert provider.requests == []


async def test_url_route_refuses_private_addresses_and_unlisted_hosts(provider: MockProvider, start_dragoman) -> None:
    url = await start_dragoman(url_routing={"enabled": True, "allow_hosts": ["127.0.0.1", "localhost"]})
    status, body = await post(routed(url, provider))
    assert status == 403 and "127.0.0.1" in body["error"]["message"]
    host_port = provider.root.split("://", 1)[1]
    port = host_port.rsplit(":", 1)[1]
    status, body = await post(f"{url}/http/localhost:{port}/v1/llama3/v1/messages")   # a name resolving to loopback
    assert status == 502 and "refuses" in body["error"]["message"]
    status, body = await post(f"{url}/https/example.com/v1/llama3/v1/messages")
    assert status == 403 and "example.com" in body["error"]["message"]
    status, body = await post(routed(url, provider), headers={})
    assert status in (401, 403)
    assert provider.requests == []


async def test_encoded_slash_in_host_is_refused_by_the_running_app(provider: MockProvider, start_dragoman) -> None:
    url = await start_dragoman(url_routing={"enabled": True, "allow_hosts": ["*.openai.azure.com"]})
    # encoded=True: the client must send the %2F as it is, not decoded
    status, body = await post(URL(f"{url}/https/127.0.0.1%2F.openai.azure.com/v1/m/v1/messages", encoded=True))
    assert status == 400
    assert body["error"]["message"] == ("URL-path route host '127.0.0.1%2F.openai.azure.com' refused: "
                                        "percent-encoding ('%') is not allowed in the host.")
    assert provider.requests == []


async def test_trailing_dot_host_connects_as_the_normalised_host(provider: MockProvider, start_dragoman) -> None:
    provider.script(Reply.from_fixture("openai-cached-tokens.json"))
    url = await start_dragoman(url_routing={"enabled": True, "allow_hosts": ["localhost"], "allow_private": True})
    port = provider.root.rsplit(":", 1)[1]
    status, message = await post(f"{url}/http/LocalHost.:{port}/v1/llama3/v1/messages")
    assert status == 200 and message["content"][0]["text"] == "OK"
    assert provider.headers[0]["Host"] == f"localhost:{port}" and provider.paths == ["/v1/chat/completions"]


async def test_url_routing_is_off_by_default(provider: MockProvider, dragoman: str) -> None:
    status, body = await post(routed(dragoman, provider))
    assert status == 404 and body["type"] == "error"
    assert provider.requests == []


def test_enabling_without_an_allow_list_is_a_config_error() -> None:
    from proxy.config import ConfigError, parse_config
    with pytest.raises(ConfigError, match="needs allow_hosts"):
        parse_config({"url_routing": {"enabled": True}, "providers": [
            {"name": "p", "protocol": "openai", "base_url": "http://x"}], "routes": [{"match": "*", "provider": "p"}]},
            environ={})
