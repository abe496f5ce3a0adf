"""Calibration report for converters.token_count: estimate vs a real BPE tokenizer (o200k_base).

Run:  ./.venv/bin/python bench/token_count_accuracy.py   (needs `pip install bpe-openai`)

The reference is count_tokens() itself with its text estimator swapped for o200k_base, so both
sides see exactly the same text and the same fixed per-message / per-tool / image costs: the
relative error is the error of the fast estimator alone. The last columns show what Anthropic
billed for the recorded fixture requests (Claude's tokenizer differs, and Anthropic adds a
tool-use system prompt, so that is context, not a target). Not imported by the package or tests.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import bpe_openai  # type: ignore[import-untyped]
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # a stand-alone script run from anywhere

from converters import token_count  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
_ENCODING = bpe_openai.get_encoding("o200k_base")


def _bodies() -> list[tuple[str, dict[str, Any], int | None]]:
    """(name, request body, Anthropic-billed input tokens or None)."""
    out: list[tuple[str, dict[str, Any], int | None]] = []
    for path in sorted((FIXTURES / "claude-code").glob("*.json")):
        out.append((path.name, orjson.loads(path.read_bytes())["request"]["body"], None))
    for path in sorted(FIXTURES.glob("*.json")):
        exchange = orjson.loads(path.read_bytes())
        if exchange.get("api") == "anthropic-messages" and exchange.get("request"):
            out.append((path.name, exchange["request"], _billed(exchange["response"]["body"])))
    return out


def _billed(text: str) -> int | None:
    """input + cache tokens from a recorded Anthropic response (JSON, or message_start in SSE)."""
    for line in text.splitlines() if text.lstrip().startswith("event:") else [text]:
        line = line.removeprefix("data:").strip()
        if not line.startswith("{"):
            continue
        data = orjson.loads(line)
        usage = (data.get("message") or data).get("usage")
        if isinstance(usage, dict) and "input_tokens" in usage:
            return sum(usage.get(k) or 0 for k in
                       ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
    return None


def _reference(body: dict[str, Any]) -> int:
    with mock.patch.object(token_count, "_text_tokens", lambda text: len(_ENCODING.encode(text))):
        return token_count.count_tokens(body)


def _ms(body: dict[str, Any]) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(50):
            token_count.count_tokens(body)
        best = min(best, (time.perf_counter() - start) / 50)
    return best * 1e3


def main() -> None:
    print(f"{'body':48} {'bytes':>7} {'o200k':>6} {'est':>6} {'err':>7} {'ms':>6} {'anthropic':>9}")
    ratios: list[float] = []
    for name, body, billed in _bodies():
        size = len(orjson.dumps(body))
        reference, estimate = _reference(body), token_count.count_tokens(body)
        if name[:2].isdigit():
            ratios.append(size / reference)
        print(f"{name[:48]:48} {size:7d} {reference:6d} {estimate:6d} "
              f"{(estimate - reference) / reference:+7.1%} {_ms(body):6.2f} {billed if billed else '':>9}")
    print(f"\nClaude Code bodies: {min(ratios):.2f}-{max(ratios):.2f} body bytes per o200k token "
          f"(estimate_input_tokens uses {token_count._BYTES_PER_TOKEN})")


if __name__ == "__main__":
    main()
