"""The ``dragoman`` command line (also ``python -m proxy``): argument parsing and dispatch.

``serve`` runs the daemon (proxy/server.py); the other commands live in proxy/commands/, one
module each. Every command that reads the config takes ``--config FILE`` (default ./config.yaml).
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata

import structlog

from .commands import doctor, init, launch, setup_clients
from .commands.check import print_table
from .commands.common import load
from .config import Config, ConfigError, load_config
from .logs import configure_logging
from .server import open_refusal, run

__all__ = ["main"]

_CONFIG_HELP = "YAML config (default: ./config.yaml)"
_START_HERE = """start here:
  dragoman init --provider openai    write a commented config.yaml (also: anthropic, gemini, ollama...)
  dragoman doctor                    check the config, the keys and the network
  dragoman claude --start            run Claude Code through dragoman (codex: the same)
  dragoman setup claude-code         or point Claude Code at dragoman for good"""


def _version() -> str:
    try:
        return metadata.version("dragoman")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dragoman", description="A translating LLM API proxy.", epilog=_START_HERE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"dragoman {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the proxy until SIGINT/SIGTERM")
    serve.add_argument("--config", default="config.yaml", metavar="FILE", help=_CONFIG_HELP)
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    serve.add_argument("--workers", type=int, help="override server.workers (0: one per core)")

    check = commands.add_parser("check-config", help="validate a config, print its routing table and warnings")
    check.add_argument("--config", dest="config_option", metavar="FILE", help=_CONFIG_HELP)
    check.add_argument("config_file", nargs="?", metavar="FILE", help=argparse.SUPPRESS)  # the old positional form

    starter = commands.add_parser("init", help="write a commented starter config for a provider")
    starter.add_argument("--provider", choices=list(init.PROVIDERS), default="openai", help="default: openai")
    starter.add_argument("--out", default="config.yaml", metavar="FILE", help="default: ./config.yaml")
    starter.add_argument("--force", action="store_true", help="replace FILE if it exists")

    for name, client in (("claude", "Claude Code"), ("codex", "the Codex CLI")):
        description = (f"Run {client} against the configured dragoman. dragoman's options come first; "
                       f"everything from the first other word is {client}'s.")
        client_parser = commands.add_parser(name, help=f"run {client} through dragoman (ARGS are passed to it)",
                                            description=description)
        client_parser.add_argument("--config", default="config.yaml", metavar="FILE", help=_CONFIG_HELP)
        client_parser.add_argument("--start", action="store_true",
                                   help="start `dragoman serve` for the session if it is not running")
        client_parser.add_argument("args", nargs="*", metavar="ARGS", help=f"passed to {client} unchanged")

    setup_parser = commands.add_parser("setup", help="point Claude Code or Codex at dragoman in their own files")
    setup_parser.add_argument("target", choices=list(setup_clients.TARGETS))
    setup_parser.add_argument("--config", default="config.yaml", metavar="FILE", help=_CONFIG_HELP)
    mode = setup_parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the changes as a diff, write nothing")
    mode.add_argument("--undo", action="store_true", help="restore the files from dragoman's backups")

    doctor_parser = commands.add_parser("doctor", help="check the config, the daemon, each provider and the clients")
    doctor_parser.add_argument("--config", default="config.yaml", metavar="FILE", help=_CONFIG_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    if argv and argv[0] in ("claude", "codex"):
        # the client's own options (codex -c, claude -p) must not be read as dragoman's: split first
        ours, theirs = launch.split_arguments(argv[1:])
        args = parser.parse_args([argv[0], *ours])
        args.args = theirs
    else:
        args = parser.parse_args(argv)
    return _dispatch(parser, args)


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "serve":
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(f"dragoman: invalid config\n{exc}", file=sys.stderr)
            return 2
        return _serve(config, args.config, args.host, args.port, args.workers)
    if command == "check-config":
        if args.config_option and args.config_file:
            parser.error("check-config: give the config either as --config FILE or as FILE, not both")
        loaded = load(args.config_option or args.config_file or "config.yaml")
        if loaded is None:
            return 2
        print_table(loaded)
        return 0
    if command == "init":
        return init.run(args.provider, args.out, args.force)
    if command in ("claude", "codex"):
        return launch.run(command, args.config, args.start, args.args)
    if command == "setup":
        return setup_clients.run(args.target, args.config, dry_run=args.dry_run, undo_=args.undo)
    assert command == "doctor", command
    return doctor.run(args.config)


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
