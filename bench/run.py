"""dragoman's performance bench: one command, three processes, measured in one interleaved run.

    /work/venv/bin/python bench/run.py [--quick] [--loadgen auto|aiohttp|wrk] [--out bench/results.json]

Starts the mock provider (bench/mock_upstream.py), the plain pass-through (bench/passthrough.py)
and dragoman (``python -m proxy serve`` with a temporary config pointed at the mock), each its own
process. With two or more cores, both proxies are pinned to one core and the mock, this script
(the load generator) and wrk to another, so the proxy under test owns its core.

Every measurement is a ratio or a difference against baselines measured in the same run, rounds
interleaved (target order rotated each round) to cancel drift and noise. Nothing here asserts a
timing; results are printed and written to bench/results.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from converters.messages_request import ChatTarget, to_chat_request

CAPTURE = ROOT / "tests" / "fixtures" / "claude-code" / "01_main_first_request.json"
BODY_BYTES = 28 * 1024
MODEL = "claude-bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"
TARGETS = ("direct", "passthrough", "dragoman")
PROXIES = ("passthrough", "dragoman")


class BenchError(RuntimeError):
    pass


# -- request bodies --------------------------------------------------------------------------

def _base_body() -> dict[str, Any]:
    """Claude Code's first request of a session, trimmed to ~28 KB by keeping tools in order while they fit."""
    body: dict[str, Any] = json.loads(CAPTURE.read_text(encoding="utf-8"))["request"]["body"]
    tools = body.pop("tools")
    body["tools"] = []
    for tool in tools:
        body["tools"].append(tool)
        if len(orjson.dumps(body)) > BODY_BYTES:
            body["tools"].pop()
    return body


_BASE = _base_body()
_BODY_CACHE: dict[tuple[str, bool], tuple[bytes, bytes]] = {}


def bodies(model: str, stream: bool) -> tuple[bytes, bytes]:
    """(Anthropic body for dragoman, the OpenAI body dragoman would send upstream, for direct/pass-through)."""
    key = (model, stream)
    if key not in _BODY_CACHE:
        body = copy.deepcopy(_BASE)
        body["model"], body["stream"] = model, stream
        chat = to_chat_request(body, ChatTarget(model=model))
        _BODY_CACHE[key] = (orjson.dumps(body), orjson.dumps(chat))
    return _BODY_CACHE[key]


# -- processes ---------------------------------------------------------------------------------

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


def _pinner(core: int | None) -> Callable[[], None] | None:
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
                                          preexec_fn=_pinner(self.core))  # noqa: PLW1509 (no threads here)

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


