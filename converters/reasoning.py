"""Reasoning effort <-> thinking budget: the one table each way, and when Anthropic thinking can be on.

OpenAI dialects (Chat's ``reasoning_effort``, Responses' ``reasoning.effort``) name an effort;
Anthropic's ``thinking`` takes a token budget (or, adaptive, an effort of its own in
``output_config.effort``). Every converter that crosses between them reads these.

``anthropic_thinking`` is the one rule set for turning an OpenAI effort into Anthropic thinking
(Chat's ``reasoning_effort`` and Responses' ``reasoning.effort`` alike):

- The budget comes from EFFORT_TO_BUDGET and must be below max_tokens. OpenAI's output limits
  count reasoning too, so max_tokens is raised to budget + max_tokens when needed. Under the
  route ceiling, the budget shrinks to leave 1024 tokens for the answer; below Anthropic's
  minimum budget (1024), thinking stays off.
- Thinking also stays off where Anthropic would reject the request: when tool_choice forces a
  tool, when the conversation ends in an assistant prefill, and when the last assistant turn made
  tool calls without a signed thinking block leading it (with thinking on, Anthropic requires
  that turn to start with the thinking block it signed; a block dragoman signed is stripped
  before it reaches Anthropic, so it does not count).
"""

from __future__ import annotations

from typing import Any

from converters.errors import ConversionError
from converters.thinking import is_synthetic_signature

__all__ = [
    "EFFORT_TO_BUDGET", "MIN_BUDGET", "budget_to_effort", "thinking_effort", "anthropic_thinking",
    "thinking_allowed",
]

# OpenAI effort -> Anthropic budget_tokens (none: thinking off).
EFFORT_TO_BUDGET: dict[str, int] = {
    "minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768,
}
MIN_BUDGET = 1024  # Anthropic's smallest budget_tokens
_ANSWER_ROOM = 1024  # tokens left for the answer when the route ceiling squeezes the budget
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


def anthropic_thinking(effort: Any, max_tokens: int, ceiling: int | None, turns: list[dict[str, Any]],
                       forced: bool, param: str) -> tuple[dict[str, Any] | None, int]:
    """(Anthropic ``thinking``, max_tokens) for an OpenAI effort; thinking None when it stays off.

    ``turns``: the Anthropic conversation; ``forced``: tool_choice forces a tool; ``param``: where
    the effort sits in the client's request (an unknown effort is a ConversionError naming it).
    """
    if effort is None or effort == "none":
        return None, max_tokens
    if not isinstance(effort, str) or effort not in EFFORT_TO_BUDGET:
        raise ConversionError(f"unknown {param} {effort!r}", param)
    if forced or not thinking_allowed(turns):
        return None, max_tokens
    budget, raised = _budget(EFFORT_TO_BUDGET[effort], max_tokens, ceiling)
    if not budget:
        return None, max_tokens
    return {"type": "enabled", "budget_tokens": budget}, raised


def thinking_allowed(turns: list[dict[str, Any]]) -> bool:
    """False when Anthropic would reject thinking for this conversation (see the module docstring)."""
    if not turns or turns[-1].get("role") == "assistant":
        return False  # a prefill
    last = next((t for t in reversed(turns) if t.get("role") == "assistant"), None)
    content = last.get("content") if last is not None else None
    if not isinstance(content, list) or all(block.get("type") != "tool_use" for block in content):
        return True
    first = content[0]
    if first.get("type") == "redacted_thinking":
        return True
    signature = first.get("signature")
    return (first.get("type") == "thinking" and isinstance(signature, str) and bool(signature)
            and not is_synthetic_signature(signature))


def _budget(budget: int, max_tokens: int, ceiling: int | None) -> tuple[int, int]:
    """(thinking budget, max_tokens) with budget < max_tokens; budget 0 when there is no room."""
    if budget >= max_tokens:
        max_tokens += budget
        if ceiling is not None and max_tokens > ceiling:
            max_tokens = ceiling
            budget = min(budget, ceiling - _ANSWER_ROOM)
    return (budget, max_tokens) if budget >= MIN_BUDGET else (0, max_tokens)
