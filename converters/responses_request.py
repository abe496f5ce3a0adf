"""OpenAI Responses API request -> Anthropic Messages request (the hub), with the ToolMap back.

Responses clients (the Codex CLI, new OpenAI-SDK code) reach every provider through the hub:
this builds the Anthropic Messages request, which goes to Anthropic as it is or on through the
other converters. Pure: dict in, dict out; the input is never mutated and the output is built
from an allow-list. An option with no Anthropic form is refused with a ConversionError (a 400
naming the field) when ignoring it would change the answer, and dropped otherwise
(``dropped_options`` names those, for a debug log). Unknown fields are ignored.

The conversation (converters.responses_turns) and the tools (converters.responses_tools) state
their own rules. Here, the rules that are choices rather than translations:

- ``instructions`` and every system / developer message, wherever it sits, become the top-level
  ``system``, in order; ``MessagesTarget.system_prompt`` is used only when there are none.
- ``reasoning.effort`` -> thinking by converters.reasoning.anthropic_thinking, the rules Chat's
  ``reasoning_effort`` follows. No effort, no thinking: a request without one asks for the
  model's default, and Anthropic's default is not to think. ``reasoning.summary`` needs nothing:
  the thinking Anthropic returns is already a summary.
- ``temperature`` / ``top_p``: the shared rules of converters.anthropic_options.
- ``text.format`` json_schema -> ``output_config.format``; json_object -> the JSON instruction
  appended to the system prompt (Anthropic has no schema-less JSON mode). ``text.verbosity`` is
  dropped: it tunes how long the answer is, not what it says, and Anthropic has no such knob.
- ``prompt_cache_key`` asks for prompt caching. OpenAI caches every prompt prefix by itself;
  Anthropic caches only prefixes marked with ``cache_control``. So the request gets up to three
  marks: the last tool, the last system block (Codex sends ~40 KB of both on every turn), and
  the last block of the conversation, so each turn reads the turns before it from the cache (the
  marks Claude Code itself puts; Anthropic allows four).
- ``user`` (or ``safety_identifier``) -> ``metadata.user_id``, personal data hashed.
- Refused, because the answer would differ: ``previous_response_id`` and ``conversation`` (they
  name state on OpenAI's side; the proxy expands a previous_response_id it knows before this
  runs), ``background: true``, ``prompt`` (a stored prompt template), ``moderation``,
  ``top_logprobs`` and the ``message.output_text.logprobs`` include, a ``truncation`` other than
  auto / disabled. ``truncation: auto`` is dropped: when the conversation fits, nothing changes,
  and when it does not, the upstream's 400 says so instead of a silently shortened history.
- ``max_tool_calls`` limits built-in tool calls; web search is the only one that reaches
  Anthropic, so it becomes that tool's ``max_uses``, and is dropped when there is no web search.
"""

from __future__ import annotations

from typing import Any

from converters.anthropic_options import anthropic_max_tokens, anthropic_metadata, anthropic_output_format, anthropic_sampling
from converters.chat_request import MessagesTarget
from converters.errors import ConversionError
from converters.reasoning import anthropic_thinking
from converters.responses_tools import has_web_search, to_anthropic_tool_choice, to_anthropic_tools
from converters.responses_turns import to_anthropic_turns
from converters.tool_names import ToolMap

__all__ = ["MessagesTarget", "ConversionError", "to_messages_request", "dropped_options"]

_CACHEABLE = frozenset({"text", "image", "document", "tool_result"})  # blocks that take cache_control
_LOGPROBS = "message.output_text.logprobs"
# Present and not null, these change the answer and have no Anthropic form.
_REFUSED = (
    ("previous_response_id", "previous_response_id names a response dragoman does not have; "
                             "send the whole conversation in input"),
    ("conversation", "conversations are stored on OpenAI's side; send the whole conversation in input"),
    ("prompt", "stored prompt templates are not available here; send the prompt in instructions and input"),
    ("moderation", "moderation settings are not supported by this model"),
)
# Sent, these are not forwarded and do not change what the answer says.
_DROPPED = (
    "metadata", "store", "include", "prompt_cache_retention", "prompt_cache_options", "service_tier",
    "truncation", "background", "stream_options", "client_metadata", "context_management", "image",
    "top_logprobs", "text.verbosity", "max_tool_calls",
)


