"""``dragoman serve`` and ``dragoman check-config`` (also ``python -m proxy``)."""

from __future__ import annotations

import argparse
import os
import sys

import structlog

from .app import describe
from .config import Config, ConfigError, load_config
from .logs import configure_logging
from .server import open_refusal, run

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dragoman", description="A translating LLM API proxy.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the proxy until SIGINT/SIGTERM")
    serve.add_argument("--config", default="config.yaml", help="YAML config (default: ./config.yaml)")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    serve.add_argument("--workers", type=int, help="override server.workers (0: one per core)")
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
    return _serve(config, config_path, args.host, args.port, args.workers)


def _serve(config: Config, path: str, host: str | None, port: int | None, workers: int | None) -> int:
    server = config.server
    host, port = host or server.host, server.port if port is None else port
    configure_logging(server.log_level, server.log_format)
    if (refusal := open_refusal(config, host)) is not None:
        structlog.get_logger("dragoman").error("dragoman refuses to start open", reason=refusal)
        return 2
    count = server.workers if workers is None else workers
    count = count or os.cpu_count() or 1
    if count > 1:
        from .workers import run_workers   # gunicorn is imported only when it runs
        return run_workers(config, path, host, port, count)
    return run(config, path, host, port)


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
    if (refusal := open_refusal(config, config.server.host)) is not None:
        print(f"warning: serve will refuse to start: {refusal}")
    elif not config.auth.api_keys:
        print("warning: auth is off: any client that reaches the port can use the providers' keys")
