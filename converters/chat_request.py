"""OpenAI Chat Completions request -> Anthropic Messages request (OpenAI clients, Anthropic upstreams).

Pure: dict in, dict out; the input is never mutated. The output is built from an allow-list. An
option with no Anthropic form is refused with a ConversionError (a 400 naming the field) when
ignoring it would change the answer, and dropped otherwise (``dropped_options`` names those, for a
debug log). Unknown fields are ignored. Rules that are choices rather than translations:

- system and developer messages, wherever they sit, become the top-level ``system``, in order.
  ``MessagesTarget.system_prompt`` is used only when there are none.
- Consecutive same-role turns are merged. A conversation that opens with an assistant message
  gets a "." user turn before it (Anthropic requires a user turn first; LiteLLM does the same).
  A final assistant turn is a prefill for Anthropic: its trailing whitespace is stripped (a 400
  otherwise).
- role "tool" messages become tool_result blocks in one user turn right after the assistant turn,
  ahead of any user content of that turn. A result for an unknown call, or a call left without
  a result, is a 400 here, as it is on OpenAI.
- ``reasoning_effort`` -> ``thinking: {type: enabled, budget_tokens}`` by the rules of
  converters.reasoning.anthropic_thinking (budget table, max_tokens, route ceiling, and when
  thinking stays off: a forced tool, an unsigned tool turn, a prefill).
- ``temperature`` / ``top_p`` / ``top_k``, and sampling with thinking on: the shared rules of
  converters.anthropic_options (temperature clamped to 0..1 and preferred over top_p).
- ``response_format`` json_schema -> ``output_config.format``. json_object -> an instruction
  appended to the system prompt: Anthropic has no schema-less JSON mode, and its structured
  outputs need a schema with closed objects.
- The legacy ``functions`` / ``function_call`` request fields are refused: the answer would come
  back as ``tool_calls``, which a functions-era client does not read. Their history (an assistant
  ``function_call``, role "function" results) is mapped, with the deterministic tool id
  ``call_legacy_<message index>``.
- ``user`` (or ``safety_identifier``) -> ``metadata.user_id``; an email address or phone number
  is sent as a hash (converters.anthropic_options).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from converters.anthropic_options import anthropic_max_tokens, anthropic_metadata, anthropic_output_format, anthropic_sampling
from converters.errors import ConversionError
from converters.chat_turns import to_anthropic_turns
from converters.reasoning import anthropic_thinking

__all__ = ["MessagesTarget", "ConversionError", "to_messages_request", "dropped_options"]

_TOOL_CHOICE = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
# Present and non-null, these change the answer and Anthropic has no form for them.
_REFUSED = (
    ("logprobs", "logprobs are not available from Anthropic models"),
    ("top_logprobs", "logprobs are not available from Anthropic models"),
    ("logit_bias", "logit_bias is not supported by Anthropic models"),
    ("audio", "audio output is not supported by Anthropic models"),
    ("functions", "the legacy `functions` parameter is not supported; send the functions as `tools`"),
    ("function_call", "the legacy `function_call` parameter is not supported; use `tool_choice`"),
)
# Sent, these are not forwarded and do not change what the answer says.
_DROPPED = (
    "frequency_penalty", "presence_penalty", "seed", "service_tier", "store", "metadata", "prediction",
    "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options", "verbosity", "moderation",
)


@dataclass(frozen=True, slots=True)
class MessagesTarget:
    """Where the translated request goes: the upstream model and the route's limits."""

    model: str
    max_tokens: int | None = None        # route ceiling: min(client value, this)
    default_max_tokens: int = 16384      # Anthropic requires max_tokens; used when the client sent none
    system_prompt: str | None = None     # injected only when the request has no system/developer message


def dropped_options(body: dict[str, Any]) -> list[str]:
    """The options in ``body`` that ``to_messages_request`` leaves out without changing the answer."""
    dropped = [key for key in _DROPPED if body.get(key) is not None]
    if body.get("user") and body.get("safety_identifier"):
        dropped.append("safety_identifier")  # user wins
    return dropped


