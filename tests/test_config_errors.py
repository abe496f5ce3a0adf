"""Config errors that say exactly what is wrong, and the shipped config's commented examples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxy.config import ConfigError, load_config
from proxy.routing import resolve

ROOT = Path(__file__).parent.parent


def test_yaml_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("providers: [\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    message = str(err.value)
    assert message.startswith(f"{path}: not valid YAML: ")
    assert f'in "{path}", line 2, column 1' in message
    assert "<unicode string>" not in message


def test_a_bad_provider_is_the_only_error(tmp_path: Path) -> None:
    """pydantic checked a tuple's min_length on the items that validated, so one bad provider
    also said the list was empty."""
    path = tmp_path / "config.yaml"
    path.write_text("providers: [{name: a, protocol: openai, base_url: 'http://x', colour: blue}]\n"
                    "routes: [{match: '*', provider: [{provider: ''}]}]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value).splitlines() == [
        f"{path}: providers[0].colour: unknown key",
        f"{path}: routes[0].provider[0].provider: String should have at least 1 character",
    ]


def test_empty_lists_still_fail(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("providers: []\nroutes: [{match: '*', provider: []}]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value).splitlines() == [
        f"{path}: providers: at least one entry is required",
        f"{path}: routes[0].provider: at least one entry is required",
    ]


def uncomment_route_examples(text: str) -> tuple[str, int]:
    """config.yaml's commented route examples (``  #  - {...}`` and their continuation lines)
    made live: dropping ``#  `` leaves them indented as the live routes."""
    lines, out, count, depth = text.splitlines(), [], 0, 0
    for line in lines:
        if depth == 0 and re.match(r"^  #  - \{", line):
            count += 1
            depth = line.count("{") - line.count("}")
            out.append(line.replace("#  ", "", 1))
        elif depth > 0:
            assert line.startswith("  #  "), line
            depth += line.count("{") - line.count("}")
            out.append(line.replace("#  ", "", 1))
        else:
            out.append(line)
    return "\n".join(out) + "\n", count


def test_every_commented_route_example_in_config_yaml_parses(tmp_path: Path) -> None:
    text, count = uncomment_route_examples((ROOT / "config.yaml").read_text(encoding="utf-8"))
    assert count == 5
    path = tmp_path / "config.yaml"
    path.write_text(text)
    config = load_config(path, environ={})
    assert len(config.routes) == 9 + 5
    assert config.routes[0].tools_include == ("web_search",)
    sonnet = config.routes[3]
    assert (sonnet.match, [ref.provider for ref in sonnet.chain]) == ("*sonnet*", ["openai", "anthropic"])
    assert resolve(config, "claude-sonnet-4-5", "anthropic").upstream_model == "gpt-4o"
    assert (config.routes[8].match, config.routes[8].chain[0].provider) == ("claude-*", "anthropic")
