"""OpenAI Chat Completions request -> Anthropic Messages request: every rule, on hand-written cases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from converters.chat_request import ConversionError, MessagesTarget, dropped_options, to_messages_request


def convert(body: dict[str, Any], **target: Any) -> dict[str, Any]:
    return to_messages_request({"model": "gpt-4o", **body}, MessagesTarget(model=target.pop("model", "claude-x"), **target))


def user(content: Any = "hi") -> dict[str, Any]:
    return {"role": "user", "content": content}


def call(id: str, name: str = "get_weather", arguments: str = '{"city":"Paris"}') -> dict[str, Any]:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def refused(body: dict[str, Any], param: str, **target: Any) -> str:
    with pytest.raises(ConversionError) as info:
        convert(body, **target)
    assert info.value.param == param
    return str(info.value)


TOOL_LOOP = [user("weather?"), {"role": "assistant", "content": None, "tool_calls": [call("call_1")]},
             {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
                                                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


# -- basics, system, alternation ---------------------------------------------------------------

def test_minimal_request() -> None:
    assert convert({"messages": [user()], "stream": True, "some_future_field": 1}) == {
        "model": "claude-x", "max_tokens": 16384, "messages": [{"role": "user", "content": [text("hi")]}],
        "stream": True}
    assert "stream" not in convert({"messages": [user()], "stream": False})


def test_system_and_developer_messages_anywhere_become_system_in_order() -> None:
    out = convert({"messages": [{"role": "system", "content": "Be brief."}, user("a"),
                                {"role": "developer", "content": [text("Use French."), text("  ")]},
                                {"role": "assistant", "content": "b"}, user("c")]}, system_prompt="ignored")
    assert out["system"] == [text("Be brief."), text("Use French.")]
    assert [t["role"] for t in out["messages"]] == ["user", "assistant", "user"]


def test_route_system_prompt_only_when_the_request_has_none() -> None:
    assert convert({"messages": [user()]}, system_prompt="You are helpful.")["system"] == [text("You are helpful.")]
    assert "system" not in convert({"messages": [user()]})


def test_system_with_an_image_is_refused() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x/a.png"}}
    refused({"messages": [{"role": "system", "content": [image]}, user()]}, "messages.0.content")


def test_consecutive_same_role_turns_merge() -> None:
    out = convert({"messages": [user("a"), user([text("b")]), {"role": "assistant", "content": "c"},
                                {"role": "assistant", "content": [text("d")]}, user("e")]})
    assert out["messages"] == [{"role": "user", "content": [text("a"), text("b")]},
                               {"role": "assistant", "content": [text("c"), text("d")]},
                               {"role": "user", "content": [text("e")]}]


def test_leading_assistant_gets_a_minimal_user_turn() -> None:
    out = convert({"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "Hello!"}, user()]})
    assert out["messages"][0] == {"role": "user", "content": [text(".")]}
    assert out["messages"][1] == {"role": "assistant", "content": [text("Hello!")]}


def test_final_assistant_prefill_loses_trailing_whitespace() -> None:
    out = convert({"messages": [user(), {"role": "assistant", "content": "The answer is \n"}]})
    assert out["messages"][-1] == {"role": "assistant", "content": [text("The answer is")]}


def test_empty_and_whitespace_text_never_makes_a_block() -> None:
    out = convert({"messages": [user(""), user([text(" \n"), text("real")]), {"role": "assistant", "content": " "},
                                user("  ")]})
    assert out["messages"] == [{"role": "user", "content": [text("real")]}]
    refused({"messages": [user(""), {"role": "system", "content": "s"}]}, "messages")
    refused({"messages": []}, "messages")
    refused({"messages": [{"role": "critic", "content": "x"}]}, "messages.0.role")


# -- content parts -------------------------------------------------------------------------------

def test_images() -> None:
    parts = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
             {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
             {"type": "image_url", "image_url": "http://example.com/dog.webp"},
             {"type": "text", "text": "What are these?", "cache_control": {"type": "ephemeral"}}]
    assert convert({"messages": [user(parts)]})["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "image", "source": {"type": "url", "url": "http://example.com/dog.webp"}},
        {"type": "text", "text": "What are these?", "cache_control": {"type": "ephemeral"}}]


@pytest.mark.parametrize(("url", "why"), [
    ("data:image/bmp;base64,Qk0=", "image type 'image/bmp'"), ("data:image/png,raw", "must be base64"),
    ("ftp://example.com/a.png", "http(s) URL")])
def test_bad_images_are_refused(url: str, why: str) -> None:
    message = refused({"messages": [user([text("x"), {"type": "image_url", "image_url": {"url": url}}])]},
                      "messages.0.content.1.image_url.url")
    assert why in message


def test_audio_input_is_refused() -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    assert "audio" in refused({"messages": [user([text("listen"), audio])]}, "messages.0.content.1")


def test_pdf_file_becomes_a_document() -> None:
    pdf = {"type": "file", "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}}
    assert convert({"messages": [user([pdf, text("Summarise")])]})["messages"][0]["content"][0] == {
        "type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
        "title": "report.pdf"}
    csv = {"type": "file", "file": {"file_data": "data:text/csv;base64,YSxi"}}
    assert "PDF" in refused({"messages": [user([csv])]}, "messages.0.content.0.file.file_data")
    refused({"messages": [user([{"type": "file", "file": {"file_id": "file-abc"}}])]}, "messages.0.content.0.file")
    refused({"messages": [user([{"type": "video", "video": {}}])]}, "messages.0.content.0.type")


# -- tool calls and results ------------------------------------------------------------------------

def test_tool_loop() -> None:
    messages = [user("Weather in Paris and Rome?"),
                {"role": "assistant", "content": "", "tool_calls": [call("call_1"), call("call_2", arguments='{"city":"Rome"}')]},
                {"role": "tool", "tool_call_id": "call_2", "content": [text("rain")]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sun"},
                user("And tomorrow?")]
    assert convert({"messages": messages})["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_2", "content": [text("rain")]},
            {"type": "tool_result", "tool_use_id": "call_1", "content": [text("sun")]},
            text("And tomorrow?")]}]


def test_assistant_text_with_tool_calls_and_empty_results() -> None:
    messages = [user(), {"role": "assistant", "content": "Checking.", "tool_calls": [call("call_1", arguments="")]},
                {"role": "tool", "tool_call_id": "call_1", "content": ""}]
    out = convert({"messages": messages})["messages"]
    assert out[1]["content"] == [text("Checking."), {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}]
    assert out[2]["content"] == [{"type": "tool_result", "tool_use_id": "call_1"}]


def test_unsafe_tool_ids_map_the_same_way_on_both_sides() -> None:
    messages = [user(), {"role": "assistant", "tool_calls": [call("functions.get_weather:0")]},
                {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "ok"}]
    out = convert({"messages": messages})["messages"]
    tool_id = out[1]["content"][0]["id"]
    assert tool_id.startswith("functions_get_weather_0_") and out[2]["content"][0]["tool_use_id"] == tool_id


@pytest.mark.parametrize("arguments", ['{"city": "Par', "[1, 2]", '"text"'])
def test_invalid_tool_arguments_name_the_call(arguments: str) -> None:
    messages = [user(), {"role": "assistant", "tool_calls": [call("call_1"), call("call_2", arguments=arguments)]}]
    message = refused({"messages": messages}, "messages.1.tool_calls.1.function.arguments")
    assert "call_2" in message


def test_tool_results_must_answer_calls() -> None:
    refused({"messages": [*TOOL_LOOP, {"role": "tool", "tool_call_id": "call_9", "content": "x"}]},
            "messages.3.tool_call_id")
    refused({"messages": [user(), {"role": "tool", "tool_call_id": "call_1", "content": "x"}]}, "messages.1.tool_call_id")
    refused({"messages": TOOL_LOOP[:2] + [user("never mind")]}, "messages.1.tool_calls.0.id")
    refused({"messages": [user(), {"role": "assistant", "tool_calls": [call("")]}]}, "messages.1.tool_calls.0.id")
    refused({"messages": [user(), {"role": "assistant", "tool_calls": [call("a"), call("a")]}]}, "messages.1.tool_calls.1.id")


# -- legacy functions ---------------------------------------------------------------------------------

def test_legacy_function_parameters_are_refused() -> None:
    assert "tools" in refused({"messages": [user()], "functions": [{"name": "f", "parameters": {}}]}, "functions")
    refused({"messages": [user()], "function_call": "auto"}, "function_call")


def test_legacy_function_history_is_mapped_with_deterministic_ids() -> None:
    messages = [user(), {"role": "assistant", "content": None, "function_call": {"name": "lookup", "arguments": '{"q":1}'}},
                {"role": "function", "name": "lookup", "content": "found"}]
    out = convert({"messages": messages})["messages"]
    assert out[1]["content"] == [{"type": "tool_use", "id": "call_legacy_1", "name": "lookup", "input": {"q": 1}}]
    assert out[2]["content"] == [{"type": "tool_result", "tool_use_id": "call_legacy_1", "content": [text("found")]}]
    refused({"messages": [user(), {"role": "function", "name": "lookup", "content": "x"}]}, "messages.1.name")


# -- tools and tool_choice ------------------------------------------------------------------------

def test_tools() -> None:
    out = convert({"messages": [user()], "tools": [WEATHER_TOOL, {"type": "function", "function": {"name": "now"}},
                                                  {"type": "function", "function": {"name": "p", "parameters": {"properties": {}}}}]})
    assert out["tools"] == [
        {"name": "get_weather", "description": "Weather by city",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
        {"name": "p", "input_schema": {"type": "object", "properties": {}}}]
    assert "tool_choice" not in out
    refused({"messages": [user()], "tools": [{"type": "custom", "custom": {"name": "grammar"}}]}, "tools.0.type")


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"type": "auto"}), ("none", {"type": "none"}), ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"})])
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert convert({"messages": [user()], "tools": [WEATHER_TOOL], "tool_choice": choice})["tool_choice"] == expected


def test_tool_choice_edge_cases() -> None:
    refused({"messages": [user()], "tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice.function.name")
    refused({"messages": [user()], "tools": [WEATHER_TOOL], "tool_choice": "sometimes"}, "tool_choice")
    assert "tool_choice" not in convert({"messages": [user()], "tool_choice": "required"})  # no tools: nothing to choose
    allowed = {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
        {"type": "function", "function": {"name": "now"}}]}}
    out = convert({"messages": [user()], "tools": [WEATHER_TOOL, {"type": "function", "function": {"name": "now"}}],
                   "tool_choice": allowed})
    assert [t["name"] for t in out["tools"]] == ["now"] and out["tool_choice"] == {"type": "any"}


def test_parallel_tool_calls_false() -> None:
    body = {"messages": [user()], "tools": [WEATHER_TOOL], "parallel_tool_calls": False}
    assert convert(body)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert convert({**body, "tool_choice": "required"})["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert convert({**body, "tool_choice": "none"})["tool_choice"] == {"type": "none"}
    assert "tool_choice" not in convert({**body, "parallel_tool_calls": True})


# -- sampling and limits -------------------------------------------------------------------------

def test_max_tokens() -> None:
    assert convert({"messages": [user()], "max_tokens": 500})["max_tokens"] == 500
    assert convert({"messages": [user()], "max_tokens": 500, "max_completion_tokens": 700})["max_tokens"] == 700
    assert convert({"messages": [user()], "max_completion_tokens": 90000}, max_tokens=8192)["max_tokens"] == 8192
    assert convert({"messages": [user()]}, max_tokens=8192)["max_tokens"] == 8192
    assert convert({"messages": [user()]}, default_max_tokens=1000)["max_tokens"] == 1000
    refused({"messages": [user()], "max_tokens": 0}, "max_tokens")
    refused({"messages": [user()], "max_completion_tokens": "many"}, "max_completion_tokens")


def test_sampling() -> None:
    out = convert({"messages": [user()], "temperature": 1.7, "top_p": 0.5, "top_k": 40})
    assert (out["temperature"], out["top_k"]) == (1.0, 40)
    assert "top_p" not in out  # current Claude models reject temperature and top_p together
    assert convert({"messages": [user()], "top_p": 0.5})["top_p"] == 0.5
    assert convert({"messages": [user()], "temperature": 0.2})["temperature"] == 0.2
    assert "temperature" not in convert({"messages": [user()], "temperature": None})
    refused({"messages": [user()], "temperature": -1}, "temperature")
    refused({"messages": [user()], "top_p": "high"}, "top_p")


def test_stop_sequences() -> None:
    assert convert({"messages": [user()], "stop": "END"})["stop_sequences"] == ["END"]
    assert convert({"messages": [user()], "stop": ["a", "", " \n", "\nUser:"]})["stop_sequences"] == ["a", "\nUser:"]
    assert "stop_sequences" not in convert({"messages": [user()], "stop": [" "]})
    refused({"messages": [user()], "stop": 5}, "stop")


def test_user_becomes_metadata_user_id() -> None:
    assert convert({"messages": [user()], "user": "user-123"})["metadata"] == {"user_id": "user-123"}
    assert convert({"messages": [user()], "safety_identifier": "sid-9"})["metadata"] == {"user_id": "sid-9"}
    hashed = convert({"messages": [user()], "user": "jane@example.com"})["metadata"]["user_id"]
    assert hashed.startswith("sha256-") and "jane" not in hashed
    assert convert({"messages": [user()], "user": "+1 (555) 010-9999"})["metadata"]["user_id"].startswith("sha256-")


# -- reasoning_effort -> thinking ---------------------------------------------------------------

@pytest.mark.parametrize(("effort", "budget"), [("minimal", 1024), ("low", 2048), ("medium", 8192),
                                                ("high", 24576), ("xhigh", 32768), ("max", 32768)])
def test_reasoning_effort_budgets(effort: str, budget: int) -> None:
    out = convert({"messages": [user()], "reasoning_effort": effort, "max_completion_tokens": 40000})
    assert out["thinking"] == {"type": "enabled", "budget_tokens": budget} and out["max_tokens"] == 40000


def test_reasoning_budget_and_max_tokens() -> None:
    out = convert({"messages": [user()], "reasoning_effort": "high"})  # default 16384 <= 24576: raised
    assert (out["thinking"]["budget_tokens"], out["max_tokens"]) == (24576, 24576 + 16384)
    out = convert({"messages": [user()], "reasoning_effort": "high"}, max_tokens=20000)  # ceiling: budget shrinks
    assert (out["thinking"]["budget_tokens"], out["max_tokens"]) == (20000 - 1024, 20000)
    out = convert({"messages": [user()], "reasoning_effort": "low", "max_tokens": 1500}, max_tokens=1800)
    assert "thinking" not in out and out["max_tokens"] == 1500  # no room for the 1024 minimum
    assert "thinking" not in convert({"messages": [user()], "reasoning_effort": "none"})
    refused({"messages": [user()], "reasoning_effort": "extreme"}, "reasoning_effort")


def test_thinking_sampling_rules() -> None:
    base = {"messages": [user()], "reasoning_effort": "low", "temperature": 0.3, "top_k": 5}
    out = convert({**base, "top_p": 0.97})
    assert "temperature" not in out and "top_k" not in out and out["top_p"] == 0.97
    assert "top_p" not in convert({**base, "top_p": 0.9})


def test_thinking_is_off_when_anthropic_would_reject_it() -> None:
    forced = {"messages": [user()], "reasoning_effort": "low", "tools": [WEATHER_TOOL]}
    assert "thinking" not in convert({**forced, "tool_choice": "required"})
    assert "thinking" not in convert({**forced, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}})
    assert "thinking" in convert({**forced, "tool_choice": "auto"})
    out = convert({"messages": TOOL_LOOP, "reasoning_effort": "low", "temperature": 0.3})
    assert "thinking" not in out and out["temperature"] == 0.3  # a tool turn with no thinking block to send back
    assert "thinking" in convert({"messages": [*TOOL_LOOP, {"role": "assistant", "content": "Sunny."}, user("thanks")],
                                  "reasoning_effort": "low"})
    assert "thinking" not in convert({"messages": [user(), {"role": "assistant", "content": "Sure:"}],
                                      "reasoning_effort": "low"})  # prefill


# -- response_format ------------------------------------------------------------------------------

def test_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": False}
    out = convert({"messages": [user()], "response_format": {"type": "json_schema",
                                                             "json_schema": {"name": "x", "schema": schema, "strict": True}}})
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}} and "system" not in out
    out = convert({"messages": [{"role": "system", "content": "s"}, user()], "response_format": {"type": "json_object"}})
    assert out["system"][0] == text("s") and "single valid JSON object" in out["system"][1]["text"]
    assert "output_config" not in out
    out = convert({"messages": [user()], "response_format": {"type": "json_object"}}, system_prompt="p")
    assert out["system"][0] == text("p") and len(out["system"]) == 2
    assert convert({"messages": [user()], "response_format": {"type": "text"}}).keys() == convert({"messages": [user()]}).keys()
    refused({"messages": [user()], "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format.json_schema.schema")
    refused({"messages": [user()], "response_format": {"type": "grammar"}}, "response_format.type")


# -- refused and dropped options --------------------------------------------------------------------

@pytest.mark.parametrize(("option", "value"), [
    ("n", 2), ("logprobs", True), ("top_logprobs", 3), ("audio", {"voice": "alloy", "format": "mp3"}),
    ("modalities", ["text", "audio"]), ("logit_bias", {"50256": -100}), ("web_search_options", {})])
def test_options_that_change_the_answer_are_refused(option: str, value: Any) -> None:
    assert refused({"messages": [user()], option: value}, option)


def test_harmless_values_of_those_options_pass() -> None:
    convert({"messages": [user()], "n": 1, "logprobs": False, "top_logprobs": 0, "logit_bias": {},
             "modalities": ["text"], "audio": None})


def test_dropped_options_are_listed_and_not_sent() -> None:
    body = {"messages": [user()], "seed": 1, "frequency_penalty": 0.5, "presence_penalty": 0.1, "store": True,
            "service_tier": "auto", "metadata": {"k": "v"}, "stream_options": {"include_usage": True},
            "user": "u", "safety_identifier": "s", "prediction": {"type": "content", "content": "x"}}
    assert dropped_options(body) == ["frequency_penalty", "presence_penalty", "seed", "service_tier", "store",
                                     "metadata", "prediction", "safety_identifier"]
    out = convert(body)
    assert set(out) == {"model", "max_tokens", "messages", "metadata"} and out["metadata"] == {"user_id": "u"}
    assert dropped_options({"messages": [user()], "seed": None}) == []


def test_input_is_never_mutated() -> None:
    body = {"model": "gpt-4o", "messages": [
        {"role": "developer", "content": [text("d")]}, {"role": "assistant", "content": "Hi "},
        user([text("a"), {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]), user("b"),
        {"role": "assistant", "content": None, "tool_calls": [call("call_1")]},
        {"role": "tool", "tool_call_id": "call_1", "content": [text("r")]}, user("c"),
        {"role": "assistant", "content": "prefill  "}],
        "tools": [WEATHER_TOOL], "tool_choice": "auto", "parallel_tool_calls": False, "stop": ["x", " "],
        "reasoning_effort": "high", "response_format": {"type": "json_object"}, "temperature": 1.5}
    before = json.dumps(body, sort_keys=True)
    out = to_messages_request(body, MessagesTarget("claude-x", max_tokens=30000, system_prompt="p"))
    assert json.dumps(body, sort_keys=True) == before
    for turn in out["messages"]:
        assert turn["content"] and all(b.get("text", "x").strip() for b in turn["content"])
    out["messages"][0]["content"].append("scribble")  # the output shares no list with the input
    out["tools"][0]["input_schema"] = {}
    assert json.dumps(body, sort_keys=True) == before
