"""Non-streaming answers to and from the OpenAI Responses API, and its error table.

Pure: dict in, dict out.
- ``to_responses_response``: a hub (Anthropic) message -> a Response object, with the items the
  streaming encoder emits for the same answer (converters/responses_items.py builds both):
  adjacent text blocks are one ``message`` item (Anthropic splits one answer around citations),
  opened by text that is not whitespace alone (leading whitespace is kept in front of it);
  text and thinking that follow a block of another kind after earlier text of their kind start
  with a blank line, as streaming/messages_decoder.py does; server-tool blocks are skipped; when
  the request asked for reasoning and the answer does not start with a reasoning item, an empty
  one comes first (Codex expects one); the last message item of an incomplete answer is
  ``incomplete``.
- ``to_messages_response``: a Response object (a ``protocol: responses`` provider) -> a hub
  message, with the rules streaming/responses_decoder.py applies to a stream.

Errors: Codex (codex-rs/codex-api/src/sse/responses.rs, github.com/openai/codex) reads the
``code`` of a failed response: ``rate_limit_exceeded`` is retried after the delay it parses from
"try again in 12.5s" in the message, ``context_length_exceeded`` ends the turn with a "context
window exceeded" error, ``insufficient_quota`` ends it with a quota error, anything else is
retried. ``responses_error_code`` is the one table from Anthropic error types (the hub's) to those
codes; ``anthropic_error_type`` the one table back. The Responses API's HTTP error body is OpenAI's
``{"error": {"message", "type", "param", "code"}}`` (``responses_http_error``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from converters.chat_response import parse_tool_arguments
from converters.messages_response import BLOCK_SEPARATOR, openai_error
from converters.responses_items import (
    client_tool,
    custom_input,
    custom_tool_call_item,
    encrypted_from_redacted,
    function_call_item,
    item_id,
    message_item,
    partner_id,
    reasoning_encryption,
    reasoning_item,
    response_core,
)
from converters.stop_reasons import stop_to_responses_status
from converters.thinking import SYNTHETIC_SIGNATURE, signature_from_responses
from converters.tool_names import ToolMap, anthropic_tool_id
from converters.usage import empty_usage, responses_usage, usage_from_responses

__all__ = [
    "to_responses_response", "to_messages_response", "responses_error", "responses_http_error",
    "responses_error_code", "anthropic_error_type", "stop_from_responses", "reasoning_text", "message_text",
]

_NO_NAMES: Mapping[str, str] = MappingProxyType({})

# -- errors -------------------------------------------------------------------------------------

_CONTEXT = re.compile(r"prompt is too long|context (length|window)|maximum context|too many (input )?tokens"
                      r"|input is too long|exceeds? the (model's )?(context|maximum)", re.IGNORECASE)
_QUOTA = re.compile(r"quota|credit balance|billing", re.IGNORECASE)

# Responses error code -> Anthropic error type. insufficient_quota is billing_error (Anthropic's
# 402): retrying cannot help, and rate_limit_error would make Anthropic clients retry.
_CODE_TO_TYPE: dict[str, str] = {
    "rate_limit_exceeded": "rate_limit_error",
    "insufficient_quota": "billing_error",
    "context_length_exceeded": "invalid_request_error",
    "invalid_prompt": "invalid_request_error",
    "server_is_overloaded": "overloaded_error",
    "slow_down": "overloaded_error",
    "server_error": "api_error",
}


def responses_error_code(error_type: str, message: str) -> str:
    """The Responses error code for an Anthropic error type (and its message)."""
    if error_type == "rate_limit_error":
        # OpenAI reports an exhausted quota as a 429 (chat_decoder makes it a rate_limit_error).
        return "insufficient_quota" if _QUOTA.search(message) else "rate_limit_exceeded"
    if error_type == "billing_error":
        return "insufficient_quota"
    if error_type == "request_too_large":
        return "context_length_exceeded"
    if error_type == "invalid_request_error":
        if _CONTEXT.search(message):
            return "context_length_exceeded"
        if _QUOTA.search(message):  # Anthropic: "Your credit balance is too low ..." is a 400
            return "insufficient_quota"
    return "server_error"


def _with_retry_hint(message: str, retry_after: float | None) -> str:
    if retry_after is None or "try again in" in message.lower():
        return message
    seconds = f"{max(retry_after, 0.0):.3f}".rstrip("0").rstrip(".")
    return f"{message.rstrip()} Please try again in {seconds}s."


def responses_error(error_type: str, message: str, retry_after: float | None = None) -> dict[str, Any]:
    """The ``{code, message}`` error of a ``response.failed`` for an Anthropic-style error type.

    ``retry_after`` (seconds, from the upstream's Retry-After) is written into a rate-limit
    message as "Please try again in Ns.", the form Codex parses.
    """
    code = responses_error_code(error_type, message)
    if code == "rate_limit_exceeded":
        message = _with_retry_hint(message, retry_after)
    return {"code": code, "message": message}


def responses_http_error(error_type: str, message: str, retry_after: float | None = None,
                         param: str | None = None) -> dict[str, Any]:
    """The HTTP error body for Responses clients: OpenAI's ``{"error": {...}}``.

    ``code`` is the Responses code when clients act on it (as in ``responses_error``), else the
    Anthropic error type, as ``openai_error`` gives Chat clients.
    """
    error = responses_error(error_type, message, retry_after)
    body = openai_error(error_type, error["message"], param)
    if error["code"] != "server_error":
        body["error"]["code"] = error["code"]
        if error["code"] == "insufficient_quota":
            body["error"]["type"] = "insufficient_quota"  # what OpenAI itself sends
    return body


def anthropic_error_type(code: object) -> str:
    """The Anthropic error type for a Responses error code (api_error when unknown)."""
    if not isinstance(code, str):
        return "api_error"
    mapped = _CODE_TO_TYPE.get(code)
    if mapped is not None:
        return mapped
    # invalid_image, invalid_base64_image, image_too_large...: the input was refused
    return "invalid_request_error" if code.startswith(("invalid_", "image_")) else "api_error"


# -- stop reasons -------------------------------------------------------------------------------

# incomplete_details.reason -> Anthropic stop_reason. An unknown reason is max_tokens: the answer
# was cut, and end_turn would make it look whole.
_INCOMPLETE_TO_STOP: dict[str, str] = {"max_output_tokens": "max_tokens", "content_filter": "refusal"}


def stop_from_responses(status: str, incomplete_details: Any, called_tools: bool) -> str:
    """The stop_reason of a response that ended ``status`` (completed or incomplete)."""
    if status == "incomplete":
        reason = incomplete_details.get("reason") if isinstance(incomplete_details, dict) else None
        return _INCOMPLETE_TO_STOP.get(reason, "max_tokens") if isinstance(reason, str) else "max_tokens"
    return "tool_use" if called_tools else "end_turn"


def reasoning_text(item: Mapping[str, Any]) -> str:
    """A reasoning item's readable text: its summary parts (or raw reasoning parts), a blank line apart."""
    for key in ("summary", "content"):
        parts = item.get(key)
        texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)] \
            if isinstance(parts, list) else []
        if any(texts):
            return BLOCK_SEPARATOR.join(texts)
    return ""


