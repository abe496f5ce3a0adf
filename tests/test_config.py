"""Config loading: environment expansion, validation errors that say where, and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proxy.cli import main
from proxy.config import ConfigError, load_config, parse_config
from proxy.routing import resolve
from proxy.errors import ProxyError

ROOT = Path(__file__).parent.parent

BASE = """
providers:
  - name: openai
    protocol: openai
    base_url: ${OPENAI_BASE_URL:-https://api.openai.com/v1}
    api_key: ${OPENAI_API_KEY}
routes:
  - {match: "*haiku*", provider: openai, model: gpt-4o-mini, max_tokens: 4096}
  - {match: "*", provider: openai}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_expansion_defaults_and_empty_key(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), environ={})
    provider = config.providers[0]
    assert provider.base_url == "https://api.openai.com/v1"
    assert provider.api_key is None          # an unset key may be empty (Ollama needs none)
    assert provider.timeout.connect == 10 and provider.timeout.read == 600
    assert config.server.port == 8082 and config.auth.api_keys == ()


def test_expansion_from_environment(tmp_path: Path) -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1/", "OPENAI_API_KEY": "sk-abc"}
    config = load_config(write(tmp_path, BASE), environ=env)
    assert config.providers[0].base_url == "http://127.0.0.1:9/v1"
    assert config.providers[0].api_key == "sk-abc"


def test_missing_variable_names_variable_and_path(tmp_path: Path) -> None:
    text = BASE.replace("${OPENAI_BASE_URL:-https://api.openai.com/v1}", "${OPENAI_BASE_URL}")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), environ={})
    message = str(err.value)
    assert "config.yaml" in message
    assert "providers[0].base_url" in message and "OPENAI_BASE_URL" in message


def test_empty_auth_key_variable_means_open(tmp_path: Path) -> None:
    text = 'auth: {api_keys: ["${DRAGOMAN_API_KEY}"]}\n' + BASE
    assert load_config(write(tmp_path, text), environ={}).auth.api_keys == ()
    assert load_config(write(tmp_path, text), environ={"DRAGOMAN_API_KEY": "k"}).auth.api_keys == ("k",)


@pytest.mark.parametrize(("mutation", "expected"), [
    (lambda t: t.replace("protocol: openai", "protocol: openai\n    colour: blue"), "providers[0].colour: unknown key"),
    (lambda t: t.replace("provider: openai, model: gpt-4o-mini", "provider: nope, model: gpt-4o-mini"),
     "routes[0].provider: unknown provider 'nope'"),
    (lambda t: t.replace("${OPENAI_BASE_URL:-https://api.openai.com/v1}", "api.openai.com"),
     "providers[0].base_url"),
    (lambda t: t.replace("protocol: openai", "protocol: grpc"), "providers[0].protocol"),
    (lambda t: t + "surprise: 1\n", "surprise: unknown key"),
    (lambda t: t.replace("max_tokens: 4096", "max_tokens: -1"), "routes[0].max_tokens"),
])
def test_invalid_configs_say_where(tmp_path: Path, mutation, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, mutation(BASE)), environ={})
    assert expected in str(err.value)


def test_routes_first_match_wins_and_model_passthrough() -> None:
    config = load_config(ROOT / "config.yaml", environ={})
    haiku = resolve(config, "claude-haiku-4-5-20251001", "anthropic")
    assert (haiku.provider.name, haiku.upstream_model, haiku.response_model) == ("openai", "gpt-4o-mini", "claude-haiku-4-5-20251001")
    assert haiku.route.max_tokens == 16384
    other = resolve(config, "gpt-4.1", "anthropic")
    assert other.upstream_model == "gpt-4.1"


def test_no_route_is_404() -> None:
    config = parse_config({"providers": [{"name": "p", "protocol": "openai", "base_url": "http://x"}],
                           "routes": [{"match": "claude-*", "provider": "p"}]}, environ={})
    with pytest.raises(ProxyError) as err:
        resolve(config, "llama3", "anthropic")
    assert err.value.status == 404 and err.value.error_type == "not_found_error"
    assert "llama3" in err.value.message


