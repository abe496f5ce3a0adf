"""The measurement phases, each a method of ``Bench`` returning the dict stored under its key in
results.json: latency, throughput, cpu_per_stream, memory (1,000 open streams), slow_client and
disconnect. Targets are interleaved within each phase (order rotated per round); each phase prints
one progress line per round or target. ``run.py`` decides the order and the background-load
accounting around them.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import aiohttp
from load import MODEL, PROXIES, TARGETS, LoadGen
from processes import BenchError, rss_kb

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


# -- the phases ----------------------------------------------------------------------------

class Bench(LoadGen):
    """The load generator plus one method per measurement phase."""

    # throughput ------------------------------------------------------------------------------

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

    # slow client and disconnect ----------------------------------------------------------------

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

    async def slow_clients(self) -> dict[str, Any]:
        out = {}
        for proxy in PROXIES[::-1]:
            res = out[proxy] = await self.slow_client(proxy)
            print(f"  slow client {proxy:11} RSS {res['rss_min_kb'] / 1024:.1f}..{res['rss_max_kb'] / 1024:.1f} MB "
                  f"(delta {res['rss_delta_kb']} KB); mock sent {res['mock_bytes_sent_total'] / 1e6:.2f} MB "
                  f"total, {res['mock_bytes_sent_while_sampling']} B while sampling; client read "
                  f"{res['client_read_bytes']} B", flush=True)
        return out

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
