"""``dragoman init``: a starter config per provider that check-config accepts, never overwritten by accident."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from proxy.commands.common import claude_model_env, codex_model
from proxy.commands.init import PROVIDERS, required_variables, template
from proxy.config import parse_config
from proxy.routing import resolve

from tests.cli_support import clean_env, dragoman

# what each template needs from the environment (DRAGOMAN_API_KEY aside: optional on loopback)
NEEDS = {"openai": ["OPENAI_API_KEY"], "azure": ["AZURE_OPENAI_RESOURCE", "AZURE_OPENAI_API_KEY"],
         "openrouter": ["OPENROUTER_API_KEY"], "deepseek": ["DEEPSEEK_API_KEY"], "gemini": ["GEMINI_API_KEY"],
         "vertex": ["GOOGLE_CLOUD_PROJECT"], "groq": ["GROQ_API_KEY"], "ollama": [], "vllm": [],
         "anthropic": ["ANTHROPIC_UPSTREAM_API_KEY"]}


def test_every_provider_has_a_template_and_its_variables_are_known() -> None:
    assert sorted(PROVIDERS) == sorted(NEEDS)
    for provider, needs in NEEDS.items():
        assert required_variables(template(provider)) == needs, provider


@pytest.mark.parametrize("provider", list(NEEDS))
def test_starter_config_passes_check_config(tmp_path: Path, provider: str) -> None:
    env = clean_env(tmp_path, DRAGOMAN_API_KEY="dm-test", **{name: "value-0123456789" for name in NEEDS[provider]})
    out = tmp_path / "dragoman.yaml"
    written = dragoman("init", "--provider", provider, "--out", str(out), env=env)
    assert written.returncode == 0, written.stderr
    checked = dragoman("check-config", "--config", str(out), env=env)
    assert checked.returncode == 0, checked.stderr
    # no warning at all: every provider used, every key present, auth on
    assert "warning" not in checked.stdout, checked.stdout
    assert checked.stdout.splitlines()[-1] == "server: http://127.0.0.1:8082  auth: 1 key(s)"
    text = out.read_text()
    assert f"dragoman serve --config {out}" in text   # the header's commands name the file written
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert text.startswith("# dragoman ") and len(comments) >= 10


@pytest.mark.parametrize("provider", list(NEEDS))
def test_starter_config_routes_every_client(provider: str) -> None:
    """Claude Code's names, an OpenAI SDK app's and Codex's all find a route."""
    raw = yaml.safe_load(template(provider))
    config = parse_config(raw, environ={name: "x" for name in NEEDS[provider]})
    for model in ("claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805"):
        assert resolve(config, model, "anthropic").upstream_model
    assert resolve(config, "gpt-4o-mini", "openai").upstream_model
    assert resolve(config, "gpt-5-codex", "responses").upstream_model
    # Claude Code keeps its own names (glob routes); Codex is told gpt-5-codex, a request shape dragoman
    # translates, except where OpenAI's own Responses API serves its default model as it is
    assert claude_model_env(config) == {}
    assert codex_model(config) == (None if provider == "openai" else "gpt-5-codex")
    haiku = resolve(config, "claude-haiku-4-5-20251001", "anthropic")
    if provider != "anthropic":
        assert haiku.upstream_model != "claude-haiku-4-5-20251001"   # a model the provider knows
    else:
        assert haiku.provider.protocol == "anthropic" and haiku.upstream_model == "claude-haiku-4-5-20251001"


def test_openai_starter_sends_codex_to_the_responses_api() -> None:
    config = parse_config(yaml.safe_load(template("openai")), environ={"OPENAI_API_KEY": "k"})
    assert resolve(config, "gpt-5-codex", "responses").provider.protocol == "responses"
    assert resolve(config, "claude-sonnet-4-5", "anthropic").upstream_model == "gpt-5"


def test_init_refuses_to_overwrite_and_force_does(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    (tmp_path / "config.yaml").write_text("mine\n")
    refused = dragoman("init", env=env, cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr == ("dragoman: config.yaml already exists; not overwriting it (--force replaces it, "
                              "or choose another file with --out)\n")
    assert (tmp_path / "config.yaml").read_text() == "mine\n"
    forced = dragoman("init", "--force", "--provider", "deepseek", env=env, cwd=tmp_path)
    assert forced.returncode == 0
    assert (tmp_path / "config.yaml").read_text() == template("deepseek").replace(
        "--config FILE", "--config config.yaml")


def test_init_prints_the_next_two_commands(tmp_path: Path) -> None:
    done = dragoman("init", "--provider", "groq", "--out", "groq.yaml", env=clean_env(tmp_path), cwd=tmp_path)
    lines = done.stdout.splitlines()
    assert lines[0] == "wrote groq.yaml: dragoman on Groq"
    export = next(line for line in lines if line.startswith("  export "))
    assert export.startswith("  export GROQ_API_KEY=... DRAGOMAN_API_KEY=dm-") and len(export) > 50
    assert "  dragoman serve --config groq.yaml" in lines
    assert ("  dragoman claude --config groq.yaml      (or once for good: dragoman setup claude-code "
            "--config groq.yaml)") in lines


def test_init_default_is_openai_into_config_yaml(tmp_path: Path) -> None:
    done = dragoman("init", env=clean_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.splitlines()[0] == "wrote config.yaml: dragoman on OpenAI"
    assert "  dragoman claude      (or once for good: dragoman setup claude-code)" in done.stdout.splitlines()
    assert "name: openai-responses" in (tmp_path / "config.yaml").read_text()
