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


CONFIG = ("providers: [{name: local, protocol: openai, base_url: 'http://127.0.0.1:9/v1'}]\n"
          "routes: [{match: '*', provider: local, model: m}]\n")


def serve(config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "proxy", "serve", "--config", str(config), *args],
                          cwd=ROOT, capture_output=True, timeout=30)


def test_port_in_use_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    """A second daemon on the same port says why in one line and exits 1, and never claims it started."""
    config = tmp_path / "dragoman.yaml"
    config.write_text("server: {host: 127.0.0.1}\n" + CONFIG)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve(config, "--port", str(port))
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [line["event"] for line in lines] == ["dragoman cannot listen"]
    assert lines[0]["address"] == f"http://127.0.0.1:{port}" and lines[0]["level"] == "error"
    assert "in use" in lines[0]["reason"]
    assert done.stderr == b""


def test_no_keys_on_a_network_address_needs_auth_open(tmp_path: Path) -> None:
    """An unset DRAGOMAN_API_KEY must not quietly open the providers' keys to the network."""
    config = tmp_path / "dragoman.yaml"
    config.write_text("server: {host: 0.0.0.0}\nauth: {api_keys: ['${DRAGOMAN_TEST_UNSET_KEY}']}\n" + CONFIG)
    done = serve(config, "--port", str(free_port()))
    assert done.returncode == 2
    line = json.loads(done.stdout.decode().splitlines()[0])
    assert line["event"] == "dragoman refuses to start open" and "auth.open: true" in line["reason"]
    checked = subprocess.run([sys.executable, "-m", "proxy", "check-config", str(config)],
                             cwd=ROOT, capture_output=True, timeout=30)
    assert checked.returncode == 0 and b"serve will refuse to start: auth is off" in checked.stdout
