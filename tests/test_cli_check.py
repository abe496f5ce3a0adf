"""``dragoman check-config`` and ``--version``: the config option, the table, the warnings."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from proxy.cli import main
from proxy.commands.check import shadowed_by, warnings
from proxy.config import parse_config

from tests.cli_support import clean_env, dragoman

CONFIG = """
providers:
  - {name: openai, protocol: openai, base_url: "http://127.0.0.1:9/v1", api_key: sk-test-0123456789abcdef}
routes:
  - {match: "*haiku*", provider: openai, model: gpt-5-mini}
  - {match: "*", provider: openai}
"""


def config_with(routes: list[dict[str, object]], providers: list[dict[str, object]] | None = None) -> list[str]:
    providers = providers or [{"name": "o", "protocol": "openai", "base_url": "http://x"}]
    return warnings(parse_config({"providers": providers, "routes": routes}, environ={}))


def test_version_is_the_installed_distributions() -> None:
    done = dragoman("--version", env=clean_env(Path("/tmp")))
    assert done.returncode == 0
    assert done.stdout == f"dragoman {metadata.version('dragoman')}\n"


def test_check_config_takes_config_option_and_defaults_to_config_yaml(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "other.yaml").write_text(CONFIG.replace("gpt-5-mini", "other-model"))
    env = clean_env(tmp_path)
    default = dragoman("check-config", env=env, cwd=tmp_path)
    option = dragoman("check-config", "--config", "other.yaml", env=env, cwd=tmp_path)
    positional = dragoman("check-config", "other.yaml", env=env, cwd=tmp_path)   # the old form still works
    assert default.returncode == option.returncode == positional.returncode == 0, default.stderr
    assert "gpt-5-mini" in default.stdout and "other-model" not in default.stdout
    assert "other-model" in option.stdout and option.stdout == positional.stdout
    both = dragoman("check-config", "--config", "config.yaml", "other.yaml", env=env, cwd=tmp_path)
    assert both.returncode == 2 and "either as --config FILE or as FILE, not both" in both.stderr
    missing = dragoman("check-config", env=env, cwd=tmp_path / "home")
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == ["dragoman: invalid config",
                                           "config.yaml: cannot read: No such file or directory"]


def test_unset_values_print_as_a_dash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    assert main(["check-config", "--config", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["match", "clients", "when", "provider", "protocol", "base_url", "model",
                                "max_tokens", "api_key"]
    assert lines[1].split() == ["*haiku*", "any", "-", "openai", "openai", "http://127.0.0.1:9/v1", "gpt-5-mini",
                                "-", "sk-…ef"]
    assert "None" not in "\n".join(lines)


def test_a_yaml_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("routes: [\n")
    done = dragoman("check-config", env=clean_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert 'in "config.yaml", line 2, column 1' in done.stderr and "<unicode string>" not in done.stderr


def test_a_bad_provider_is_reported_once(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.replace("api_key:", "colour: blue, api_key:"))
    done = dragoman("check-config", env=clean_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["dragoman: invalid config", "config.yaml: providers[0].colour: unknown key"]


def test_shadowed_routes_warn(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.replace('  - {match: "*", provider: openai}',
                                                         '  - {match: "*", provider: openai}\n'
                                                         '  - {match: "claude-*", provider: openai}'))
    done = dragoman("check-config", env=clean_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.splitlines()[-1] == (
        "warning: routes[2] (match 'claude-*') can never match: routes[1] (match '*', every client, "
        "no conditions) comes first and takes all its requests")


@pytest.mark.parametrize(("earlier", "later", "shadowed"), [
    ({"match": "*"}, {"match": "claude-*"}, True),
    ({"match": "claude-*"}, {"match": "claude-*"}, True),
    ({"match": "claude-*"}, {"match": "claude-opus-4-1"}, True),          # an exact name the glob matches
    ({"match": "*", "client": "anthropic"}, {"match": "x", "client": "anthropic"}, True),
    ({"match": "*"}, {"match": "x", "client": "openai"}, True),           # no client restriction: takes all
    ({"match": "*", "client": "anthropic"}, {"match": "x"}, False),       # later still serves other clients
    ({"match": "*", "client": "anthropic"}, {"match": "x", "client": "openai"}, False),
    ({"match": "*", "thinking": True}, {"match": "x"}, False),           # a condition may not hold
    ({"match": "claude-*"}, {"match": "claude-s*"}, False),              # overlapping globs: not compared
    ({"match": "gpt-4o"}, {"match": "gpt-4o-mini"}, False),
])
def test_shadowing_rule(earlier: dict[str, object], later: dict[str, object], shadowed: bool) -> None:
    config = parse_config({"providers": [{"name": "o", "protocol": "openai", "base_url": "http://x"}],
                           "routes": [{**earlier, "provider": "o"}, {**later, "provider": "o"}]}, environ={})
    assert shadowed_by(config.routes[0], config.routes[1]) is shadowed


def test_unused_providers_warn_and_an_unused_anthropic_provider_has_no_key_warning() -> None:
    providers = [{"name": "o", "protocol": "openai", "base_url": "http://x"},
                 {"name": "claude", "protocol": "anthropic", "base_url": "https://api.anthropic.com"},
                 {"name": "groq", "protocol": "openai", "flavor": "groq", "base_url": "https://api.groq.com/openai/v1"}]
    assert config_with([{"match": "*", "provider": "o"}], providers) == [
        "provider 'claude' is used by no route", "provider 'groq' is used by no route"]
    used = config_with([{"match": "claude-*", "provider": "claude"}, {"match": "*", "provider": "groq"}], providers)
    assert used == ["provider 'o' is used by no route",
                    "provider 'claude' has no api_key (is its environment variable set?)",
                    "provider 'groq' has no api_key (is its environment variable set?)"]


def test_fallback_providers_count_as_used() -> None:
    providers = [{"name": "o", "protocol": "openai", "base_url": "http://x"},
                 {"name": "p", "protocol": "openai", "base_url": "http://y"}]
    assert config_with([{"match": "*", "provider": "o", "fallbacks": ["p"]}], providers) == []
