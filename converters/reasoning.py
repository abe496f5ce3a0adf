"""Reasoning effort <-> thinking budget: the one table each way.

OpenAI dialects (Chat's ``reasoning_effort``, Responses' ``reasoning.effort``) name an effort;
Anthropic's ``thinking`` takes a token budget (or, adaptive, an effort of its own in
``output_config.effort``). Every converter that crosses between them reads these.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EFFORT_TO_BUDGET", "MIN_BUDGET", "budget_to_effort", "thinking_effort"]

# OpenAI effort -> Anthropic budget_tokens (none: thinking off).
EFFORT_TO_BUDGET: dict[str, int] = {
    "minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768,
}
MIN_BUDGET = 1024  # Anthropic's smallest budget_tokens
# Anthropic budget_tokens -> OpenAI effort: budgets up to the key go to the value, larger "high".
_BUDGET_TO_EFFORT: tuple[tuple[int, str], ...] = ((4096, "low"), (16384, "medium"))
# Anthropic adaptive thinking's output_config.effort -> OpenAI effort.
_ADAPTIVE_EFFORT = {"low": "low", "medium": "medium", "high": "high", "max": "high"}


def budget_to_effort(budget: Any) -> str:
    """The OpenAI effort for an Anthropic thinking budget ("medium" when the budget is unreadable)."""
    if not isinstance(budget, int) or isinstance(budget, bool):
        return "medium"
    return next((effort for limit, effort in _BUDGET_TO_EFFORT if budget <= limit), "high")


def thinking_effort(body: dict[str, Any]) -> str | None:
    """An Anthropic request's thinking settings as an OpenAI effort; None when thinking is off."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type")
    if kind == "enabled":
        return budget_to_effort(thinking.get("budget_tokens"))
    if kind == "adaptive":
        config = body.get("output_config")
        effort = config.get("effort") if isinstance(config, dict) else None
        return _ADAPTIVE_EFFORT.get(effort, "medium") if isinstance(effort, str) else "medium"
    return None