# -- small statistics ---------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- the bench -----------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace, procs: dict[str, Proc], ports: dict[str, int],
                 load_core: int | None) -> None:
        self.args, self.procs, self.ports, self.load_core = args, procs, ports, load_core
        self.quick = args.quick
        self.nonce = f"{os.getpid()}-{int(time.time())}"
        self.session: aiohttp.ClientSession | None = None
        self.wrk = shutil.which("wrk") if args.loadgen in ("auto", "wrk") else None
        if args.loadgen == "wrk" and not self.wrk:
            raise BenchError("--loadgen wrk but wrk is not installed")
        self.tmp = Path(tempfile.mkdtemp(prefix="dragoman-bench-wrk-"))

    # targets ----------------------------------------------------------------------------

    def url(self, target: str) -> str:
        path = "/v1/messages" if target == "dragoman" else "/v1/chat/completions"
        return f"http://{HOST}:{self.ports[target]}{path}"

    def body(self, target: str, model: str, stream: bool) -> bytes:
        anthropic, openai = bodies(model, stream)
        return anthropic if target == "dragoman" else openai

    @staticmethod
    def headers(target: str) -> dict[str, str]:
        if target == "dragoman":
            return {"Content-Type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "bench"}
        return {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}

    def pid(self, target: str) -> int:
        return self.procs["mock" if target == "direct" else target].pid

    async def mock_stats(self, ident: str | None = None) -> Any:
        assert self.session is not None
        q = f"?id={ident}" if ident else ""
        async with self.session.get(f"http://{HOST}:{self.ports['direct']}/_stats{q}") as r:
            return await r.json()

    # single requests -----------------------------------------------------------------------

    async def one(self, target: str, body: bytes, stream: bool) -> tuple[float, float, float]:
        """(time to first body byte, time to first token "Hello", total) in seconds."""
        assert self.session is not None
        t0 = time.perf_counter()
        ttfb = ttft = 0.0
        tail = b""
        async with self.session.post(self.url(target), data=body, headers=self.headers(target)) as r:
            if r.status != 200:
                raise BenchError(f"{target}: HTTP {r.status}: {(await r.read())[:300]!r}")
            async for chunk in r.content.iter_any():
                now = time.perf_counter()
                if not ttfb:
                    ttfb = now - t0
                if not ttft and b"Hello" in tail + chunk:
                    ttft = now - t0
                tail = (tail + chunk)[-64:]
        total = time.perf_counter() - t0
        if stream and b"message_stop" not in tail and b"[DONE]" not in tail:
            raise BenchError(f"{target}: stream did not complete: {tail!r}")
        if not stream and not tail.rstrip().endswith(b"}"):
            raise BenchError(f"{target}: truncated body: {tail!r}")
        return ttfb, ttft, total

    # throughput ------------------------------------------------------------------------------

    def _cpu_snapshot(self) -> dict[str, float]:
        snap = {name: cpu_seconds(p.pid) for name, p in self.procs.items()}
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)   # wrk, once waited for
        snap["loadgen"] = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
        return snap

    def _finish_batch(self, target: str, n: int, errors: int, wall: float, before: dict[str, float],
                      extra: dict[str, Any] | None = None) -> dict[str, Any]:
        after = self._cpu_snapshot()
        cpu = {k: round(after[k] - before[k], 3) for k in after}
        proxy = "mock" if target == "direct" else target
        out = {"target": target, "requests": n, "errors": errors, "wall_s": round(wall, 3),
               "rps": round(n / wall, 1) if wall else 0.0, "cpu_s": cpu,
               "server_cpu_util": round(cpu[proxy] / wall, 3) if wall else 0.0,
               "server_cpu_ms_per_req": round(cpu[proxy] / n * 1e3, 3) if n else None,
               "loadgen_core_util": round((cpu["loadgen"] + (cpu["mock"] if target != "direct" else 0)) / wall, 3)}
        if extra:
            out.update(extra)
        return out

    async def batch_aiohttp(self, target: str, model: str, stream: bool, n: int, conc: int) -> dict[str, Any]:
        body = self.body(target, model, stream)
        counter = iter(range(n))
        errors = 0
        first_error: list[str] = []

        async def worker() -> None:
            nonlocal errors
            for _ in counter:
                try:
                    await self.one(target, body, stream)
                except (BenchError, aiohttp.ClientError, TimeoutError) as exc:
                    errors += 1
                    if not first_error:
                        first_error.append(repr(exc)[:300])

        before = self._cpu_snapshot()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        wall = time.perf_counter() - t0
        return self._finish_batch(target, n - errors, errors, wall, before,
                                  {"first_error": first_error[0]} if first_error else None)

    async def batch_wrk(self, target: str, model: str, stream: bool, duration: float, conc: int) -> dict[str, Any]:
        assert self.wrk is not None
        body_path = self.tmp / f"{target}-{int(stream)}.json"
        body_path.write_bytes(self.body(target, model, stream))
        lua = self.tmp / f"{target}-{int(stream)}.lua"
        hdrs = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in self.headers(target).items())
        lua.write_text(f'wrk.method = "POST"\nlocal f = assert(io.open("{body_path}", "rb"))\n'
                       f'wrk.body = f:read("*a")\nf:close()\n{hdrs}')
        argv = [self.wrk, "-t1", f"-c{conc}", f"-d{duration:g}s", "--timeout", "10s", "-s", str(lua), self.url(target)]
        before = self._cpu_snapshot()
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                    preexec_fn=_pinner(self.load_core))
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), duration + 30)
        except (TimeoutError, asyncio.CancelledError):
            if proc.returncode is None:
                proc.kill()      # by its pid
                await proc.wait()
            raise
        wall = time.perf_counter() - t0
        text = out.decode(errors="replace")
        total = errors = 0
        rps = 0.0
        for line in text.splitlines():
            line = line.strip()
            if " requests in " in line:
                total = int(line.split()[0])
            elif line.startswith("Non-2xx or 3xx responses:"):
                errors += int(line.split(":")[1])
            elif line.startswith("Socket errors:"):
                errors += sum(int(p.split()[-1]) for p in line.split(":", 1)[1].split(","))
            elif line.startswith("Requests/sec:"):
                rps = float(line.split(":")[1])
        result = self._finish_batch(target, total - errors, errors, wall, before)
        result["rps"] = round(rps * (total - errors) / total, 1) if total else 0.0   # wrk's own clock
        result["server_cpu_util"] = round(result["cpu_s"]["mock" if target == "direct" else target] / duration, 3)
        return result

    async def throughput(self) -> dict[str, Any]:
        n, conc = (600, self.args.concurrency) if self.quick else (1200, self.args.concurrency)
        rounds = 1 if self.quick else 5
        duration = 2.0
        out: dict[str, Any] = {"concurrency": conc, "rounds": rounds,
                               "loadgen": "wrk" if self.wrk else "aiohttp"}
        if self.wrk:
            out["duration_s"] = duration
        else:
            out["requests_per_batch"] = n
        for stream in (False, True):
            kind = "stream" if stream else "nonstream"
            runs: dict[str, list[dict[str, Any]]] = {t: [] for t in TARGETS}
            for r in range(rounds):
                for target in TARGETS[r % 3:] + TARGETS[:r % 3]:
                    if self.wrk:
                        res = await self.batch_wrk(target, MODEL, stream, duration, conc)
                    else:
                        res = await self.batch_aiohttp(target, MODEL, stream, n, conc)
                    runs[target].append(res)
                    print(f"  throughput {kind:9} round {r + 1} {target:11} {res['rps']:8.0f} req/s  "
                          f"server cpu {res['server_cpu_util'] * 100:4.0f}%  "
                          f"{res['server_cpu_ms_per_req']:.3f} cpu-ms/req  errors {res['errors']}", flush=True)
            summary = {}
            for target, rs in runs.items():
                summary[target] = {
                    "rps_median": round(med([x["rps"] for x in rs]), 1),
                    "server_cpu_ms_per_req_median": round(med([x["server_cpu_ms_per_req"] for x in rs]), 3),
                    "server_cpu_util_median": round(med([x["server_cpu_util"] for x in rs]), 3),
                    "errors": sum(x["errors"] for x in rs),
                    "runs": rs,
                }
                summary[target]["server_saturated"] = summary[target]["server_cpu_util_median"] >= 0.9
                cpu_ms = summary[target]["server_cpu_ms_per_req_median"]
                summary[target]["one_core_capacity_rps"] = round(1000 / cpu_ms, 1) if cpu_ms else None
            out[kind] = summary
        return out

    # latency ---------------------------------------------------------------------------------

    async def latency(self) -> dict[str, Any]:
        """Sequential requests; many short interleaved rounds. ``added`` = proxy - direct, and the
        dragoman-vs-pass-through delta, are medians of per-round differences (paired, so a noisy
        stretch that slows every target in a round cancels out), as llm-gateway-bench does."""
        rounds, per = (6, 10) if self.quick else (20, 15)
        out: dict[str, Any] = {"rounds": rounds, "per_round": per, "concurrency": 1,
                               "method": "p50/p99 over all samples; added_* and dragoman_minus_passthrough_* "
                                         "are medians over rounds of per-round p50 differences"}
        for stream in (False, True):
            kind = "stream" if stream else "nonstream"
            samples: dict[str, list[list[tuple[float, float, float]]]] = {t: [] for t in TARGETS}
            for target in TARGETS:   # warm-up
                for _ in range(20):
                    await self.one(target, self.body(target, MODEL, stream), stream)
            for r in range(rounds):
                for target in TARGETS[r % 3:] + TARGETS[:r % 3]:
                    body = self.body(target, MODEL, stream)
                    samples[target].append([await self.one(target, body, stream) for _ in range(per)])
            metrics = {"total": 2} if not stream else {"total": 2, "ttfb": 0, "ttft": 1}
            res: dict[str, Any] = {t: {"n": rounds * per} for t in TARGETS}
            per_round: dict[str, dict[str, list[float]]] = {t: {} for t in TARGETS}
            for target, rs in samples.items():
                for name, i in metrics.items():
                    flat = [s[i] * 1e3 for round_ in rs for s in round_]
                    prefix = "" if name == "total" else name + "_"
                    res[target][f"{prefix}p50_ms"] = round(pct(flat, 0.5), 3)
                    res[target][f"{prefix}p99_ms"] = round(pct(flat, 0.99), 3)
                    per_round[target][name] = [pct([s[i] * 1e3 for s in round_], 0.5) for round_ in rs]
            for name in metrics:
                prefix = "" if name == "total" else name + "_"
                for proxy in PROXIES:
                    diffs = [a - b for a, b in zip(per_round[proxy][name], per_round["direct"][name])]
                    res[proxy][f"added_{prefix}p50_ms"] = round(med(diffs), 3)
                diffs = [a - b for a, b in zip(per_round["dragoman"][name], per_round["passthrough"][name])]
                res[f"dragoman_minus_passthrough_{prefix}p50_ms"] = round(med(diffs), 3)
            out[kind] = res
            print(f"  latency {kind:9} p50 ms: " + "  ".join(f"{t} {res[t]['p50_ms']:.3f}" for t in TARGETS)
                  + f"  (dragoman - pass-through, paired: {res['dragoman_minus_passthrough_p50_ms']:.3f})", flush=True)
        return out

    # CPU per streamed response ----------------------------------------------------------------

    async def cpu_per_stream(self) -> dict[str, Any]:
        n, conc, rounds, delay = (240, 32, 1, 0.002) if self.quick else (600, 32, 3, 0.002)
        model = f"{MODEL}+delay={delay}"
        runs: dict[str, list[dict[str, Any]]] = {p: [] for p in PROXIES}
        for r in range(rounds):
            for proxy in (PROXIES if r % 2 == 0 else PROXIES[::-1]):
                res = await self.batch_aiohttp(proxy, model, True, n, conc)
                runs[proxy].append(res)
                print(f"  cpu/stream round {r + 1} {proxy:11} {res['server_cpu_ms_per_req']:.3f} cpu-ms/stream "
                      f"({res['rps']:.0f} streams/s, errors {res['errors']})", flush=True)
        out: dict[str, Any] = {"streams_per_batch": n, "concurrency": conc, "rounds": rounds,
                               "chunk_delay_s": delay, "text_deltas": 50}
        for proxy, rs in runs.items():
            out[proxy] = {"cpu_ms_per_stream_median": round(med([x["server_cpu_ms_per_req"] for x in rs]), 3),
                          "errors": sum(x["errors"] for x in rs), "runs": rs}
        out["ratio"] = round(out["dragoman"]["cpu_ms_per_stream_median"] / out["passthrough"]["cpu_ms_per_stream_median"], 3)
        return out

    # open streams memory ----------------------------------------------------------------------

    async def open_streams(self, proxy: str, count: int) -> dict[str, Any]:
        pid = self.pid(proxy)
        model = f"{MODEL}+mode=forever+interval=1+max_s=300"
        body = self.body(proxy, model, True)
        headers = self.headers(proxy)
        url = self.url(proxy)
        await asyncio.sleep(0.5)
        rss_idle = rss_kb(pid)
        ready = 0
        failures: list[str] = []
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:

            async def hold() -> None:
                nonlocal ready
                try:
                    async with session.post(url, data=body, headers=headers) as r:
                        if r.status != 200:
                            raise BenchError(f"HTTP {r.status}")
                        first = await r.content.readany()
                        if not first:
                            raise BenchError("no first chunk")
                        ready += 1
                        for _ in range(100_000):        # bounded; the task is cancelled long before
                            chunk = await r.content.readany()
                            if not chunk:
                                break
                            await asyncio.sleep(0.5)    # a slow reader
                except (BenchError, aiohttp.ClientError) as exc:
                    failures.append(repr(exc)[:200])

            tasks: list[asyncio.Task[None]] = []
            t0 = time.monotonic()
            try:
                for start in range(0, count, 100):   # ramp in steps: the listen backlog is 128
                    tasks += [asyncio.create_task(hold()) for _ in range(min(100, count - start))]
                    deadline = time.monotonic() + 30
                    while ready + len(failures) < len(tasks) and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                open_s = time.monotonic() - t0
                await asyncio.sleep(2.0)
                samples = []
                for _ in range(4):
                    samples.append(rss_kb(pid))
                    await asyncio.sleep(0.5)
                mock_active = (await self.mock_stats())["active"]
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        deadline = time.monotonic() + 30
        while (await self.mock_stats())["active"] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        rss_after = rss_kb(pid)
        rss_open = max(samples)
        return {"streams": count, "opened": ready, "failures": len(failures),
                "first_failure": failures[0] if failures else None, "open_s": round(open_s, 2),
                "mock_active_streams": mock_active,
                "rss_idle_kb": rss_idle, "rss_open_kb": rss_open, "rss_after_close_kb": rss_after,
                "kb_per_stream": round((rss_open - rss_idle) / max(ready, 1), 1)}

    async def memory(self) -> dict[str, Any]:
        count = 1000
        out: dict[str, Any] = {}
        for proxy in PROXIES[::-1]:
            out[proxy] = res = await self.open_streams(proxy, count)
            print(f"  open streams {proxy:11} {res['opened']}/{count} open: RSS idle {res['rss_idle_kb'] / 1024:.1f} MB, "
                  f"open {res['rss_open_kb'] / 1024:.1f} MB, after {res['rss_after_close_kb'] / 1024:.1f} MB, "
                  f"{res['kb_per_stream']:.1f} KB/stream", flush=True)
        return out

    # raw-socket clients ------------------------------------------------------------------------

    async def raw_request(self, target: str, model: str, rcvbuf: int | None = None) -> socket.socket:
        body = self.body(target, model, True)
        path = "/v1/messages" if target == "dragoman" else "/v1/chat/completions"
        head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.ports[target]}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in self.headers(target).items())
                + f"Content-Length: {len(body)}\r\n\r\n").encode()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)   # before connect: caps the window
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (HOST, self.ports[target]))
        await loop.sock_sendall(sock, head + body)
        return sock

    async def slow_client(self, proxy: str) -> dict[str, Any]:
        """One client reading ~1 KB/s while the mock firehoses: does the proxy's RSS stay flat?"""
        loop = asyncio.get_running_loop()
        pid = self.pid(proxy)
        ident = f"slow-{proxy}-{self.nonce}"
        sample_s = 3.0 if self.quick else 5.0
        rss_before = rss_kb(pid)
        sock = await self.raw_request(proxy, f"{MODEL}+mode=firehose+max_mb=512+id={ident}", rcvbuf=8192)
        read = 0
        samples: list[int] = []
        try:
            async def recv_slowly(seconds: float) -> None:
                nonlocal read
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    read += len(await asyncio.wait_for(loop.sock_recv(sock, 256), 5))
                    samples.append(rss_kb(pid))
                    await asyncio.sleep(0.25)       # 256 B every 0.25 s: ~1 KB/s

            await recv_slowly(1.0)                  # let every buffer on the path fill
            mock_start = (await self.mock_stats(ident))["bytes"]
            warm = len(samples)
            await recv_slowly(sample_s)
            mock_end = (await self.mock_stats(ident))["bytes"]
        finally:
            t_close = time.monotonic()
            sock.close()
        cancelled = await self.wait_cancelled(ident)
        measured = samples[warm:]
        return {"sample_s": sample_s, "client_read_bytes": read, "rss_before_kb": rss_before,
                "rss_min_kb": min(measured), "rss_max_kb": max(measured), "rss_delta_kb": max(measured) - min(measured),
                "rss_samples_kb": measured, "mock_bytes_sent_total": mock_end,
                "mock_bytes_sent_while_sampling": mock_end - mock_start,
                "upstream_cancelled_after_close_ms": round((cancelled - t_close) * 1e3, 1) if cancelled else None}

    async def wait_cancelled(self, ident: str, timeout: float = 5.0) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rec = await self.mock_stats(ident)
            if rec and rec.get("cancelled_at"):
                return float(rec["cancelled_at"])
            await asyncio.sleep(0.005)
        return None

    async def disconnect(self) -> dict[str, Any]:
        """A client leaves mid-stream: how long until the mock's handler sees its connection go?"""
        loop = asyncio.get_running_loop()
        trials = 3 if self.quick else 5
        out: dict[str, Any] = {"trials": trials}
        for target in TARGETS:
            times: list[float] = []
            misses = 0
            for i in range(trials):
                ident = f"dc-{target}-{i}-{self.nonce}"
                sock = await self.raw_request(target, f"{MODEL}+mode=forever+interval=0.05+max_s=60+id={ident}")
                try:
                    got = b""
                    end = time.monotonic() + 5
                    while b"Hello" not in got and time.monotonic() < end:
                        got += await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
                    await asyncio.sleep(0.2)           # mid-stream
                finally:
                    t_close = time.monotonic()
                    sock.close()
                cancelled = await self.wait_cancelled(ident)
                if cancelled is None:
                    misses += 1
                else:
                    times.append((cancelled - t_close) * 1e3)
            out[target] = {"median_ms": round(med(times), 2), "max_ms": round(max(times), 2) if times else None,
                           "samples_ms": [round(t, 2) for t in times], "not_cancelled_within_5s": misses}
            print(f"  disconnect {target:11} upstream closed after {out[target]['median_ms']:.1f} ms median "
                  f"(max {out[target]['max_ms']}, misses {misses})", flush=True)
        return out

    # the whole run -----------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        try:
            return await self._run()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def _run(self) -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            self.session = session
            for target in TARGETS:                      # sanity + warm-up
                for stream in (False, True):
                    await self.one(target, self.body(target, MODEL, stream), stream)
                await self.batch_aiohttp(target, MODEL, False, 200, 8)
                await self.batch_aiohttp(target, MODEL, True, 200, 8)
            results: dict[str, Any] = {"background_load": {}}

            async def phase(name: str, title: str, work: Callable[[], Awaitable[Any]]) -> Any:
                print(title, flush=True)
                busy0, steal0 = system_cpu()
                ours0 = sum(self._cpu_snapshot().values())
                t0 = time.perf_counter()
                result = await work()
                wall = time.perf_counter() - t0
                busy1, steal1 = system_cpu()
                ours1 = sum(self._cpu_snapshot().values())
                other = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / wall
                results["background_load"][name] = {"other_processes_cores": round(other, 3),
                                                    "steal_cores": round((steal1 - steal0) / wall, 3)}
                print(f"  (CPU used by other processes during this phase: {other:.2f} cores)", flush=True)
                return result

            results["latency"] = await phase("latency", "latency (sequential, interleaved rounds)", self.latency)
            results["throughput"] = await phase("throughput", "throughput (saturation, interleaved rounds)",
                                                self.throughput)
            results["cpu_per_stream"] = await phase("cpu_per_stream",
                                                    "CPU per streamed response (50 text deltas, 2 ms apart)",
                                                    self.cpu_per_stream)

            async def slow_clients() -> dict[str, Any]:
                out = {}
                for proxy in PROXIES[::-1]:
                    res = out[proxy] = await self.slow_client(proxy)
                    print(f"  slow client {proxy:11} RSS {res['rss_min_kb'] / 1024:.1f}..{res['rss_max_kb'] / 1024:.1f} MB "
                          f"(delta {res['rss_delta_kb']} KB); mock sent {res['mock_bytes_sent_total'] / 1e6:.2f} MB "
                          f"total, {res['mock_bytes_sent_while_sampling']} B while sampling; client read "
                          f"{res['client_read_bytes']} B", flush=True)
                return out

            results["slow_client"] = await phase("slow_client", "slow client vs firehose", slow_clients)
            results["disconnect"] = await phase("disconnect", "disconnect mid-stream", self.disconnect)
            # last: holding 1,000 streams leaves each process's heap at its high-water mark
            results["memory"] = await phase("memory", "memory: 1,000 open streams", self.memory)
            return results


