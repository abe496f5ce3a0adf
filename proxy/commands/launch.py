"""``dragoman claude|codex [--start] [ARGS...]``: run the client against the configured dragoman.

No client file is written: the client gets dragoman's address and key for this one run, from its
environment (Claude Code) or ``-c`` overrides (Codex, whose key travels in the variable its
``env_key`` names). ARGS go to the client unchanged and its exit code is returned. Before it
starts, dragoman must answer ``GET /ready`` and accept the config's key (the daemon reads its key
from its own environment, so a mismatch would otherwise surface as the client's first 401).
``--start`` runs ``dragoman serve`` as a child for the session when nothing answers (in its own
session, so the terminal's Ctrl-C, which Claude Code uses to interrupt a turn, does not reach it;
its output in a temporary log), stopped with SIGTERM afterwards.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ..config import Config
from .common import (
    CODEX_ENV_KEY,
    base_url,
    claude_model_env,
    client_key,
    codex_model,
    is_ready,
    key_refused,
    load,
)

__all__ = ["run", "CLIENTS", "claude_environment", "codex_arguments", "split_arguments"]

_START_TIMEOUT = 30.0   # seconds for the child daemon to answer /ready
_PR_SET_PDEATHSIG = 1   # prctl(2)


@dataclass(frozen=True)
class Client:
    binary: str
    name: str
    install: str


CLIENTS = {"claude": Client("claude", "Claude Code", "npm install -g @anthropic-ai/claude-code"),
           "codex": Client("codex", "Codex", "npm install -g @openai/codex")}


def split_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """(dragoman's options, the client's ARGS): dragoman's come first; from the first word it does
    not know (or after ``--``) everything is the client's, so ``dragoman codex exec -c x=y`` or
    ``dragoman claude -p hi`` pass through untouched."""
    ours: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return ours, argv[i + 1:]
        if word in ("--start", "-h", "--help") or word.startswith("--config="):
            ours.append(word)
        elif word == "--config" and i + 1 < len(argv):
            ours += argv[i:i + 2]
            i += 1
        else:
            break
        i += 1
    return ours, argv[i:]


def claude_environment(config: Config, environ: dict[str, str]) -> dict[str, str]:
    env = dict(environ)
    # Claude Code would send ANTHROPIC_API_KEY as x-api-key, which dragoman reads before the token
    env.pop("ANTHROPIC_API_KEY", None)
    env.update(ANTHROPIC_BASE_URL=base_url(config), ANTHROPIC_AUTH_TOKEN=client_key(config), **claude_model_env(config))
    return env


def codex_arguments(config: Config) -> list[str]:
    """``-c`` overrides (each value parsed as TOML: strings in JSON quoting are TOML strings)."""
    settings = {"model_provider": "dragoman", "model_providers.dragoman.name": "dragoman",
                "model_providers.dragoman.base_url": base_url(config) + "/v1",
                "model_providers.dragoman.env_key": CODEX_ENV_KEY, "model_providers.dragoman.wire_api": "responses"}
    if (model := codex_model(config)) is not None:
        settings["model"] = model
    return [arg for key, value in settings.items() for arg in ("-c", f"{key}={json.dumps(value)}")]


def run(client_name: str, config_path: str, start: bool, args: list[str]) -> int:
    client = CLIENTS[client_name]
    config = load(config_path)
    if config is None:
        return 2
    binary = shutil.which(client.binary)
    if binary is None:
        print(f"dragoman: `{client.binary}` ({client.name}) is not on PATH; install it with: {client.install}",
              file=sys.stderr)
        return 127
    url = base_url(config)
    ready, why = is_ready(url)
    daemon: _Daemon | None = None
    if not ready:
        if not start:
            option = "" if config_path == "config.yaml" else f" --config {config_path}"
            print(f"dragoman: dragoman is not running at {url} ({why}); start it with `dragoman serve --config "
                  f"{config_path}`, or add --start: `dragoman {client_name}{option} --start`", file=sys.stderr)
            return 1
        daemon = _Daemon.start(config, config_path, url)
        if daemon is None:
            return 1
    code = 1
    try:
        if asyncio.run(key_refused(url, client_key(config))):
            print(f"dragoman: dragoman at {url} refuses the key {config_path} gives (auth.api_keys): set "
                  "DRAGOMAN_API_KEY here as it is set for `dragoman serve`", file=sys.stderr)
            return 1
        if client_name == "claude":
            code = _run_client([binary, *args], claude_environment(config, dict(os.environ)))
        else:
            env = {**os.environ, CODEX_ENV_KEY: client_key(config)}
            code = _run_client([binary, *codex_arguments(config), *args], env)
        return code
    finally:
        if daemon is not None:
            daemon.stop(keep_log=code != 0)


def _run_client(argv: list[str], env: dict[str, str]) -> int:
    """Run the client in the foreground; its exit code (128 + N when killed by signal N, as a shell
    reports it). Ctrl-C reaches the client through the terminal's process group, so the launcher
    ignores it; a SIGTERM or SIGHUP sent to the launcher is passed on."""
    process = subprocess.Popen(argv, env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        process.send_signal(signum)

    previous = {signum: signal.signal(signum, handler) for signum, handler in
                ((signal.SIGINT, signal.SIG_IGN), (signal.SIGTERM, forward), (signal.SIGHUP, forward))}
    try:
        code = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code if code >= 0 else 128 - code


def _drain_when_orphaned() -> None:
    """In the session daemon's child, before exec: on Linux, the kernel sends it SIGTERM (a drain)
    when the launcher dies, even by SIGKILL, which leaves no chance to stop it in ``finally``."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _Daemon:
    """``dragoman serve`` as a child for one client session; its output goes to a log file."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, shutdown_timeout: float) -> None:
        self.process, self.log, self.shutdown_timeout = process, log, shutdown_timeout

    @classmethod
    def start(cls, config: Config, config_path: str, url: str) -> _Daemon | None:
        fd, name = tempfile.mkstemp(prefix="dragoman-serve-", suffix=".log")
        with os.fdopen(fd, "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "proxy", "serve", "--config", config_path],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, preexec_fn=_drain_when_orphaned)
        daemon = cls(process, Path(name), config.server.shutdown_timeout)
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                print(f"dragoman: `dragoman serve --config {config_path}` exited with {process.returncode} before it "
                      f"was ready; its output:\n{daemon.log.read_text(errors='replace').rstrip()}", file=sys.stderr)
                daemon.log.unlink(missing_ok=True)
                return None
            if is_ready(url, 1.0)[0]:
                print(f"dragoman: started `dragoman serve --config {config_path}` at {url} for this session "
                      f"(log: {daemon.log})", file=sys.stderr)
                return daemon
            time.sleep(0.1)
        print(f"dragoman: `dragoman serve` did not answer at {url} within {_START_TIMEOUT:g} s (log: {daemon.log})",
              file=sys.stderr)
        daemon.stop(keep_log=True)
        return None

    def stop(self, keep_log: bool) -> None:
        """SIGTERM (dragoman drains and exits); killed if it has not exited a while later."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.shutdown_timeout + 15)  # the drain, then the exit
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if keep_log or self.process.returncode != 0:
            print(f"dragoman: stopped the session's dragoman (exit {self.process.returncode}; log: {self.log})",
                  file=sys.stderr)
        else:
            self.log.unlink(missing_ok=True)
