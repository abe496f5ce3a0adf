"""Where dragoman spends its CPU under the bench's load: py-spy on the dragoman process.

    ./.venv/bin/pip install py-spy
    ./.venv/bin/python bench/profile.py [--workload nonstream|stream|paced] [--seconds 10]

Starts the mock upstream and dragoman exactly as bench/run.py does (same pinning, same 28 KB
Claude Code body), drives one workload with the aiohttp load generator (wrk for nonstream/stream
when installed), samples dragoman with ``py-spy record --format raw --nonblocking`` and prints
the top functions by self time and by inclusive time (file:function), as % of samples.
The raw collapsed stacks are kept in the temp dir printed at the end (feed them to a flamegraph tool).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import MODEL, LoadGen
from processes import BENCH, HOST, BenchError, Proc, free_port


def _frame(frame: str) -> str:
    # py-spy raw frames look like "function (path/file.py:123)"; line numbers are dropped
    name, _, where = frame.rpartition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{path}:{name}"


def summarise(raw: Path, top: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";") if f and not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += n
        self_time[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    return total, self_time.most_common(top), inclusive.most_common(top)


def main() -> int:
    parser = argparse.ArgumentParser(description="py-spy profile of dragoman under the bench load")
    parser.add_argument("--workload", choices=("nonstream", "stream", "paced"), default="nonstream")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.path.exists(pyspy):
        print("py-spy not found: ./.venv/bin/pip install py-spy", file=sys.stderr)
        return 2

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))
    cores = sorted(os.sched_getaffinity(0))
    proxy_core, load_core = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    if load_core is not None:
        os.sched_setaffinity(0, {load_core})
    ports = {"direct": free_port(), "passthrough": free_port(), "dragoman": free_port()}
    tmp = Path(tempfile.mkdtemp(prefix="dragoman-profile-"))
    mock_url = f"http://{HOST}:{ports['direct']}"
    config = {"server": {"host": HOST, "port": ports["dragoman"], "log_level": "warning"},
              "providers": [{"name": "mock", "protocol": "openai", "base_url": mock_url + "/v1", "api_key": "sk-bench"}],
              "routes": [{"match": "*", "provider": "mock"}]}
    (tmp / "dragoman.yaml").write_text(json.dumps(config))
    py = sys.executable
    procs = {
        "mock": Proc("mock", [py, str(BENCH / "mock_upstream.py"), "--port", str(ports["direct"])], load_core, tmp,
                     mock_url + "/_stats"),
        "dragoman": Proc("dragoman", [py, "-m", "proxy", "serve", "--config", str(tmp / "dragoman.yaml")], proxy_core,
                         tmp, f"http://{HOST}:{ports['dragoman']}/health"),
    }
    raw = tmp / "dragoman.raw.txt"
    spy: subprocess.Popen[bytes] | None = None
    try:
        for p in procs.values():
            p.start()
        for p in procs.values():
            p.wait_ready()
        ns = argparse.Namespace(quick=True, loadgen="auto" if args.workload != "paced" else "aiohttp")
        bench = LoadGen(ns, procs, ports, load_core)

        async def drive() -> dict[str, Any]:
            nonlocal spy
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                             timeout=aiohttp.ClientTimeout(total=60)) as session:
                bench.session = session
                stream = args.workload != "nonstream"
                model = MODEL + ("+delay=0.002" if args.workload == "paced" else "")
                await bench.batch_aiohttp("dragoman", model, stream, 300, 8)   # warm-up
                pin = (lambda: os.sched_setaffinity(0, {load_core})) if load_core is not None else None
                argv = [pyspy, "record", "--pid", str(procs["dragoman"].pid), "--format", "raw", "--nonblocking",
                        "--rate", "200", "--duration", str(int(args.seconds) + 1), "--output", str(raw)]
                # one short spawn from a thread-free process
                spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,  # noqa: ASYNC220
                                       preexec_fn=pin)  # noqa: PLW1509
                await asyncio.sleep(0.5)
                if bench.wrk and args.workload != "paced":
                    return await bench.batch_wrk("dragoman", model, stream, args.seconds, args.concurrency)
                end = time.monotonic() + args.seconds
                result: dict[str, Any] = {}
                while time.monotonic() < end:
                    result = await bench.batch_aiohttp("dragoman", model, stream, 200, args.concurrency)
                return result

        result = asyncio.run(drive())
        assert spy is not None
        _, err = spy.communicate(timeout=args.seconds + 30)
        if spy.returncode != 0 or not raw.exists():
            raise BenchError(f"py-spy failed: {err.decode(errors='replace')[-2000:]}")
    finally:
        if spy is not None and spy.poll() is None:
            spy.terminate()
            spy.wait(timeout=10)
        for p in procs.values():
            p.stop()

    total, by_self, by_incl = summarise(raw, args.top)
    print(f"workload {args.workload}: {result.get('rps')} req/s, {result.get('server_cpu_ms_per_req')} cpu-ms/req; "
          f"{total} samples (non-idle) of dragoman")
    print(f"\ntop {args.top} by SELF time")
    for name, n in by_self:
        print(f"  {n / total * 100:5.1f}%  {name}")
    print(f"\ntop {args.top} by INCLUSIVE time")
    for name, n in by_incl:
        print(f"  {n / total * 100:5.1f}%  {name}")
    print(f"\nraw stacks: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
