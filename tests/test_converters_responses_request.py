"""OpenAI Responses request -> Anthropic Messages request (the hub): real Codex and SDK requests, then every rule."""

from __future__ import annotations

import copy
import json
from typing import Any, get_type_hints

import pytest
from anthropic.types.message_create_params import MessageCreateParamsStreaming

from converters.responses_request import ConversionError, MessagesTarget, dropped_options, to_messages_request
from converters.thinking import SYNTHETIC_SIGNATURE, encrypted_from_anthropic, signature_from_responses
from converters.tool_names import ClientTool, anthropic_tool_id, shorten_tool_name

from .conftest import FIXTURES, load_fixture
from .sdk_shapes import assert_anthropic_request

ANTHROPIC_KEYS = set(get_type_hints(MessageCreateParamsStreaming))
CACHE = {"type": "ephemeral"}


def codex(name: str) -> dict[str, Any]:
    """A request body the Codex CLI really sent (tests/fixtures/codex)."""
    body: dict[str, Any] = json.loads((FIXTURES / "codex" / name).read_text(encoding="utf-8"))["body"]
    return body


def convert_full(body: dict[str, Any], **target: Any) -> tuple[dict[str, Any], dict[str, ClientTool]]:
    out, tool_map = to_messages_request(body, MessagesTarget(model=target.pop("model", "claude-x"), **target))
    assert_anthropic_request(out)
    return out, dict(tool_map)


def convert(body: dict[str, Any], **target: Any) -> dict[str, Any]:
    return convert_full({"model": "gpt-5", **body}, **target)[0]


def refused(body: dict[str, Any], param: str, **target: Any) -> str:
    with pytest.raises(ConversionError) as info:
        to_messages_request({"model": "gpt-5", **body}, MessagesTarget(model="claude-x", **target))
    assert info.value.param == param
    return str(info.value)


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def msg(role: str, content: Any) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": content}


def call(call_id: str = "call_1", name: str = "get_weather", arguments: str = '{"city":"Paris"}',
         **extra: Any) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments, **extra}


def output(call_id: str = "call_1", value: Any = "sunny") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": value}


def tool_use(tool_id: str = "call_1", name: str = "get_weather", tool_input: Any = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": {"city": "Paris"} if tool_input is None else tool_input}


WEATHER = {"type": "function", "name": "get_weather", "description": "Weather by city", "strict": True,
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TOOL_LOOP = [msg("user", "weather?"), call(), output()]
SIGNED = "EqQBCkgIBxABGAIiQL9s"  # an Anthropic signature, as dragoman hands it to Responses clients


# -- the two real Codex requests ----------------------------------------------------------------

NAMESPACED = ["close_agent", "resume_agent", "send_input", "spawn_agent", "wait_agent"]


def test_codex_first_turn() -> None:
    body = codex("01_first_turn_request.json")
    out, tool_map = convert_full(body, model="claude-sonnet-4-5")
    developer = [part["text"] for item in body["input"][:2] for part in item["content"]]
    assert [block["text"] for block in out["system"]] == developer  # no instructions: the developer messages
    assert out["system"][0]["text"].startswith("You are a coding agent running in the Codex CLI")
    assert [block.get("cache_control") for block in out["system"]] == [None, None, CACHE]
    assert out["messages"] == [{"role": "user", "content": [
        text(body["input"][2]["content"][0]["text"]), text("please run the proof command", cache_control=CACHE)]}]
    assert [tool["name"] for tool in out["tools"]] == [
        "exec_command", "write_stdin", "request_user_input", "view_image",
        *(f"multi_agent_v1__{name}" for name in NAMESPACED), "get_goal", "create_goal", "update_goal", "web_search"]
    exec_command = out["tools"][0]
    assert exec_command == {"name": "exec_command", "description": body["tools"][0]["description"],
                            "input_schema": body["tools"][0]["parameters"]}  # strict dropped
    spawn = out["tools"][7]
    assert spawn["description"].startswith("Tools for spawning and managing sub-agents.\n\n")
    assert spawn["description"].endswith(body["tools"][4]["tools"][3]["description"])
    assert out["tools"][-1] == {"type": "web_search_20250305", "name": "web_search", "cache_control": CACHE}
    assert tool_map["multi_agent_v1__spawn_agent"] == ClientTool("spawn_agent", "function", "multi_agent_v1")
    assert tool_map["exec_command"] == ClientTool("exec_command")
    assert out["tool_choice"] == {"type": "auto"}  # parallel_tool_calls: true is the default
    assert "thinking" not in out  # reasoning: {"summary": "auto"} names no effort
    assert (out["model"], out["max_tokens"], out["stream"]) == ("claude-sonnet-4-5", 16384, True)
    assert set(out) <= ANTHROPIC_KEYS
    assert dropped_options(body) == ["store", "include", "client_metadata"]


def test_codex_after_a_tool_call() -> None:
    body = codex("02_after_tool_call_request.json")
    out, _ = convert_full(body)
    assert [turn["role"] for turn in out["messages"]] == ["user", "assistant", "user"]
    assert out["messages"][1]["content"] == [
        tool_use("call_mock0001", "exec_command", {"cmd": "echo codex-through-proxy > proof.txt"})]
    assert out["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "call_mock0001",
                                              "content": [text(body["input"][5]["output"])], "cache_control": CACHE}]
    assert set(out) == {"model", "max_tokens", "system", "messages", "tools", "tool_choice", "stream"}


def test_codex_default_model_declares_its_tools_in_the_conversation() -> None:
    """Codex 0.171 with no model set: no ``tools``, an ``additional_tools`` input item instead."""
    body = codex("03_default_model_first_turn_request.json")
    assert "tools" not in body and body["input"][0]["type"] == "additional_tools"
    out, tool_map = convert_full(body)
    names = [tool["name"] for tool in out["tools"]]
    assert names == ["functions__exec", "functions__wait", "functions__request_user_input",
                     "functions__request_user_input_async", "functions__send_message_to_user_async", "clock__sleep",
                     "collaboration__followup_task", "collaboration__interrupt_agent", "collaboration__list_agents",
                     "collaboration__send_message", "collaboration__spawn_agent", "collaboration__wait_agent"]
    exec_tool = out["tools"][0]
    assert exec_tool["input_schema"]["required"] == ["input"]
    assert "Run JavaScript code" in exec_tool["description"] and "pragma_source" in exec_tool["description"]
    assert tool_map["functions__exec"] == ClientTool("exec", "custom", "functions")
    assert tool_map["clock__sleep"] == ClientTool("sleep", "function", "clock")
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert "additional_tools" not in json.dumps(out["messages"]) and "You are Codex" in json.dumps(out["system"])
    assert [turn["role"] for turn in out["messages"]] == ["user"]
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 2048}   # effort low


