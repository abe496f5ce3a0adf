"""``dragoman doctor [--config FILE]``: one line per check, ``ok`` / ``warn`` / ``FAIL`` and why.

The config; auth; the daemon (answering ``/ready`` with our key, or its port free to start it);
each provider, with a real minimal request (proxy/commands/probes.py, all at once, 10 s each);
Claude Code and Codex installed and pointed here. The exit code is 1 when any check FAILED:
a missing client is a warning, since dragoman serves SDK apps without one.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import socket
from pathlib import Path

from ..config import Config, ConfigError, load_config
from ..server import open_refusal
from .check import warnings
from .common import base_url, client_key, daemon_status, key_refused
from .dotfiles import shown
from .launch import CLIENTS
from .probes import Check, probe
from .setup_clients import claude_settings_file, codex_config_file

__all__ = ["run", "checks"]


def run(config_path: str) -> int:
    results = asyncio.run(checks(config_path))
    width = max(len(check.name) for check in results)
    for check in results:
        print(f"{check.level:<4}  {check.name:<{width}}  {check.detail}")
    return 1 if any(check.level == "FAIL" for check in results) else 0


async def checks(config_path: str) -> list[Check]:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        first, *rest = str(exc).splitlines()
        more = f" (and {len(rest)} more: dragoman check-config --config {config_path})" if rest else ""
        return [Check("FAIL", "config", first + more)]
    found = warnings(config)
    summary = f"{config_path}: {len(config.providers)} provider(s), {len(config.routes)} route(s)"
    results = [Check("warn", "config", f"{summary}; {found[0]}" + (f" (+{len(found) - 1} more: dragoman "
                                                                    f"check-config)" if len(found) > 1 else ""))
               if found else Check("ok", "config", summary + ", valid")]
    results.append(_auth(config))
    results.append(await _daemon(config, config_path))
    results += await asyncio.gather(*(probe(config, provider) for provider in config.providers))
    option = "" if config_path == "config.yaml" else f" --config {config_path}"
    results.append(_client(config, "claude", "claude code", claude_settings_file(), option))
    results.append(_client(config, "codex", "codex", codex_config_file(), option))
    return results


def _auth(config: Config) -> Check:
    if (refusal := open_refusal(config, config.server.host)) is not None:
        return Check("FAIL", "auth", f"serve will refuse to start: {refusal}")
    if not config.auth.api_keys:
        return Check("warn", "auth", "off (DRAGOMAN_API_KEY unset?): any program on this machine can use the "
                                     "providers' keys")
    return Check("ok", "auth", f"{len(config.auth.api_keys)} key(s)")


async def _daemon(config: Config, config_path: str) -> Check:
    url = base_url(config)
    state, why = await daemon_status(url)
    if state == "ready":
        if await key_refused(url, client_key(config)):
            return Check("FAIL", "daemon", f"dragoman at {url} refuses this config's key: is DRAGOMAN_API_KEY set "
                                           "here as for `dragoman serve`?")
        return Check("ok", "daemon", f"dragoman answers at {url}")
    if state == "busy":
        return Check("warn", "daemon", f"{why} at {url}")
    host, port = config.server.host, config.server.port
    try:
        _try_bind(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return Check("FAIL", "daemon", f"port {port} is in use by another program ({url}: {why})")
        return Check("FAIL", "daemon", f"dragoman could not listen on {host}:{port}: {exc.strerror or exc}")
    return Check("ok", "daemon", f"not running; port {port} is free (start it: dragoman serve --config {config_path})")


def _try_bind(host: str, port: int) -> None:
    """Bind as the daemon would (SO_REUSEADDR, as aiohttp sets it), then let go."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)


def _client(config: Config, binary: str, name: str, settings: Path, option: str) -> Check:
    """Installed, and its settings file mentions this dragoman's address (loopback spelled either way)."""
    client = CLIENTS[binary]
    path = shutil.which(binary)
    if path is None:
        return Check("warn", name, f"not installed ({client.install})")
    url = base_url(config)
    spellings = {url, url.replace("127.0.0.1", "localhost")}
    try:
        text = settings.read_text(encoding="utf-8")
    except OSError:
        text = ""
    if any(spelling in text for spelling in spellings):
        return Check("ok", name, f"{path}; {shown(settings)} points at {url}")
    setup = "claude-code" if binary == "claude" else binary
    return Check("warn", name, f"{path}; {shown(settings)} does not mention {url}: run `dragoman setup {setup}"
                               f"{option}`, or start it with `dragoman {binary}{option}`")
