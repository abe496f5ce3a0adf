"""Anthropic Message -> chat.completion, on recorded Anthropic responses (expected values computed
by hand from each fixture), plus the round trip Anthropic -> OpenAI -> Anthropic as a property."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion

from converters.chat_response import to_messages_response
from converters.messages_response import to_chat_completion
from converters.stop_reasons import STOP_TO_FINISH
from converters.usage import chat_usage

from .conftest import load_fixture


def convert(name: str) -> dict[str, Any]:
    message = json.loads(load_fixture(name)["response"]["body"])
    completion = to_chat_completion(message, model="gpt-4o", created=1_700_000_000)
    ChatCompletion.model_validate(completion)  # the openai SDK's own type accepts it
    return completion


def usage(prompt: int, completion: int, cached: int = 0, written: int = 0) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written}}


def test_tool_use_with_thinking() -> None:
    completion = convert("anthropic-tool-use-with-thinking.json")
    assert completion["id"] == "chatcmpl-msg_01WvueFjZVbHcj4H4zUzeGv2"
    assert (completion["object"], completion["created"], completion["model"]) == (
        "chat.completion", 1_700_000_000, "gpt-4o")
    assert completion["system_fingerprint"] is None
    choice = completion["choices"][0]
    assert (choice["index"], choice["finish_reason"], choice["logprobs"]) == (0, "tool_calls", None)
    message = choice["message"]
    assert message["role"] == "assistant" and message["refusal"] is None
    assert message["content"] == ("I'll help you find the largest city in your country. "
                                  "First, let me determine which country you're from.")
    assert message["tool_calls"] == [{"id": "toolu_01YGzqpRE16Vricda3Aqcejo", "type": "function",
                                      "function": {"name": "get_user_country", "arguments": "{}"}}]
    assert message["reasoning_content"].startswith('The user is asking about the largest city in "the user country".')
    assert message["reasoning_content"].endswith("Let me call the get_user_country function first.")
    assert "signature" not in json.dumps(completion)
    assert completion["usage"] == usage(398, 155)


def test_parallel_tools() -> None:
    completion = convert("anthropic-parallel-tools-nonstream.json")
    message = completion["choices"][0]["message"]
    assert message["content"].startswith("Certainly! I'd be happy to help you with both the current weather")
    calls = [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message["tool_calls"]]
    assert calls == [("toolu_012r6TBCWjRHG71j6zruYyUL", "get_weather", {"location": "New York, NY", "unit": "fahrenheit"}),
                     ("toolu_01SkeBKkLCNYWNuivqFerGDd", "get_time", {"timezone": "America/New_York"})]
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    assert completion["usage"] == usage(514, 152)  # this older response has no cache fields at all
    assert "reasoning_content" not in message


def test_adaptive_thinking() -> None:
    message = convert("anthropic-adaptive-thinking.json")["choices"][0]["message"]
    # blocks: text "\n\n", thinking "4", text "2 + 2 = **4**"; the blank first text earns no separator
    assert message["content"] == "\n\n2 + 2 = **4**"
    assert message["reasoning_content"] == "4"
    assert "tool_calls" not in message


def test_forced_tool_has_null_content() -> None:
    completion = convert("anthropic-tool-choice-forced.json")
    message = completion["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"][0]["function"] == {"name": "get_user_country", "arguments": "{}"}
    assert completion["usage"] == usage(445, 23)


def test_image_answer() -> None:
    completion = convert("anthropic-image-url.json")
    message = completion["choices"][0]["message"]
    assert message["content"].startswith("This is a potato.")
    assert set(message) == {"role", "content", "refusal"}
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"] == usage(296, 91)


def test_nested_tool_input_and_tool_history() -> None:
    message = convert("anthropic-tool-use-json-tool.json")["choices"][0]["message"]
    arguments = json.loads(message["tool_calls"][0]["function"]["arguments"])
    assert arguments["elements"][3] == {"location": "Berlin", "temperature": -9, "condition": "snowy"}
    completion = convert("anthropic-tool-history.json")
    assert completion["choices"][0]["message"]["tool_calls"][0]["function"] == {
        "name": "get_time", "arguments": '{"timezone":"America/Los_Angeles"}'}
    assert completion["usage"] == usage(568, 58)


@pytest.mark.parametrize(("stop", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("pause_turn", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"), ("refusal", "content_filter"),
    ("a_future_reason", "stop"), (None, "stop")])
def test_finish_reason(stop: str | None, finish: str) -> None:
    completion = to_chat_completion({"id": "msg_1", "content": [], "stop_reason": stop}, model="m", created=0)
    assert completion["choices"][0]["finish_reason"] == finish
    assert completion["choices"][0]["message"]["content"] == ""  # S14: no content -> ""
    assert len(STOP_TO_FINISH) == 7


def test_skipped_blocks_and_paragraph_between_text_around_a_server_tool() -> None:
    message = {"id": "msg_1", "stop_reason": "end_turn", "content": [
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Let me search."},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        {"type": "text", "text": "It is ", "citations": None},
        {"type": "text", "text": "sunny.", "citations": [{"type": "web_search_result_location"}]},
    ]}
    reply = to_chat_completion(message, model="m", created=0)["choices"][0]["message"]
    assert reply == {"role": "assistant", "content": "Let me search.\n\nIt is sunny.", "refusal": None}


def test_usage_counts_every_prompt_token_and_reasoning() -> None:
    anthropic = {"input_tokens": 10, "cache_read_input_tokens": 200, "cache_creation_input_tokens": 30,
                 "output_tokens": 50, "output_tokens_details": {"thinking_tokens": 20}, "service_tier": "standard"}
    assert chat_usage(anthropic) == {
        "prompt_tokens": 240, "completion_tokens": 50, "total_tokens": 290,
        "prompt_tokens_details": {"cached_tokens": 200, "cache_write_tokens": 30},
        "completion_tokens_details": {"reasoning_tokens": 20}}
    assert chat_usage(None) == usage(0, 0)


def test_input_is_not_mutated() -> None:
    message = json.loads(load_fixture("anthropic-tool-use-with-thinking.json")["response"]["body"])
    before = json.dumps(message, sort_keys=True)
    to_chat_completion(message, model="m", created=0)
    assert json.dumps(message, sort_keys=True) == before


# -- round trip: Anthropic -> OpenAI -> Anthropic -----------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
_tool_use = st.builds(
    lambda suffix, name, tool_input: {"type": "tool_use", "id": "toolu_" + suffix, "name": name, "input": tool_input},
    st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=24, max_size=24),
    st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,40}", fullmatch=True),
    st.dictionaries(st.text(max_size=10), _json, max_size=5))
_usage = st.fixed_dictionaries({k: st.integers(0, 10**7) for k in (
    "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")})


@st.composite
def anthropic_messages(draw: st.DrawFn) -> dict[str, Any]:
    """Messages in the order Anthropic produces: thinking, then text, then tool calls."""
    thinking = draw(st.lists(st.text(min_size=1), max_size=2))
    texts = draw(st.lists(st.text(), max_size=3))
    calls = draw(st.lists(_tool_use, max_size=3, unique_by=lambda block: block["id"]))
    stop = "tool_use" if calls else draw(st.sampled_from(["end_turn", "max_tokens", "refusal"]))
    content = ([{"type": "thinking", "thinking": t, "signature": "sig"} for t in thinking]
               + [{"type": "text", "text": t} for t in texts] + calls)
    return {"id": "msg_" + draw(st.text("abc123", min_size=1, max_size=12)), "type": "message",
            "role": "assistant", "model": "claude", "content": content, "stop_reason": stop,
            "stop_sequence": None, "usage": draw(_usage)}


@settings(max_examples=300, database=None, deadline=None)
@given(anthropic_messages())
def test_round_trip_keeps_text_tool_calls_and_usage(message: dict[str, Any]) -> None:
    completion = to_chat_completion(message, model="client-model", created=0)
    ChatCompletion.model_validate(completion)
    back = to_messages_response(completion, model="client-model")
    text = "".join(b["text"] for b in message["content"] if b["type"] == "text")
    assert [b["text"] for b in back["content"] if b["type"] == "text"] == ([text] if text.strip() else [])
    assert [(b["id"], b["name"], b["input"]) for b in back["content"] if b["type"] == "tool_use"] == [
        (b["id"], b["name"], b["input"]) for b in message["content"] if b["type"] == "tool_use"]
    assert back["usage"] == message["usage"]
    assert back["stop_reason"] == message["stop_reason"]
    thinking = "".join(b["thinking"] for b in message["content"] if b["type"] == "thinking")
    assert [b["thinking"] for b in back["content"] if b["type"] == "thinking"] == ([thinking] if thinking.strip() else [])
