"""``dragoman check-config``: the resolved routing table, then what looks wrong in it.

Warnings (the config is still valid, so the exit code stays 0):

- a route that can never match. Route B is shadowed by an earlier route A when A applies to every
  client B does (A has no ``client``, or the same one), A has no conditions, and A's glob matches
  every name B's could: A's glob is ``*``, or equals B's, or B's is an exact name (no wildcard)
  that A's glob matches. Sound (each warning is a route that never wins) but not complete: two
  overlapping globs such as ``claude-*`` before ``claude-s*`` are not compared;
- a provider no route uses (nothing will reach it, so its key is not checked either);
- a used provider that needs a key and has none (an unset environment variable, usually).
"""

from __future__ import annotations

from ..app import describe
from ..config import Config, Provider, Route
from ..server import open_refusal
from .common import is_glob

__all__ = ["print_table", "warnings", "shadowed_by"]

# flavors of hosted APIs that always want a key (ollama, vllm and generic servers may need none;
# vertex authenticates with Google credentials)
_KEYED_FLAVORS = frozenset({"azure", "gemini", "deepseek", "openrouter", "groq"})


def print_table(config: Config) -> None:
    """One line per route, then one per fallback provider ("or ...", in the order tried)."""
    lines: list[dict[str, object]] = []
    for row in describe(config):
        lines.append(row)
        fallbacks = row["fallbacks"]
        assert isinstance(fallbacks, list)
        lines.extend({**f, "match": "", "clients": "", "when": "", "max_tokens": "", "provider": f"or {f['provider']}"}
                     for f in fallbacks)
    columns = ["match", "clients", "when", "provider", "protocol", "base_url", "model", "max_tokens", "api_key"]
    cells = [{c: "-" if r[c] is None else str(r[c]) for c in columns} for r in lines]  # unset: "-", not "None"
    widths = {c: max(len(c), *(len(r[c]) for r in cells)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for r in cells:
        print("  ".join(r[c].ljust(widths[c]) for c in columns).rstrip())
    auth = f"{len(config.auth.api_keys)} key(s)" if config.auth.api_keys else "off (open)"
    print(f"\nserver: http://{config.server.host}:{config.server.port}  auth: {auth}")
    if (refusal := open_refusal(config, config.server.host)) is not None:
        print(f"warning: serve will refuse to start: {refusal}")
    elif not config.auth.api_keys:
        print("warning: auth is off: any client that reaches the port can use the providers' keys")
    for warning in warnings(config):
        print(f"warning: {warning}")


def shadowed_by(earlier: Route, later: Route) -> bool:
    """True when ``earlier`` takes every request ``later`` could (the module docstring's test)."""
    if earlier.client not in (None, later.client) or earlier.conditional:
        return False
    return (earlier.match == "*" or earlier.match == later.match
            or (not is_glob(later.match) and earlier.matches(later.match)))


def _needs_key(provider: Provider) -> bool:
    if provider.protocol == "anthropic" or provider.flavor in _KEYED_FLAVORS:
        return True
    return provider.flavor == "openai" and "api.openai.com" in provider.base_url


def warnings(config: Config) -> list[str]:
    found: list[str] = []
    for i, route in enumerate(config.routes):
        for j, earlier in enumerate(config.routes[:i]):
            if shadowed_by(earlier, route):
                clients = f"{earlier.client} clients" if earlier.client else "every client"
                found.append(f"routes[{i}] (match {route.match!r}) can never match: routes[{j}] (match "
                             f"{earlier.match!r}, {clients}, no conditions) comes first and takes all its requests")
                break
    used = {ref.provider for route in config.routes for ref in route.chain}
    for provider in config.providers:
        if provider.name not in used:
            found.append(f"provider {provider.name!r} is used by no route")
        elif not provider.api_key and _needs_key(provider):
            found.append(f"provider {provider.name!r} has no api_key (is its environment variable set?)")
    return found
