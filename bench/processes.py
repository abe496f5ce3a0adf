"""Process management for the bench: the mock upstream, the pass-through and dragoman, each its own
process, pinned to a core and stopped by its pid; plus the /proc readers (CPU seconds, RSS, system
CPU) the phases measure them with.

Owns: the paths and host the bench runs on, ``BenchError``, ``Proc`` (start, wait until ready, log
tail, stop), core pinning of this script, the open-files limit, and building the three processes
(with dragoman's temporary config) that ``run.py`` starts.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"


class BenchError(RuntimeError):
    pass


# -- /proc readers ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime + stime, all threads


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for {pid}")


def system_cpu() -> tuple[float, float]:
    """(busy seconds summed over all cores, steal seconds) from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


# -- processes -------------------------------------------------------------------------------

def pinner(core: int | None) -> Callable[[], None] | None:
    if core is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {core})
    return pin


class Proc:
    def __init__(self, name: str, argv: list[str], core: int | None, logdir: Path, ready_url: str,
                 cwd: Path = ROOT) -> None:
        self.name, self.argv, self.core, self.ready_url, self.cwd = name, argv, core, ready_url, cwd
        self.log_path = logdir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            # own session: a Ctrl-C reaches only this script, which then stops the children in order
            self.popen = subprocess.Popen(self.argv, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True,
                                          preexec_fn=pinner(self.core))  # noqa: PLW1509 (no threads here)

    def wait_ready(self, timeout: float = 20.0) -> None:
        import urllib.request
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise BenchError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        p = self.popen
        if p is None or p.poll() is not None:
            return
        try:
            p.send_signal(signal.SIGTERM)   # by pid, never by name
            p.wait(timeout=8)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
        except ProcessLookupError:
            pass


# -- setting up the run ----------------------------------------------------------------------

def raise_fd_limit() -> None:
    """1,000 open streams need ~3,000 sockets per side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def pin_cores(loadgen: str) -> tuple[list[int], int | None, int | None, str]:
    """Pin this script to the load core when there are two or more cores.

    Returns (usable cores, proxy core, load core, a sentence describing the pinning)."""
    cores = sorted(os.sched_getaffinity(0))
    proxy_core = load_core = None
    if len(cores) >= 2:
        proxy_core, load_core = cores[0], cores[1]
        os.sched_setaffinity(0, {load_core})
        pinning = (f"pass-through and dragoman pinned to core {proxy_core}; mock upstream, load generator "
                   f"(this script{', wrk' if loadgen != 'aiohttp' else ''}) pinned to core {load_core}")
    else:
        pinning = "not pinned: fewer than 2 cores available"
    return cores, proxy_core, load_core, pinning


def bench_processes(ports: dict[str, int], logdir: Path, proxy_core: int | None, load_core: int | None,
                    dragoman_dir: str) -> dict[str, Proc]:
    """The mock, the pass-through and dragoman (with a temporary config in ``logdir`` routing ``*`` to
    the mock), not yet started."""
    mock_url = f"http://{HOST}:{ports['direct']}"
    config = {
        "server": {"host": HOST, "port": ports["dragoman"], "log_level": "warning", "log_format": "json",
                   "ping_interval": 10},
        "auth": {"api_keys": []},
        "providers": [{"name": "mock", "protocol": "openai", "base_url": mock_url + "/v1", "api_key": "sk-bench",
                       "timeout": {"connect": 5, "read": 600}}],
        "routes": [{"match": "*", "provider": "mock"}],
    }
    config_path = logdir / "dragoman.yaml"
    config_path.write_text(json.dumps(config, indent=2))   # JSON is YAML
    py = sys.executable
    return {
        "mock": Proc("mock", [py, str(BENCH / "mock_upstream.py"), "--port", str(ports["direct"])],
                     load_core, logdir, mock_url + "/_stats"),
        "passthrough": Proc("passthrough", [py, str(BENCH / "passthrough.py"), "--port", str(ports["passthrough"]),
                                            "--upstream", mock_url], proxy_core, logdir,
                            f"http://{HOST}:{ports['passthrough']}/_health"),
        "dragoman": Proc("dragoman", [py, "-m", "proxy", "serve", "--config", str(config_path)], proxy_core, logdir,
                         f"http://{HOST}:{ports['dragoman']}/health", cwd=Path(dragoman_dir).resolve()),
    }