def dropped_options(body: dict[str, Any]) -> list[str]:
    """The options in ``body`` that ``to_messages_request`` leaves out without changing the answer."""
    text = body.get("text")
    values = {**body, "text.verbosity": text.get("verbosity") if isinstance(text, dict) else None}
    if has_web_search(body):
        values.pop("max_tool_calls", None)  # it became the web search tool's max_uses
    dropped = [key for key in _DROPPED if values.get(key) is not None]
    if body.get("user") and body.get("safety_identifier"):
        dropped.append("safety_identifier")  # user wins
    return dropped


def to_messages_request(body: dict[str, Any], target: MessagesTarget) -> tuple[dict[str, Any], ToolMap]:
    """Responses request body -> (Anthropic Messages request body for ``target``, hub tool name ->
    the client's tool, for answers that name the client's tools again)."""
    _refuse_unsupported(body)
    tools, tool_map = to_anthropic_tools(body)
    system, turns = to_anthropic_turns(body.get("instructions"), body.get("input"))
    if not system and target.system_prompt:
        system = [{"type": "text", "text": target.system_prompt}]
    output_format, instruction = _text_format(body.get("text"))
    if instruction:
        system = [*system, {"type": "text", "text": instruction}]
    max_tokens = anthropic_max_tokens(body.get("max_output_tokens"), "max_output_tokens",
                                      target.max_tokens, target.default_max_tokens)
    out: dict[str, Any] = {"model": target.model, "max_tokens": max_tokens}
    if system:
        out["system"] = system
    out["messages"] = turns
    tools, choice = to_anthropic_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"), tools, tool_map)
    if tools:  # with no tools, a tool_choice is an upstream 400
        out["tools"] = tools
        if choice is not None:
            out["tool_choice"] = choice
    reasoning = body.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, dict):
        raise ConversionError("reasoning must be an object", "reasoning")
    forced = choice is not None and choice["type"] in ("any", "tool")
    thinking, out["max_tokens"] = anthropic_thinking((reasoning or {}).get("effort"), out["max_tokens"],
                                                     target.max_tokens, turns, forced, "reasoning.effort")
    if thinking is not None:
        out["thinking"] = thinking
    out.update(anthropic_sampling(body, thinking=thinking is not None, keys=("temperature", "top_p")))
    if (metadata := anthropic_metadata(body)) is not None:
        out["metadata"] = metadata
    if output_format is not None:
        out["output_config"] = {"format": output_format}
    if body.get("stream") is True:
        out["stream"] = True
    if isinstance(body.get("prompt_cache_key"), str) and body["prompt_cache_key"]:
        _mark_cache(out)
    return out, tool_map


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for key, why in _REFUSED:
        if body.get(key) is not None:
            raise ConversionError(why, key)
    if body.get("background") is True:
        raise ConversionError("background responses are not supported: dragoman answers in the request",
                              "background")
    if body.get("top_logprobs") not in (None, 0):
        raise ConversionError("logprobs are not available from this model", "top_logprobs")
    include = body.get("include")
    if isinstance(include, list) and _LOGPROBS in include:
        raise ConversionError("logprobs are not available from this model", "include")
    limit = body.get("max_tool_calls")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConversionError("max_tool_calls must be a positive integer", "max_tool_calls")
    if body.get("truncation") not in (None, "auto", "disabled"):
        raise ConversionError(f"unsupported truncation {body['truncation']!r}", "truncation")


def _text_format(text: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(output_config.format, system instruction) for ``text.format``."""
    spec = text.get("format") if isinstance(text, dict) else None
    if spec is None:
        return None, None
    if not isinstance(spec, dict):
        raise ConversionError("text.format must be an object", "text.format")
    return anthropic_output_format(spec.get("type"), spec.get("schema"), "text.format.type", "text.format.schema")


def _mark_cache(out: dict[str, Any]) -> None:
    """Anthropic cache breakpoints on the last tool, the last system block and the conversation's
    last block (every list and block here is this request's own: replacing them is safe)."""
    if tools := out.get("tools"):
        tools[-1] = {**tools[-1], "cache_control": {"type": "ephemeral"}}
    if system := out.get("system"):
        system[-1] = {**system[-1], "cache_control": {"type": "ephemeral"}}
    final = out["messages"][-1]["content"]
    if final[-1]["type"] in _CACHEABLE:
        final[-1] = {**final[-1], "cache_control": {"type": "ephemeral"}}
