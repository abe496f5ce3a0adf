"""``dragoman serve --workers N``: N processes on one port, under gunicorn's arbiter.

gunicorn is the proven part: it binds the port once, forks the workers (each runs aiohttp's
gunicorn worker with dragoman's app), replaces a worker that dies, and stops them gracefully. Where
dragoman's contract differs from gunicorn's defaults, the arbiter is adapted:

- SIGHUP: gunicorn would restart every worker (cutting long streams at its graceful timeout).
  Instead the main process validates the config (refused: one log line, nothing changes), copies
  the valid file to the "current config" every worker reads, and forwards SIGHUP: each worker
  reloads in place (proxy/reload.py), so running streams are untouched. A worker started later
  (one that replaced a dead one) reads the same current config.
- systemd hears only from the main process, through dragoman's notifier (proxy/notify.py):
  READY once the arbiter runs, RELOADING/READY around a reload, STOPPING at SIGTERM, WATCHDOG from
  the arbiter's loop (it wakes every second, so WatchdogSec must be above two seconds).
- SIGTERM: gunicorn's graceful stop sends SIGTERM to each worker, which drains like a single
  process does (proxy/runtime.py ``State.drain``); the arbiter waits long enough for that.
- /metrics sums the workers: prometheus-client's multiprocess mode (values in files under a
  directory the main process owns), dead workers' live gauges removed.

Per process, by design: the circuit breakers, key pools, concurrency limit, the Responses store
and model discovery's cache (docs/operations.md, "Workers").
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger
from prometheus_client import multiprocess, values

from .app import create_app
from .config import Config, ConfigError, load_config
from .logs import configure_logging
from .notify import Notifier
from .reload import reload_config

__all__ = ["run_workers"]

log = structlog.get_logger("dragoman")
_AIOHTTP_SHUTDOWN = 3.0   # aiohttp's own wait once dragoman's drain has ended everything


def run_workers(config: Config, path: str | Path, host: str, port: int, workers: int) -> int:
    """Serve with ``workers`` processes until SIGTERM; SIGHUP reloads ``path`` in every worker."""
    # The workers bind with SO_REUSEPORT, which would let a second daemon share the port silently:
    # a plain bind first says whether anyone else listens there.
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError as exc:
        log.error("dragoman cannot listen", address=f"http://{host}:{port}", reason=exc.strerror or str(exc))
        return 1
    with tempfile.TemporaryDirectory(prefix="dragoman-") as private:
        current = Path(private) / "config.yaml"
        shutil.copyfile(path, current)
        metrics_dir = Path(private) / "metrics"
        metrics_dir.mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        notifier = Notifier()
        os.environ.pop("NOTIFY_SOCKET", None)   # gunicorn's own READY and the workers stay silent
        application = _Application(config, Path(path), current, host, port, workers, notifier)
        try:
            _Arbiter(application).run()
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
    return 0


class _Application(BaseApplication):  # type: ignore[misc]
    """gunicorn's view of dragoman: its settings, and the app every worker builds."""

    def __init__(self, config: Config, path: Path, current: Path, host: str, port: int, workers: int,
                 notifier: Notifier) -> None:
        self.config, self.path, self.current = config, path, current
        self.address, self.workers, self.notifier = (host, port), workers, notifier
        super().__init__()

    def load_config(self) -> None:
        server = self.config.server
        settings: dict[str, Any] = {
            "bind": f"[{self.address[0]}]:{self.address[1]}" if ":" in self.address[0] else f"{self.address[0]}:{self.address[1]}",
            "workers": self.workers,
            "worker_class": "aiohttp.GunicornWebWorker",
            # each worker its own listening socket: the kernel spreads connections over them
            # (with one shared socket, an idle worker wins every accept)
            "reuse_port": True,
            # the drain: running requests' time, then cutting the rest, then aiohttp's own wait
            "graceful_timeout": math.ceil(server.shutdown_timeout + server.drain_delay + _AIOHTTP_SHUTDOWN + 5),
            "timeout": 60,             # a worker whose event loop is stuck this long is replaced
            "keepalive": 75,
            "accesslog": None,         # dragoman logs each request itself
            "logger_class": _GunicornLog,
            "control_socket_disable": True,
            "proc_name": "dragoman",
            "child_exit": _child_exit,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        current, config = self.current, self.config

        async def factory() -> web.AppRunner:
            # in the worker, after the fork: metric values go to files the main process sums
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
            configure_logging(config.server.log_level, config.server.log_format)
            app = create_app(load_config(current))
            loop = asyncio.get_running_loop()
            pending: set[asyncio.Task[bool]] = set()

            def on_hup() -> None:
                task = loop.create_task(reload_config(app, current))
                pending.add(task)
                task.add_done_callback(pending.discard)

            loop.add_signal_handler(signal.SIGHUP, on_hup)
            return web.AppRunner(app, handle_signals=False, access_log=None, handler_cancellation=True,
                                 shutdown_timeout=_AIOHTTP_SHUTDOWN)

        return factory


class _Arbiter(Arbiter):  # type: ignore[misc]
    def __init__(self, app: _Application) -> None:
        super().__init__(app)
        self._app = app
        self._watchdog_due = 0.0
        self._announced = False

    def _announce_once_listening(self) -> None:
        """READY and the start-up line once a worker accepts connections (each binds its own
        socket, so the main process learns it by connecting)."""
        host, port = self._app.address
        try:
            socket.create_connection((host, port), timeout=0.2).close()
        except OSError:
            return
        self._announced = True
        address = f"http://{host}:{port}"
        self._app.notifier.ready(f"serving on {address} with {self._app.workers} workers")
        log.info("dragoman started", address=address, workers=self._app.workers,
                 providers=[p.name for p in self._app.config.providers])

    def handle_hup(self) -> None:
        notifier = self._app.notifier
        notifier.reloading()
        try:
            load_config(self._app.path)
        except ConfigError as exc:
            log.error("config reload refused; the running config stays", path=str(self._app.path),
                      errors=str(exc).splitlines())
        else:
            shutil.copyfile(self._app.path, self._app.current)
            for pid in list(self.WORKERS):
                os.kill(pid, signal.SIGHUP)   # each worker reloads in place: running streams untouched
            log.info("config reload sent to workers", path=str(self._app.path), workers=len(self.WORKERS))
        notifier.ready(f"serving with {self._app.workers} workers")

    def handle_term(self) -> None:
        self._app.notifier.stopping("draining: workers finish running requests")
        log.info("dragoman draining: workers let running requests finish",
                 shutdown_timeout=self._app.config.server.shutdown_timeout)
        raise StopIteration

    def manage_workers(self) -> None:
        super().manage_workers()
        if not self._announced:
            self._announce_once_listening()
        every = self._app.notifier.watchdog_every
        now = time.monotonic()
        if every is not None and now >= self._watchdog_due:   # the arbiter's loop wakes every second
            self._app.notifier.send("WATCHDOG=1")
            self._watchdog_due = now + min(every, 1.0)


def _child_exit(server: Any, worker: Any) -> None:
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class _GunicornLog(Logger):  # type: ignore[misc]
    """gunicorn's own messages (worker booted, exited...) as dragoman's JSON log lines."""

    def _emit(self, level: str, msg: str, args: Any) -> None:
        text = (msg % args) if args else msg
        getattr(log, level)("gunicorn: " + text)

    def critical(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit("critical", msg, args)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit("error", msg, args)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit("warning", msg, args)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit("info", msg, args)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit("debug", msg, args)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        log.exception("gunicorn: " + ((msg % args) if args else msg))
