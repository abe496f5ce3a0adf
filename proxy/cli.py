"""``dragoman serve`` and ``dragoman check-config`` (also ``python -m proxy``)."""

from __future__ import annotations

import argparse
import gc
import sys

import structlog
from aiohttp import web

from .app import create_app, describe
from .config import Config, ConfigError, load_config
from .logs import configure_logging

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dragoman", description="A translating LLM API proxy.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the proxy until SIGINT/SIGTERM")
    serve.add_argument("--config", default="config.yaml", help="YAML config (default: ./config.yaml)")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    check = commands.add_parser("check-config", help="validate a config and print its routing table")
    check.add_argument("config", help="YAML config file")
    args = parser.parse_args(argv)

    config_path = args.config
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"dragoman: invalid config\n{exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        _print_table(config)
        return 0
    return _serve(config, args.host, args.port)


def _serve(config: Config, host: str | None, port: int | None) -> int:
    server = config.server
    host, port = host or server.host, server.port if port is None else port
    configure_logging(server.log_level, server.log_format)
    log = structlog.get_logger("dragoman")
    app = create_app(config)

    async def announce(app: web.Application) -> None:
        # Everything loaded so far lives as long as the process: move it out of the collector's
        # sight, and collect young objects less often. Requests allocate many short-lived dicts
        # (no cycles), and default thresholds spent ~10% of a request's CPU in the collector.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 50)
        log.info("dragoman started", address=f"http://{host}:{port}",
                 providers=[p.name for p in config.providers], routes=describe(config),
                 auth="on" if config.auth.api_keys else "off")
        for p in config.providers:
            if not p.api_key:
                log.warning("provider has no api_key", provider=p.name)

    app.on_startup.append(announce)
    # handler_cancellation: a client that disconnects cancels its handler, and with it the
    # upstream request, at once instead of at the next write.
    web.run_app(app, host=host, port=port, handler_cancellation=True, access_log=None,
                shutdown_timeout=server.shutdown_timeout, print=None)
    return 0


def _print_table(config: Config) -> None:
    """One line per route, then one per fallback provider ("or ...", in the order tried)."""
    lines: list[dict[str, object]] = []
    for row in describe(config):
        lines.append(row)
        fallbacks = row["fallbacks"]
        assert isinstance(fallbacks, list)
        lines.extend({**f, "match": "", "clients": "", "when": "", "max_tokens": "", "provider": f"or {f['provider']}"}
                     for f in fallbacks)
    columns = ["match", "clients", "when", "provider", "protocol", "base_url", "model", "max_tokens", "api_key"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in lines)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for r in lines:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in columns).rstrip())
    auth = f"{len(config.auth.api_keys)} key(s)" if config.auth.api_keys else "off (open)"
    print(f"\nserver: http://{config.server.host}:{config.server.port}  auth: {auth}")
