"""Token usage and stop reasons: OpenAI Chat terms -> Anthropic Messages terms."""

from __future__ import annotations

from typing import Any

__all__ = ["FINISH_TO_STOP", "anthropic_usage", "empty_usage"]

# OpenAI finish_reason -> Anthropic stop_reason. An unknown reason is treated as end_turn.
FINISH_TO_STOP: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def empty_usage(input_tokens: int = 0) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def anthropic_usage(usage: dict[str, Any] | None) -> dict[str, int] | None:
    """OpenAI ``usage`` -> Anthropic usage; None when the upstream sent none.

    OpenAI's prompt_tokens includes cached tokens; Anthropic's input_tokens does not, so the cached
    (and cache-written) part is moved out of input_tokens. DeepSeek reports cache hits as
    prompt_cache_hit_tokens instead of prompt_tokens_details.cached_tokens.
    """
    if not isinstance(usage, dict):
        return None
    prompt = _int(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    cached = _int(details.get("cached_tokens")) or _int(usage.get("prompt_cache_hit_tokens"))
    written = _int(details.get("cache_write_tokens"))
    return {
        "input_tokens": max(prompt - cached - written, 0),
        "output_tokens": _int(usage.get("completion_tokens")),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
