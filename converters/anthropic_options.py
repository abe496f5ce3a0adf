"""Request options both OpenAI dialects express alike, in the Anthropic (hub) request's terms.

OpenAI Chat and the Responses API share sampling, output limits, end-user ids and JSON mode;
converters.chat_request and converters.responses_request both read these, so the rules live once:

- ``temperature`` is clamped to Anthropic's 0..1: OpenAI's 1..2 means "more random than the
  default" and 1.0 is Anthropic's most random, while scaling would change the meaning of the
  0..1 values clients actually send.
- ``temperature`` and ``top_p`` together: only temperature is sent (current Claude models
  reject the pair; OpenAI clients often send both, temperature being the one they tune).
- With thinking on, temperature and top_k are not sent, and top_p only when >= 0.95 (Anthropic
  rejects other values with thinking).
- An end-user id that is an email address or a phone number is sent as a hash, because
  Anthropic wants an opaque id (LiteLLM ``_valid_user_id``).
- JSON mode without a schema becomes an instruction appended to the system prompt: Anthropic has
  no schema-less JSON mode, and its structured outputs need a schema with closed objects.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from converters.errors import ConversionError

__all__ = ["JSON_INSTRUCTION", "anthropic_max_tokens", "anthropic_sampling", "anthropic_user_id", "anthropic_metadata",
           "anthropic_output_format", "valid_anthropic_turns"]

JSON_INSTRUCTION = "Respond with a single valid JSON object and nothing else: no prose, no code fences."
_PERSONAL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+|\+?[\d\s().-]{7,}")
_SAMPLING = ("temperature", "top_p", "top_k")


def anthropic_max_tokens(value: Any, param: str, ceiling: int | None, default: int) -> int:
    """The client's output limit (``default`` when it sent none), under the route ceiling."""
    if value is None:
        tokens = default
    elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConversionError(f"{param} must be a positive integer", param)
    else:
        tokens = value
    return tokens if ceiling is None else min(tokens, ceiling)


def anthropic_sampling(body: dict[str, Any], *, thinking: bool, keys: Iterable[str] = _SAMPLING) -> dict[str, Any]:
    """The sampling options among ``keys`` of ``body`` that go to Anthropic, by the rules above."""
    out: dict[str, Any] = {}
    for key in keys:
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConversionError(f"{key} must be a non-negative number", key)
        if key == "temperature" and not thinking:
            out[key] = min(value, 1.0)
        elif key == "top_p" and (not thinking or value >= 0.95):
            out[key] = value
        elif key == "top_k" and not thinking:
            out[key] = value  # not OpenAI's, but some Chat clients send it as an extension
    if "temperature" in out and "top_p" in out:
        del out["top_p"]
    return out


def anthropic_user_id(user: str) -> str:
    """An end-user id as Anthropic's ``metadata.user_id``: personal data goes as a hash."""
    if _PERSONAL.fullmatch(user):
        return "sha256-" + hashlib.sha256(user.encode()).hexdigest()[:32]
    return user


def anthropic_metadata(body: dict[str, Any]) -> dict[str, Any] | None:
    """``metadata`` from an OpenAI request's ``user`` (or ``safety_identifier``; ``user`` wins)."""
    user = body.get("user") or body.get("safety_identifier")
    return {"user_id": anthropic_user_id(user)} if isinstance(user, str) and user else None


def valid_anthropic_turns(turns: list[dict[str, Any]], param: str) -> list[dict[str, Any]]:
    """Turns Anthropic accepts, from turns already merged by role: a leading assistant turn gets a
    "." user turn before it (Anthropic wants the user first), and a final assistant text (a
    prefill) loses its trailing whitespace, which Anthropic rejects. None at all is a 400."""
    if not turns:
        raise ConversionError(f"{param} must contain a user or assistant message", param)
    if turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "."}]})
    final = turns[-1]["content"]
    if turns[-1]["role"] == "assistant" and final[-1]["type"] == "text":
        final[-1] = {**final[-1], "text": final[-1]["text"].rstrip()}
    return turns


def anthropic_output_format(kind: Any, schema: Any, param: str,
                            schema_param: str) -> tuple[dict[str, Any] | None, str | None]:
    """(``output_config.format``, system instruction) for an OpenAI structured-output request of
    ``kind`` (``response_format.type`` / ``text.format.type``, at ``param``) and its schema (at
    ``schema_param``). text asks for nothing; json_object is the instruction."""
    if kind == "text":
        return None, None
    if kind == "json_object":
        return None, JSON_INSTRUCTION
    if kind == "json_schema":
        if not isinstance(schema, dict):
            raise ConversionError(f"{param.rsplit('.', 1)[0]} json_schema needs a schema object", schema_param)
        return {"type": "json_schema", "schema": schema}, None
    raise ConversionError(f"unsupported {param.rsplit('.', 1)[0]} type {kind!r}", param)
