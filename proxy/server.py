"""Running the app as a daemon: listen, say so only once listening, reload, drain.

aiohttp's ``run_app`` logs nothing we control and turns a port already in use into a traceback
after our start-up line; this runner binds first, reports a bind failure as one line and a
non-zero exit, and only then says the daemon started (and tells systemd: proxy/notify.py).
SIGHUP reloads the config in place (proxy/reload.py). SIGTERM drains: the listener closes,
/ready turns 503, running requests get ``server.shutdown_timeout`` seconds to finish, streams
still running then end with the dialect's error event, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import signal
from pathlib import Path

import structlog
from aiohttp import web

from .app import create_app, describe
from .config import Config
from .metrics import METRICS, metrics_handler
from .notify import Notifier
from .reload import reload_config
from .runtime import STATE

__all__ = ["run", "is_loopback", "open_refusal"]

log = structlog.get_logger("dragoman")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_refusal(config: Config, host: str) -> str | None:
    """Why dragoman must not start open on ``host``, or None. With no keys, anyone who can reach
    the port spends the team's provider keys: on a network address that takes an explicit
    ``auth.open: true``."""
    if config.auth.api_keys or config.auth.open or is_loopback(host):
        return None
    return (f"auth is off (auth.api_keys is empty: is DRAGOMAN_API_KEY set?) and server.host {host!r} is "
            "reachable from the network; set a key, listen on 127.0.0.1, or set auth.open: true to run open "
            "deliberately")


def run(config: Config, path: str | Path, host: str, port: int) -> int:
    """Serve until SIGINT/SIGTERM (drain, then exit 0); SIGHUP reloads ``path``. The exit code is
    1 when the daemon could not listen."""
    return asyncio.run(_serve(config, path, host, port))


async def _serve(config: Config, path: str | Path, host: str, port: int) -> int:
    app = create_app(config, ready_at_startup=False)
    # shutdown_timeout: aiohttp's own wait, after dragoman's drain (proxy/app.py) ended everything
    runner = web.AppRunner(app, handle_signals=False, access_log=None, handler_cancellation=True,
                           shutdown_timeout=3.0)
    await runner.setup()
    runners = [runner]
    try:
        await web.TCPSite(runner, host, port).start()
        if config.metrics.port is not None:  # /metrics on its own loopback listener, without a key
            metrics_app = web.Application()
            metrics_app[METRICS] = app[METRICS]
            metrics_app[STATE] = app[STATE]
            metrics_app.router.add_get("/metrics", metrics_handler)
            metrics_runner = web.AppRunner(metrics_app, handle_signals=False, access_log=None)
            await metrics_runner.setup()
            runners.append(metrics_runner)
            await web.TCPSite(metrics_runner, "127.0.0.1", config.metrics.port).start()
    except OSError as exc:
        log.error("dragoman cannot listen", address=f"http://{host}:{port}", reason=exc.strerror or str(exc))
        for r in reversed(runners):
            await r.cleanup()
        return 1
    _settle_memory()
    state = app[STATE]
    notifier = Notifier()
    address = f"http://{host}:{port}"
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloading = asyncio.Lock()   # one reload at a time; a SIGHUP during one waits its turn
    tasks: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        async with reloading:
            notifier.reloading()
            await reload_config(app, path)
            notifier.ready(f"serving on {address}")

    def on_hup() -> None:
        task = loop.create_task(reload())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # signal handlers first: systemd (or an operator) may reload or stop the moment it hears READY
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    state.ready = True
    notifier.ready(f"serving on {address}")
    notifier.start_watchdog()
    _announce(config, address)
    await stop.wait()
    state.draining = True   # /ready answers 503 from now on
    running = state.runtime.active
    notifier.stopping(f"draining {running} running request(s)")
    log.info("dragoman draining: /ready says 503, running requests may finish", running=running,
             drain_delay=config.server.drain_delay, shutdown_timeout=config.server.shutdown_timeout)
    if config.server.drain_delay:
        await asyncio.sleep(config.server.drain_delay)   # still listening: load balancers see the 503
    for r in reversed(runners):
        await r.cleanup()
    notifier.stop_watchdog()
    log.info("dragoman stopped")
    return 0


def _announce(config: Config, address: str) -> None:
    log.info("dragoman started", address=address, providers=[p.name for p in config.providers],
             routes=describe(config), auth="on" if config.auth.api_keys else "off",
             metrics=f"http://127.0.0.1:{config.metrics.port}/metrics" if config.metrics.port is not None else "/metrics")
    if not config.auth.api_keys:
        log.warning("auth is off: any client that reaches the port can use the providers' keys",
                    open=config.auth.open)
    for p in config.providers:
        if not p.api_keys and p.protocol == "anthropic":
            log.warning("provider has no api_key", provider=p.name)


def _settle_memory() -> None:
    """Everything loaded so far lives as long as the process: move it out of the collector's sight,
    and collect young objects less often. Requests allocate many short-lived dicts (no cycles), and
    default thresholds spent ~10% of a request's CPU in the collector."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 50)
