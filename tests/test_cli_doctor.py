"""``dragoman doctor`` against loopback mock providers: one line per check, the right exit code."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.app import create_app
from proxy.commands.probes import Check, probe
from proxy.config import load_config, parse_config

from tests.cli_support import clean_env, dragoman_async, fake_clients, free_port


class Mock:
    """A provider that answers every request with one status and body, and records the requests."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.method == "POST" else None
        self.requests.append((request.method, request.path, dict(request.headers), body))
        return web.json_response(self.body, status=self.status)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


async def mock(aiohttp_server: Any, status: int, body: dict[str, Any]) -> tuple[Mock, str]:
    provider = Mock(status, body)
    server: TestServer = await aiohttp_server(provider.app())
    return provider, str(server.make_url("")).rstrip("/")


async def test_refused_401_and_healthy_providers(tmp_path: Path, aiohttp_server: Any) -> None:
    healthy, healthy_url = await mock(aiohttp_server, 200, {"choices": [{"message": {"content": "ok"}}]})
    keyless, keyless_url = await mock(aiohttp_server, 401, {"type": "error", "error": {
        "type": "authentication_error", "message": "invalid x-api-key"}})
    listing, listing_url = await mock(aiohttp_server, 200, {"data": []})
    missing, missing_url = await mock(aiohttp_server, 404, {"error": {"message": "The model `nope` does not exist"}})
    dead = free_port()
    port = free_port()
    (tmp_path / "config.yaml").write_text(f"""
server: {{port: {port}}}
auth: {{api_keys: ["dm-k"]}}
providers:
  - {{name: healthy, protocol: openai, base_url: "{healthy_url}/v1", api_key: sk-good-0123456789,
     max_tokens_field: max_completion_tokens}}
  - {{name: keyless, protocol: anthropic, base_url: "{keyless_url}", api_key: sk-ant-bad-0123456789}}
  - {{name: dead, protocol: openai, base_url: "http://127.0.0.1:{dead}/v1"}}
  - {{name: listing, protocol: responses, base_url: "{listing_url}/v1", api_key: sk-r-0123456789}}
  - {{name: missing, protocol: openai, base_url: "{missing_url}/v1", api_key: sk-m-0123456789}}
routes:
  - {{match: "*haiku*", provider: healthy, model: small-model}}
  - {{match: "claude-*", provider: keyless, model: claude-sonnet-4-5, fallbacks: [dead]}}
  - {{match: "gpt-*", provider: listing}}
  - {{match: "*", provider: missing, model: nope}}
""")
    fake_clients(tmp_path / "bin", "claude")
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    settings = {"env": {"ANTHROPIC_BASE_URL": f"http://localhost:{port}"}}   # loopback spelled the other way
    (home / ".claude" / "settings.json").write_text(json.dumps(settings))
    code, out, err = await dragoman_async("doctor", env=clean_env(tmp_path, tmp_path / "bin"), cwd=tmp_path)
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["ok", "config", "config.yaml:"], ["ok", "auth", "1"], ["ok", "daemon", "not"],
        ["ok", "provider", "healthy"], ["FAIL", "provider", "keyless"], ["FAIL", "provider", "dead"],
        ["ok", "provider", "listing"], ["FAIL", "provider", "missing"], ["ok", "claude", "code"],
        ["warn", "codex", "not"]]
    detail = {line.split()[2] if line.split()[1] == "provider" else line.split()[1]: line.split("  ")[-1].strip()
              for line in lines}
    assert detail["config"] == "config.yaml: 5 provider(s), 4 route(s), valid"
    assert detail["daemon"] == f"not running; port {port} is free (start it: dragoman serve --config config.yaml)"
    assert detail["healthy"].startswith(f"POST {healthy_url}/v1/chat/completions (small-model): 200 in ")
    assert detail["keyless"] == (f"POST {keyless_url}/v1/messages (claude-sonnet-4-5): 401: the provider refused "
                                 "the key (api_key): invalid x-api-key")
    assert detail["dead"] == f"refused: nothing listens at 127.0.0.1:{dead}"
    assert detail["listing"].startswith(f"GET {listing_url}/v1/models: 200 in ")   # no model named: its list
    assert detail["missing"] == (f"POST {missing_url}/v1/chat/completions (nope): 404: model 'nope' not found, or "
                                 "base_url is wrong: The model `nope` does not exist")
    assert detail["claude"].endswith(f"~/.claude/settings.json points at http://127.0.0.1:{port}")
    assert detail["codex"] == "not installed (npm install -g @openai/codex)"
    # the minimal requests: one token, the provider's key header
    [(method, path, headers, body)] = healthy.requests
    assert (method, path, body) == ("POST", "/v1/chat/completions", {
        "model": "small-model", "messages": [{"role": "user", "content": "Say ok."}], "max_completion_tokens": 1})
    assert headers["Authorization"] == "Bearer sk-good-0123456789"
    [(_, path, headers, body)] = keyless.requests
    assert path == "/v1/messages" and body["max_tokens"] == 1
    assert headers["x-api-key"] == "sk-ant-bad-0123456789" and headers["anthropic-version"] == "2023-06-01"
    assert [(m, p) for m, p, _, _ in listing.requests] == [("GET", "/v1/models")]


