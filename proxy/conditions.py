"""Route conditions besides the model glob: thinking, long context, tools.

Claude Code asks for the same model names whatever it is doing; claude-code-router's users route
its scenarios by what the request carries instead (thinking on, a long context, a web_search
tool), and a route's ``thinking`` / ``min_input_tokens`` / ``tools_include`` say the same here.
The facts are read once from the parsed body; the token count, the only one that costs anything
(~1 ms on a Claude Code body), only when a route that could match asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from converters.errors import ConversionError
from converters.responses_tools import declared_tools
from converters.token_count import count_tokens

from .config import Route

__all__ = ["Facts", "anthropic_facts", "openai_facts", "responses_facts", "admits"]


class Facts:
    """What route conditions look at in one request, each read only if a route asks: most
    configs have no conditions, and a request should not pay for them then."""

    __slots__ = ("_read_thinking", "_read_tools", "_count", "_thinking", "_tools", "_tokens")

    def __init__(self, thinking: Callable[[], bool], tools: Callable[[], tuple[tuple[str, str], ...]],
                 count: Callable[[], int]) -> None:
        self._read_thinking, self._read_tools, self._count = thinking, tools, count
        self._thinking: bool | None = None
        self._tools: tuple[tuple[str, str], ...] | None = None
        self._tokens: int | None = None

    @property
    def thinking(self) -> bool:
        if self._thinking is None:
            self._thinking = self._read_thinking()
        return self._thinking

    @property
    def tools(self) -> tuple[tuple[str, str], ...]:
        """(name, server-tool type or ""), one per tool."""
        if self._tools is None:
            self._tools = self._read_tools()
        return self._tools

    @property
    def input_tokens(self) -> int:
        """The local estimate count_tokens answers with (converters/token_count.py), counted once."""
        if self._tokens is None:
            self._tokens = self._count()
        return self._tokens

    def has_tool(self, wanted: str) -> bool:
        """A tool named ``wanted``, or a server tool whose versioned type starts with it
        (``web_search`` matches Anthropic's ``web_search_20250305``)."""
        return any(name == wanted or (kind and kind.startswith(wanted)) for name, kind in self.tools)


def admits(route: Route, facts: Facts | None) -> bool:
    """Whether the request meets every condition of ``route``. Without facts (GET /v1/models/{id}
    has no request to judge) only a route without conditions does."""
    if not route.conditional:
        return True
    if facts is None:
        return False
    if route.thinking is not None and route.thinking != facts.thinking:
        return False
    if route.tools_include and not any(map(facts.has_tool, route.tools_include)):
        return False
    return route.min_input_tokens is None or facts.input_tokens >= route.min_input_tokens


def anthropic_facts(body: dict[str, Any]) -> Facts:
    """A Messages request: thinking is on when ``thinking.type`` is enabled or adaptive; server
    tools (``type`` other than custom) keep their type for prefix matching."""
    def thinking() -> bool:
        setting = body.get("thinking")
        return isinstance(setting, dict) and setting.get("type") in ("enabled", "adaptive")

    def tools() -> tuple[tuple[str, str], ...]:
        return tuple((str(tool.get("name") or ""), _server_type(tool.get("type")))
                     for tool in body.get("tools") or () if isinstance(tool, dict))

    return Facts(thinking, tools, lambda: count_tokens(body))


def openai_facts(body: dict[str, Any]) -> Facts:
    """A Chat Completions request: thinking is a ``reasoning_effort`` other than none (what the
    translation turns into thinking); ``web_search_options`` counts as a web_search tool."""
    def thinking() -> bool:
        effort = body.get("reasoning_effort")
        return effort is not None and effort != "none"

    def tools() -> tuple[tuple[str, str], ...]:
        found: list[tuple[str, str]] = []
        for tool in body.get("tools") or ():
            if isinstance(tool, dict):
                function = tool.get("function")
                name = function.get("name") if isinstance(function, dict) else tool.get("name")
                found.append((str(name or ""), _server_type(tool.get("type"), custom="function")))
        if body.get("web_search_options") is not None:
            found.append(("web_search", "web_search"))
        return tuple(found)

    return Facts(thinking, tools, lambda: _openai_tokens(body))


def _server_type(kind: Any, custom: str = "custom") -> str:
    return kind if isinstance(kind, str) and kind != custom else ""


def _openai_tokens(body: dict[str, Any]) -> int:
    """The same estimate over a Chat Completions request: its messages' text parts and tool-call
    arguments, and its function definitions, seen through the Messages shape count_tokens reads."""
    messages: list[dict[str, Any]] = []
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                blocks = [*blocks, {"type": "text", "text": f"{function.get('name')}{function.get('arguments')}"}]
        messages.append({"content": blocks})
    tools = [{"name": f.get("name"), "description": f.get("description"), "input_schema": f.get("parameters")}
             for tool in body.get("tools") or ()
             if isinstance(tool, dict) and isinstance(f := tool.get("function"), dict)]
    return count_tokens({"messages": messages, "tools": tools})


def responses_facts(body: dict[str, Any]) -> Facts:
    """A Responses API request: thinking is a ``reasoning.effort`` other than none; tools by name
    (a namespace's functions by theirs), hosted tools (``web_search``...) by type."""
    def thinking() -> bool:
        reasoning = body.get("reasoning")
        effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
        return effort is not None and effort != "none"

    def tools() -> tuple[tuple[str, str], ...]:
        found: list[tuple[str, str]] = []
        for each in _responses_tools(body):
            found.append((str(each.get("name") or ""), _server_type(each.get("type"), custom="function")
                          if each.get("type") != "custom" else ""))
        return tuple(found)

    return Facts(thinking, tools, lambda: _responses_tokens(body))


def _responses_tokens(body: dict[str, Any]) -> int:
    """The same estimate over a Responses request: instructions, the text of its input items
    (messages, call arguments and outputs), and its function definitions."""
    texts: list[dict[str, Any]] = []
    if isinstance(instructions := body.get("instructions"), str):
        texts.append({"type": "text", "text": instructions})
    items = body.get("input")
    for item in [{"content": items}] if isinstance(items, str) else items or ():
        if not isinstance(item, dict):
            continue
        content = item.get("content")
        for part in [{"text": content}] if isinstance(content, str) else content or ():
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append({"type": "text", "text": part["text"]})
        for key in ("arguments", "input", "output"):
            if isinstance(value := item.get(key), str):
                texts.append({"type": "text", "text": value})
    tools = [{"name": t.get("name"), "description": t.get("description"),
              "input_schema": t.get("parameters") or t.get("format")}
             for t in _responses_tools(body) if t.get("type") in ("function", "custom")]
    return count_tokens({"messages": [{"content": texts}], "tools": tools})


def _responses_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every tool a Responses request declares (``tools`` and ``additional_tools`` input items),
    a namespace's members in its place; anything malformed is left to the converter's 400."""
    try:
        declared = declared_tools(body)
    except ConversionError:
        return []
    found: list[dict[str, Any]] = []
    for _, tool, _ in declared:
        inner = tool.get("tools") if isinstance(tool, dict) and tool.get("type") == "namespace" else None
        found += [each for each in (inner if isinstance(inner, list) else [tool]) if isinstance(each, dict)]
    return found
