"""Anthropic Messages request (the hub) -> OpenAI Responses request: real Claude Code requests, every rule,
and the round trips through both Responses converters."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from converters.chat_request import to_messages_request as chat_to_hub
from converters.messages_to_responses import ConversionError, ResponsesTarget, to_responses_request
from converters.responses_request import MessagesTarget, to_messages_request as responses_to_hub
from converters.thinking import SYNTHETIC_SIGNATURE, encrypted_from_anthropic, signature_from_responses
from converters.tool_names import ClientTool, shorten_tool_name

from .conftest import load_capture
from .sdk_shapes import assert_anthropic_request, assert_responses_request


def convert(body: dict[str, Any], **target: Any) -> dict[str, Any]:
    out = to_responses_request(body, ResponsesTarget(model=target.pop("model", "gpt-x"), **target))
    assert_responses_request(out)
    return out


def hub(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": messages, **extra}


def refused(body: dict[str, Any], param: str) -> str:
    with pytest.raises(ConversionError) as info:
        to_responses_request(body, ResponsesTarget(model="gpt-x"))
    assert info.value.param == param
    return str(info.value)


def user(content: Any = "hi") -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def input_message(role: str, *texts: str) -> dict[str, Any]:
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": t} for t in texts]}


def tool_use(tool_id: str = "toolu_1", name: str = "get_weather", tool_input: Any = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": {"city": "Paris"} if tool_input is None else tool_input}


def tool_result(content: Any = "sunny", tool_id: str = "toolu_1", **extra: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": content, **extra}


def function_call(call_id: str = "toolu_1", name: str = "get_weather", arguments: str = '{"city":"Paris"}') -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def thinking(signature: str, thought: str = "Let me check.") -> dict[str, Any]:
    return {"type": "thinking", "thinking": thought, "signature": signature}


WEATHER = {"name": "get_weather", "description": "Weather by city", "cache_control": {"type": "ephemeral"},
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
FROM_OPENAI = signature_from_responses("rs_abc", "gAAAAB-opaque", "fc_1")   # a call followed it
SIGNED = "EqQBCkgIBxABGAIiQL9s"


# -- real Claude Code requests ------------------------------------------------------------------

def test_claude_code_tool_result_followup() -> None:
    body = load_capture("02_main_tool_result_followup.json")["request"]["body"]
    out = convert(body, model="gpt-5")
    system = body["system"]
    assert out["instructions"] == system[1]["text"] + "\n\n" + system[2]["text"]  # billing header dropped
    assert "x-anthropic-billing-header" not in json.dumps(out)
    assert [(item["type"], item.get("role")) for item in out["input"]] == [
        ("message", "user"), ("message", "system"), ("message", "assistant"), ("function_call", None),
        ("function_call_output", None)]
    assert out["input"][0]["content"] == [{"type": "input_text", "text": block["text"]} for block in body["messages"][0]["content"]]
    call = body["messages"][2]["content"][1]
    assert out["input"][3] == function_call(call["id"], "Write", json.dumps(call["input"], separators=(",", ":")))
    assert out["input"][4] == {"type": "function_call_output", "call_id": call["id"],
                               "output": body["messages"][3]["content"][0]["content"]}
    assert len(out["tools"]) == 24 and {tool["type"] for tool in out["tools"]} == {"function"}
    assert out["tools"][1] == {"type": "function", "name": "Bash", "description": body["tools"][1]["description"],
                               "parameters": body["tools"][1]["input_schema"], "strict": False}
    assert out["reasoning"] == {"effort": "high", "summary": "auto"}  # adaptive, output_config.effort high
    assert out["include"] == ["reasoning.encrypted_content"]
    assert out["max_output_tokens"] == 64000 and out["store"] is False and out["stream"] is True
    assert out["safety_identifier"] == "user-" + hashlib.sha256(body["metadata"]["user_id"].encode()).hexdigest()[:32]
    assert set(out) == {"model", "instructions", "input", "max_output_tokens", "tools", "reasoning", "include",
                        "safety_identifier", "prompt_cache_key", "store", "stream"}  # no context_management, no output_config


def test_claude_code_2_1_332_tool_search_on_a_responses_provider() -> None:
    body = load_capture("09_v2_1_332_tool_search_followup.json")["request"]["body"]
    out = convert(body, model="gpt-5")
    assert "WebFetch" in [tool["name"] for tool in out["tools"]] and "defer_loading" not in json.dumps(out)
    call, output, after = out["input"][-3:]
    assert call == function_call("toolu_01", "ToolSearch", '{"query":"select:Grep,WebFetch,TodoWrite"}')
    assert output == {"type": "function_call_output", "call_id": "toolu_01", "output": "[tool WebFetch loaded]"}
    assert after == input_message("user", "Tool loaded.")


def test_search_results_are_said_as_text_in_turns_and_tool_results() -> None:
    found = {"type": "search_result", "title": "Docs", "source": "https://example.com/docs",
             "content": [text("Use the v2 API."), text("  ")]}
    out = convert(hub([user("look it up"), assistant([tool_use()]),
                       user([tool_result([found, {"type": "tool_reference", "tool_name": "get_weather"}]), found])]))
    said = "Search result: Docs\nSource: https://example.com/docs\n\nUse the v2 API."
    assert out["input"][-2]["output"] == f"{said}\n[tool get_weather loaded]"
    assert out["input"][-1] == input_message("user", said)
    refused(hub([user([{"type": "tool_reference", "tool_name": "x"}])]), "messages.0.content.0.type")


def test_prompt_cache_key_follows_the_claude_code_session() -> None:
    keys = {name: convert(load_capture(name)["request"]["body"])["prompt_cache_key"]
            for name in ("01_main_first_request.json", "02_main_tool_result_followup.json",
                         "04_parallel_tool_results_followup.json")}
    assert keys["01_main_first_request.json"] == keys["02_main_tool_result_followup.json"]  # one session
    assert keys["04_parallel_tool_results_followup.json"] != keys["01_main_first_request.json"]
    assert all(key.startswith("cache-") and len(key) == 38 for key in keys.values())


def test_claude_code_parallel_results_and_side_requests() -> None:
    out = convert(load_capture("04_parallel_tool_results_followup.json")["request"]["body"])
    assert [item["type"] for item in out["input"][2:]] == [
        "message", "function_call", "function_call", "function_call_output", "function_call_output"]
    out = convert(load_capture("03_side_title_generation.json")["request"]["body"])
    assert out["text"] == {"format": {"type": "json_schema", "name": "output", "strict": True, "schema": {
        "type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"], "additionalProperties": False}}}
    assert "reasoning" not in out and "tools" not in out  # thinking disabled, tools: []
    out = convert(load_capture("06_haiku_model_request.json")["request"]["body"])
    assert out["reasoning"] == {"effort": "high", "summary": "auto"}  # budget 31999
    assert out["max_output_tokens"] == 32000


# -- system, user and assistant turns -----------------------------------------------------------

def test_minimal_request() -> None:
    assert convert(hub([user()])) == {"model": "gpt-x", "input": [input_message("user", "hi")],
                                      "max_output_tokens": 1024, "store": False}


def test_system() -> None:
    assert convert(hub([user()], system="Be brief."))["instructions"] == "Be brief."
    blocks = [text("x-anthropic-billing-header: cc_version=1; cch=abc;"), text("Be brief."), text("  "), text("Be kind.")]
    assert convert(hub([user()], system=blocks))["instructions"] == "Be brief.\n\nBe kind."
    assert "instructions" not in convert(hub([user()], system=" "))
    out = convert(hub([user(), {"role": "system", "content": "Mind the agents."}, assistant("ok"), user("go")]))
    assert out["input"][1] == input_message("system", "Mind the agents.")


def test_user_media() -> None:
    out = convert(hub([user([
        text("look"), {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.io/cat.png"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}, "title": "r.pdf"},
        {"type": "document", "source": {"type": "url", "url": "https://x.io/b.pdf"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain notes"}},
        text(" ")])]))
    assert out["input"] == [{"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "auto"},
        {"type": "input_image", "image_url": "https://x.io/cat.png", "detail": "auto"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0=", "filename": "r.pdf"},
        {"type": "input_file", "file_url": "https://x.io/b.pdf", "filename": "document.pdf"},
        {"type": "input_text", "text": "plain notes"}]}]
    refused(hub([user([{"type": "image", "source": {"type": "file", "file_id": "f1"}}])]), "messages.0.content.0.source")


def test_tool_results_come_first_and_keep_their_media() -> None:
    loop = [user("weather?"), assistant([text("Checking."), tool_use("toolu_1"), tool_use("toolu_2", tool_input={"city": "Rome"})])]
    out = convert(hub([*loop, user([
        text("also, hurry"),
        tool_result([text("sunny"), text("warm")]),
        tool_result([text("chart:"), {"type": "image", "source": {"type": "url", "url": "https://x.io/c.png"}}], "toolu_2")])]))
    assert out["input"][1:] == [
        input_message("assistant", "Checking."), function_call("toolu_1"),
        function_call("toolu_2", arguments='{"city":"Rome"}'),
        {"type": "function_call_output", "call_id": "toolu_1", "output": "sunny\nwarm"},
        {"type": "function_call_output", "call_id": "toolu_2", "output": [
            {"type": "input_text", "text": "chart:"},
            {"type": "input_image", "image_url": "https://x.io/c.png", "detail": "auto"}]},
        input_message("user", "also, hurry")]


@pytest.mark.parametrize(("result", "output"), [
    (tool_result("boom", is_error=True), "[tool error] boom"),
    (tool_result([]), "(empty result)"),
    (tool_result(None), "(empty result)"),
    (tool_result(" ", is_error=True), "[tool error] (empty result)"),
    (tool_result([{"type": "image", "source": {"type": "url", "url": "https://x.io/a.png"}}], is_error=True),
     [{"type": "input_text", "text": "[tool error] "}, {"type": "input_image", "image_url": "https://x.io/a.png", "detail": "auto"}]),
    (tool_result([{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}]),
     [{"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "document.pdf"}]),
])
def test_tool_result_outputs(result: dict[str, Any], output: Any) -> None:
    out = convert(hub([user("x"), assistant([tool_use()]), user([result])]))
    assert out["input"][-1] == {"type": "function_call_output", "call_id": "toolu_1", "output": output}


def test_assistant_turns() -> None:
    long_name = "mcp__" + "x" * 70
    out = convert(hub([user("x"), assistant([text("One."), text("Two."), tool_use("toolu_1", long_name, {}), text("  ")]),
                       user([tool_result("ok")]), assistant("Done."), user("thanks")]))
    assert out["input"][1:3] == [input_message("assistant", "One.", "Two."),
                                 function_call("toolu_1", shorten_tool_name(long_name), "{}")]
    assert out["input"][4] == input_message("assistant", "Done.")
    refused(hub([user("x"), assistant([{"type": "tool_use", "name": "a", "input": {}}])]), "messages.1.content.0.id")
    refused(hub([user("x"), assistant([{"type": "tool_use", "id": "t", "input": {}}])]), "messages.1.content.0.name")
    refused(hub([user("x"), user([{"type": "tool_result", "content": "x"}])]), "messages.1.content.0.tool_use_id")
    refused(hub([{"role": "tool", "content": "x"}]), "messages.0.role")


def test_thinking_that_carries_responses_reasoning_goes_back_with_the_item_that_followed_it() -> None:
    """The API finds a returned reasoning item's partner by id: the call (or message) after it
    gets back the id it had, which the signature carried."""
    out = convert(hub([user("x"), assistant([thinking(FROM_OPENAI, "**Checking**"), tool_use()]), user([tool_result()])]))
    assert out["input"][1:3] == [
        {"type": "reasoning", "id": "rs_abc", "summary": [{"type": "summary_text", "text": "**Checking**"}],
         "encrypted_content": "gAAAAB-opaque"}, {**function_call(), "id": "fc_1"}]
    before_text = signature_from_responses("rs_abc", "gAAAAB-opaque", "msg_1")
    out = convert(hub([user("x"), assistant([thinking(before_text, ""), text("Let me look."), tool_use()]),
                       user([tool_result()])]))
    assert out["input"][1:4] == [
        {"type": "reasoning", "id": "rs_abc", "summary": [], "encrypted_content": "gAAAAB-opaque"},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
         "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}]},
        function_call()]


@pytest.mark.parametrize("block", [
    thinking(signature_from_responses("rs_abc", "gAAA")),  # it was the last item: nothing here can pair with it
    thinking(SIGNED),  # Anthropic's: this provider cannot read it
    thinking(SYNTHETIC_SIGNATURE),
    thinking(signature_from_responses("", "gAAA", "msg_1")),  # no item id to send back
    {"type": "redacted_thinking", "data": "EmwKAhgBEgy"},
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
])
def test_blocks_this_provider_cannot_take_are_dropped(block: dict[str, Any]) -> None:
    out = convert(hub([user("x"), assistant([block, text("Answer.")]), user("more")]))
    assert out["input"] == [input_message("user", "x"), input_message("assistant", "Answer."), input_message("user", "more")]


def test_unknown_blocks_are_refused() -> None:
    refused(hub([user([{"type": "hologram"}])]), "messages.0.content.0.type")
    refused(hub([user("x"), assistant([{"type": "hologram"}])]), "messages.1.content.0.type")
    refused(hub([user([{"type": "thinking", "thinking": "x", "signature": "s"}])]), "messages.0.content.0.type")
    refused(hub([user("x"), assistant([tool_use()]), user([tool_result([{"type": "hologram"}])])]),
            "messages.2.content.0.content.0.type")


# -- tools and options --------------------------------------------------------------------------

def test_tools() -> None:
    out = convert(hub([user()], tools=[
        WEATHER, {"type": "custom", "name": "ping", "input_schema": None, "defer_loading": True, "strict": True},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5, "allowed_domains": ["example.com"],
         "blocked_domains": ["spam.example"], "user_location": {"type": "approximate", "city": "Paris", "timezone": "Europe/Paris"}},
        {"type": "web_search_20260209", "name": "web_search"},
        {"type": "bash_20250124", "name": "bash"}, {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"type": "code_execution_20250825", "name": "code_execution"}]))
    assert out["tools"] == [
        {"type": "function", "name": "get_weather", "description": "Weather by city",
         "parameters": WEATHER["input_schema"], "strict": False},
        {"type": "function", "name": "ping", "parameters": {"type": "object", "properties": {}}, "strict": False},
        {"type": "web_search", "filters": {"allowed_domains": ["example.com"]},
         "user_location": {"type": "approximate", "city": "Paris", "timezone": "Europe/Paris"}}]
    assert out["max_tool_calls"] == 5
    assert "tools" not in convert(hub([user()], tools=[{"type": "bash_20250124", "name": "bash"}], tool_choice={"type": "any"}))
    refused(hub([user()], tools=[{"name": ""}]), "tools.0.name")


@pytest.mark.parametrize(("choice", "expected"), [
    ({"type": "auto"}, {"tool_choice": "auto"}),
    ({"type": "any"}, {"tool_choice": "required"}),
    ({"type": "none"}, {"tool_choice": "none"}),
    ({"type": "tool", "name": "get_weather"}, {"tool_choice": {"type": "function", "name": "get_weather"}}),
    ({"type": "tool", "name": "web_search"}, {}),  # a server tool: the model chooses
    ({"type": "auto", "disable_parallel_tool_use": True}, {"tool_choice": "auto", "parallel_tool_calls": False}),
    ({"type": "none", "disable_parallel_tool_use": True}, {"tool_choice": "none"}),
    ("any", {"tool_choice": "required"}),
])
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    out = convert(hub([user()], tools=[WEATHER, {"type": "web_search_20250305", "name": "web_search"}], tool_choice=choice))
    assert {key: out[key] for key in ("tool_choice", "parallel_tool_calls") if key in out} == expected


def test_max_output_tokens() -> None:
    assert convert(hub([user()], max_tokens=64000), max_tokens=32000)["max_output_tokens"] == 32000
    assert convert(hub([user()], max_tokens=1))["max_output_tokens"] == 16  # the API's minimum
    assert convert({"model": "m", "messages": [user()]}, default_max_tokens=4096)["max_output_tokens"] == 4096
    assert "max_output_tokens" not in convert({"model": "m", "messages": [user()]})


def test_sampling() -> None:
    out = convert(hub([user()], temperature=0.2, top_p=0.9, top_k=40))
    assert (out["temperature"], out["top_p"], "top_k" in out) == (0.2, 0.9, False)
    out = convert(hub([user()], temperature=1, top_p=0.95, thinking={"type": "enabled", "budget_tokens": 2048}))
    assert "temperature" not in out and "top_p" not in out


@pytest.mark.parametrize(("settings", "effort"), [
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low"),
    ({"thinking": {"type": "enabled", "budget_tokens": 8192}}, "medium"),
    ({"thinking": {"type": "enabled", "budget_tokens": 32000}}, "high"),
    ({"thinking": {"type": "adaptive"}}, "medium"),
    ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}, "low"),
    ({"thinking": {"type": "disabled"}}, None),
])
def test_thinking_becomes_reasoning(settings: dict[str, Any], effort: str | None) -> None:
    out = convert(hub([user()], **settings))
    if effort is None:
        assert "reasoning" not in out and "include" not in out
    else:
        assert out["reasoning"] == {"effort": effort, "summary": "auto"}
        assert out["include"] == ["reasoning.encrypted_content"]


def test_stop_sequences_are_refused() -> None:
    assert "Responses API" in refused(hub([user()], stop_sequences=["END"]), "stop_sequences")
    assert "stop" not in convert(hub([user()], stop_sequences=[]))


def test_structured_output() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False}
    expected = {"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": True}}
    assert convert(hub([user()], output_config={"format": {"type": "json_schema", "schema": schema}}))["text"] == expected
    assert convert(hub([user()], output_format={"type": "json_schema", "schema": schema}))["text"] == expected
    assert "text" not in convert(hub([user()], output_config={"effort": "high"}))


def test_user_id() -> None:
    out = convert(hub([user()], metadata={"user_id": "user-42"}))
    assert out["safety_identifier"] == "user-42"
    assert out["prompt_cache_key"] == "cache-" + hashlib.sha256(b"user-42").hexdigest()[:32]
    assert "safety_identifier" not in convert(hub([user()], metadata={"user_id": ""}))


def test_anthropic_only_fields_are_never_sent() -> None:
    out = convert(hub([user([{**text("hi"), "cache_control": {"type": "ephemeral"}, "citations": []}])],
                      system=[{**text("Rules."), "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
                      context_management={"edits": []}, container="cont_1", mcp_servers=[{"name": "x"}], top_k=5,
                      service_tier="auto", betas=["x"], cache_control={"type": "ephemeral"}, inference_geo="us",
                      speed="fast", some_future_field=1, stream=False))
    assert out == {"model": "gpt-x", "instructions": "Rules.", "input": [input_message("user", "hi")],
                   "max_output_tokens": 1024, "store": False}


def test_input_is_never_mutated() -> None:
    body = hub([user([text("x"), {"type": "image", "source": {"type": "url", "url": "https://x.io/a.png"}}]),
                assistant([thinking(FROM_OPENAI), tool_use()]), user([tool_result([text("ok")], is_error=True)])],
               system=[text("Rules.")], tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"},
               thinking={"type": "enabled", "budget_tokens": 4096}, metadata={"user_id": "u" * 100}, stream=True)
    before = copy.deepcopy(body)
    convert(body)
    assert body == before


# -- round trips through both Responses converters ----------------------------------------------

def test_reasoning_round_trips_through_both_converters() -> None:
    """A Responses provider's reasoning, shown to an Anthropic client, goes back to the provider whole;
    and an Anthropic answer's signature, shown to a Responses client, comes back to Anthropic whole."""
    item = {"type": "reasoning", "id": "rs_abc", "summary": [{"type": "summary_text", "text": "**Checking**"}],
            "encrypted_content": "gAAAAB-opaque"}
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{}"}
    client = {"model": "gpt-5", "input": [{"role": "user", "content": "x"}, item, call,
                                          {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]}
    middle, _ = responses_to_hub(client, MessagesTarget(model="claude-x"))
    assert_anthropic_request(middle)
    assert middle["messages"][1]["content"][0]["signature"] == FROM_OPENAI   # the call's id rides along
    back = convert(middle)
    assert back["input"][1:3] == [item, call]  # the same items: ids, summary and encrypted content
    anthropic_item = {**item, "encrypted_content": encrypted_from_anthropic(SIGNED)}
    middle, _ = responses_to_hub({**client, "input": [client["input"][0], anthropic_item, *client["input"][2:]]},
                                 MessagesTarget(model="claude-x"))
    assert middle["messages"][1]["content"][0] == {"type": "thinking", "thinking": "**Checking**", "signature": SIGNED}


def test_namespace_round_trip() -> None:
    tools = [{"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.", "tools": [
        {"type": "function", "name": "spawn_agent", "parameters": {"type": "object", "properties": {}}}]}]
    client = {"model": "gpt-5", "tools": tools, "input": [
        {"role": "user", "content": "x"},
        {"type": "function_call", "call_id": "call_1", "name": "spawn_agent", "namespace": "multi_agent_v1", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "agent-7"}]}
    middle, tool_map = responses_to_hub(client, MessagesTarget(model="claude-x"))
    hub_name = middle["messages"][1]["content"][0]["name"]
    assert hub_name == middle["tools"][0]["name"] == "multi_agent_v1__spawn_agent"
    assert tool_map[hub_name] == ClientTool("spawn_agent", "function", "multi_agent_v1")  # how answers name it again
    out = convert(middle)
    assert out["tools"][0]["name"] == out["input"][1]["name"] == hub_name


def test_chat_clients_reach_responses_providers_through_the_hub() -> None:
    chat = {"model": "gpt-4o", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
            "max_tokens": 300, "reasoning_effort": "low", "stream": True,
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]}}]}
    out = convert(chat_to_hub(chat, MessagesTarget(model="gpt-5")))
    assert out == {"model": "gpt-x", "instructions": "Be brief.", "input": [input_message("user", "hi")],
                   "max_output_tokens": 2048 + 300,
                   "tools": [{"type": "function", "name": "get_weather", "parameters": WEATHER["input_schema"], "strict": False}],
                   "reasoning": {"effort": "low", "summary": "auto"}, "include": ["reasoning.encrypted_content"],
                   "store": False, "stream": True}
