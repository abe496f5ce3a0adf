"""URL-path routing's parsing and its guards against server-side request forgery."""

from __future__ import annotations

import socket

import pytest

from proxy.errors import ProxyError
from proxy.url_routing import GuardedResolver, address_allowed, host_allowed, parse_url_route


def test_parse_base_path_and_model() -> None:
    target = parse_url_route("/https/api.groq.com/openai/v1/llama-3.3-70b-versatile/v1/messages")
    assert (target.base_url, target.host, target.model) == (
        "https://api.groq.com/openai/v1", "api.groq.com", "llama-3.3-70b-versatile")
    slashed = parse_url_route("/https/openrouter.ai/api/v1/qwen%2Fqwen3-coder/v1/messages")
    assert (slashed.base_url, slashed.model) == ("https://openrouter.ai/api/v1", "qwen/qwen3-coder")
    bare = parse_url_route("/http/127.0.0.1:11434/v1/llama3/v1/messages")
    assert (bare.base_url, bare.host) == ("http://127.0.0.1:11434/v1", "127.0.0.1:11434")


@pytest.mark.parametrize(("path", "status"), [
    ("/https/api.groq.com/v1/messages", 404),
    ("/ftp/example.com/v1/m/v1/messages", 400),
    ("/https/user@evil.com/v1/m/v1/messages", 400),
    ("/https/api.groq.com/openai/v1/m/v1/chat", 404),
])
def test_bad_paths(path: str, status: int) -> None:
    with pytest.raises(ProxyError) as err:
        parse_url_route(path)
    assert err.value.status == status


def test_host_allow_list_globs() -> None:
    allowed = ("api.groq.com", "*.openai.azure.com")
    assert host_allowed("api.groq.com", allowed) and host_allowed("API.GROQ.COM:443", allowed)
    assert host_allowed("team.openai.azure.com", allowed)
    assert not host_allowed("api.groq.com.evil.net", allowed)
    assert not host_allowed("openai.azure.com.evil.net", allowed)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fe80::1%eth0",
    "fc00::1", "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1", "not-an-ip",
])
def test_special_addresses_are_refused(address: str) -> None:
    assert not address_allowed(address, allow_private=False)


def test_public_addresses_pass_and_private_ones_only_when_allowed() -> None:
    assert address_allowed("8.8.8.8", False) and address_allowed("2606:4700:4700::1111", False)
    assert address_allowed("10.0.0.5", True) and address_allowed("127.0.0.1", True)
    assert not address_allowed("224.0.0.1", True)   # multicast never


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


def test_check_target_allow_list_and_ip_literals() -> None:
    from proxy.url_routing import check_target
    check_target(parse_url_route("/https/api.groq.com/openai/v1/m/v1/messages"), ("api.groq.com",), False)
    with pytest.raises(ProxyError) as err:
        check_target(parse_url_route("/https/evil.com/v1/m/v1/messages"), ("api.groq.com",), False)
    assert err.value.status == 403 and "evil.com" in err.value.message
    loopback = parse_url_route("/http/127.0.0.1:8000/v1/m/v1/messages")
    with pytest.raises(ProxyError) as err:
        check_target(loopback, ("*",), False)
    assert err.value.status == 403 and "127.0.0.1" in err.value.message
    check_target(loopback, ("127.0.0.1",), True)   # explicitly allowed
    with pytest.raises(ProxyError):
        check_target(parse_url_route("/http/[::1]:8000/v1/m/v1/messages"), ("*",), False)


# --- through dragoman ------------------------------------------------------------------------------

import aiohttp  # noqa: E402

from tests.conftest import MockProvider, Reply  # noqa: E402

HELLO = {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


async def post(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
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
    status, message = await post(routed(url, provider, "qwen%2Fqwen3-coder") + "?beta=true")
    assert status == 200 and message["content"][0]["text"] == "OK"
    assert message["model"] == "claude-sonnet-4-6"
    assert provider.requests[0]["model"] == "qwen/qwen3-coder"
    assert provider.headers[0]["Authorization"] == "Bearer sk-client-own-key"


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
