"""Which provider and upstream model serve the model a client asked for.

Every provider serves both client dialects: a client speaking the provider's own dialect is
passed through (handlers/passthrough.py), the other is translated. The first route whose glob
matches and whose conditions the request meets (proxy/conditions.py) wins; a route's ``client``
setting restricts it to one client dialect, which is how one table sends Claude Code's
``claude-*`` names to GPT models and an OpenAI app's ``claude-*`` names to Claude. A route with
several providers gives one target each, tried in order by proxy/fallback.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .conditions import Facts, admits
from .config import Config, Provider, Route
from .errors import ProxyError

__all__ = ["Target", "resolve", "candidates", "SERVES", "Dialect"]

Dialect = Literal["anthropic", "openai", "responses"]
# client dialect -> the provider protocols that can serve it (translated or passed through)
_ALL = frozenset({"openai", "anthropic", "responses"})
SERVES: dict[str, frozenset[str]] = {"anthropic": _ALL, "openai": _ALL, "responses": _ALL}
_API_NAMES = {"anthropic": "the Anthropic Messages API", "openai": "the OpenAI Chat Completions API",
              "responses": "the OpenAI Responses API"}


@dataclass(frozen=True, slots=True)
class Target:
    route: Route
    provider: Provider
    upstream_model: str
    response_model: str   # the model name the client sees in responses


def resolve(config: Config, model: str, client: Dialect, facts: Facts | None = None) -> Target:
    """The first provider of the route that serves the request (see ``candidates``)."""
    return candidates(config, model, client, facts)[0]


def candidates(config: Config, model: str, client: Dialect, facts: Facts | None = None) -> tuple[Target, ...]:
    """The first route that matches ``model``, can serve ``client`` and whose conditions ``facts``
    meet, as one target per provider in the order they are tried; else a 404 naming the model."""
    protocols = SERVES[client]
    for route in config.routes:
        if route.matches(model) and route.client in (None, client) and admits(route, facts):
            targets = tuple(Target(route, provider, ref.model or route.model or model, route.response_model or model)
                            for ref in route.chain
                            if (provider := config.provider(ref.provider)).protocol in protocols)
            if targets:
                return targets
    raise ProxyError(404, f"No route in dragoman's config serves model {model!r} on {_API_NAMES[client]}.",
                     param="model")
