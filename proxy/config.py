"""The YAML config: environment expansion, then validation into frozen pydantic models.

The shape is a contract (see README). Unknown keys are errors, so a typo fails at start-up with
the file, the key path and what was expected, instead of being silently ignored.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .url_routing import validate_host_pattern

__all__ = ["Config", "Provider", "ProviderRef", "Route", "ConfigError", "load_config", "parse_config"]

# Values that may legitimately expand to nothing: an unset key means "no auth" or "no key".
_MAY_BE_EMPTY = (re.compile(r"^auth\.api_keys\[\d+\]$"), re.compile(r"^providers\[\d+\]\.api_key(\[\d+\])?$"))
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The config cannot be used; the message says where and why."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8082, ge=0, le=65535)
    workers: int = Field(1, ge=0)   # processes serving the port (0: one per core); 1 runs without gunicorn
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0)   # Claude Code sessions with images grow large
    # JSON values (at most: commas + brackets) a request or upstream body may hold. Parsing is
    # cheap per byte but not per value: 30 MB of empty blocks is 1.2 M objects, a second of
    # blocked event loop and 1 GiB. Real bodies are text and base64 (few values per byte).
    max_json_elements: int = Field(250_000, gt=0)
    max_response_bytes: int = Field(64 * 1024 * 1024, gt=0)  # a whole (non-stream) upstream answer
    max_event_bytes: int = Field(8 * 1024 * 1024, gt=0)      # one upstream SSE event
    ping_interval: float = Field(10.0, gt=0)              # keepalive while the upstream is silent
    send_timeout: float = Field(120.0, gt=0)              # a client that reads nothing this long is cut
    # Requests in flight at once (per process); above it an immediate "overloaded" answer with
    # Retry-After, never a queue that grows without bound. 0: no limit.
    max_concurrent_requests: int = Field(4096, ge=0)
    shutdown_timeout: float = Field(30.0, ge=0)        # a drain's wait for running requests
    # After SIGTERM, keep listening this long with /ready saying 503, so load balancers stop
    # sending new requests before the listener closes (0: close at once).
    drain_delay: float = Field(0.0, ge=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"


class AuthConfig(_Model):
    api_keys: tuple[str, ...] = ()
    # No keys on a non-loopback address is refused at start-up unless this says it is meant.
    open: bool = False

    @field_validator("api_keys", mode="after")
    @classmethod
    def _drop_empty(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(k for k in keys if k)


class Timeout(_Model):
    """Seconds per phase of an upstream request; each failure names its phase."""

    connect: float = Field(10.0, gt=0)   # TCP (and TLS) connection
    pool: float = Field(30.0, gt=0)      # waiting for one of max_connections (when set)
    # response headers after the request was sent, for streams: a provider that accepted a
    # stream sends them at once, so a hung one fails over in seconds. A non-stream answer's
    # headers come with the whole answer: ``read`` bounds that wait instead.
    headers: float = Field(60.0, gt=0)
    read: float = Field(600.0, gt=0)     # the longest silence allowed between upstream bytes
    total: float | None = Field(None, gt=0)  # the whole request, stream included (none by default)


class ResponsesStoreConfig(_Model):
    """Recent translated Responses API answers kept for ``previous_response_id`` (per process)."""

    max_entries: int = Field(1000, ge=0)           # 0: keep none
    max_bytes: int = Field(64 * 1024 * 1024, gt=0)
    ttl: float = Field(3600.0, gt=0)               # seconds


class MetricsConfig(_Model):
    # /metrics needs dragoman's key when auth is on, unless it is public or has its own listener
    public: bool = False
    port: int | None = Field(None, ge=0, le=65535)  # its own listener on 127.0.0.1, no key needed


class DiscoveryConfig(_Model):
    """Asking providers which models they have, for GET /v1/models (proxy/discovery.py): at
    start-up and on each reload."""

    enabled: bool = True
    timeout: float = Field(5.0, gt=0)      # seconds per provider, all its pages included


class UrlRoutingConfig(_Model):
    """URL-path routing (proxy/url_routing.py): off unless enabled, and then only to these hosts."""

    enabled: bool = False
    # host patterns, matched per DNS label (url_routing.host_allowed): ["api.groq.com", "*.openai.azure.com"]
    allow_hosts: tuple[str, ...] = ()
    allow_private: bool = False            # loopback, link-local and private addresses too
    timeout: Timeout = Timeout()

    @field_validator("allow_hosts", mode="after")
    @classmethod
    def _patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        # a pattern that cannot mean what it seems to (api*.x.com) fails at start-up, not silently
        errors = [error for p in patterns if (error := validate_host_pattern(p)) is not None]
        if errors:
            raise ValueError("; ".join(errors))
        return patterns

    @model_validator(mode="after")
    def _hosts_when_enabled(self) -> UrlRoutingConfig:
        if self.enabled and not self.allow_hosts:
            raise ValueError("url_routing.enabled needs allow_hosts (the hosts clients may name)")
        return self


class CircuitBreaker(_Model):
    """A provider that failed this many times in a row (no connection, timeouts, 5xx) is skipped
    for ``cooldown`` seconds, then one request tests it. ``failures: 0`` turns it off."""

    failures: int = Field(5, ge=0)
    cooldown: float = Field(30.0, gt=0)


class Provider(_Model):
    name: str = Field(min_length=1)
    # openai: POST {base_url}/chat/completions; anthropic: POST {base_url}/v1/messages;
    # responses: POST {base_url}/responses (the OpenAI Responses API)
    protocol: Literal["openai", "anthropic", "responses"]
    base_url: str
    # one key, or a pool of keys requests are spread over (a conversation stays on one key)
    api_key: str | tuple[str, ...] | None = None
    timeout: Timeout = Timeout()
    circuit_breaker: CircuitBreaker = CircuitBreaker()
    headers: dict[str, str] = {}
    models: tuple[str, ...] = ()           # extra ids listed by GET /v1/models
    max_connections: int = Field(0, ge=0)  # 0: unlimited concurrent upstream requests
    # openai protocol: which OpenAI-compatible dialect, for the quirks each has (README cookbook)
    flavor: Literal["openai", "azure", "gemini", "vertex", "deepseek", "openrouter", "groq", "ollama", "vllm"] = "openai"
    api_version: str | None = None         # azure: the deployments URL form's api-version
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # send Claude's thinking as reasoning_effort (many models reject the field)
    reasoning_effort: bool = False
    # anthropic protocol
    anthropic_version: str = "2023-06-01"
    anthropic_beta: tuple[str, ...] = ()

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
        return url.rstrip("/")

    @field_validator("api_key", mode="after")
    @classmethod
    def _empty_key(cls, key: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        if isinstance(key, tuple):  # a pool: keys that expanded to nothing are left out
            kept = tuple(k for k in key if k)
            return kept[0] if len(kept) == 1 else kept or None
        return key or None

    @property
    def api_keys(self) -> tuple[str, ...]:
        """Every key of the provider (one, a pool, or none)."""
        return self.api_key if isinstance(self.api_key, tuple) else (self.api_key,) if self.api_key else ()

    @model_validator(mode="after")
    def _flavor_fits(self) -> Provider:
        if self.protocol == "anthropic" and self.flavor != "openai":
            raise ValueError(f"flavor {self.flavor!r} is for protocol: openai providers")
        if self.protocol == "responses" and (self.flavor not in ("openai", "azure") or self.api_version):
            raise ValueError("protocol: responses providers are OpenAI's API or Azure's v1 form (flavor openai "
                             "or azure, no api_version)")
        if self.api_version is not None and self.flavor != "azure":
            raise ValueError("api_version is only used by flavor: azure")
        if self.flavor == "vertex" and self.api_key:
            raise ValueError("flavor vertex authenticates with Google Application Default Credentials, not api_key")
        return self


class ProviderRef(_Model):
    """One provider of a route's list. A fallback to another provider seldom knows the model by
    the same name (OpenAI's gpt-4o is openai/gpt-4o on OpenRouter), so an entry may name its own."""

    provider: str = Field(min_length=1)
    model: str | None = None               # None: the route's model


def _non_empty(items: tuple[Any, ...]) -> tuple[Any, ...]:
    """A list that must not be empty. Not ``Field(min_length=1)``: pydantic checks a tuple's length
    on the items that validated, so one bad entry also drew "should have at least 1 item"; an
    after-validator runs only once every item is valid."""
    if not items:
        raise ValueError("at least one entry is required")
    return items


_NonEmpty = AfterValidator(_non_empty)


def _refs(value: Any) -> Any:
    """``provider: a``, ``provider: [a, {provider: b, model: m}]``: entries as ProviderRef input."""
    entries = value if isinstance(value, (list, tuple)) else [value]
    return [{"provider": e} if isinstance(e, str) else e for e in entries]


_Refs = Annotated[tuple[ProviderRef, ...], BeforeValidator(_refs)]


class Route(_Model):
    match: str = Field(min_length=1)       # glob on the model the client asked for
    # the provider, or several tried in order: `provider: [a, b]`, or `provider: a` with
    # `fallbacks: [b]` (proxy/fallback.py says when the next is tried)
    provider: Annotated[_Refs, _NonEmpty]
    fallbacks: _Refs = ()
    model: str | None = None               # None: the client's model name passes through
    max_tokens: int | None = Field(None, gt=0)          # ceiling on the client's max_tokens
    default_max_tokens: int | None = Field(None, gt=0)  # when the client sends none
    response_model: str | None = None      # model name reported back; default: the client's
    system_prompt: str | None = None       # OpenAI clients on Anthropic: used when the request has none
    client: Literal["anthropic", "openai", "responses"] | None = None  # only for clients of this dialect
    # merged into every translated request to an OpenAI-compatible provider (e.g. OpenRouter's
    # provider routing: {provider: {order: [...]}}); never overrides what the translation set
    extra_body: dict[str, Any] = {}
    # Conditions besides the glob, all of which must hold (proxy/conditions.py): the scenarios
    # claude-code-router users route by. None / empty: no condition.
    thinking: bool | None = None           # true: only requests with thinking on; false: only without
    min_input_tokens: int | None = Field(None, gt=0)  # long context, by the local token count
    tools_include: tuple[Annotated[str, Field(min_length=1)], ...] = ()  # a tool of one of these names

    @model_validator(mode="after")
    def _one_list(self) -> Route:
        if len(self.provider) > 1 and self.fallbacks:
            raise ValueError("name the fallbacks either in a provider list or in fallbacks, not both")
        return self

    # Computed once per (immutable) route: routing runs on every request.
    @cached_property
    def chain(self) -> tuple[ProviderRef, ...]:
        """Every provider of the route, in the order they are tried."""
        return self.provider + self.fallbacks

    @cached_property
    def conditional(self) -> bool:
        return self.thinking is not None or self.min_input_tokens is not None or bool(self.tools_include)

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(fnmatch.translate(self.match))

    def matches(self, model: str) -> bool:
        return self._pattern.match(model) is not None


class Config(_Model):
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    metrics: MetricsConfig = MetricsConfig()
    responses_store: ResponsesStoreConfig = ResponsesStoreConfig()
    url_routing: UrlRoutingConfig = UrlRoutingConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
    providers: Annotated[tuple[Provider, ...], _NonEmpty]
    routes: Annotated[tuple[Route, ...], _NonEmpty]

    @model_validator(mode="after")
    def _check_names(self) -> Config:
        names = [p.name for p in self.providers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"provider names must be unique; repeated: {', '.join(duplicates)}")
        for i, route in enumerate(self.routes):
            for key in ("provider", "fallbacks"):
                refs: tuple[ProviderRef, ...] = getattr(route, key)
                for j, ref in enumerate(refs):
                    if ref.provider not in names:
                        where = f"routes[{i}].{key}" + (f"[{j}]" if key == "fallbacks" or len(refs) > 1 else "")
                        raise ValueError(f"{where}: unknown provider {ref.provider!r} (known: {', '.join(names)})")
        return self

    @cached_property
    def _providers(self) -> dict[str, Provider]:
        return {p.name: p for p in self.providers}

    def provider(self, name: str) -> Provider:
        return self._providers[name]


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read, expand and validate a config file; raises ConfigError with file and key path."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        if isinstance(exc, yaml.MarkedYAMLError):
            # parsed from a string, the marks say "<unicode string>": name the file instead
            for mark in (exc.context_mark, exc.problem_mark):
                if mark is not None:
                    mark.name = str(path)
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(raw, source=str(path), environ=environ)


def parse_config(raw: Any, source: str = "<config>", environ: Mapping[str, str] | None = None) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    errors: list[str] = []
    expanded = _expand(raw, "", os.environ if environ is None else environ, errors)
    if errors:
        raise ConfigError("\n".join(f"{source}: {e}" for e in errors))
    try:
        return Config.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError("\n".join(f"{source}: {_describe(err)}" for err in exc.errors())) from None


def _expand(node: Any, path: str, environ: Mapping[str, str], errors: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _expand(v, f"{path}.{k}" if path else str(k), environ, errors) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, f"{path}[{i}]", environ, errors) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def substitute(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        value: str | None = environ.get(name)
        if value is not None and (value or default is None):
            return value
        if default is not None:
            return default
        if not any(p.match(path) for p in _MAY_BE_EMPTY):
            errors.append(f"{path}: environment variable {name} is not set (use ${{{name}:-default}} for a default)")
        return ""

    return _VAR.sub(substitute, node)


def _describe(err: Any) -> str:
    loc = ""
    for part in err.get("loc", ()):
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    message = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        message = "unknown key"
    elif err.get("type") == "literal_error":
        message = f"{message}, got {err.get('input')!r}"
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return f"{loc}: {message}" if loc else message
