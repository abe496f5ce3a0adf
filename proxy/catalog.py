"""The models GET /v1/models lists for each client dialect, and the provider answers it draws on.

Candidate ids, in the order the list gives them: route globs without wildcards (exact route
names) in route order; then each provider's ``models:``, provider by provider; then the ids the
providers report (proxy/discovery.py), provider by provider in config order, each in the order
the provider gave. An id appears once, at its first place.

Rules (choices, not facts about any API):

- An id is listed for a client dialect when a route serves it to that dialect: the first route
  whose glob matches it, whose ``client`` admits the dialect, and which has no conditions. A
  route with ``thinking``, ``min_input_tokens`` or ``tools_include`` cannot judge a bare id, so
  it is passed over and the next route decides, as proxy/routing.py does for a request such a
  route does not admit: the result is the route a plain request for the id reaches.
- Exact route names and ``models:`` are the operator's own word: listed wherever a route serves
  them, whichever provider that route sends them to.
- A reported id is listed only where the route that serves it has the provider that reported it
  among its providers (fallbacks included). A glob (``*``, ``claude-*``) matches every name, and
  listing another provider's ids under it would offer models its providers never said they
  have. A route that rewrites the name to a fixed ``model:`` serves any name its glob matches;
  the same rule applies to it: its own providers' ids that match the glob are listed, no others.
- The OpenAI shape is read by clients of two dialects (an OpenAI SDK app may call Chat
  Completions or Responses; GET /v1/models does not say which): it lists what either is served,
  Chat Completions' routes deciding first.
- A listed model's owner (OpenAI's ``owned_by``) is the first provider of the route that serves
  it; its creation time and display name are those a provider of that route reported for the
  id, else 0 and the id itself.

The reported ids are kept per process (each worker asks for itself) and asked for at start-up in
the background, so listening never waits on a provider (until the answers come, the list holds
the configured ids), and on each reload, which waits for them (at most ``discovery.timeout``) so
that a finished reload lists the new config's models. A provider that fails keeps its last
answer while its settings are unchanged: a blip during a reload should not empty a daemon's list
for weeks. Requests never wait on providers: they read the last answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import structlog
from aiohttp import web

from .config import Config, Provider
from .discovery import ReportedModel, ask, reason_not_asked
from .errors import ProxyError
from .routing import Dialect, candidates
from .runtime import STATE, Runtime

__all__ = ["Catalog", "CATALOG", "Entry", "list_models", "find_model"]

log = structlog.get_logger("dragoman")

_GLOB_CHARS = frozenset("*?[")
Reports = Mapping[str, Mapping[str, ReportedModel]]   # provider name -> model id -> what it said


@dataclass(frozen=True, slots=True)
class Entry:
    """One listed model, whichever shape renders it."""

    id: str
    owner: str            # the provider that serves it first
    created: int          # Unix seconds; 0 when unknown
    display_name: str


def list_models(config: Config, reports: Reports, dialects: tuple[Dialect, ...]) -> dict[str, Entry]:
    """Model id -> entry, in list order, for clients of ``dialects`` (see the module's rules)."""
    configured = [route.match for route in config.routes if not _GLOB_CHARS & set(route.match)]
    configured += [model for provider in config.providers for model in provider.models]
    reported = [model for models in reports.values() for model in models]
    own_word = set(configured)
    listed: dict[str, Entry] = {}
    for model_id in dict.fromkeys(configured + reported):   # ordered, each once
        entry = find_model(config, reports, model_id, dialects, reported_only=model_id not in own_word)
        if entry is not None:
            listed[model_id] = entry
    return listed


def find_model(config: Config, reports: Reports, model_id: str, dialects: tuple[Dialect, ...],
               *, reported_only: bool = False) -> Entry | None:
    """The entry for ``model_id`` if a route serves it to one of ``dialects``; ``reported_only``:
    only if a provider of that route reported it."""
    for dialect in dialects:
        try:
            targets = candidates(config, model_id, dialect)
        except ProxyError:
            continue
        said = next((reports[ref.provider][model_id] for ref in targets[0].route.chain
                     if model_id in reports.get(ref.provider, {})), None)
        if said is None and reported_only:
            continue
        if said is None:
            return Entry(model_id, targets[0].provider.name, 0, model_id)
        return Entry(model_id, targets[0].provider.name, said.created or 0, said.display_name or model_id)
    return None


class Catalog:
    """The providers' last answers and the listings computed from them, per process."""

    def __init__(self) -> None:
        # provider name -> (its settings when asked, model id -> what it said)
        self._answers: dict[str, tuple[Provider, dict[str, ReportedModel]]] = {}
        self._task: asyncio.Task[None] | None = None
        # computed once per config and answers: a listing runs every route over every id
        self._listings: dict[tuple[Dialect, ...], tuple[Config, dict[str, Entry]]] = {}

    def reports(self, config: Config) -> Reports:
        """The answers of ``config``'s providers, as long as their settings are those asked with."""
        current = {provider.name: provider for provider in config.providers}
        return {name: models for name, (asked, models) in self._answers.items() if current.get(name) == asked}

    def listing(self, config: Config, dialects: tuple[Dialect, ...]) -> dict[str, Entry]:
        cached = self._listings.get(dialects)
        if cached is not None and cached[0] is config:
            return cached[1]
        listed = list_models(config, self.reports(config), dialects)
        self._listings[dialects] = (config, listed)
        return listed

    def lookup(self, config: Config, model_id: str, dialects: tuple[Dialect, ...]) -> Entry | None:
        """A listed model, or any id a route would serve (routes are globs: the list is partial)."""
        listed = self.listing(config, dialects).get(model_id)
        return listed or find_model(config, self.reports(config), model_id, dialects)

    # -- refreshing ---------------------------------------------------------------------------

    def start(self, runtime: Runtime) -> None:
        """Ask ``runtime``'s providers in the background; a refresh still running is dropped (it
        asked for an older config, and its sessions may be closing)."""
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.get_running_loop().create_task(self._refresh(runtime))

    async def refresh(self, runtime: Runtime) -> None:
        """Ask ``runtime``'s providers and wait for the answers: the reload hook."""
        self.start(runtime)
        await self.settled()

    async def settled(self) -> None:
        """Wait for the refresh in progress, if any (a caller cancelled does not cancel it)."""
        if self._task is not None:
            await asyncio.wait([self._task])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx, after the runtime's: the first refresh starts with the app."""
        self.start(app[STATE].runtime)
        yield
        await self.close()

    async def _refresh(self, runtime: Runtime) -> None:
        settings = runtime.config.discovery
        if not settings.enabled:
            self._answers, self._listings = {}, {}
            return
        # only providers a route sends to: another's ids could never be listed
        routed = {ref.provider for route in runtime.config.routes for ref in route.chain}
        asked = [upstream for name, upstream in runtime.upstreams.items()
                 if name in routed and reason_not_asked(upstream.provider) is None]
        try:
            answers = await asyncio.gather(*(ask(upstream, settings.timeout) for upstream in asked))
        except Exception:   # ask() logs and swallows what providers do: this is a bug of ours
            log.exception("model discovery failed")
            return
        kept: dict[str, tuple[Provider, dict[str, ReportedModel]]] = {}
        failed: list[str] = []
        for upstream, models in zip(asked, answers, strict=True):
            provider = upstream.provider
            previous = self._answers.get(provider.name)
            if models is not None:
                kept[provider.name] = (provider, {model.id: model for model in models})
            else:
                failed.append(provider.name)
                if previous is not None and previous[0] == provider:
                    kept[provider.name] = previous   # failed this time: its last answer stands
        self._answers = kept
        self._listings.clear()
        log.info("models discovered", models={name: len(models) for name, (_, models) in kept.items()},
                 failed=failed)


CATALOG = web.AppKey("catalog", Catalog)