def test_codex_default_model_after_running_a_script() -> None:
    body = codex("04_default_model_after_exec_request.json")
    out, _ = convert_full(body)
    script = body["input"][-2]["input"]
    assert out["messages"][1]["content"] == [tool_use("call_1", "functions__exec", {"input": script})]
    result = out["messages"][2]["content"][0]
    assert (result["type"], result["tool_use_id"]) == ("tool_result", "call_1")
    assert [part["text"] for part in result["content"]][0].startswith("Script completed")
    assert "proof-of-exec" in result["content"][1]["text"]


def test_additional_tools_join_the_tool_list_and_a_later_declaration_wins() -> None:
    newer = {**WEATHER, "description": "Weather, newer"}
    out, tool_map = convert_full({"model": "gpt-5", "tools": [WEATHER], "input": [
        {"type": "additional_tools", "role": "developer", "tools": [
            {"type": "namespace", "name": "crm", "description": "CRM", "tools": [{"type": "function", "name": "find"}]}]},
        msg("user", "hi"),
        {"type": "additional_tools", "role": "developer", "tools": [newer]}]})
    assert [tool["name"] for tool in out["tools"]] == ["get_weather", "crm__find"]
    assert out["tools"][0]["description"] == "Weather, newer"
    assert set(tool_map) == {"get_weather", "crm__find"}
    refused({"input": [{"type": "additional_tools", "tools": {"type": "function"}}, msg("user", "x")]}, "input.0.tools")
    refused({"input": [{"type": "additional_tools", "tools": [{"type": "mcp"}]}, msg("user", "x")]},
            "input.0.tools.0.type")


def test_codex_replaying_reasoning() -> None:
    """Codex sends the reasoning item of the turn back (store: false), before the call it led to."""
    body = codex("02_after_tool_call_request.json")
    reasoning = {"type": "reasoning", "id": "rs_0a1", "summary": [{"type": "summary_text", "text": "**Running**"},
                 {"type": "summary_text", "text": "The user wants the proof command."}], "encrypted_content": "gAAAAB-opaque"}
    body = {**body, "input": [*body["input"][:4], reasoning, *body["input"][4:]], "reasoning": {"effort": "high"}}
    out, _ = convert_full(body)
    assert out["messages"][1]["content"][0] == {
        "type": "thinking", "thinking": "**Running**\n\nThe user wants the proof command.",
        "signature": signature_from_responses("rs_0a1", "gAAAAB-opaque", body["input"][5]["id"])}  # the call's id
    assert "thinking" not in out  # OpenAI's reasoning leads the tool turn: Anthropic never sees it signed
    reasoning = {**reasoning, "encrypted_content": encrypted_from_anthropic(SIGNED)}  # an Anthropic answer
    out, _ = convert_full({**body, "input": [*body["input"][:4], reasoning, *body["input"][5:]]})
    assert out["messages"][1]["content"][0]["signature"] == SIGNED
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 24576}  # the tool turn starts signed


# -- the SDK requests recorded by pydantic-ai ---------------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("openai-responses-*.json")
                                        if p.name != "openai-responses-error-400-stream-requested.json"))
def test_recorded_sdk_requests_convert(name: str) -> None:
    out, _ = convert_full(load_fixture(name)["request"])
    assert set(out) <= ANTHROPIC_KEYS


