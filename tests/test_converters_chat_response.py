"""converters.chat_response: OpenAI Chat Completion (non-streaming) -> Anthropic Message.

Recorded upstream answers from fixtures/*.json plus hand-written malformed cases. Usage figures
in the expectations were worked out by hand from each fixture's `usage` object.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from converters.chat_response import parse_tool_arguments, to_messages_response
from converters.thinking import SYNTHETIC_SIGNATURE, is_synthetic_signature

FIXTURES = Path(__file__).parent / "fixtures"
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def recorded(name: str) -> dict[str, Any]:
    """The upstream JSON body of a recorded non-streaming exchange."""
    exchange = orjson.loads((FIXTURES / f"{name}.json").read_bytes())
    assert exchange["stream"] is False and exchange["api"] == "openai-chat"
    body: dict[str, Any] = orjson.loads(exchange["response"]["body"])
    return body


def usage(input_tokens: int, output_tokens: int, cache_read: int = 0) -> dict[str, int]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cache_read}


def completion(message: dict[str, Any], finish_reason: str | None = "stop", **choice: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "choices": [{"index": 0, "message": message, "finish_reason": finish_reason,
                                             **choice}]}


def call(arguments: Any, name: str = "f", call_id: str = "call_1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# --- recorded upstream answers ---------------------------------------------------------------------


def test_openai_tool_call() -> None:
    out = to_messages_response(recorded("openai-tool-call-chain"), model="claude-sonnet-4-5")
    assert out == {
        "id": "msg_chatcmpl-BWpGQWkuvc0FZdZZjPz8eL1CdtBcF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "tool_use", "id": "call_aq9UyiSFkzX6W8Ydc33DoI9Y", "name": "can_have_dragons",
                     "input": {"population": 123124}}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": usage(118, 18),
    }


def test_deepseek_reasoning_content_becomes_signed_thinking() -> None:
    body = recorded("deepseek-reasoning-content")
    out = to_messages_response(body, model="claude-x")
    message = body["choices"][0]["message"]
    assert [b["type"] for b in out["content"]] == ["thinking", "text"]
    assert out["content"][0] == {"type": "thinking", "thinking": message["reasoning_content"],
                                 "signature": "dragoman:v1"}
    assert out["content"][0]["thinking"].startswith("Okay, the user is asking how to cross the street.")
    assert out["content"][1]["text"].startswith("Crossing the street safely involves careful observation")
    assert (out["id"], out["stop_reason"]) == ("msg_181d9669-2b3a-445e-bd13-2ebff2c378f6", "end_turn")
    assert out["usage"] == usage(12, 789)  # prompt 12, no cache hit; completion 789 includes reasoning


def test_deepseek_reasoning_text_and_parallel_tools() -> None:
    out = to_messages_response(recorded("deepseek-reasoning-parallel-tools"), model="claude-x")
    assert out["content"] == [
        {"type": "thinking", "signature": SYNTHETIC_SIGNATURE,
         "thinking": "Great, now I have access to the dice roll tool. "
                     "Let me first get the player's name and then roll the die."},
        {"type": "text", "text": "Let me get your name and roll the die!"},
        {"type": "tool_use", "id": "call_00_6edlnw3Z1MgeMfey687g8451", "name": "get_player_name", "input": {}},
        {"type": "tool_use", "id": "call_01_km02sac7sHxNDPATKLZy7705", "name": "roll_dice", "input": {}},
    ]
    assert out["stop_reason"] == "tool_use"
    assert out["usage"] == usage(875, 79)


def test_groq_reasoning_field() -> None:
    body = recorded("groq-reasoning")
    out = to_messages_response(body, model="claude-x")
    assert [b["type"] for b in out["content"]] == ["thinking", "text"]
    assert out["content"][0]["thinking"] == body["choices"][0]["message"]["reasoning"]
    assert out["content"][0]["thinking"].startswith("Alright, so I want to make Argentinian alfajores")
    assert out["content"][1]["text"] == body["choices"][0]["message"]["content"]
    assert out["usage"] == usage(524, 1590)


def test_ollama_reasoning_with_tool_call_and_empty_content() -> None:
    out = to_messages_response(recorded("ollama-cloud-tool-call"), model="claude-x")
    assert [b["type"] for b in out["content"]] == ["thinking", "tool_use"]  # content "" gives no text block
    assert out["content"][0]["thinking"].startswith('The conversation: user asked "What is the capital of France?"')
    assert out["content"][1] == {"type": "tool_use", "id": "call_o2vnpxrw", "name": "final_result",
                                 "input": {"city": "Paris", "country": "France"}}
    assert (out["id"], out["stop_reason"], out["usage"]) == ("msg_chatcmpl-273", "tool_use", usage(206, 194))


def test_gemini_empty_tool_call_id_is_generated() -> None:
    out = to_messages_response(recorded("gemini-openai-tool-call-empty-id"), model="claude-x")
    [block] = out["content"]
    assert re.fullmatch(r"toolu_[0-9a-f]{24}", block["id"])
    assert (block["name"], block["input"]) == ("get_current_time", {})
    assert out["id"] == "msg_3SE-aKjdCcCEz7IPxpqjCA"
    assert (out["stop_reason"], out["usage"]) == ("tool_use", usage(35, 12))


def test_mistral_tool_call_without_type() -> None:
    out = to_messages_response(recorded("mistral-tool-call"), model="claude-x")
    assert out["content"] == [{"type": "tool_use", "id": "gSIMJiOkT", "name": "weather",
                               "input": {"location": "San Francisco"}}]
    assert (out["id"], out["usage"]) == ("msg_b3999b8c93e04e11bcbff7bcab829667", usage(124, 22))


def test_cerebras_tool_call() -> None:
    out = to_messages_response(recorded("cerebras-tool-call"), model="claude-x")
    assert out["content"] == [{"type": "tool_use", "id": "b8847f144", "name": "final_result",
                               "input": {"city": "Paris", "country": "France"}}]
    assert (out["stop_reason"], out["usage"]) == ("tool_use", usage(364, 33))


def test_openai_cached_tokens_moved_out_of_input() -> None:
    out = to_messages_response(recorded("openai-cached-tokens"), model="claude-x")
    assert out["content"] == [{"type": "text", "text": "OK"}]
    assert out["usage"] == usage(8, 4, cache_read=4012)  # prompt 4020 of which 4012 cached


def test_azure_content_filter_without_message() -> None:
    out = to_messages_response(recorded("azure-content-filter-finish"), model="claude-x")
    assert (out["content"], out["stop_reason"], out["usage"]) == ([], "refusal", usage(15, 19))


def test_openai_refusal_becomes_text_with_refusal_stop() -> None:
    out = to_messages_response(recorded("openai-refusal-structured-output"), model="claude-x")
    assert out["content"] == [{"type": "text", "text": "I'm very sorry, but I can't assist with that request."}]
    assert (out["stop_reason"], out["usage"]) == ("refusal", usage(65, 13))


@pytest.mark.parametrize("name", [
    "openai-tool-call-chain", "deepseek-reasoning-parallel-tools", "ollama-cloud-tool-call",
    "gemini-openai-tool-call-empty-id", "mistral-tool-call", "cerebras-tool-call",
])
def test_recorded_tool_ids_and_message_id_in_anthropic_alphabet(name: str) -> None:
    out = to_messages_response(recorded(name), model="claude-x")
    ids = [b["id"] for b in out["content"] if b["type"] == "tool_use"]
    assert ids and all(TOOL_ID.match(i) for i in ids)
    assert TOOL_ID.match(out["id"]) and out["id"].startswith("msg_")


def test_recorded_body_not_mutated() -> None:
    body = recorded("deepseek-reasoning-parallel-tools")
    before = copy.deepcopy(body)
    to_messages_response(body, model="claude-x", tool_names={"roll_dice": "roll_the_dice"})
    assert body == before


# --- tool arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(("arguments", "expected"), [
    ('{"command": "ls -la"}', {"command": "ls -la"}),
    ('{"command": "ls -la",}', {"command": "ls -la"}),  # trailing comma: repaired
    ('{"path": "a.txt", "limit": 5', {"path": "a.txt", "limit": 5}),  # cut off: repaired
    ("{'path': 'a.txt'}", {"path": "a.txt"}),  # single quotes: repaired
    ("", {}),
    ("   ", {}),
    (None, {}),
    ({"already": "parsed"}, {"already": "parsed"}),
    ("not json at all", {"_raw_arguments": "not json at all"}),
    ("garbage {", {"_raw_arguments": "garbage {"}),
    ("[1, 2]", {"_raw_arguments": "[1, 2]"}),
    ('"just a string"', {"_raw_arguments": '"just a string"'}),
])
def test_parse_tool_arguments(arguments: Any, expected: dict[str, Any]) -> None:
    assert parse_tool_arguments(arguments) == expected


def test_malformed_arguments_in_a_response() -> None:
    body = completion({"role": "assistant", "content": None, "tool_calls": [
        call('{"file_path": "/tmp/x", "content": "hi"', name="Write", call_id="call_a"),
        call("rm -rf please", name="Bash", call_id="call_b"),
    ]}, "tool_calls")
    out = to_messages_response(body, model="claude-x")
    assert [b["input"] for b in out["content"]] == [
        {"file_path": "/tmp/x", "content": "hi"},
        {"_raw_arguments": "rm -rf please"},
    ]


# --- names, ids, stop reasons ----------------------------------------------------------------------


def test_shortened_tool_name_restored() -> None:
    body = completion({"role": "assistant", "tool_calls": [call("{}", name="short_abc"), call("{}", name="Bash",
                                                                                           call_id="call_2")]})
    out = to_messages_response(body, model="claude-x", tool_names={"short_abc": "a_very_long_original_name"})
    assert [b["name"] for b in out["content"]] == ["a_very_long_original_name", "Bash"]


def test_tool_ids_sanitised_and_unique() -> None:
    body = completion({"role": "assistant", "tool_calls": [
        call("{}", call_id="functions.Bash:0"), call("{}", call_id="dup"), call("{}", call_id="dup")]}, "tool_calls")
    ids = [b["id"] for b in to_messages_response(body, model="claude-x")["content"]]
    assert ids[0].startswith("functions_Bash_0_") and TOOL_ID.match(ids[0])
    assert ids[1] == "dup" and ids[2] != "dup" and TOOL_ID.match(ids[2])


@pytest.mark.parametrize(("finish", "with_tools", "expected"), [
    ("stop", False, "end_turn"),
    ("stop", True, "tool_use"),  # hosts that say "stop" after tool calls
    ("tool_calls", True, "tool_use"),
    ("length", False, "max_tokens"),
    ("length", True, "max_tokens"),
    ("content_filter", False, "refusal"),
    (None, False, "end_turn"),
    (None, True, "tool_use"),
    ("eos", False, "end_turn"),  # unknown reasons
    ("eos", True, "tool_use"),
])
def test_stop_reason(finish: str | None, with_tools: bool, expected: str) -> None:
    message: dict[str, Any] = {"role": "assistant", "content": "hi"}
    if with_tools:
        message["tool_calls"] = [call("{}")]
    out = to_messages_response(completion(message, finish), model="claude-x")
    assert (out["stop_reason"], out["stop_sequence"]) == (expected, None)


def test_vllm_matched_stop_string_is_stop_sequence() -> None:
    out = to_messages_response(completion({"role": "assistant", "content": "a"}, "stop", stop_reason="###"),
                               model="claude-x")
    assert (out["stop_reason"], out["stop_sequence"]) == ("stop_sequence", "###")
    out = to_messages_response(completion({"role": "assistant", "content": "a"}, "stop", stop_reason=128009),
                               model="claude-x")  # an int is a stop *token* id, not a sequence
    assert (out["stop_reason"], out["stop_sequence"]) == ("end_turn", None)


def test_message_id_sanitised_or_generated() -> None:
    body = completion({"role": "assistant", "content": "a"})
    body["id"] = "cmpl:abc/1 x"
    assert to_messages_response(body, model="m")["id"] == "msg_cmpl_abc_1_x"
    del body["id"]
    assert re.fullmatch(r"msg_[0-9a-f]{24}", to_messages_response(body, model="m")["id"])


# --- content shapes --------------------------------------------------------------------------------


def test_mistral_content_parts_with_thinking() -> None:
    body = completion({"role": "assistant", "content": [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Let me "}, {"type": "text", "text": "see."}]},
        {"type": "text", "text": "Hello"},
        {"type": "text", "text": " world"},
    ]})
    assert to_messages_response(body, model="m")["content"] == [
        {"type": "thinking", "thinking": "Let me see.", "signature": "dragoman:v1"},
        {"type": "text", "text": "Hello world"},
    ]


def test_never_an_empty_text_or_thinking_block() -> None:
    body = completion({"role": "assistant", "content": "  \n", "reasoning_content": "", "refusal": None})
    out = to_messages_response(body, model="m")
    assert (out["content"], out["stop_reason"]) == ([], "end_turn")


def test_reasoning_content_preferred_over_reasoning() -> None:
    body = completion({"role": "assistant", "content": "x", "reasoning_content": "A", "reasoning": "A"})
    assert [b["type"] for b in to_messages_response(body, model="m")["content"]] == ["thinking", "text"]


def test_legacy_function_call() -> None:
    body = completion({"role": "assistant", "content": None,
                       "function_call": {"name": "lookup", "arguments": '{"q": 1}'}}, "function_call")
    out = to_messages_response(body, model="m")
    [block] = out["content"]
    assert (block["name"], block["input"], out["stop_reason"]) == ("lookup", {"q": 1}, "tool_use")
    assert TOOL_ID.match(block["id"])


def test_missing_usage_is_zero() -> None:
    out = to_messages_response(completion({"role": "assistant", "content": "a"}), model="m")
    assert out["usage"] == usage(0, 0)


def test_no_choices_is_value_error() -> None:
    with pytest.raises(ValueError, match="no choices"):
        to_messages_response({"id": "x", "choices": []}, model="m")
    with pytest.raises(ValueError, match="no choices: model overloaded"):
        to_messages_response({"error": {"message": "model overloaded"}}, model="m")


def test_is_synthetic_signature() -> None:
    assert is_synthetic_signature(SYNTHETIC_SIGNATURE)
    assert not is_synthetic_signature("EoQDCm0IDhgCKkCDzGs2kL2P")
    assert not is_synthetic_signature(None)
