"""Tool names and tool-call ids that survive a round trip through an OpenAI-compatible upstream,
and the arguments of a call an OpenAI client sends back in its history.

OpenAI caps function names at 64 characters; Anthropic tool ids must match ``^[a-zA-Z0-9_-]+$``.
Both rewrites are deterministic, so the value a client echoes back maps again with no server state.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

__all__ = [
    "MAX_TOOL_NAME", "shorten_tool_name", "restore_map", "anthropic_tool_id", "new_tool_id",
    "ClientTool", "ToolMap", "call_arguments",
]

MAX_TOOL_NAME = 64
_MAX_TOOL_ID = 40  # OpenAI rejects longer tool_call ids
_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def shorten_tool_name(name: str) -> str:
    """Names over 64 characters become their first 55 characters, '_' and an 8-hex-digit hash."""
    if len(name) <= MAX_TOOL_NAME:
        return name
    return f"{name[:MAX_TOOL_NAME - 9]}_{_digest(name)}"


def restore_map(tools: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """Shortened name -> original name, for the tools of one request (empty when none was shortened)."""
    restored: dict[str, str] = {}
    for tool in tools or ():
        name = tool.get("name")
        if isinstance(name, str) and len(name) > MAX_TOOL_NAME:
            restored[shorten_tool_name(name)] = name
    return restored


def new_tool_id() -> str:
    return "toolu_" + secrets.token_hex(12)


def anthropic_tool_id(upstream_id: object) -> str:
    """An upstream tool-call id in Anthropic's alphabet; generated when the upstream sent none.

    Ids like Kimi's ``functions.Bash:0`` are sanitised and suffixed with a hash of the original,
    so two ids that sanitise alike stay distinct.
    """
    if not isinstance(upstream_id, str) or not upstream_id:
        return new_tool_id()
    clean = _BAD_ID_CHARS.sub("_", upstream_id)
    if clean == upstream_id and len(clean) <= _MAX_TOOL_ID:
        return clean
    return f"{clean[:_MAX_TOOL_ID - 9]}_{_digest(upstream_id)}"


@dataclass(frozen=True, slots=True)
class ClientTool:
    """A client tool as the Responses API client declared it, for answers that name it again:
    a ``custom`` (freeform) tool is called with raw ``input``, not JSON ``arguments``, and a
    function inside a ``namespace`` tool is called with its own name and the namespace apart."""

    name: str
    kind: Literal["function", "custom"] = "function"
    namespace: str | None = None


# A tool's name in the hub request (a namespace flattened as namespace__name, then shortened to
# 64 characters like every hub name) -> the client's tool.
ToolMap = Mapping[str, ClientTool]


def call_arguments(arguments: Any) -> dict[str, Any] | None:
    """A past tool call's arguments as Anthropic's ``input`` object, or None when they are not a
    JSON object (a 400 for the caller to name). Empty or missing arguments are ``{}``; an object
    already parsed (some clients send one) is kept. History is not repaired: the client sent it."""
    if arguments is None or isinstance(arguments, str) and not arguments.strip():
        return {}
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return None
    return arguments if isinstance(arguments, dict) else None
