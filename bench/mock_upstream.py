"""An OpenAI-compatible mock provider for the benchmarks: POST /v1/chat/completions on loopback.

Run as its own process:  python bench/mock_upstream.py --port 18001 [--chunks 50]

The behaviour of one request is chosen by its ``model`` string, because that is the one field that
reaches the provider unchanged through every proxy (dragoman routes ``*`` with the model passing
through). The model is ``name`` optionally followed by ``+key=value`` options, e.g.
``claude-bench+mode=normal+chunks=50+delay=0.002+id=dc3``:

* ``mode=normal`` (default): ``stream: false`` gets a realistic ``chat.completion`` JSON with usage;
  ``stream: true`` gets a realistic SSE stream: a role chunk, ``chunks`` text deltas (the first is
  "Hello"), a finish chunk, a usage chunk (``stream_options.include_usage``) and ``data: [DONE]``,
  each event its own write, with ``delay`` seconds before each text delta (0: as fast as possible).
* ``mode=forever``: a stream that sends one text delta every ``interval`` seconds (default 1) for at
  most ``max_s`` seconds (default 900), then ends normally. For open-stream memory tests.
* ``mode=firehose``: a stream that writes text deltas as fast as the connection takes them, 64 per
  write, up to ``max_mb`` MB (default 256), then ends. For slow-client (backpressure) tests.
* ``id=...``: record this request under that id: start time, bytes written, and the
  ``time.monotonic()`` at which the handler saw the client leave (cancelled / write failed), or
  finished. ``GET /_stats?id=...`` returns the record (monotonic clocks are system-wide on Linux,
  so another process can subtract its own ``time.monotonic()``).

``GET /_stats`` returns global counters (requests, active streams, cancelled streams);
``GET /_health`` answers 200. The server runs with ``handler_cancellation=True`` so a client that
disconnects cancels the handler at once (that is the instant recorded as ``cancelled_at``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import OrderedDict
from typing import Any

import orjson
from aiohttp import web

WORDS = ("Hello", " there", ",", " I", " will", " look", " at", " the", " repository", " layout",
         " first", " and", " then", " read", " the", " failing", " test", " to", " see", " what",
         " it", " expects", ".", " After", " that", " I", "'ll", " propose", " a", " minimal", " fix",
         " with", " a", " regression", " test", ".")
_MAX_IDS = 10_000


def _options(model: str) -> dict[str, str]:
    parts = model.split("+")
    opts = {"name": parts[0]}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        opts[key] = value
    return opts


class Mock:
    def __init__(self, default_chunks: int) -> None:
        self.default_chunks = default_chunks
        self.requests = 0
        self.streams = 0
        self.active = 0
        self.cancelled = 0
        self.records: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cache: dict[tuple[str, int], tuple[bytes, list[bytes], bytes]] = {}

    # -- canned bodies --------------------------------------------------------------------

    def _chunk(self, model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            "id": "chatcmpl-bench0123456789abcdef", "object": "chat.completion.chunk",
            "created": 1767225600, "model": model, "system_fingerprint": "fp_bench01",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    def _usage(self, completion_tokens: int) -> dict[str, Any]:
        return {"prompt_tokens": 7012, "completion_tokens": completion_tokens, "total_tokens": 7012 + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 6912, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}

    def stream_parts(self, model: str, chunks: int) -> tuple[bytes, list[bytes], bytes]:
        """(role chunk, text delta chunks, finish + usage + [DONE]) for a model name, cached."""
        key = (model, chunks)
        cached = self._cache.get(key)
        if cached is None:
            head = self._chunk(model, {"role": "assistant", "content": "", "refusal": None})
            deltas = [self._chunk(model, {"content": WORDS[i % len(WORDS)]}) for i in range(chunks)]
            usage = {"id": "chatcmpl-bench0123456789abcdef", "object": "chat.completion.chunk",
                     "created": 1767225600, "model": model, "system_fingerprint": "fp_bench01",
                     "choices": [], "usage": self._usage(chunks)}
            tail = (self._chunk(model, {}, "stop") + b"data: " + orjson.dumps(usage) + b"\n\n"
                    + b"data: [DONE]\n\n")
            cached = (head, deltas, tail)
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = cached
        return cached

    def completion(self, model: str, chunks: int) -> bytes:
        text = "".join(WORDS[i % len(WORDS)] for i in range(chunks))
        return orjson.dumps({
            "id": "chatcmpl-bench0123456789abcdef", "object": "chat.completion", "created": 1767225600,
            "model": model, "system_fingerprint": "fp_bench01",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None,
                                                 "annotations": []},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": self._usage(chunks), "service_tier": "default",
        })

    # -- handlers ---------------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        try:
            body = orjson.loads(await request.read())
            model = body["model"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return web.json_response({"error": {"message": "bad request body", "type": "invalid_request_error"}},
                                     status=400)
        opts = _options(model)
        chunks = int(opts.get("chunks", self.default_chunks))
        record = None
        if "id" in opts:
            record = {"started": time.monotonic(), "bytes": 0, "cancelled_at": None, "finished_at": None}
            self.records[opts["id"]] = record
            while len(self.records) > _MAX_IDS:
                self.records.popitem(last=False)
        if not body.get("stream"):
            return web.Response(body=self.completion(model, chunks), content_type="application/json")

        self.streams += 1
        self.active += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                               "Cache-Control": "no-cache", "x-request-id": "req_bench"})
        try:
            await response.prepare(request)
            mode = opts.get("mode", "normal")
            if mode == "forever":
                await self._forever(response, model, opts, record)
            elif mode == "firehose":
                await self._firehose(response, model, opts, record)
            else:
                await self._normal(response, model, chunks, float(opts.get("delay", 0)), record)
            await response.write_eof()
            if record is not None:
                record["finished_at"] = time.monotonic()
            return response
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled += 1
            if record is not None and record["cancelled_at"] is None:
                record["cancelled_at"] = time.monotonic()
            raise
        finally:
            self.active -= 1

    async def _normal(self, response: web.StreamResponse, model: str, chunks: int, delay: float,
                      record: dict[str, Any] | None) -> None:
        head, deltas, tail = self.stream_parts(model, chunks)
        await response.write(head)
        sent = len(head)
        for delta in deltas:
            if delay:
                await asyncio.sleep(delay)
            await response.write(delta)
            sent += len(delta)
        await response.write(tail)
        if record is not None:
            record["bytes"] = sent + len(tail)

    async def _forever(self, response: web.StreamResponse, model: str, opts: dict[str, str],
                       record: dict[str, Any] | None) -> None:
        interval = float(opts.get("interval", 1.0))
        deadline = time.monotonic() + float(opts.get("max_s", 900))
        head, deltas, tail = self.stream_parts(model, len(WORDS))
        await response.write(head)
        i = 0
        while time.monotonic() < deadline:   # bounded: ends normally at max_s
            delta = deltas[i % len(deltas)]
            await response.write(delta)
            if record is not None:
                record["bytes"] += len(delta)
            i += 1
            await asyncio.sleep(interval)
        await response.write(tail)

    async def _firehose(self, response: web.StreamResponse, model: str, opts: dict[str, str],
                        record: dict[str, Any] | None) -> None:
        limit = float(opts.get("max_mb", 256)) * 1024 * 1024
        head, deltas, tail = self.stream_parts(model, len(WORDS))
        batch = b"".join(deltas[i % len(deltas)] for i in range(64))
        await response.write(head)
        sent = 0
        while sent < limit:               # bounded by max_mb
            await response.write(batch)   # awaits drain: the client's pace is the limit
            sent += len(batch)
            if record is not None:
                record["bytes"] = sent
        await response.write(tail)

    async def stats(self, request: web.Request) -> web.Response:
        ident = request.query.get("id")
        if ident is not None:
            return web.json_response(self.records.get(ident))
        return web.json_response({"requests": self.requests, "streams": self.streams, "active": self.active,
                                  "cancelled": self.cancelled})

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")


def make_app(default_chunks: int = 50) -> web.Application:
    mock = Mock(default_chunks)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", mock.chat)
    app.router.add_get("/_stats", mock.stats)
    app.router.add_get("/_health", mock.health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18001)
    parser.add_argument("--chunks", type=int, default=50, help="text deltas per normal stream")
    args = parser.parse_args()
    web.run_app(make_app(args.chunks), host=args.host, port=args.port, access_log=None,
                handler_cancellation=True, backlog=2048, print=None)


if __name__ == "__main__":
    main()