# -- report ---------------------------------------------------------------------------------

def verdicts(r: dict[str, Any]) -> list[dict[str, Any]]:
    tp, lat, cpu, mem = r["throughput"], r["latency"], r["cpu_per_stream"], r["memory"]["dragoman"]
    slow, dc = r["slow_client"]["dragoman"], r["disconnect"]["dragoman"]
    rows = []

    def add(name: str, value: Any, target: str, ok: bool) -> None:
        rows.append({"goal": name, "measured": value, "target": target, "met": bool(ok)})

    for kind in ("nonstream", "stream"):
        ratio = tp[kind]["dragoman"]["rps_median"] / tp[kind]["passthrough"]["rps_median"]
        add(f"throughput {kind} (dragoman / pass-through req/s)", round(ratio, 3), ">= 0.8", ratio >= 0.8)
        cap = tp[kind]["dragoman"]["one_core_capacity_rps"] / tp[kind]["passthrough"]["one_core_capacity_rps"]
        add(f"one-core capacity {kind} (1/cpu-per-req ratio)", round(cap, 3), ">= 0.8", cap >= 0.8)
    for kind, key, label in (("nonstream", "p50_ms", "added p50 latency, non-stream"),
                             ("stream", "p50_ms", "added p50 latency, stream total"),
                             ("stream", "ttfb_p50_ms", "added TTFB p50"),
                             ("stream", "ttft_p50_ms", "added time-to-first-token p50")):
        d = lat[kind][f"dragoman_minus_passthrough_{key}"]
        add(f"{label} (dragoman - pass-through, paired, ms)", d, "<= 0.3", d <= 0.3)
    add("CPU per streamed response (dragoman / pass-through)", cpu["ratio"], "<= 1.5", cpu["ratio"] <= 1.5)
    add("KB per open stream (dragoman)", mem["kb_per_stream"], "<= 100", mem["kb_per_stream"] <= 100)
    add("RSS with 1,000 open streams (dragoman, MB)", round(mem["rss_open_kb"] / 1024, 1), "< 150",
        mem["rss_open_kb"] < 150 * 1024 and mem["opened"] == mem["streams"])
    add("RSS growth while a slow client reads a firehose (dragoman, KB)", slow["rss_delta_kb"], "flat: <= 2048",
        slow["rss_delta_kb"] <= 2048)
    worst = dc["max_ms"]
    add("upstream cancelled after client leaves (dragoman, worst ms)", worst, "<= 1000",
        worst is not None and worst <= 1000 and not dc["not_cancelled_within_5s"])
    return rows