def test_recorded_requests_concrete() -> None:
    out = convert(load_fixture("openai-responses-json-schema-after-tool.json")["request"])
    assert out["messages"][1:] == [
        {"role": "assistant", "content": [tool_use("call_tTAThu8l2S9hNky2krdwijGP", "get_user_country", {})]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_tTAThu8l2S9hNky2krdwijGP",
                                      "content": [text("Mexico")]}]}]  # the empty assistant message makes no block
    assert out["output_config"]["format"]["schema"]["required"] == ["city", "country"]
    assert out["tools"] == [{"name": "get_user_country", "input_schema": {
        "additionalProperties": False, "properties": {}, "type": "object"}}]  # empty description left out
    request = load_fixture("openai-responses-error-400-orphan-reasoning-item.json")["request"]
    out = convert(request)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 2048}  # effort low, no tool turn
    thought = out["messages"][1]["content"][0]
    assert thought["signature"] == signature_from_responses(request["input"][1]["id"], request["input"][1]["encrypted_content"])
    assert thought["thinking"].startswith("**Considering perspectives on meaning**")
    out = convert(load_fixture("openai-responses-stream-reasoning-encrypted-web-search.json")["request"])
    assert out["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]  # previous_response_id: null is fine
    assert out["system"] == [text("You are a helpful assistant.")]
    out = convert(load_fixture("openai-responses-text.json")["request"])
    assert out == {"model": "claude-x", "max_tokens": 16384,
                   "messages": [{"role": "user", "content": [text("What is the capital of France?")]}]}
    # instructions "" is no system prompt; temperature -1 is what the API answered 400 to
    assert refused(load_fixture("openai-responses-error-400-stream-requested.json")["request"], "temperature")


# -- instructions, messages, turns --------------------------------------------------------------

def test_string_input_is_one_user_message() -> None:
    assert convert({"input": "hi", "stream": False})["messages"] == [{"role": "user", "content": [text("hi")]}]


def test_instructions_and_system_developer_messages_become_system_in_order() -> None:
    out = convert({"instructions": "Be brief.", "input": [
        {"role": "developer", "content": "Use French."}, {"role": "user", "content": "a"},
        msg("system", [{"type": "input_text", "text": "Stay polite."}, {"type": "input_text", "text": " "}]),
        {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}, system_prompt="ignored")
    assert out["system"] == [text("Be brief."), text("Use French."), text("Stay polite.")]
    assert [turn["role"] for turn in out["messages"]] == ["user", "assistant", "user"]
    assert convert({"input": "hi"}, system_prompt="Route prompt.")["system"] == [text("Route prompt.")]
    refused({"instructions": ["x"], "input": "hi"}, "instructions")


def test_message_parts() -> None:
    out = convert({"input": [
        msg("user", [{"type": "input_text", "text": "look"}, {"type": "input_text", "text": "  "},
                     {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "high"},
                     {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
                     {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
                     {"type": "input_file", "file_url": "https://example.com/b.pdf"}]),
        msg("assistant", [{"type": "output_text", "text": "Seen.", "annotations": []},
                          {"type": "refusal", "refusal": "But I won't."}]),
        msg("user", "ok")]})
    assert out["messages"][0]["content"] == [
        text("look"), {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
         "title": "a.pdf"},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/b.pdf"}}]
    assert out["messages"][1]["content"] == [text("Seen."), text("But I won't.")]


@pytest.mark.parametrize(("item", "param"), [
    (msg("user", [{"type": "input_image", "file_id": "file-1"}]), "input.0.content.0.file_id"),
    (msg("user", [{"type": "input_file", "file_id": "file-1"}]), "input.0.content.0.file_id"),
    (msg("user", [{"type": "input_image", "image_url": "ftp://x/y.png"}]), "input.0.content.0.image_url"),
    (msg("user", [{"type": "input_file", "file_data": "data:text/csv;base64,YQ=="}]), "input.0.content.0.file_data"),
    (msg("user", [{"type": "input_audio", "input_audio": {}}]), "input.0.content.0"),
    (msg("user", [{"type": "hologram"}]), "input.0.content.0.type"),
    (msg("developer", [{"type": "input_image", "image_url": "https://x/y.png"}]), "input.0.content.0"),
    (msg("assistant", [{"type": "input_image", "image_url": "https://x/y.png"}]), "input.0.content.0"),
    (msg("tool", "x"), "input.0.role"),
    (msg("user", 42), "input.0.content"),
    ("just a string", "input.0"),
])
def test_bad_content_is_refused(item: Any, param: str) -> None:
    refused({"input": [item, msg("user", "x")]}, param)


def test_turns_merge_and_a_leading_assistant_gets_a_user_turn() -> None:
    out = convert({"input": [msg("assistant", "Hello."), msg("assistant", "How can I help?"),
                             msg("user", "a"), msg("user", "b"), msg("assistant", "Sure:  \n")]})
    assert out["messages"] == [{"role": "user", "content": [text(".")]},
                               {"role": "assistant", "content": [text("Hello."), text("How can I help?")]},
                               {"role": "user", "content": [text("a"), text("b")]},
                               {"role": "assistant", "content": [text("Sure:")]}]  # prefill: trailing space stripped
    refused({"input": []}, "input")
    refused({"input": [msg("developer", "only rules")]}, "input")


def test_tool_loop_and_results_ahead_of_user_content() -> None:
    out = convert({"input": [msg("user", "weather in Paris and Rome?"), msg("assistant", "Checking."),
                             call("call_1"), call("call_2", arguments='{"city":"Rome"}'),
                             output("call_1"), msg("user", "hurry"), output("call_2", "rainy"),
                             msg("assistant", "Sunny and rainy."), msg("user", "thanks")]})
    assert out["messages"][1:4] == [
        {"role": "assistant", "content": [text("Checking."), tool_use("call_1"), tool_use("call_2", tool_input={"city": "Rome"})]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": [text("sunny")]},
                                     {"type": "tool_result", "tool_use_id": "call_2", "content": [text("rainy")]},
                                     text("hurry")]},
        {"role": "assistant", "content": [text("Sunny and rainy.")]}]


def test_outputs_with_parts_and_empty_outputs() -> None:
    out = convert({"input": [*TOOL_LOOP[:2], output("call_1", [
        {"type": "input_text", "text": "the chart:"}, {"type": "input_image", "image_url": "https://x.io/c.png"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0=", "filename": "r.pdf"}])]})
    assert out["messages"][-1]["content"][0]["content"] == [
        text("the chart:"), {"type": "image", "source": {"type": "url", "url": "https://x.io/c.png"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
         "title": "r.pdf"}]
    out = convert({"input": [*TOOL_LOOP[:2], output("call_1", "  ")]})
    assert out["messages"][-1]["content"] == [{"type": "tool_result", "tool_use_id": "call_1"}]


def test_custom_and_namespaced_calls() -> None:
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"
    out = convert({"input": [msg("user", "go"),
                             {"type": "custom_tool_call", "call_id": "call_p", "name": "apply_patch", "input": patch},
                             call("call_s", "spawn_agent", '{"message":"x"}', namespace="multi_agent_v1"),
                             {"type": "custom_tool_call_output", "call_id": "call_p", "output": "Done!"},
                             output("call_s", "agent-7")]})
    assert out["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_p", "name": "apply_patch", "input": {"input": patch}},
        {"type": "tool_use", "id": "call_s", "name": "multi_agent_v1__spawn_agent", "input": {"message": "x"}}]
    assert [r["tool_use_id"] for r in out["messages"][2]["content"]] == ["call_p", "call_s"]


def test_unsafe_call_ids_map_the_same_way_on_both_sides() -> None:
    out = convert({"input": [msg("user", "x"), call("functions.Bash:0", arguments=""), output("functions.Bash:0")]})
    tool_id = anthropic_tool_id("functions.Bash:0")
    assert tool_id != "functions.Bash:0"
    assert out["messages"][1]["content"][0]["id"] == out["messages"][2]["content"][0]["tool_use_id"] == tool_id
    assert out["messages"][1]["content"][0]["input"] == {}  # empty arguments: no arguments


@pytest.mark.parametrize(("items", "param"), [
    ([msg("user", "x"), call(arguments="[1]"), output()], "input.1.arguments"),
    ([msg("user", "x"), call(arguments="{oops"), output()], "input.1.arguments"),
    ([msg("user", "x"), {"type": "custom_tool_call", "call_id": "c", "name": "p", "input": {"a": 1}}], "input.1.input"),
    ([msg("user", "x"), call(call_id="")], "input.1.call_id"),
    ([msg("user", "x"), call(name="")], "input.1.name"),
    ([msg("user", "x"), call(), call()], "input.2.call_id"),  # duplicate
    ([msg("user", "x"), call(), output("call_9")], "input.2.call_id"),  # answers nothing
    ([msg("user", "x"), call(), msg("user", "y")], "input.1.call_id"),  # never answered
    ([msg("user", "x"), call(), msg("user", "y"), msg("assistant", "z"), output()], "input.1.call_id"),
    ([*TOOL_LOOP, msg("assistant", "ok"), output()], "input.4.call_id"),  # an old call
])
def test_tool_calls_and_outputs_must_pair(items: list[Any], param: str) -> None:
    refused({"input": items}, param)


# -- reasoning items ----------------------------------------------------------------------------

def reasoning(**fields: Any) -> dict[str, Any]:
    return {"type": "reasoning", "id": "rs_1", "summary": [], **fields}


@pytest.mark.parametrize(("item", "thinking", "signature"), [
    (reasoning(summary=[{"type": "summary_text", "text": "a"}, {"type": "summary_text", "text": "b"}],
               content=[{"type": "reasoning_text", "text": "raw"}]), "a\n\nb", SYNTHETIC_SIGNATURE),
    (reasoning(content=[{"type": "reasoning_text", "text": "raw"}]), "raw", SYNTHETIC_SIGNATURE),
    (reasoning(encrypted_content="gAAA"), "", signature_from_responses("rs_1", "gAAA")),  # the message after has no id
    (reasoning(summary=[{"type": "summary_text", "text": "t"}], encrypted_content=encrypted_from_anthropic(SIGNED)),
     "t", SIGNED),
    ({"type": "reasoning", "summary": [], "encrypted_content": "gAAA"}, "", signature_from_responses("", "gAAA")),
])
def test_reasoning_items_become_thinking_blocks(item: dict[str, Any], thinking: str, signature: str) -> None:
    out = convert({"input": [msg("user", "q"), item, msg("assistant", "A."), msg("user", "more")]})
    assert out["messages"][1]["content"] == [
        {"type": "thinking", "thinking": thinking, "signature": signature}, text("A.")]


def test_reasoning_with_nothing_in_it_or_leading_nowhere_is_left_out() -> None:
    out = convert({"input": [msg("user", "q"), reasoning(), msg("assistant", "A."), msg("user", "b"),
                             reasoning(encrypted_content="gAAA"), msg("user", "c")]})
    assert out["messages"] == [{"role": "user", "content": [text("q")]},
                               {"role": "assistant", "content": [text("A.")]},
                               {"role": "user", "content": [text("b"), text("c")]}]


def test_other_items() -> None:
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "x"}}
    out = convert({"input": [msg("user", "news?"), search, msg("assistant", "Here."), msg("user", "thanks")]})
    assert out["messages"][1] == {"role": "assistant", "content": [text("Here.")]}
    assert "stored response" in refused({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input.0.type")
    for kind in ("compaction", "local_shell_call", "mcp_call", "computer_call", "file_search_call", None):
        refused({"input": [msg("user", "x"), {"type": kind, "id": "x"}]}, "input.1.type")


# -- tools --------------------------------------------------------------------------------------

APPLY_PATCH_GRAMMAR = 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF\nend_patch: "*** End Patch" LF?'
APPLY_PATCH = {"type": "custom", "name": "apply_patch", "description": "Use the `apply_patch` tool to edit files.",
               "format": {"type": "grammar", "syntax": "lark", "definition": APPLY_PATCH_GRAMMAR}}


def test_function_tools() -> None:
    out, tool_map = convert_full({"input": "hi", "tools": [
        WEATHER, {"type": "function", "name": "ping", "parameters": None, "strict": False},
        {"type": "function", "name": "echo", "description": "", "parameters": {"properties": {"x": {}}}}]})
    assert out["tools"] == [
        {"name": "get_weather", "description": "Weather by city", "input_schema": WEATHER["parameters"]},
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
        {"name": "echo", "input_schema": {"type": "object", "properties": {"x": {}}}}]
    assert tool_map == {"get_weather": ClientTool("get_weather"), "ping": ClientTool("ping"), "echo": ClientTool("echo")}


def test_custom_tool_with_a_lark_grammar() -> None:
    out, tool_map = convert_full({"input": "hi", "tools": [APPLY_PATCH, {"type": "custom", "name": "note"}]})
    patch, note = out["tools"]
    assert patch["name"] == "apply_patch"
    assert patch["description"] == (
        "Use the `apply_patch` tool to edit files.\n\nThis tool takes raw text, not JSON arguments: put its "
        "whole input in the `input` string, exactly as the tool reads it. The input must match this Lark grammar:\n"
        f"```\n{APPLY_PATCH_GRAMMAR}\n```")
    assert patch["input_schema"] == {
        "type": "object", "required": ["input"], "additionalProperties": False, "properties": {"input": {
            "type": "string", "description": "The tool's whole input as raw text, exactly as the tool reads it "
                                             "(not JSON). It must match the Lark grammar in the tool description."}}}
    assert note["input_schema"]["properties"]["input"]["description"].endswith("(not JSON).")
    assert tool_map == {"apply_patch": ClientTool("apply_patch", "custom"), "note": ClientTool("note", "custom")}
    regex = {**APPLY_PATCH, "format": {"type": "grammar", "syntax": "regex", "definition": "^[a-z]+$"}}
    assert "this regular expression:\n```\n^[a-z]+$\n```" in convert({"input": "x", "tools": [regex]})["tools"][0]["description"]
    refused({"input": "x", "tools": [{**APPLY_PATCH, "format": {"type": "grammar", "syntax": "ebnf", "definition": "a"}}]},
            "tools.0.format.syntax")
    refused({"input": "x", "tools": [{**APPLY_PATCH, "format": {"type": "grammar", "syntax": "lark"}}]},
            "tools.0.format.definition")
    refused({"input": "x", "tools": [{**APPLY_PATCH, "format": {"type": "json"}}]}, "tools.0.format.type")


def test_namespace_tools_are_flattened() -> None:
    crm = {"type": "namespace", "name": "crm", "description": "Customer records.", "tools": [
        {"type": "function", "name": "lookup", "description": "Find a customer.", "parameters": {"type": "object"}},
        {"type": "custom", "name": "query"}]}
    out, tool_map = convert_full({"input": "hi", "tools": [crm]})
    assert out["tools"][0] == {"name": "crm__lookup", "description": "Customer records.\n\nFind a customer.",
                               "input_schema": {"type": "object"}}
    assert out["tools"][1]["name"] == "crm__query"
    assert out["tools"][1]["description"].startswith("Customer records.\n\nThis tool takes raw text")
    assert tool_map == {"crm__lookup": ClientTool("lookup", "function", "crm"), "crm__query": ClientTool("query", "custom", "crm")}
    refused({"input": "x", "tools": [{**crm, "tools": [crm]}]}, "tools.0.tools.0.type")
    refused({"input": "x", "tools": [{**crm, "name": ""}]}, "tools.0.name")
    refused({"input": "x", "tools": [{**crm, "tools": None}]}, "tools.0.tools")


def test_long_names_are_shortened_and_mapped_back() -> None:
    long_name = "x" * 70
    out, tool_map = convert_full({"input": [msg("user", "x"), call(name="lookup", namespace=long_name), output()],
                                  "tools": [{"type": "namespace", "name": long_name, "description": "",
                                             "tools": [{"type": "function", "name": "lookup"}]}]})
    hub = shorten_tool_name(f"{long_name}__lookup")
    assert len(hub) == 64 and out["tools"][0]["name"] == out["messages"][1]["content"][0]["name"] == hub
    assert tool_map == {hub: ClientTool("lookup", "function", long_name)}


def test_duplicate_tool_names_are_refused() -> None:
    refused({"input": "x", "tools": [WEATHER, WEATHER]}, "tools.1.name")
    refused({"input": "x", "tools": [{"type": "function", "name": "a__b"},
                                     {"type": "namespace", "name": "a", "description": "", "tools": [
                                         {"type": "function", "name": "b"}]}]}, "tools.1.name")
    refused({"input": "x", "tools": [{"type": "function", "name": "web_search"}, {"type": "web_search"}]}, "tools.1.type")


def test_web_search_becomes_the_anthropic_server_tool() -> None:
    out = convert({"input": "news", "max_tool_calls": 3, "tools": [
        {"type": "web_search", "search_context_size": "high", "external_web_access": False,
         "filters": {"allowed_domains": ["example.com"]},
         "user_location": {"type": "approximate", "city": "Paris", "country": "FR", "region": None}},
        {"type": "web_search_preview"}]})
    assert out["tools"] == [{"type": "web_search_20250305", "name": "web_search", "allowed_domains": ["example.com"],
                             "user_location": {"type": "approximate", "city": "Paris", "country": "FR"}, "max_uses": 3}]
    assert convert({"input": "x", "tools": [{"type": "web_search_preview"}]})["tools"] == [
        {"type": "web_search_20250305", "name": "web_search"}]


def test_hosted_tool_search_is_dropped_and_deferred_tools_sent_up_front() -> None:
    deferred = {**WEATHER, "defer_loading": True}
    out = convert({"input": "x", "tools": [{"type": "tool_search"}, deferred]})
    assert [tool["name"] for tool in out["tools"]] == ["get_weather"] and "defer_loading" not in out["tools"][0]
    refused({"input": "x", "tools": [{"type": "tool_search", "execution": "client"}]}, "tools.0.type")


@pytest.mark.parametrize("kind", ["file_search", "code_interpreter", "computer_use_preview", "computer",
                                  "image_generation", "mcp", "local_shell", "shell", "apply_patch",
                                  "programmatic_tool_calling", None])
def test_other_tool_types_are_refused(kind: str | None) -> None:
    refused({"input": "x", "tools": [WEATHER, {"type": kind}]}, "tools.1.type")


def test_tools_must_be_a_list() -> None:
    refused({"input": "x", "tools": {"type": "function"}}, "tools")


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"type": "auto"}), ("none", {"type": "none"}), ("required", {"type": "any"}),
    ({"type": "function", "name": "get_weather"}, {"type": "tool", "name": "get_weather"}),
    ({"type": "custom", "name": "apply_patch"}, {"type": "tool", "name": "apply_patch"}),
    ({"type": "function", "name": "lookup", "namespace": "crm"}, {"type": "tool", "name": "crm__lookup"}),
])
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    tools = [WEATHER, APPLY_PATCH, {"type": "namespace", "name": "crm", "description": "",
                                    "tools": [{"type": "function", "name": "lookup"}]}]
    assert convert({"input": "x", "tools": tools, "tool_choice": choice})["tool_choice"] == expected


def test_tool_choice_edge_cases() -> None:
    tools = [WEATHER, APPLY_PATCH, {"type": "web_search"},
             {"type": "namespace", "name": "crm", "description": "", "tools": [{"type": "function", "name": "lookup"}]}]
    out = convert({"input": "x", "tools": tools, "tool_choice": {
        "type": "allowed_tools", "mode": "required",
        "tools": [{"type": "function", "name": "get_weather"}, {"type": "namespace", "name": "crm"},
                  {"type": "mcp", "server_label": "deepwiki"}]}})
    assert [t["name"] for t in out["tools"]] == ["get_weather", "crm__lookup"] and out["tool_choice"] == {"type": "any"}
    out = convert({"input": "x", "tools": tools, "tool_choice": {
        "type": "allowed_tools", "mode": "auto", "tools": [{"type": "custom", "name": "apply_patch"}, {"type": "web_search"}]}})
    assert [t["name"] for t in out["tools"]] == ["apply_patch", "web_search"] and out["tool_choice"] == {"type": "auto"}
    out = convert({"input": "x", "tools": tools, "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}})
    assert "tools" not in out and "tool_choice" not in out
    assert "tool_choice" not in convert({"input": "x", "tool_choice": "required"})  # no tools: no choice
    assert "tool_choice" not in convert({"input": "x", "tools": [WEATHER]})
    refused({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name")
    refused({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "file_search"}}, "tool_choice")
    refused({"input": "x", "tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice")


def test_parallel_tool_calls_false() -> None:
    body = {"input": "x", "tools": [WEATHER], "parallel_tool_calls": False}
    assert convert(body)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert convert({**body, "tool_choice": "required"})["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert convert({**body, "tool_choice": "none"})["tool_choice"] == {"type": "none"}
    assert "tool_choice" not in convert({**body, "parallel_tool_calls": True})


# -- options ------------------------------------------------------------------------------------

def test_max_output_tokens() -> None:
    assert convert({"input": "x", "max_output_tokens": 500})["max_tokens"] == 500
    assert convert({"input": "x", "max_output_tokens": 500}, max_tokens=300)["max_tokens"] == 300
    assert convert({"input": "x"}, default_max_tokens=4096)["max_tokens"] == 4096
    for bad in (0, -1, "100", True, 1.5):
        refused({"input": "x", "max_output_tokens": bad}, "max_output_tokens")


@pytest.mark.parametrize(("effort", "budget"), [("minimal", 1024), ("low", 2048), ("medium", 8192),
                                                ("high", 24576), ("xhigh", 32768)])
def test_reasoning_effort_budgets(effort: str, budget: int) -> None:
    out = convert({"input": "x", "reasoning": {"effort": effort, "summary": "auto"}, "max_output_tokens": 40000})
    assert out["thinking"] == {"type": "enabled", "budget_tokens": budget} and out["max_tokens"] == 40000


def test_reasoning_budget_and_max_tokens() -> None:
    out = convert({"input": "x", "reasoning": {"effort": "high"}})  # default 16384 <= 24576: raised
    assert (out["thinking"]["budget_tokens"], out["max_tokens"]) == (24576, 24576 + 16384)
    out = convert({"input": "x", "reasoning": {"effort": "high"}}, max_tokens=20000)  # ceiling: budget shrinks
    assert (out["thinking"]["budget_tokens"], out["max_tokens"]) == (20000 - 1024, 20000)
    out = convert({"input": "x", "reasoning": {"effort": "low"}, "max_output_tokens": 1500}, max_tokens=1800)
    assert "thinking" not in out and out["max_tokens"] == 1500  # no room for the 1024 minimum
    assert "thinking" not in convert({"input": "x", "reasoning": {"effort": "none"}})
    assert "thinking" not in convert({"input": "x", "reasoning": {"summary": "detailed"}})
    refused({"input": "x", "reasoning": {"effort": "extreme"}}, "reasoning.effort")
    refused({"input": "x", "reasoning": "high"}, "reasoning")


def test_thinking_is_off_when_anthropic_would_reject_it() -> None:
    base = {"reasoning": {"effort": "low"}, "tools": [WEATHER]}
    assert "thinking" not in convert({**base, "input": "x", "tool_choice": "required"})
    assert "thinking" not in convert({**base, "input": "x", "tool_choice": {"type": "function", "name": "get_weather"}})
    assert "thinking" in convert({**base, "input": "x", "tool_choice": "auto"})
    out = convert({**base, "input": TOOL_LOOP, "temperature": 0.3})
    assert "thinking" not in out and out["temperature"] == 0.3  # a tool turn with no signed thinking leading it
    synthetic = reasoning(summary=[{"type": "summary_text", "text": "hm"}])
    assert "thinking" not in convert({**base, "input": [TOOL_LOOP[0], synthetic, *TOOL_LOOP[1:]]})
    signed = reasoning(summary=[{"type": "summary_text", "text": "hm"}], encrypted_content=encrypted_from_anthropic(SIGNED))
    assert "thinking" in convert({**base, "input": [TOOL_LOOP[0], signed, *TOOL_LOOP[1:]]})
    late = [TOOL_LOOP[0], msg("assistant", "Let me check."), signed, *TOOL_LOOP[1:]]
    assert "thinking" not in convert({**base, "input": late})  # the signed block does not lead the turn
    assert "thinking" in convert({**base, "input": [*TOOL_LOOP, msg("assistant", "Sunny."), msg("user", "thanks")]})
    assert "thinking" not in convert({**base, "input": [msg("user", "x"), msg("assistant", "Sure:")]})  # prefill


def test_sampling() -> None:
    assert convert({"input": "x", "temperature": 1.7, "top_p": 0.5})["temperature"] == 1.0  # clamped, top_p dropped
    assert "top_p" not in convert({"input": "x", "temperature": 0.2, "top_p": 0.5})
    assert convert({"input": "x", "top_p": 0.5})["top_p"] == 0.5
    assert "top_k" not in convert({"input": "x", "top_k": 5})  # not a Responses option
    out = convert({"input": "x", "temperature": 0.3, "top_p": 0.97, "reasoning": {"effort": "low"}})
    assert "temperature" not in out and out["top_p"] == 0.97  # thinking: only top_p >= 0.95 goes
    refused({"input": "x", "temperature": -1}, "temperature")


def test_text_format() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}
    out = convert({"input": "x", "text": {"format": {"type": "json_schema", "name": "City", "schema": schema, "strict": True},
                                          "verbosity": "low"}})
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    out = convert({"instructions": "Be brief.", "input": "x", "text": {"format": {"type": "json_object"}}})
    assert out["system"] == [text("Be brief."), text("Respond with a single valid JSON object and nothing else: "
                                                         "no prose, no code fences.")]
    assert "output_config" not in convert({"input": "x", "text": {"format": {"type": "text"}}})
    refused({"input": "x", "text": {"format": {"type": "json_schema", "name": "X"}}}, "text.format.schema")
    refused({"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type")


def test_user_becomes_metadata_user_id() -> None:
    assert convert({"input": "x", "user": "user-42"})["metadata"] == {"user_id": "user-42"}
    assert convert({"input": "x", "safety_identifier": "sid-7"})["metadata"] == {"user_id": "sid-7"}
    assert convert({"input": "x", "user": "ann@example.com"})["metadata"]["user_id"].startswith("sha256-")
    assert dropped_options({"input": "x", "user": "u", "safety_identifier": "s"}) == ["safety_identifier"]


def test_prompt_cache_key_marks_the_stable_prefix() -> None:
    body = {"instructions": "Rules.", "prompt_cache_key": "session-1", "tools": [WEATHER, APPLY_PATCH],
            "input": [msg("user", [{"type": "input_text", "text": "see"},
                                   {"type": "input_image", "image_url": "https://x.io/a.png"}])]}
    out = convert(body)
    assert out["system"] == [text("Rules.", cache_control=CACHE)]
    assert [tool.get("cache_control") for tool in out["tools"]] == [None, CACHE]
    assert out["messages"][0]["content"][-1] == {"type": "image", "source": {"type": "url", "url": "https://x.io/a.png"},
                                                 "cache_control": CACHE}
    plain = convert({**body, "prompt_cache_key": None})
    assert "cache_control" not in json.dumps(plain)
    assert convert({"input": "hi", "prompt_cache_key": "k"})["messages"] == [
        {"role": "user", "content": [text("hi", cache_control=CACHE)]}]  # no tools, no system: nothing else to mark


@pytest.mark.parametrize(("option", "value", "param"), [
    ("previous_response_id", "resp_1", "previous_response_id"),
    ("conversation", "conv_1", "conversation"),
    ("conversation", {"id": "conv_1"}, "conversation"),
    ("prompt", {"id": "pmpt_1"}, "prompt"),
    ("moderation", {"model": "omni-moderation-latest"}, "moderation"),
    ("background", True, "background"),
    ("top_logprobs", 5, "top_logprobs"),
    ("include", ["reasoning.encrypted_content", "message.output_text.logprobs"], "include"),
    ("truncation", "sometimes", "truncation"),
    ("max_tool_calls", 0, "max_tool_calls"),
    ("max_tool_calls", "3", "max_tool_calls"),
])
def test_options_that_change_the_answer_are_refused(option: str, value: Any, param: str) -> None:
    refused({"input": "x", option: value}, param)


def test_harmless_options_are_dropped_and_listed() -> None:
    body = {"input": "x", "store": True, "metadata": {"k": "v"}, "include": ["reasoning.encrypted_content"],
            "prompt_cache_retention": "24h", "service_tier": "flex", "truncation": "auto", "background": False,
            "stream_options": {"include_obfuscation": False}, "client_metadata": {"a": "b"},
            "context_management": [{"type": "compaction", "compact_threshold": 1000}], "top_logprobs": 0,
            "text": {"verbosity": "high"}, "max_tool_calls": 4, "previous_response_id": None, "some_future_field": 1}
    out = convert(body)
    assert out == {"model": "claude-x", "max_tokens": 16384, "messages": [{"role": "user", "content": [text("x")]}]}
    assert dropped_options(body) == [
        "metadata", "store", "include", "prompt_cache_retention", "service_tier", "truncation", "background",
        "stream_options", "client_metadata", "context_management", "top_logprobs", "text.verbosity", "max_tool_calls"]
    assert "max_tool_calls" not in dropped_options({**body, "tools": [{"type": "web_search"}]})  # became max_uses


def test_input_is_never_mutated() -> None:
    body = {"model": "gpt-5", "instructions": "Rules.", "prompt_cache_key": "k", "reasoning": {"effort": "high"},
            "tools": [WEATHER, APPLY_PATCH, {"type": "web_search"}], "parallel_tool_calls": False,
            "text": {"format": {"type": "json_object"}}, "temperature": 1.5,
            "input": [msg("user", "x"), reasoning(encrypted_content=encrypted_from_anthropic(SIGNED)),
                      call(arguments='{"city": "Oslo"}'), output(value=[{"type": "input_text", "text": "cold  "}]),
                      msg("assistant", [{"type": "output_text", "text": "Cold.  "}])]}
    before = copy.deepcopy(body)
    convert_full(body)
    assert body == before
