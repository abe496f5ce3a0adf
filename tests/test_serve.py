"""`dragoman serve` as a daemon: starts, logs its start-up line, serves, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "dragoman.yaml"
    config.write_text(
        "server: {host: 127.0.0.1, port: 1}\n"
        "providers: [{name: local, protocol: openai, base_url: 'http://127.0.0.1:9/v1'}]\n"
        "routes: [{match: '*', provider: local, model: m}]\n"
    )
    proc = subprocess.Popen([sys.executable, "-m", "proxy", "serve", "--config", str(config), "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        body = None
        for _ in range(100):  # up to ~10 s for the interpreter to start
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    body = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.1)
        assert body is not None and body["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()
    started = json.loads(out.decode().splitlines()[0])
    assert started["event"] == "dragoman started"
    assert started["address"] == f"http://127.0.0.1:{port}"
    assert started["providers"] == ["local"]
    assert started["routes"][0]["model"] == "m"
    assert started["level"] == "info"