def print_report(r: dict[str, Any]) -> None:
    tp, lat, cpu, mem, slow, dc = (r["throughput"], r["latency"], r["cpu_per_stream"], r["memory"],
                                   r["slow_client"], r["disconnect"])
    w = 14
    print("\n" + "=" * 78)
    print(f"{'':34}" + "".join(f"{t:>{w}}" for t in TARGETS))
    for kind in ("nonstream", "stream"):
        print(f"{'req/s ' + kind + ' (median)':34}" + "".join(
            f"{tp[kind][t]['rps_median']:>{w - 1}.0f}{' ' if tp[kind][t]['server_saturated'] else '*'}" for t in TARGETS))
        print(f"{'  server cpu-ms/req':34}" + "".join(f"{tp[kind][t]['server_cpu_ms_per_req_median']:>{w}.3f}" for t in TARGETS))
        print(f"{'  one-core capacity req/s':34}" + "".join(f"{tp[kind][t]['one_core_capacity_rps']:>{w}.0f}" for t in TARGETS))
        print(f"{'  server core utilisation':34}" + "".join(f"{tp[kind][t]['server_cpu_util_median'] * 100:>{w - 1}.0f}%" for t in TARGETS))
    for kind in ("nonstream", "stream"):
        print(f"{'latency ' + kind + ' p50 / p99 ms':34}" + "".join(
            f"{lat[kind][t]['p50_ms']:>{w - 7}.2f}/{lat[kind][t]['p99_ms']:<6.2f}" for t in TARGETS))
    print(f"{'TTFB stream p50 / p99 ms':34}" + "".join(
        f"{lat['stream'][t]['ttfb_p50_ms']:>{w - 7}.2f}/{lat['stream'][t]['ttfb_p99_ms']:<6.2f}" for t in TARGETS))
    print(f"{'first token stream p50 ms':34}" + "".join(f"{lat['stream'][t]['ttft_p50_ms']:>{w}.2f}" for t in TARGETS))
    print(f"{'added p50 stream total ms':34}{'':>{w}}" + "".join(f"{lat['stream'][p]['added_p50_ms']:>{w}.3f}" for p in PROXIES))
    print(f"{'added p50 non-stream ms':34}{'':>{w}}" + "".join(f"{lat['nonstream'][p]['added_p50_ms']:>{w}.3f}" for p in PROXIES))
    print(f"{'added TTFB p50 ms':34}{'':>{w}}" + "".join(f"{lat['stream'][p]['added_ttfb_p50_ms']:>{w}.3f}" for p in PROXIES))
    print(f"{'cpu-ms per paced stream':34}{'':>{w}}" + "".join(f"{cpu[p]['cpu_ms_per_stream_median']:>{w}.3f}" for p in PROXIES))
    print(f"{'RSS idle / 1k open / after MB':34}{'':>{w}}" + "".join(
        f"{mem[p]['rss_idle_kb'] / 1024:>{w - 10}.0f}/{mem[p]['rss_open_kb'] / 1024:.0f}/{mem[p]['rss_after_close_kb'] / 1024:<4.0f}"
        for p in PROXIES))
    print(f"{'KB per open stream':34}{'':>{w}}" + "".join(f"{mem[p]['kb_per_stream']:>{w}.1f}" for p in PROXIES))
    print(f"{'slow client RSS max-min KB':34}{'':>{w}}" + "".join(f"{slow[p]['rss_delta_kb']:>{w}}" for p in PROXIES))
    print(f"{'disconnect -> upstream closed ms':34}" + "".join(f"{dc[t]['median_ms']:>{w}.1f}" for t in TARGETS))
    print(f"(* server core under 90% busy: the load side (core shared by mock + load generator) was the limit;\n"
          f"   'one-core capacity' = 1000 / server cpu-ms per request is then the fairer comparison)\n"
          f"load generator: {tp['loadgen']}; {r['meta']['pinning']}")
    bg = r["background_load"]
    print("CPU used by other processes (cores), per phase: "
          + ", ".join(f"{k} {v['other_processes_cores']:.2f}" for k, v in bg.items()))
    print("-" * 78)
    for v in r["verdicts"]:
        print(f"{'MET ' if v['met'] else 'MISS'}  {v['goal']}: {v['measured']} (target {v['target']})")
    print("=" * 78)


