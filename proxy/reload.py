"""Reloading the config in a running process (SIGHUP, ``systemctl reload``).

The new file is read and validated first; a config with errors is refused with one log line
naming each, and the old one stays in force. A valid one becomes the runtime new requests use
(proxy/runtime.py): running requests and streams finish on the old one, untouched, and provider
sessions whose settings did not change carry over. What a reload cannot change (the listening
address, workers, the metrics listener) is named in a warning: those take a restart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from aiohttp import web

from .config import Config, ConfigError, load_config
from .metrics import METRICS
from .runtime import STATE, Runtime, build_runtime

__all__ = ["reload_config", "RELOAD_HOOKS"]

log = structlog.get_logger("dragoman")

# Called with the new runtime after each reload (e.g. model discovery refreshing its list).
RELOAD_HOOKS = web.AppKey("reload_hooks", list[Callable[[Runtime], Awaitable[None]]])


async def reload_config(app: web.Application, path: str | Path) -> bool:
    """Swap in the config at ``path``; False (and the old config kept) when it is not valid."""
    metrics = app[METRICS]
    try:
        config = load_config(path)
    except ConfigError as exc:
        metrics.reloads.labels("refused").inc()
        log.error("config reload refused; the running config stays", path=str(path), errors=str(exc).splitlines())
        return False
    state = app[STATE]
    old = state.runtime
    if restart := _needs_restart(old.config, config):
        log.warning("config reload: these settings change only with a restart", settings=restart)
    state.swap(build_runtime(config, old))
    kept = sorted(name for name, upstream in state.runtime.upstreams.items() if old.upstreams.get(name) is upstream)
    metrics.reloads.labels("ok").inc()
    log.info("config reloaded", path=str(path), routes=len(config.routes), providers=[p.name for p in config.providers],
             sessions_kept=kept, requests_on_old_config=old.active)
    for hook in app.get(RELOAD_HOOKS, ()):
        await hook(state.runtime)
    return True


def _needs_restart(old: Config, new: Config) -> list[str]:
    changed = [f"server.{key}" for key in ("host", "port", "workers")
               if getattr(old.server, key, None) != getattr(new.server, key, None)]
    if old.metrics.port != new.metrics.port:
        changed.append("metrics.port")
    return changed
