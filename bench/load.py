"""Load generation: the request bodies and the client side of every measurement.

Owns: the 28 KB Claude Code body in its Anthropic (dragoman) and OpenAI (direct, pass-through)
forms, the three targets' URLs and headers, ``LoadGen`` (one timed request, a batch through the
aiohttp client or through wrk with the server's CPU seconds around it, raw-socket requests, the
mock's ``/_stats`` record). ``phases.Bench`` builds the measurements on top of it.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from processes import HOST, ROOT, BenchError, Proc, cpu_seconds, pinner

sys.path.insert(0, str(ROOT))

from converters.messages_request import ChatTarget, to_chat_request

CAPTURE = ROOT / "tests" / "fixtures" / "claude-code" / "01_main_first_request.json"
BODY_BYTES = 28 * 1024
MODEL = "claude-bench"
TARGETS = ("direct", "passthrough", "dragoman")
PROXIES = ("passthrough", "dragoman")


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


# -- the client side -------------------------------------------------------------------------

class LoadGen:
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

    # batches ---------------------------------------------------------------------------------

    def cpu_snapshot(self) -> dict[str, float]:
        snap = {name: cpu_seconds(p.pid) for name, p in self.procs.items()}
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)   # wrk, once waited for
        snap["loadgen"] = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
        return snap

    def _finish_batch(self, target: str, n: int, errors: int, wall: float, before: dict[str, float],
                      extra: dict[str, Any] | None = None) -> dict[str, Any]:
        after = self.cpu_snapshot()
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

        before = self.cpu_snapshot()
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
        before = self.cpu_snapshot()
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                    preexec_fn=pinner(self.load_core))
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

    async def wait_cancelled(self, ident: str, timeout: float = 5.0) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rec = await self.mock_stats(ident)
            if rec and rec.get("cancelled_at"):
                return float(rec["cancelled_at"])
            await asyncio.sleep(0.005)
        return None

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
