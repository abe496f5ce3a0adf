"""dragoman's performance bench: one command, three processes, measured in one interleaved run.

    ./.venv/bin/python bench/run.py [--quick] [--loadgen auto|aiohttp|wrk] [--out bench/results.json]

Starts the mock provider (bench/mock_upstream.py), the plain pass-through (bench/passthrough.py)
and dragoman (``python -m proxy serve`` with a temporary config pointed at the mock), each its own
process. With two or more cores, both proxies are pinned to one core and the mock, this script
(the load generator) and wrk to another, so the proxy under test owns its core.

Every measurement is a ratio or a difference against baselines measured in the same run, rounds
interleaved (target order rotated each round) to cancel drift and noise. Nothing here asserts a
timing; results are printed and written to bench/results.json. See bench/README.md.

This file is the entry point: the command line and the orchestration (start the processes, run
the phases in order with the background-load accounting around each, stop everything, report).
The parts live beside it: processes.py (the child processes, pinning, /proc readers), load.py
(request bodies, aiohttp and wrk load generation), phases.py (the measurements) and report.py
(verdicts, the table, results.json).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from load import MODEL, TARGETS, bodies
from phases import Bench
from processes import (
    BENCH,
    ROOT,
    BenchError,
    bench_processes,
    free_port,
    pin_cores,
    raise_fd_limit,
    system_cpu,
)
from report import print_report, run_meta, verdicts, write_results


async def measure(bench: Bench) -> dict[str, Any]:
    """Warm up, then every phase in order; the memory phase last."""
    try:
        return await _measure(bench)
    finally:
        bench.cleanup()


async def _measure(bench: Bench) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        bench.session = session
        for target in TARGETS:                      # sanity + warm-up
            for stream in (False, True):
                await bench.one(target, bench.body(target, MODEL, stream), stream)
            await bench.batch_aiohttp(target, MODEL, False, 200, 8)
            await bench.batch_aiohttp(target, MODEL, True, 200, 8)
        results: dict[str, Any] = {"background_load": {}}

        async def phase(name: str, title: str, work: Callable[[], Awaitable[Any]]) -> Any:
            print(title, flush=True)
            busy0, steal0 = system_cpu()
            ours0 = sum(bench.cpu_snapshot().values())
            t0 = time.perf_counter()
            result = await work()
            wall = time.perf_counter() - t0
            busy1, steal1 = system_cpu()
            ours1 = sum(bench.cpu_snapshot().values())
            other = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / wall
            results["background_load"][name] = {"other_processes_cores": round(other, 3),
                                                "steal_cores": round((steal1 - steal0) / wall, 3)}
            print(f"  (CPU used by other processes during this phase: {other:.2f} cores)", flush=True)
            return result

        results["latency"] = await phase("latency", "latency (sequential, interleaved rounds)", bench.latency)
        results["throughput"] = await phase("throughput", "throughput (saturation, interleaved rounds)",
                                            bench.throughput)
        results["cpu_per_stream"] = await phase("cpu_per_stream",
                                                "CPU per streamed response (50 text deltas, 2 ms apart)",
                                                bench.cpu_per_stream)
        results["slow_client"] = await phase("slow_client", "slow client vs firehose", bench.slow_clients)
        results["disconnect"] = await phase("disconnect", "disconnect mid-stream", bench.disconnect)
        # last: holding 1,000 streams leaves each process's heap at its high-water mark
        results["memory"] = await phase("memory", "memory: 1,000 open streams", bench.memory)
        return results


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

    raise_fd_limit()   # 1,000 streams: ~3,000 sockets per side
    cores, proxy_core, load_core, pinning = pin_cores(args.loadgen)
    if args.nice:
        pinning += f"; all bench processes at nice {os.getpriority(os.PRIO_PROCESS, 0)}"
    print(f"pinning: {pinning}")

    ports = {"direct": free_port(), "passthrough": free_port(), "dragoman": free_port()}
    logdir = Path(tempfile.mkdtemp(prefix="dragoman-bench-"))
    procs = bench_processes(ports, logdir, proxy_core, load_core, args.dragoman_dir)

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
        results = asyncio.run(measure(bench))
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
    meta = run_meta(args, started, cores, pinning, anthropic, openai)
    results = {"meta": meta, **results}
    print_report(results)
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