def _git_state() -> dict[str, Any]:
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10,
                                  check=False).stdout.rstrip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    dirty = [line[3:] for line in git("status", "--porcelain").splitlines() if not line[3:].startswith("bench/")]
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_outside_bench": dirty}


def main() -> int:
    parser = argparse.ArgumentParser(description="dragoman vs a plain aiohttp pass-through, one interleaved run")
    parser.add_argument("--quick", action="store_true", help="smaller batches, one round: under a minute")
    parser.add_argument("--loadgen", choices=("auto", "aiohttp", "wrk"), default="auto",
                        help="throughput load generator; auto (default): wrk when installed, else aiohttp")
    parser.add_argument("--out", default=str(BENCH / "results.json"))
    parser.add_argument("--dragoman-dir", default=str(ROOT),
                        help="run dragoman from this checkout (A/B a change against the same baseline); default: this one")
    parser.add_argument("--concurrency", type=int, default=32, help="connections in the throughput phase (default 32)")
    parser.add_argument("--nice", type=int, default=0,
                        help="run every bench process at this nice value (e.g. -5, needs privilege) so other "
                             "work on a shared machine disturbs the measurement less; default 0 (unchanged)")
    args = parser.parse_args()
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)   # inherited by the mock, both proxies and wrk

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)   # 1,000 streams: ~3,000 sockets per side
    want = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    cores = sorted(os.sched_getaffinity(0))
    proxy_core = load_core = None
    if len(cores) >= 2:
        proxy_core, load_core = cores[0], cores[1]
        os.sched_setaffinity(0, {load_core})
        pinning = (f"pass-through and dragoman pinned to core {proxy_core}; mock upstream, load generator "
                   f"(this script{', wrk' if args.loadgen != 'aiohttp' else ''}) pinned to core {load_core}")
    else:
        pinning = "not pinned: fewer than 2 cores available"
    if args.nice:
        pinning += f"; all bench processes at nice {os.getpriority(os.PRIO_PROCESS, 0)}"
    print(f"pinning: {pinning}")

    ports = {"direct": free_port(), "passthrough": free_port(), "dragoman": free_port()}
    logdir = Path(tempfile.mkdtemp(prefix="dragoman-bench-"))
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
    procs = {
        "mock": Proc("mock", [py, str(BENCH / "mock_upstream.py"), "--port", str(ports["direct"])],
                     load_core, logdir, mock_url + "/_stats"),
        "passthrough": Proc("passthrough", [py, str(BENCH / "passthrough.py"), "--port", str(ports["passthrough"]),
                                            "--upstream", mock_url], proxy_core, logdir,
                            f"http://{HOST}:{ports['passthrough']}/_health"),
        "dragoman": Proc("dragoman", [py, "-m", "proxy", "serve", "--config", str(config_path)], proxy_core, logdir,
                         f"http://{HOST}:{ports['dragoman']}/health", cwd=Path(args.dragoman_dir).resolve()),
    }

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # Ctrl-C -> KeyboardInterrupt -> cleanup

    anthropic, openai = bodies(MODEL, True)
    started = time.monotonic()
    try:
        for p in procs.values():
            p.start()
        for p in procs.values():
            p.wait_ready()
        print(f"bodies: anthropic {len(anthropic)} B -> openai {len(openai)} B; "
              f"processes: mock {procs['mock'].pid}, pass-through {procs['passthrough'].pid}, dragoman {procs['dragoman'].pid}"
              f"; logs (kept if the run fails) in {logdir}", flush=True)
        bench = Bench(args, procs, ports, load_core)
        results = asyncio.run(bench.run())
        for name, p in procs.items():
            if p.popen is not None and p.popen.poll() is not None:
                raise BenchError(f"{name} died during the run:\n{p.tail()}")
    except KeyboardInterrupt:
        print("\ninterrupted: stopping processes", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        for name, p in procs.items():
            print(f"--- {name} log tail ---\n{p.tail()}", file=sys.stderr)
        return 1
    finally:
        for p in procs.values():
            p.stop()

    shutil.rmtree(logdir, ignore_errors=True)   # kept only when the run failed
    results["verdicts"] = verdicts(results)
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "duration_s": round(time.monotonic() - started, 1),
        "machine": {"cpus": os.cpu_count(), "usable_cores": len(cores), "platform": platform.platform(),
                    "python": platform.python_version(), "aiohttp": aiohttp.__version__},
        "pinning": pinning,
        "git": _git_state(),
        "dragoman_dir": str(Path(args.dragoman_dir).resolve()),
        "body_bytes": {"anthropic": len(anthropic), "openai": len(openai)},
        "stream_shape": "role chunk + 50 text deltas + finish chunk + usage chunk + [DONE], one write each",
    }
    results = {"meta": meta, **results}
    print_report(results)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out} ({meta['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
