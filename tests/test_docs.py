"""The configuration reference (docs/configuration.md) cannot drift from the config models: every
field appears in its section's table with its default, and every documented key exists. The
README's routing example routes as its text says."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from proxy.conditions import Facts
from proxy.config import CircuitBreaker, Config, Provider, ProviderRef, Route, Timeout, parse_config
from proxy.routing import resolve

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

# section heading (the key path) -> the model its table documents
SECTIONS: dict[str, type[BaseModel]] = {
    "server": Config.model_fields["server"].annotation,  # type: ignore[dict-item]
    "auth": Config.model_fields["auth"].annotation,  # type: ignore[dict-item]
    "metrics": Config.model_fields["metrics"].annotation,  # type: ignore[dict-item]
    "discovery": Config.model_fields["discovery"].annotation,  # type: ignore[dict-item]
    "responses_store": Config.model_fields["responses_store"].annotation,  # type: ignore[dict-item]
    "url_routing": Config.model_fields["url_routing"].annotation,  # type: ignore[dict-item]
    "url_routing.timeout": Timeout,
    "providers[]": Provider,
    "providers[].timeout": Timeout,
    "providers[].circuit_breaker": CircuitBreaker,
    "routes[]": Route,
    "routes[].provider[]": ProviderRef,
}


def tables() -> dict[str, dict[str, str]]:
    """Section -> {key: default as written}."""
    found: dict[str, dict[str, str]] = {}
    section = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if heading := re.fullmatch(r"## `([^`]+)`", line):
            section = heading.group(1)
            found[section] = {}
        elif line.startswith("## "):
            section = None
        elif section is not None and (row := re.match(r"\| `([a-z_]+)` \| ([^|]+) \|", line)):
            found[section][row.group(1)] = row.group(2).strip()
    return found


def rendered(field: Any) -> str:
    """A field's default as the reference writes it."""
    if field.is_required():
        return "required"
    default = field.default
    if isinstance(default, BaseModel):
        return "see below"
    if default is None:
        return "`-`"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float):
        return f"`{default:g}`"
    if isinstance(default, (tuple, list)):
        assert not default
        return "`[]`"
    if isinstance(default, dict):
        assert not default
        return "`{}`"
    return f"`{default}`"


def test_every_config_section_is_documented() -> None:
    documented = set(tables())
    assert documented == set(SECTIONS)
    nested = {name for name, field in Config.model_fields.items()
              if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)}
    assert nested <= documented, "a config section without a reference table"


def test_every_key_and_default_matches_the_models() -> None:
    for section, model in SECTIONS.items():
        rows = tables()[section]
        fields = model.model_fields
        assert set(rows) == set(fields), (section, set(rows) ^ set(fields))
        for name, field in fields.items():
            assert rows[name] == rendered(field), (section, name, rows[name], rendered(field))


def test_documented_literals_are_the_models_choices() -> None:
    """Where the reference lists a setting's choices, they are exactly the model's."""
    rows = tables()
    doc = DOC.read_text(encoding="utf-8")
    for section, key in (("providers[]", "flavor"), ("routes[]", "client"), ("server", "log_level")):
        choices = set(typing.get_args(typing.get_args(SECTIONS[section].model_fields[key].annotation)[0])
                      or typing.get_args(SECTIONS[section].model_fields[key].annotation))
        line = next(line for line in doc.splitlines() if line.startswith(f"| `{key}` | {rows[section][key]}"))
        listed = set(re.findall(r"`([a-z_]+)`", line.split("|")[3]))
        assert choices - {None} <= listed, (key, choices, listed)


def test_the_readme_routing_example_routes_as_it_says() -> None:
    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    found = re.search(r"## Routing, in one example\n\n```yaml\n(.*?)```", readme, re.S)
    assert found is not None
    config = parse_config(yaml.safe_load(found.group(1)), environ={"OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "b"})
    sonnet = resolve(config, "claude-sonnet-4-5", "anthropic")
    assert (sonnet.provider.name, sonnet.upstream_model) == ("openai", "gpt-4.1")
    assert [(ref.provider, ref.model) for ref in sonnet.route.chain] == [
        ("openai", None), ("claude", "claude-sonnet-4-5")]
    search = Facts(lambda: False, lambda: (("web_search", "web_search_20250305"),), lambda: 0)
    assert resolve(config, "claude-sonnet-4-5", "anthropic", search).provider.name == "claude"
    for client in ("openai", "responses"):
        served = resolve(config, "gpt-4o", client)
        assert (served.provider.name, served.upstream_model) == ("claude", "claude-sonnet-4-5")
