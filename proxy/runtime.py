"""What a request runs on: one config and the provider connections built for it.

Each request pins the current ``Runtime`` when it starts and uses it until it ends, so a reload
(SIGHUP) swaps the runtime for new requests while requests and streams already running finish on
the one they started with, untouched. Provider sessions whose settings did not change move to the
new runtime as they are (their pooled connections, breaker state and key pools with them); the
others are closed once the last request that uses them has ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from .config import Config, Provider
from .upstream import Upstream, make_session
from .url_routing import GuardedResolver

__all__ = ["Runtime", "State", "STATE", "RUNTIME", "runtime_context", "build_runtime"]

log = structlog.get_logger("dragoman")


class Runtime:
    """One config generation and its upstream connections."""

    __slots__ = ("config", "upstreams", "url_session", "active", "retired", "_on_idle")

    def __init__(self, config: Config, upstreams: dict[str, Upstream],
                 url_session: aiohttp.ClientSession | None) -> None:
        self.config = config
        self.upstreams = upstreams
        self.url_session = url_session   # URL-path routing's guarded session, when enabled
        self.active = 0                  # requests running on this runtime
        self.retired = False             # replaced by a reload: closes when its last request ends
        self._on_idle: Callable[[Runtime], None] | None = None

    def enter(self) -> None:
        self.active += 1

    def leave(self) -> None:
        self.active -= 1
        if self.active == 0 and self.retired and self._on_idle is not None:
            on_idle, self._on_idle = self._on_idle, None
            on_idle(self)

    def retire(self, on_idle: Callable[[Runtime], None]) -> None:
        """No new request will use this runtime; ``on_idle`` runs once no request does."""
        self.retired = True
        if self.active == 0:
            on_idle(self)
        else:
            self._on_idle = on_idle

    def sessions(self) -> list[aiohttp.ClientSession]:
        found = [upstream.session for upstream in self.upstreams.values()]
        return found + ([self.url_session] if self.url_session is not None else [])


class State:
    """The app's current runtime, its running requests and lifecycle flags."""

    __slots__ = ("runtime", "draining", "ready", "requests", "_idle", "_closing")

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.draining = False   # SIGTERM came: /ready says 503 while running requests finish
        self.ready = False      # listening (set by the server once bound)
        self.requests: set[asyncio.Task[Any]] = set()   # the handler tasks of running requests
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing: set[asyncio.Task[None]] = set()

    def started(self, task: asyncio.Task[Any]) -> None:
        self.requests.add(task)
        self._idle.clear()

    def ended(self, task: asyncio.Task[Any]) -> None:
        self.requests.discard(task)
        if not self.requests:
            self._idle.set()

    async def drain(self, timeout: float) -> int:
        """Let running requests finish for up to ``timeout`` seconds, then end the rest (each ends
        its answer in its dialect when cancelled during a drain); how many had to be ended."""
        self.draining = True
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
            return 0
        except TimeoutError:
            pass
        remaining = list(self.requests)
        for task in remaining:
            task.cancel()
        await asyncio.wait(remaining, timeout=2.0)
        return len(remaining)

    def swap(self, runtime: Runtime) -> Runtime:
        """Make ``runtime`` current; the old one closes the sessions the new one does not share
        once its last request ends."""
        old, self.runtime = self.runtime, runtime
        kept = {id(session) for session in runtime.sessions()}

        def close(idle: Runtime) -> None:
            stale = [s for s in idle.sessions() if id(s) not in kept and not s.closed]
            if stale:
                task = asyncio.get_running_loop().create_task(_close_all(stale))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

        old.retire(close)
        return old

    async def close(self) -> None:
        """At shutdown: every session, of the current runtime and of retired ones still draining."""
        await _close_all(self.runtime.sessions())
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


STATE = web.AppKey("state", State)
RUNTIME = web.RequestKey("runtime", Runtime)


async def _close_all(sessions: list[aiohttp.ClientSession]) -> None:
    await asyncio.gather(*(session.close() for session in sessions if not session.closed), return_exceptions=True)


def build_runtime(config: Config, previous: Runtime | None = None) -> Runtime:
    """A runtime for ``config``, reusing ``previous``'s upstreams whose provider settings (and the
    server limits they read) are unchanged, and its URL-routing session if that config is too."""
    reuse = previous.upstreams if previous is not None else {}
    upstreams: dict[str, Upstream] = {}
    for provider in config.providers:
        old = reuse.get(provider.name)
        if old is not None and old.provider == provider:
            old.limits = config.server   # the body limits it reads may have changed; its pool did not
            upstreams[provider.name] = old
        else:
            upstreams[provider.name] = Upstream(provider, make_session(provider), config.server)
    routing = config.url_routing
    url_session = None
    if routing.enabled:
        if previous is not None and previous.url_session is not None and previous.config.url_routing == routing:
            url_session = previous.url_session
        else:
            # every address a client-named host resolves to passes the SSRF guard
            template = Provider(name="url", protocol="openai", base_url="http://url", timeout=routing.timeout)
            url_session = make_session(template, GuardedResolver(routing.allow_private))
    return Runtime(config, upstreams, url_session)


def runtime_context(config: Config, ready_at_startup: bool):  # type: ignore[no-untyped-def]
    """cleanup_ctx factory: the first runtime exists from start-up, every session is closed at shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[STATE] = State(build_runtime(config))
        app[STATE].ready = ready_at_startup
        try:
            yield
        finally:
            await app[STATE].close()

    return ctx
