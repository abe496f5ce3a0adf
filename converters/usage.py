"""Token usage in each dialect's terms: the one place that maps it, every direction.

Anthropic's usage is the internal vocabulary: ``input_tokens`` excludes cache reads and writes,
which are counted apart (``cache_read_input_tokens``, ``cache_creation_input_tokens``). OpenAI's
Chat ``prompt_tokens`` and the Responses API's ``input_tokens`` include every prompt token, the
cached part reported inside ``*_tokens_details``. Thinking tokens are part of the output count
everywhere.
"""

from __future__ import annotations

from typing import Any

__all__ = ["empty_usage", "anthropic_usage", "chat_usage", "responses_usage", "usage_from_responses"]


def empty_usage(input_tokens: int = 0) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def anthropic_usage(usage: dict[str, Any] | None) -> dict[str, int] | None:
    """OpenAI Chat ``usage`` -> Anthropic usage; None when the upstream sent none.

    The cached (and cache-written) part moves out of input_tokens. DeepSeek reports cache hits as
    prompt_cache_hit_tokens instead of prompt_tokens_details.cached_tokens.
    """
    if not isinstance(usage, dict):
        return None
    prompt = _int(usage.get("prompt_tokens"))
    details = _dict(usage.get("prompt_tokens_details"))
    cached = _int(details.get("cached_tokens")) or _int(usage.get("prompt_cache_hit_tokens"))
    written = _int(details.get("cache_write_tokens"))
    return {
        "input_tokens": max(prompt - cached - written, 0),
        "output_tokens": _int(usage.get("completion_tokens")),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


def chat_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    """Anthropic usage -> OpenAI Chat usage (prompt_tokens counts cache reads and writes too)."""
    usage = _dict(usage)
    read, written, prompt, completion = _totals(usage)
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": read, "cache_write_tokens": written},
    }
    if (thinking := _thinking_tokens(usage)) is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": thinking}
    return out


def responses_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    """Anthropic usage -> the Responses API's usage object."""
    usage = _dict(usage)
    read, written, prompt, completion = _totals(usage)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": read, "cache_write_tokens": written},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": _thinking_tokens(usage) or 0},
        "total_tokens": prompt + completion,
    }


def usage_from_responses(usage: Any) -> dict[str, Any] | None:
    """The Responses API's usage -> Anthropic usage; None when the upstream sent none. Reasoning
    tokens are kept as ``output_tokens_details.thinking_tokens`` (Anthropic's own field)."""
    if not isinstance(usage, dict):
        return None
    details = _dict(usage.get("input_tokens_details"))
    cached, written = _int(details.get("cached_tokens")), _int(details.get("cache_write_tokens"))
    out: dict[str, Any] = {
        "input_tokens": max(_int(usage.get("input_tokens")) - cached - written, 0),
        "output_tokens": _int(usage.get("output_tokens")),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }
    reasoning = _dict(usage.get("output_tokens_details")).get("reasoning_tokens")
    if isinstance(reasoning, int) and not isinstance(reasoning, bool) and reasoning > 0:
        out["output_tokens_details"] = {"thinking_tokens": reasoning}
    return out


def _totals(usage: dict[str, Any]) -> tuple[int, int, int, int]:
    """(cache reads, cache writes, every prompt token, output tokens) of an Anthropic usage."""
    read = _int(usage.get("cache_read_input_tokens"))
    written = _int(usage.get("cache_creation_input_tokens"))
    return read, written, _int(usage.get("input_tokens")) + read + written, _int(usage.get("output_tokens"))


def _thinking_tokens(usage: dict[str, Any]) -> int | None:
    thinking = _dict(usage.get("output_tokens_details")).get("thinking_tokens")
    return thinking if isinstance(thinking, int) and not isinstance(thinking, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