# -- hub message -> Response --------------------------------------------------------------------

def to_responses_response(message: dict[str, Any], *, response_id: str, model: str, created_at: int,
                          tool_map: ToolMap, reasoning_requested: bool, echo: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic message -> Response object; ``model`` is the name the client asked for, ``echo``
    is ``responses_items.response_echo(request)``. Raises ValueError without a content list."""
    content = message.get("content")
    if not isinstance(content, list):
        raise ValueError("upstream response has no content list")
    status, incomplete = stop_to_responses_status(message.get("stop_reason"))
    output: list[dict[str, Any]] = []
    text: list[str] | None = None   # the open message item's text
    held = ""                       # whitespace that has not opened a message item yet
    spoken: set[str] = set()
    previous = ""

    def close_text() -> None:
        nonlocal text
        if text is not None:
            output.append(message_item(item_id("msg", response_id, len(output)), "".join(text)))
            text = None

    def reasoning_first() -> None:
        if reasoning_requested and not output:
            output.append(reasoning_item(item_id("rs", response_id, 0), "", None))

    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in ("text", "thinking"):
            said = block.get(kind)
            said = said if isinstance(said, str) else ""
            if kind in spoken and previous != kind:
                said = BLOCK_SEPARATOR + said
            if said.strip():
                spoken.add(kind)
            if kind == "text":
                if text is not None:
                    text.append(said)
                elif not said.strip():
                    held += said
                else:
                    reasoning_first()
                    text, held = [held + said], ""
            else:
                close_text()
                held = ""
                carried_id, encrypted = reasoning_encryption(str(block.get("signature") or ""))
                output.append(reasoning_item(carried_id or item_id("rs", response_id, len(output)), said, encrypted))
        elif kind == "redacted_thinking":
            close_text()
            held = ""
            output.append(reasoning_item(item_id("rs", response_id, len(output)), "",
                                         encrypted_from_redacted(str(block.get("data") or ""))))
        elif kind == "tool_use":
            close_text()
            held = ""
            reasoning_first()
            output.append(_tool_item(block, response_id, len(output), tool_map))
        previous = kind if isinstance(kind, str) else ""
    if text is not None:
        output.append(message_item(item_id("msg", response_id, len(output)), "".join(text),
                                   "incomplete" if status == "incomplete" else "completed"))
    reasoning_first()
    usage = responses_usage(message.get("usage"))
    return {**response_core(response_id, model, created_at, status, output, usage, None, incomplete), **echo}


def _tool_item(block: dict[str, Any], response_id: str, index: int, tool_map: ToolMap) -> dict[str, Any]:
    tool = client_tool(tool_map, str(block.get("name") or ""))
    tool_input = block.get("input")
    arguments = orjson.dumps(tool_input if tool_input is not None else {}).decode()
    call_id = str(block.get("id") or "")
    if tool.kind == "custom":
        return custom_tool_call_item(item_id("ctc", response_id, index), call_id, tool, custom_input(arguments))
    return function_call_item(item_id("fc", response_id, index), call_id, tool, arguments, "completed")


# -- Response -> hub message --------------------------------------------------------------------

# Statuses of a Response that holds no finished answer (background responses can be returned
# queued or in progress); a missing status is taken as completed (some compatible servers omit it).
_UNFINISHED = frozenset({"failed", "cancelled", "queued", "in_progress"})

def to_messages_response(response: dict[str, Any], *, model: str,
                         tool_names: Mapping[str, str] = _NO_NAMES) -> dict[str, Any]:
    """Response object -> Anthropic message; ``model`` is the name the client asked for.

    ``tool_names`` maps the upstream's tool names back to the hub's (as for Chat upstreams).
    Raises ValueError when the body is not a Response object, or one that failed (the proxy
    answers 502).
    """
    output = response.get("output") if isinstance(response, dict) else None
    if not isinstance(output, list):
        raise ValueError("upstream response is not a Response object (no output list)")
    status = response.get("status")
    error = response.get("error")
    if status in _UNFINISHED or (status not in ("completed", "incomplete") and isinstance(error, dict)):
        detail = error.get("message") if isinstance(error, dict) else None
        raise ValueError(f"upstream response is {status or 'failed'}{': ' + str(detail) if detail else ''}")
    blocks: list[dict[str, Any]] = []
    spoken: set[str] = set()
    called = False
    for n, item in enumerate(output):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "message":
            text = message_text(item)
            if text.strip():
                blocks.append({"type": "text", "text": _separated("text", text, spoken)})
        elif kind == "reasoning":
            text, encrypted = reasoning_text(item), item.get("encrypted_content")
            encrypted = encrypted if isinstance(encrypted, str) and encrypted else None
            if text or encrypted:
                following = partner_id(output[n + 1]) if n + 1 < len(output) else ""
                signature = (signature_from_responses(str(item.get("id") or ""), encrypted, following) if encrypted
                             else SYNTHETIC_SIGNATURE)
                blocks.append({"type": "thinking", "thinking": _separated("thinking", text, spoken),
                               "signature": signature})
        elif kind in ("function_call", "custom_tool_call"):
            called = True
            name = str(item.get("name") or "")
            tool_input = (parse_tool_arguments(item.get("arguments")) if kind == "function_call"
                          else {"input": item.get("input") if isinstance(item.get("input"), str) else ""})
            blocks.append({"type": "tool_use", "id": anthropic_tool_id(item.get("call_id")),
                           "name": tool_names.get(name, name), "input": tool_input})
        # web_search_call, file_search_call, code_interpreter_call, ...: the provider ran them
    response_id = str(response.get("id") or "")
    return {
        "id": "msg_" + (response_id.partition("_")[2] or response_id or "response"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_from_responses(str(status), response.get("incomplete_details"), called),
        "stop_sequence": None,
        "usage": usage_from_responses(response.get("usage")) or empty_usage(),
    }


def message_text(item: dict[str, Any]) -> str:
    """A Responses message item's text: its output_text and refusal parts, joined."""
    parts = item.get("content")
    texts: list[str] = []
    for part in parts if isinstance(parts, list) else ():
        if isinstance(part, dict):
            value = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
            if isinstance(value, str):
                texts.append(value)
    return "".join(texts)


def _separated(kind: str, text: str, spoken: set[str]) -> str:
    """``text`` opening a block of ``kind``: a blank line first when text of that kind came before."""
    if kind in spoken and text:
        text = BLOCK_SEPARATOR + text
    if text.strip():
        spoken.add(kind)
    return text
