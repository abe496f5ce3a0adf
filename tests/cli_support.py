"""Helpers for the CLI tests: a clean environment, fake client executables, the CLI as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent

# A stand-in for `claude` / `codex`: records its arguments and the variables that matter, then
# exits with FAKE_EXIT. With FAKE_PROBE set it also records what GET $FAKE_PROBE answered, to see
# that a daemon was up while it ran.
FAKE_CLIENT = """#!{python}
import json, os, sys, urllib.request
record = {{"argv": sys.argv[1:], "env": {{k: v for k, v in os.environ.items()
                                        if k.startswith(("ANTHROPIC_", "DRAGOMAN_", "CODEX_"))}}}}
if os.environ.get("FAKE_PROBE"):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
    with opener.open(os.environ["FAKE_PROBE"], timeout=5) as response:
        record["probe"] = [response.status, json.loads(response.read())]
with open(os.environ["FAKE_RECORD"], "w") as stream:
    json.dump(record, stream)
if os.environ.get("FAKE_SLEEP"):
    import time
    time.sleep(float(os.environ["FAKE_SLEEP"]))
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_clients(bin_dir: Path, *names: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = bin_dir / name
        path.write_text(FAKE_CLIENT.format(python=sys.executable))
        path.chmod(0o755)


def clean_env(tmp_path: Path, bin_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The caller's environment without anything that would steer dragoman or the clients, a
    temporary HOME and CODEX_HOME, and only ``bin_dir`` on PATH (a real claude or codex installed
    on this machine must not be found; everything here runs by absolute path)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "DRAGOMAN_", "CODEX_", "CLAUDE_", "OPENAI_"))
           and k not in ("HOME", "PATH")}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), CODEX_HOME=str(home / ".codex"),
               PATH=str(bin_dir or tmp_path / "no-bin"),
               FAKE_RECORD=str(tmp_path / "record.json"))
    env.update(extra)
    return env


def dragoman(*args: str, env: dict[str, str], cwd: Path = ROOT,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m proxy ARGS`` (as ``dragoman ARGS``); dragoman's sources come first on the path."""
    env = {**env, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "proxy", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


async def dragoman_async(*args: str, env: dict[str, str], cwd: Path = ROOT) -> tuple[int, str, str]:
    """The same, without blocking the event loop that runs the test's mock servers."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", *args, cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def record(tmp_path: Path) -> dict[str, Any]:
    """What the fake client saw."""
    data: dict[str, Any] = json.loads((tmp_path / "record.json").read_text())
    return data
