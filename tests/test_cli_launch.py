"""``dragoman claude`` / ``dragoman codex``: the client runs against the configured dragoman, with
its arguments and exit code passed through; a stopped daemon is reported, or started with --start."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from proxy.app import create_app
from proxy.commands.common import base_url
from proxy.commands.launch import split_arguments
from proxy.config import load_config, parse_config

from tests.cli_support import ROOT, clean_env, dragoman, dragoman_async, fake_clients, free_port, record


def write_config(tmp_path: Path, port: int, auth: str = '["${DRAGOMAN_API_KEY}"]', extra_routes: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"server: {{host: 0.0.0.0, port: {port}, shutdown_timeout: 2}}\n"
                    f"auth: {{api_keys: {auth}}}\n"
                    "providers: [{name: o, protocol: openai, base_url: 'http://127.0.0.1:9/v1'}]\n"
                    f"routes:\n{extra_routes}  - {{match: '*', provider: o, model: m}}\n")
    return path


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("args", [["claude"], ["claude", "--config", "config.yaml"], ["codex", "exec", "hi"]])
def test_a_stopped_daemon_is_one_line_and_a_non_zero_exit(tmp_path: Path, args: list[str]) -> None:
    port = free_port()   # nothing listens there
    write_config(tmp_path, port)
    fake_clients(tmp_path / "bin", "claude", "codex")
    done = dragoman(*args, env=clean_env(tmp_path, tmp_path / "bin"), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (f"dragoman: dragoman is not running at http://127.0.0.1:{port} (connection refused); "
                           f"start it with `dragoman serve --config config.yaml`, or add --start: "
                           f"`dragoman {args[0]} --start`\n")
    assert not (tmp_path / "record.json").exists()   # the client never ran


def test_a_missing_client_says_how_to_install_it(tmp_path: Path) -> None:
    write_config(tmp_path, free_port())
    for client, install in (("claude", "npm install -g @anthropic-ai/claude-code"),
                            ("codex", "npm install -g @openai/codex")):
        done = dragoman(client, env=clean_env(tmp_path, tmp_path / "empty-bin"), cwd=tmp_path)
        assert done.returncode == 127
        assert done.stderr.endswith(f"is not on PATH; install it with: {install}\n")


async def serve_in_test(aiohttp_server, config_path: Path, port: int) -> TestServer:
    server: TestServer = await aiohttp_server(create_app(load_config(config_path, environ={"DRAGOMAN_API_KEY": "dm-k"})),
                                              port=port)
    return server


async def test_claude_gets_address_key_args_and_gives_its_exit_code_back(tmp_path: Path, aiohttp_server) -> None:
    port = free_port()
    config = write_config(tmp_path, port, extra_routes="  - {match: claude-opus-4-1, provider: o, model: big}\n")
    await serve_in_test(aiohttp_server, config, port)
    fake_clients(tmp_path / "bin", "claude")
    env = clean_env(tmp_path, tmp_path / "bin", DRAGOMAN_API_KEY="dm-k", FAKE_EXIT="7", ANTHROPIC_API_KEY="sk-ant-mine",
                    ANTHROPIC_MODEL="my-choice")
    code, out, err = await dragoman_async("claude", "-p", "hello there", "--model", "opus", "--", "-x",
                                          env=env, cwd=tmp_path)
    assert (code, out, err) == (7, "", "")
    seen = record(tmp_path)
    assert seen["argv"] == ["-p", "hello there", "--model", "opus", "--", "-x"]   # unchanged
    assert seen["env"] == {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",      # 0.0.0.0 -> loopback
                           "ANTHROPIC_AUTH_TOKEN": "dm-k",
                           "ANTHROPIC_DEFAULT_OPUS_MODEL": "claude-opus-4-1",    # an exact-name route names it
                           "ANTHROPIC_MODEL": "my-choice",                       # the user's own, kept
                           "DRAGOMAN_API_KEY": "dm-k",                           # ANTHROPIC_API_KEY removed
                           "CODEX_HOME": str(tmp_path / "home" / ".codex")}


async def test_codex_gets_the_provider_as_overrides_and_the_key_in_env_key(tmp_path: Path, aiohttp_server) -> None:
    port = free_port()
    config = write_config(tmp_path, port, auth="[]")   # auth off: a placeholder key
    await serve_in_test(aiohttp_server, config, port)
    fake_clients(tmp_path / "bin", "codex")
    code, out, err = await dragoman_async("codex", "exec", "-c", "model=x", "fix it",
                                          env=clean_env(tmp_path, tmp_path / "bin"), cwd=tmp_path)
    assert (code, err) == (0, "")
    seen = record(tmp_path)
    assert seen["argv"] == ["-c", 'model_provider="dragoman"', "-c", 'model_providers.dragoman.name="dragoman"',
                            "-c", f'model_providers.dragoman.base_url="http://127.0.0.1:{port}/v1"',
                            "-c", 'model_providers.dragoman.env_key="DRAGOMAN_API_KEY"',
                            "-c", 'model_providers.dragoman.wire_api="responses"',
                            "exec", "-c", "model=x", "fix it"]
    assert seen["env"] == {"DRAGOMAN_API_KEY": "dragoman", "CODEX_HOME": str(tmp_path / "home" / ".codex")}
    assert not (tmp_path / "home" / ".codex").exists()   # nothing written


async def test_a_key_the_daemon_refuses_is_caught_before_the_client_runs(tmp_path: Path, aiohttp_server) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    await serve_in_test(aiohttp_server, config, port)   # its key: dm-k
    fake_clients(tmp_path / "bin", "claude")
    code, out, err = await dragoman_async("claude", env=clean_env(tmp_path, tmp_path / "bin", DRAGOMAN_API_KEY="other"),
                                          cwd=tmp_path)
    assert code == 1
    assert err == (f"dragoman: dragoman at http://127.0.0.1:{port} refuses the key config.yaml gives "
                   "(auth.api_keys): set DRAGOMAN_API_KEY here as it is set for `dragoman serve`\n")
    assert not (tmp_path / "record.json").exists()


def test_start_runs_a_real_daemon_for_the_session_and_stops_it(tmp_path: Path) -> None:
    port = free_port()
    write_config(tmp_path, port)
    fake_clients(tmp_path / "bin", "codex")
    env = clean_env(tmp_path, tmp_path / "bin", DRAGOMAN_API_KEY="dm-started", FAKE_EXIT="0",
                    FAKE_PROBE=f"http://127.0.0.1:{port}/ready")
    done = dragoman("codex", "--start", "exec", "task", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    seen = record(tmp_path)
    assert seen["probe"] == [200, {"status": "ready", "providers": {"o": "available"}}]   # up while the client ran
    assert seen["argv"][-2:] == ["exec", "task"] and seen["env"]["DRAGOMAN_API_KEY"] == "dm-started"
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"dragoman: started `dragoman serve --config config.yaml` at http://127.0.0.1:{port} "
                               "for this session (log: ")
    assert len(lines) == 1   # a clean session: its log is removed, nothing more to say
    assert refused(port)     # stopped
    log = lines[0].split("(log: ")[1].rstrip(")")
    assert not Path(log).exists()


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_the_session_daemon_goes_when_the_launcher_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves the launcher no chance to stop its daemon: the kernel's parent-death signal
    drains it instead, so no stray dragoman keeps the port."""
    port = free_port()
    write_config(tmp_path, port)
    fake_clients(tmp_path / "bin", "claude")
    env = {**clean_env(tmp_path, tmp_path / "bin", DRAGOMAN_API_KEY="k", FAKE_SLEEP="60"), "PYTHONPATH": str(ROOT)}
    launcher = subprocess.Popen([sys.executable, "-m", "proxy", "claude", "--start"], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while refused(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not refused(port), "the session's dragoman never listened"
        launcher.kill()
        launcher.wait(10)
        deadline = time.monotonic() + 15
        while not refused(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert refused(port), "the session's dragoman outlived its launcher"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)   # the fake client, if still asleep


def test_start_keeps_the_log_when_the_client_failed(tmp_path: Path) -> None:
    port = free_port()
    write_config(tmp_path, port)
    fake_clients(tmp_path / "bin", "claude")
    done = dragoman("claude", "--start", "-p", "x",
                    env=clean_env(tmp_path, tmp_path / "bin", FAKE_EXIT="3", DRAGOMAN_API_KEY="k"), cwd=tmp_path)
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    assert lines[1].startswith("dragoman: stopped the session's dragoman (exit 0; log: ")
    log = Path(lines[1].split("log: ")[1].rstrip(")"))
    assert "dragoman started" in log.read_text()
    log.unlink()
    assert refused(port)


def test_start_reports_a_daemon_that_cannot_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        port = taken.getsockname()[1]   # bound, not listening: dragoman cannot bind it, nothing answers
        write_config(tmp_path, port)
        fake_clients(tmp_path / "bin", "claude")
        done = dragoman("claude", "--start", env=clean_env(tmp_path, tmp_path / "bin", DRAGOMAN_API_KEY="k"),
                        cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("dragoman: `dragoman serve --config config.yaml` exited with 1 before it was "
                                  "ready; its output:\n")
    assert "dragoman cannot listen" in done.stderr
    assert not (tmp_path / "record.json").exists()


@pytest.mark.parametrize(("argv", "ours", "theirs"), [
    ([], [], []),
    (["-p", "hi"], [], ["-p", "hi"]),
    (["--start", "--config", "c.yaml", "exec", "--config", "x=1"], ["--start", "--config", "c.yaml"],
     ["exec", "--config", "x=1"]),
    (["--config=c.yaml", "--", "--start"], ["--config=c.yaml"], ["--start"]),
    (["--help"], ["--help"], []),
    (["resume", "--start"], [], ["resume", "--start"]),   # after the client's first word, all is the client's
])
def test_split_arguments(argv: list[str], ours: list[str], theirs: list[str]) -> None:
    assert split_arguments(argv) == (ours, theirs)


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:8082"), ("0.0.0.0", "http://127.0.0.1:8082"), ("::", "http://127.0.0.1:8082"),
    ("::1", "http://[::1]:8082"), ("localhost", "http://localhost:8082"), ("10.0.0.5", "http://10.0.0.5:8082"),
])
def test_the_address_clients_use(host: str, url: str) -> None:
    config = parse_config({"server": {"host": host}, "auth": {"api_keys": ["k"]},
                           "providers": [{"name": "o", "protocol": "openai", "base_url": "http://x"}],
                           "routes": [{"match": "*", "provider": "o"}]}, environ={})
    assert base_url(config) == url
