"""Why a message ended, in each dialect's words: the one table per direction.

Anthropic's stop_reason is the internal vocabulary (streaming/events.py ``MessageEnd``); OpenAI
Chat's finish_reason and the Responses API's status / incomplete reason are mapped from and to it
here, so every converter, decoder and encoder reads the same rules.
"""

from __future__ import annotations

__all__ = ["FINISH_TO_STOP", "STOP_TO_FINISH", "stop_to_responses_status"]

# OpenAI finish_reason -> Anthropic stop_reason. An unknown reason is treated as end_turn;
# "error" (OpenRouter) is not a reason a message can end well with: decoders treat it as a failure.
FINISH_TO_STOP: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Anthropic stop_reason -> OpenAI finish_reason; an unknown reason is treated as "stop".
# pause_turn (server tools hit their iteration limit) has no OpenAI form: the answer so far stands.
STOP_TO_FINISH: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic stop_reason -> the Responses API's incomplete_details.reason, for the reasons that
# make a response "incomplete" rather than "completed".
_INCOMPLETE: dict[str, str] = {
    "max_tokens": "max_output_tokens",
    "model_context_window_exceeded": "max_output_tokens",
    "refusal": "content_filter",
}


def stop_to_responses_status(stop_reason: str | None) -> tuple[str, str | None]:
    """(status, incomplete reason) of a Responses API response that ended with ``stop_reason``."""
    reason = _INCOMPLETE.get(stop_reason or "")
    return ("incomplete", reason) if reason else ("completed", None)