def to_messages_request(body: dict[str, Any], target: MessagesTarget) -> dict[str, Any]:
    """Chat Completions request body -> Anthropic Messages request body for ``target``."""
    _refuse_unsupported(body)
    system, turns = to_anthropic_turns(body.get("messages"))
    if not system and target.system_prompt:
        system = [{"type": "text", "text": target.system_prompt}]
    output_format, instruction = _response_format(body.get("response_format"))
    if instruction:
        system = [*system, {"type": "text", "text": instruction}]
    out: dict[str, Any] = {"model": target.model, "max_tokens": _max_tokens(body, target)}
    if system:
        out["system"] = system
    out["messages"] = turns
    tools, choice = _tools(body.get("tools"), body.get("tool_choice"), body.get("parallel_tool_calls"))
    if tools:
        out["tools"] = tools
        if choice is not None:
            out["tool_choice"] = choice
    forced = choice is not None and choice["type"] in ("any", "tool")
    thinking, out["max_tokens"] = anthropic_thinking(body.get("reasoning_effort"), out["max_tokens"],
                                                     target.max_tokens, turns, forced, "reasoning_effort")
    if thinking is not None:
        out["thinking"] = thinking
    out.update(anthropic_sampling(body, thinking=thinking is not None))
    if (stop := _stop(body.get("stop"))):
        out["stop_sequences"] = stop
    if (metadata := anthropic_metadata(body)) is not None:
        out["metadata"] = metadata
    if output_format is not None:
        out["output_config"] = {"format": output_format}
    if body.get("stream") is True:
        out["stream"] = True
    return out


def _refuse_unsupported(body: dict[str, Any]) -> None:
    if body.get("n") not in (None, 1):
        raise ConversionError("n > 1 is not supported: Anthropic models return one choice per request; "
                              "send separate requests instead", "n")
    for key, why in _REFUSED:
        if body.get(key) not in (None, False, 0, {}, []):
            raise ConversionError(why, key)
    if body.get("web_search_options") is not None:  # {} turns web search on
        raise ConversionError("web_search_options is not supported; Anthropic web search is a server tool",
                              "web_search_options")
    modalities = body.get("modalities")
    if isinstance(modalities, list) and "audio" in modalities:
        raise ConversionError("audio output is not supported by Anthropic models", "modalities")


def _max_tokens(body: dict[str, Any], target: MessagesTarget) -> int:
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    return anthropic_max_tokens(body.get(key), key, target.max_tokens, target.default_max_tokens)


def _stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise ConversionError("stop must be a string or a list of strings", "stop")
    return [s for s in stop if s.strip()]  # Anthropic rejects empty and whitespace-only sequences


def _response_format(spec: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(output_config.format, system instruction) for ``response_format``."""
    if spec is None:
        return None, None
    if not isinstance(spec, dict):
        raise ConversionError("response_format must be an object", "response_format")
    json_schema = spec.get("json_schema")
    return anthropic_output_format(spec.get("type"), json_schema.get("schema") if isinstance(json_schema, dict) else None,
                                   "response_format.type", "response_format.json_schema.schema")


# -- tools ------------------------------------------------------------------------------------

def _tools(tools: Any, choice: Any, parallel: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Anthropic ``tools`` and ``tool_choice`` (None: leave the upstream default)."""
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools if isinstance(tools, list) else ()):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise ConversionError("only function tools can be sent to Anthropic models", f"tools.{i}.type")
        function = tool.get("function")
        function = function if isinstance(function, dict) else {}
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise ConversionError("every tool needs a function name", f"tools.{i}.function.name")
        converted: dict[str, Any] = {"name": name}
        if isinstance(description := function.get("description"), str) and description:
            converted["description"] = description
        schema = function.get("parameters")
        schema = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
        converted["input_schema"] = schema if "type" in schema else {"type": "object", **schema}
        out.append(converted)
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif isinstance(choice, str) and choice in _TOOL_CHOICE:
        result = dict(_TOOL_CHOICE[choice])
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name not in {t["name"] for t in out}:
            raise ConversionError(f"tool_choice names {name!r}, which is not in tools", "tool_choice.function.name")
        result = {"type": "tool", "name": name}
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = {(t.get("function") or {}).get("name") for t in allowed.get("tools") or () if isinstance(t, dict)}
        out = [t for t in out if t["name"] in names]
        result = dict(_TOOL_CHOICE["required" if allowed.get("mode") == "required" else "auto"])
    else:
        raise ConversionError(f"unsupported tool_choice {choice!r}", "tool_choice")
    if parallel is False and (result is None or result["type"] != "none"):
        result = {**(result or _TOOL_CHOICE["auto"]), "disable_parallel_tool_use": True}
    return out, result

