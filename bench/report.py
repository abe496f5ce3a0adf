"""The report: the target verdicts, the printed table, the run's metadata and results.json.

Owns: ``verdicts`` (each goal's measured value against its target), ``print_report`` (the table and
the MET/MISS lines), ``run_meta`` (date, machine, pinning, git state, body sizes) and
``write_results``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from load import PROXIES, TARGETS
from processes import ROOT


def verdicts(r: dict[str, Any]) -> list[dict[str, Any]]:
    tp, lat, cpu, mem = r["throughput"], r["latency"], r["cpu_per_stream"], r["memory"]["dragoman"]
    slow, dc = r["slow_client"]["dragoman"], r["disconnect"]["dragoman"]
    rows = []

    def add(name: str, value: Any, target: str, ok: bool) -> None:
        rows.append({"goal": name, "measured": value, "target": target, "met": bool(ok)})

    # the project's current goals: 0.6x the pass-through's throughput, 1.3x its CPU per paced stream
    for kind in ("nonstream", "stream"):
        ratio = tp[kind]["dragoman"]["rps_median"] / tp[kind]["passthrough"]["rps_median"]
        add(f"throughput {kind} (dragoman / pass-through req/s)", round(ratio, 3), ">= 0.6", ratio >= 0.6)
        cap = tp[kind]["dragoman"]["one_core_capacity_rps"] / tp[kind]["passthrough"]["one_core_capacity_rps"]
        add(f"one-core capacity {kind} (1/cpu-per-req ratio)", round(cap, 3), ">= 0.6", cap >= 0.6)
    for kind, key, label in (("nonstream", "p50_ms", "added p50 latency, non-stream"),
                             ("stream", "p50_ms", "added p50 latency, stream total"),
                             ("stream", "ttfb_p50_ms", "added TTFB p50"),
                             ("stream", "ttft_p50_ms", "added time-to-first-token p50")):
        d = lat[kind][f"dragoman_minus_passthrough_{key}"]
        add(f"{label} (dragoman - pass-through, paired, ms)", d, "<= 0.3", d <= 0.3)
    add("CPU per streamed response (dragoman / pass-through)", cpu["ratio"], "<= 1.3", cpu["ratio"] <= 1.3)
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


def git_state() -> dict[str, Any]:
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10,
                                  check=False).stdout.rstrip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    dirty = [line[3:] for line in git("status", "--porcelain").splitlines() if not line[3:].startswith("bench/")]
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_outside_bench": dirty}


def run_meta(args: argparse.Namespace, started: float, cores: list[int], pinning: str,
             anthropic: bytes, openai: bytes) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "duration_s": round(time.monotonic() - started, 1),
        "machine": {"cpus": os.cpu_count(), "usable_cores": len(cores), "platform": platform.platform(),
                    "python": platform.python_version(), "aiohttp": aiohttp.__version__},
        "pinning": pinning,
        "git": git_state(),
        "dragoman_dir": str(Path(args.dragoman_dir).resolve()),
        "body_bytes": {"anthropic": len(anthropic), "openai": len(openai)},
        "stream_shape": "role chunk + 50 text deltas + finish chunk + usage chunk + [DONE], one write each",
    }


def write_results(out: str, results: dict[str, Any]) -> None:
    Path(out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out} ({results['meta']['duration_s']} s)")
