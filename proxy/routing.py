"""Which provider and upstream model serve the model a client asked for."""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config, Provider, Route
from .errors import ProxyError

__all__ = ["Target", "resolve"]


@dataclass(frozen=True, slots=True)
class Target:
    route: Route
    provider: Provider
    upstream_model: str
    response_model: str   # the model name the client sees in responses


def resolve(config: Config, model: str) -> Target:
    """First matching route wins; no match is a 404 naming the model."""
    for route in config.routes:
        if route.matches(model):
            return Target(route, config.provider(route.provider), route.model or model,
                          route.response_model or model)
    raise ProxyError(404, f"No route in dragoman's config matches model {model!r}.", param="model")