def test_check_config_prints_table_with_masked_secret(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-0123456789abcdef")
    assert main(["check-config", str(write(tmp_path, BASE))]) == 0
    out = capsys.readouterr().out
    assert "gpt-4o-mini" in out and "*haiku*" in out and "(as requested)" in out
    assert "sk-live-0123456789abcdef" not in out and "sk-…ef" in out


def test_check_config_fails_with_errors(tmp_path: Path, capsys) -> None:
    assert main(["check-config", str(write(tmp_path, BASE + "oops: 1\n"))]) == 2
    assert "oops: unknown key" in capsys.readouterr().err


def test_shipped_config_is_valid_via_python_m_proxy() -> None:
    result = subprocess.run([sys.executable, "-m", "proxy", "check-config", str(ROOT / "config.yaml")],
                            capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-test-0123456789"})
    assert result.returncode == 0, result.stderr
    assert "gpt-4o" in result.stdout


def test_one_table_routes_each_client_dialect_to_a_provider_that_serves_it() -> None:
    config = load_config(ROOT / "config.yaml", environ={})
    # Claude Code's opus name goes to GPT; an OpenAI app asking for a Claude name goes to Claude
    assert (resolve(config, "claude-opus-4-8", "anthropic").provider.name,
            resolve(config, "claude-opus-4-8", "anthropic").upstream_model) == ("openai", "gpt-4o")
    assert (resolve(config, "claude-opus-4-8", "openai").provider.name,
            resolve(config, "claude-opus-4-8", "openai").upstream_model) == ("anthropic", "claude-opus-4-8")
    assert resolve(config, "gpt-4o-mini", "openai").upstream_model == "claude-haiku-4-5"
    assert resolve(config, "gpt-4o-mini", "anthropic").upstream_model == "gpt-4o-mini"  # the "*" route
    # Codex, under the name `dragoman codex` gives it and under its own default, gets Claude
    for model in ("gpt-5-codex", "gpt-6.2-sol"):
        codex = resolve(config, model, "responses")
        assert (codex.provider.name, codex.upstream_model) == ("anthropic", "claude-sonnet-4-5")


def test_route_client_setting_restricts_a_route() -> None:
    config = parse_config({
        "providers": [{"name": "o", "protocol": "openai", "base_url": "http://x"},
                      {"name": "o2", "protocol": "openai", "base_url": "http://y"}],
        "routes": [{"match": "*", "provider": "o", "client": "openai"},
                   {"match": "m*", "provider": "o2", "client": "anthropic"}]}, environ={})
    assert resolve(config, "m", "anthropic").provider.name == "o2"
    assert resolve(config, "m", "openai").provider.name == "o"   # passed through
    with pytest.raises(ProxyError) as err:
        resolve(config, "x", "anthropic")  # the only route matching x is for OpenAI clients
    assert err.value.status == 404 and "Anthropic Messages API" in err.value.message


def test_every_provider_serves_both_dialects_first_match_wins() -> None:
    config = parse_config({
        "providers": [{"name": "a", "protocol": "anthropic", "base_url": "http://x"},
                      {"name": "o", "protocol": "openai", "base_url": "http://y"}],
        "routes": [{"match": "claude-*", "provider": "a"}, {"match": "*", "provider": "o"}]}, environ={})
    for client in ("anthropic", "openai"):
        assert resolve(config, "claude-sonnet-4-5", client).provider.name == "a"
        assert resolve(config, "gpt-4o", client).provider.name == "o"


def test_provider_cookbook_entries_are_valid_config() -> None:
    import yaml
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Provider cookbook"):]
    block = section[section.index("```yaml") + len("```yaml"):section.index("```", section.index("```yaml") + 7)]
    providers = yaml.safe_load(block)
    assert len(providers) == 14
    config = parse_config({"providers": providers,
                           "routes": [{"match": "*", "provider": p["name"]} for p in providers]}, environ={})
    azure = config.provider("azure")
    assert (azure.flavor, azure.api_version) == ("azure", "2024-10-21")