async def test_all_healthy_is_exit_zero_and_a_running_daemon_is_found(tmp_path: Path, aiohttp_server: Any) -> None:
    _, url = await mock(aiohttp_server, 200, {"id": "msg", "content": []})
    port = free_port()
    path = tmp_path / "config.yaml"
    path.write_text(f"server: {{port: {port}}}\nauth: {{api_keys: ['dm-k']}}\n"
                    f"providers: [{{name: a, protocol: anthropic, base_url: '{url}', api_key: k}}]\n"
                    "routes: [{match: '*', provider: a, model: claude-haiku-4-5}]\n")
    await aiohttp_server(create_app(load_config(path)), port=port)
    code, out, err = await dragoman_async("doctor", "--config", str(path), env=clean_env(tmp_path), cwd=tmp_path)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[2].split() == ["ok", "daemon", "dragoman", "answers", "at", f"http://127.0.0.1:{port}"]
    assert [line.split()[0] for line in lines] == ["ok", "ok", "ok", "ok", "warn", "warn"]
    assert lines[4].split("  ", 2)[-1].strip() == "not installed (npm install -g @anthropic-ai/claude-code)"


async def test_a_port_taken_by_another_program_and_a_broken_config(tmp_path: Path, aiohttp_server: Any) -> None:
    async def other(request: web.Request) -> web.Response:
        return web.Response(status=404, text="not dragoman")

    app = web.Application()
    app.router.add_get("/{tail:.*}", other)
    server: TestServer = await aiohttp_server(app)
    assert server.port is not None
    path = tmp_path / "config.yaml"
    path.write_text(f"server: {{port: {server.port}}}\n"
                    "providers: [{name: o, protocol: openai, base_url: 'http://127.0.0.1:9/v1'}]\n"
                    "routes: [{match: '*', provider: o}]\n")
    code, out, _ = await dragoman_async("doctor", env=clean_env(tmp_path), cwd=tmp_path)
    assert code == 1
    assert out.splitlines()[1].split("  ", 2)[-1].strip().startswith("off (DRAGOMAN_API_KEY unset?)")
    assert out.splitlines()[2].split()[:2] == ["FAIL", "daemon"]
    assert out.splitlines()[2].endswith(f"port {server.port} is in use by another program (http://127.0.0.1:"
                                        f"{server.port}: something else answers there (GET /ready: HTTP 404))")

    path.write_text("providers: [{name: o, protocol: grpc, base_url: 'http://x'}]\nroutes: [{match: '*', provider: o}]\n")
    code, out, _ = await dragoman_async("doctor", env=clean_env(tmp_path), cwd=tmp_path)
    assert code == 1
    assert out.splitlines() == ["FAIL  config  config.yaml: providers[0].protocol: Input should be 'openai', "
                                "'anthropic' or 'responses', got 'grpc'"]



async def test_probe_names_dns_tls_and_timeout_failures(aiohttp_server: Any) -> None:
    async def stall(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/{tail:.*}", stall)
    server: TestServer = await aiohttp_server(app)
    plain = f"127.0.0.1:{server.port}"
    config = parse_config({
        "providers": [{"name": "slow", "protocol": "openai", "base_url": f"http://{plain}/v1"},
                      {"name": "tls", "protocol": "openai", "base_url": f"https://{plain}/v1"},
                      {"name": "dns", "protocol": "anthropic", "base_url": "https://no-such-host.invalid",
                       "api_key": "k"}],
        "routes": [{"match": "*", "provider": ["slow", "tls", "dns"], "model": "m"}]}, environ={})
    slow = await probe(config, config.providers[0], timeout=0.5)
    tls, dns = [await probe(config, p, timeout=5) for p in config.providers[1:]]
    assert slow == Check("FAIL", "provider slow", f"timeout: no answer within 0.5 s (POST http://{plain}/v1/chat/"
                                                  "completions (m))")
    assert tls.level == "FAIL" and tls.detail.startswith(f"TLS: the handshake with {plain} failed (")
    assert dns.level == "FAIL" and dns.detail.startswith("DNS: no-such-host.invalid does not resolve (")


async def test_a_key_pool_has_each_key_tried_and_the_refused_one_named(aiohttp_server: Any) -> None:
    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer sk-pool-second-0123456789":
            return web.json_response({"error": {"message": "Incorrect API key provided: sk-pool-second-0123456789"}},
                                     status=401)
        return web.json_response({"choices": [{"message": {"content": "ok"}}]})

    seen: list[str] = []
    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    server: TestServer = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}/v1"
    keys = ["sk-pool-first-0123456789", "sk-pool-second-0123456789", "sk-pool-third-0123456789"]
    config = parse_config({"providers": [{"name": "pool", "protocol": "openai", "base_url": base, "api_key": keys}],
                           "routes": [{"match": "*", "provider": "pool", "model": "m"}]}, environ={})
    check = await probe(config, config.providers[0])
    assert seen == [f"Bearer {key}" for key in keys]
    assert check == Check("FAIL", "provider pool", f"key 2 of 3 (sk-…89): POST {base}/chat/completions (m): 401: "
                                                    "the provider refused the key (api_key): Incorrect API key "
                                                    "provided: [redacted]")
    seen.clear()
    healthy = parse_config({"providers": [{"name": "pool", "protocol": "openai", "base_url": base,
                                           "api_key": [keys[0], keys[2]]}],
                            "routes": [{"match": "*", "provider": "pool", "model": "m"}]}, environ={})
    check = await probe(healthy, healthy.providers[0])
    assert check.level == "ok" and check.detail.endswith("; each of the 2 keys accepted")
    assert seen == [f"Bearer {keys[0]}", f"Bearer {keys[2]}"]
