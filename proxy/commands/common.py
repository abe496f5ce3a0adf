"""What the client commands share: the config, the address clients use, the key they present,
the model names the config asks them to use, and whether the daemon answers.

Model variables for Claude Code (the rule ``dragoman claude`` and ``setup claude-code`` follow):
Claude Code asks for its own names (``claude-haiku-4-5-…``, ``claude-sonnet-…``, ``claude-opus-…``)
and glob routes (``*haiku*``) catch them, whatever the version. Only when the config names a model
for a family, by an *exact-name* route (no ``*``, ``?`` or ``[``) whose name contains ``haiku``,
``sonnet`` or ``opus``, that Anthropic clients may use (``client`` unset or ``anthropic``) and
without conditions, is ``ANTHROPIC_DEFAULT_<FAMILY>_MODEL`` set to that name (the first such route
per family): Claude Code then asks for exactly the name the route serves.

Codex's model: the first exact-name, unconditional route for Responses clients (``client:
responses``), else the first such route open to every client (``client`` unset); none: Codex keeps
its own default name, which a glob route serves.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Literal

import aiohttp

from ..config import Config, ConfigError, Route, load_config

__all__ = ["load", "base_url", "client_key", "claude_model_env", "codex_model", "daemon_status", "is_ready",
           "key_refused", "is_glob", "PLACEHOLDER_KEY", "CODEX_ENV_KEY", "FAMILIES"]

# Claude Code and Codex both insist on some key; with auth off dragoman accepts any.
PLACEHOLDER_KEY = "dragoman"
CODEX_ENV_KEY = "DRAGOMAN_API_KEY"  # the variable Codex reads dragoman's key from (its env_key)
FAMILIES = ("haiku", "sonnet", "opus")
_WILDCARDS = frozenset("*?[")
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "127.0.0.1", "[::]": "127.0.0.1", "": "127.0.0.1"}


def load(path: str) -> Config | None:
    """The config, or None after saying why on stderr (as ``serve`` does)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"dragoman: invalid config\n{exc}", file=sys.stderr)
        return None


def base_url(config: Config) -> str:
    """Where a client on this machine reaches the daemon: a wildcard listen address is
    reached on loopback."""
    host = _ANY_ADDRESS.get(config.server.host, config.server.host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{config.server.port}"


def client_key(config: Config) -> str:
    """A key dragoman accepts: its first ``auth.api_keys`` entry, else the placeholder."""
    return config.auth.api_keys[0] if config.auth.api_keys else PLACEHOLDER_KEY


def is_glob(match: str) -> bool:
    """A route's ``match`` with a wildcard (fnmatch's ``*``, ``?``, ``[``), not a model name."""
    return bool(_WILDCARDS & set(match))


def _exact(route: Route) -> bool:
    return not route.conditional and not is_glob(route.match)


def claude_model_env(config: Config) -> dict[str, str]:
    """``ANTHROPIC_DEFAULT_<FAMILY>_MODEL`` for the families the config names (module docstring)."""
    env: dict[str, str] = {}
    for route in config.routes:
        if route.client in (None, "anthropic") and _exact(route):
            for family in FAMILIES:
                if family in route.match.lower():
                    env.setdefault(f"ANTHROPIC_DEFAULT_{family.upper()}_MODEL", route.match)
    return env


def codex_model(config: Config) -> str | None:
    """The model Codex should ask for, when the config names one (module docstring)."""
    for client in ("responses", None):
        for route in config.routes:
            if route.client == client and _exact(route):
                return route.match
    return None


async def daemon_status(url: str, timeout: float = 2.0) -> tuple[Literal["ready", "busy", "down"], str]:
    """Whether dragoman answers ``GET /ready`` at ``url``: "ready"; "busy" (it is there, starting
    or draining); "down" (nothing, or something else, answers), with the reason."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(f"{url}/ready", allow_redirects=False) as response:
                body = await response.json(content_type=None) if response.status in (200, 503) else None
                status = body.get("status") if isinstance(body, dict) else None
                if response.status == 200 and status == "ready":
                    return "ready", "ready"
                if response.status == 503 and status in ("starting", "draining"):
                    return "busy", f"dragoman is {status}"
                return "down", f"something else answers there (GET /ready: HTTP {response.status})"
    except aiohttp.ClientConnectorError as exc:
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        return "down", "connection refused" if refused else str(exc.os_error.strerror or exc.os_error)
    except (TimeoutError, aiohttp.ServerTimeoutError):
        return "down", f"no answer within {timeout:g} s"
    except (aiohttp.ClientError, ValueError) as exc:
        return "down", f"something else answers there ({type(exc).__name__})"


async def key_refused(url: str, key: str, timeout: float = 5.0) -> bool:
    """True when the daemon at ``url`` answers 401 to ``key``: the client would fail on its first
    request (the daemon's key comes from its own environment, which may differ from ours)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"},
                                   allow_redirects=False) as response:
                return response.status == 401
    except (aiohttp.ClientError, TimeoutError):
        return False  # not a verdict on the key: the client will say what fails


def is_ready(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    """(ready, why not) for synchronous callers."""
    state, why = asyncio.run(daemon_status(url, timeout))
    return state == "ready", why
