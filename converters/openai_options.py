"""Anthropic request options in OpenAI's forms, shared by the Chat Completions and Responses
requests built from the hub (converters.messages_request, converters.messages_to_responses).

The two OpenAI dialects differ only in where a forced function's name sits (Chat:
``{"type": "function", "function": {"name"}}``, Responses: ``{"type": "function", "name"}``) and
in how a JSON schema answer is asked for; the rules are the same:

- ``tool_choice`` auto / any / none -> auto / required / none; a string choice is read leniently
  (Anthropic wants an object, some clients send a string). Forcing a tool that is not sent (a
  dropped server tool) would be an upstream 400 ("Tool choice 'function' not found in 'tools'",
  raine/claude-code-proxy#10), so the choice is left to the model instead.
- ``disable_parallel_tool_use`` -> ``parallel_tool_calls: false`` (meaningless with ``none``).
- ``output_config.format`` (or the legacy top-level ``output_format``) with a JSON schema is the
  one structured-output form both carry; anything else asks for nothing.

Pure: dict in, dict out.
"""

from __future__ import annotations

from typing import Any, Literal

from converters.tool_names import shorten_tool_name

__all__ = ["openai_tool_choice", "output_schema"]

_TOOL_CHOICE = {"auto": "auto", "any": "required", "none": "none"}


def openai_tool_choice(choice: Any, names: set[str], dialect: Literal["chat", "responses"]) -> dict[str, Any]:
    """``tool_choice`` / ``parallel_tool_calls`` for a request whose function tools are ``names``
    (only called when tools are sent)."""
    if isinstance(choice, str):
        choice = {"type": choice}
    if not isinstance(choice, dict):
        return {}
    out: dict[str, Any] = {}
    kind = choice.get("type")
    if kind in _TOOL_CHOICE:
        out["tool_choice"] = _TOOL_CHOICE[kind]
    elif kind == "tool" and isinstance(name := choice.get("name"), str):
        if (short := shorten_tool_name(name)) in names:
            out["tool_choice"] = ({"type": "function", "function": {"name": short}} if dialect == "chat"
                                  else {"type": "function", "name": short})
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False
    return out


def output_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema an Anthropic request asks its answer to follow, if any."""
    config = body.get("output_config")
    spec = config.get("format") if isinstance(config, dict) else None
    if spec is None:
        spec = body.get("output_format")
    if not isinstance(spec, dict) or spec.get("type") != "json_schema" or not isinstance(spec.get("schema"), dict):
        return None
    return spec["schema"]  # type: ignore[no-any-return]
