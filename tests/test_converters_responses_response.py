"""Non-streaming Responses API answers, both ways, on the recorded exchanges; the error table; the echo."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import Message
from openai.types.responses import Response

from converters.responses_items import (
    custom_input,
    encrypted_from_redacted,
    reasoning_encryption,
    reasoning_requested,
    redacted_in_encrypted,
    response_echo,
)
from converters.responses_response import (
    responses_error,
    responses_error_code,
    responses_http_error,
    to_messages_response,
    to_responses_response,
)
from converters.thinking import anthropic_in_encrypted
from converters.tool_names import ClientTool
from streaming.replay import message_events
from streaming.responses_encoder import ResponsesEncoder

from .conftest import FIXTURES, load_fixture
from .responses_stream_checker import check_responses_stream, terminal

ANTHROPIC_MESSAGES = sorted(p.name for p in FIXTURES.glob("anthropic-*.json")
                            if not load_fixture(p.name)["stream"] and load_fixture(p.name)["response"]["status"] == 200
                            and load_fixture(p.name)["api"] == "anthropic-messages")
CREATED = 1_700_000_000
NO_USAGE = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def body(name: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(load_fixture(name)["response"]["body"])
    return parsed


def converted(name: str) -> dict[str, Any]:
    message = to_messages_response(body(name), model="claude-sonnet-4-5")
    Message.model_validate(message, strict=True)
    return message


def responses(message: dict[str, Any], *, reasoning: bool = False, tool_map: dict[str, ClientTool] | None = None,
              request: dict[str, Any] | None = None) -> dict[str, Any]:
    response = to_responses_response(message, response_id="resp_test", model="gpt-5-codex", created_at=CREATED,
                                     tool_map=tool_map or {}, reasoning_requested=reasoning,
                                     echo=response_echo(request or {}))
    Response.model_validate(response, strict=True)
    return response


# -- Response -> Anthropic message ----------------------------------------------------------------

def test_text() -> None:
    assert converted("openai-responses-text.json") == {
        "id": "msg_68c2e8c147ac819491bcd667055eadbc02e845978fbbb592", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "The capital of France is Paris."}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 14, "output_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }


def test_parallel_function_calls() -> None:
    assert converted("openai-responses-parallel-function-calls.json") == {
        "id": "msg_67e547c48c9481918c5c4394464ce0c60ae6111e84dd5c08", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "tool_use", "id": "call_LWVp74L5HaH2KNvgVz9PJsrj", "name": "get_location",
             "input": {"loc_name": "Londos"}},
            {"type": "tool_use", "id": "call_YnRAWeTyxI91m5uNa5bxXwVO", "name": "get_location",
             "input": {"loc_name": "London"}},
        ],
        "stop_reason": "tool_use", "stop_sequence": None, "usage": NO_USAGE,
    }


def test_reasoning_summary_and_encrypted_content() -> None:
    recorded = body("openai-responses-reasoning-summary-text.json")
    reasoning, message = recorded["output"]
    assert converted("openai-responses-reasoning-summary-text.json") == {
        "id": "msg_0b028a7a2aca8d68006942f4e05a848193a3052f1530ea1deb", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": reasoning["summary"][0]["text"],
             "signature": f"dragoman:rs:rs_0b028a7a2aca8d68006942f4e0d380819398dfa502c33bce7b:{message['id']}:"
                          + reasoning["encrypted_content"]},   # the message it is paired with rides along
            {"type": "text", "text": message["content"][0]["text"]},
        ],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 34, "output_tokens": 226, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0, "output_tokens_details": {"thinking_tokens": 59}},
    }
    assert reasoning["summary"][0]["text"].startswith("**Generating factorial function**\n\nI need to respond")
    assert message["content"][0]["text"].startswith("```python\ndef factorial(n: int) -> int:")


def test_json_schema_answer_after_a_tool_result() -> None:
    assert converted("openai-responses-json-schema-after-tool.json") == {
        "id": "msg_68477f0fde708192989000a62809c6e5020197534e39cc1f", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": '{"city":"Mexico City","country":"Mexico"}'}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 89, "output_tokens": 16, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }


@pytest.mark.parametrize("name", ["openai-responses-error-400-orphan-reasoning-item.json",
                                  "openai-responses-error-400-stream-requested.json"])
def test_an_error_body_is_not_a_response(name: str) -> None:
    with pytest.raises(ValueError, match="not a Response object"):
        to_messages_response(body(name), model="m")


@pytest.mark.parametrize("status", ["failed", "cancelled", "in_progress", "queued"])
def test_an_unfinished_response_is_refused(status: str) -> None:
    with pytest.raises(ValueError, match=status if status != "failed" else "failed: boom"):
        to_messages_response({"id": "resp_1", "status": status, "output": [],
                              "error": {"code": "server_error", "message": "boom"} if status == "failed" else None},
                             model="m")


def test_item_shapes() -> None:
    message = to_messages_response({"id": "resp_1", "status": "incomplete",
                                    "incomplete_details": {"reason": "max_output_tokens"}, "output": [
        {"type": "reasoning", "id": "rs_1", "summary": []},                       # nothing to keep
        {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "enc"},
        {"type": "reasoning", "id": "rs_3", "summary": [], "content": [{"type": "reasoning_text", "text": "raw"}]},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        {"type": "message", "id": "m1", "content": [{"type": "refusal", "refusal": "No."}]},
        {"type": "message", "id": "m2", "content": [{"type": "output_text", "text": " \n"}]},
        {"type": "message", "id": "m3", "content": [{"type": "output_text", "text": "More."}]},
        {"type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "function_call", "call_id": "functions.Bash:0", "name": "Bash", "arguments": '{"cmd": "ls"'},
    ]}, model="m", tool_names={"Bash": "bash_tool"})
    assert message["content"] == [
        {"type": "thinking", "thinking": "", "signature": "dragoman:rs:rs_2::enc"},   # a reasoning item follows
        {"type": "thinking", "thinking": "raw", "signature": "dragoman:v1"},
        {"type": "text", "text": "No."},
        {"type": "text", "text": "\n\nMore."},
        {"type": "tool_use", "id": "call_1", "name": "apply_patch", "input": {"input": "*** Begin Patch"}},
        {"type": "tool_use", "id": message["content"][5]["id"], "name": "bash_tool", "input": {"cmd": "ls"}},
    ]
    assert message["content"][5]["id"].startswith("functions_Bash_0_")
    assert message["stop_reason"] == "max_tokens" and message["usage"] == NO_USAGE


# -- Anthropic message -> Response ----------------------------------------------------------------

@pytest.mark.parametrize("name", ANTHROPIC_MESSAGES)
def test_anthropic_messages_agree_with_the_streaming_encoder(name: str) -> None:
    message = body(name)
    for reasoning in (False, True):
        response = responses(message, reasoning=reasoning)
        encoder = ResponsesEncoder("resp_test", "gpt-5-codex", CREATED, {}, reasoning, response_echo({}))
        raw = encoder.start() + b"".join(encoder.feed(e) for e in message_events(message))
        assert terminal(check_responses_stream(raw)) == response == encoder.response


def test_parallel_tools() -> None:
    response = responses(body("anthropic-parallel-tools-nonstream.json"), request={"store": False, "tools": [
        {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]})
    text, weather, time = response["output"]
    assert text["id"] == "msg_test_0" and text["content"][0]["text"].startswith("Certainly! I'd be happy to help")
    assert weather == {"id": "fc_test_1", "type": "function_call", "status": "completed",
                       "arguments": '{"location":"New York, NY","unit":"fahrenheit"}',
                       "call_id": weather["call_id"], "name": "get_weather"}
    assert (time["name"], json.loads(time["arguments"])) == ("get_time", {"timezone": "America/New_York"})
    assert response["usage"] == {"input_tokens": 514, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                                 "output_tokens": 152, "output_tokens_details": {"reasoning_tokens": 0},
                                 "total_tokens": 666}
    assert (response["status"], response["store"], response["tools"][0]["name"]) == ("completed", False, "get_weather")


def test_leading_whitespace_opens_no_message_and_thinking_is_wrapped() -> None:
    response = responses(body("anthropic-adaptive-thinking.json"), reasoning=True)
    reasoning, message = response["output"]
    signature = body("anthropic-adaptive-thinking.json")["content"][1]["signature"]
    assert reasoning == {"id": "rs_test_0", "type": "reasoning", "summary": [{"type": "summary_text", "text": "4"}],
                         "encrypted_content": "dragoman:an:" + signature}
    assert message["content"][0]["text"] == "2 + 2 = **4**"


def test_custom_tools_and_namespaces() -> None:
    message = {"id": "msg_1", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "apply_patch", "input": {"input": "*** Begin Patch\n"}},
        {"type": "tool_use", "id": "toolu_2", "name": "multi_agent_v1__spawn_agent", "input": {"task": "x"}},
    ], "stop_reason": "tool_use", "usage": {"input_tokens": 3, "output_tokens": 4}}
    tools = {"apply_patch": ClientTool("apply_patch", "custom"),
             "multi_agent_v1__spawn_agent": ClientTool("spawn_agent", "function", "multi_agent_v1")}
    assert responses(message, reasoning=True, tool_map=tools)["output"] == [
        {"id": "rs_test_0", "type": "reasoning", "summary": []},
        {"id": "ctc_test_1", "type": "custom_tool_call", "call_id": "toolu_1", "name": "apply_patch",
         "input": "*** Begin Patch\n"},
        {"id": "fc_test_2", "type": "function_call", "status": "completed", "arguments": '{"task":"x"}',
         "call_id": "toolu_2", "name": "spawn_agent", "namespace": "multi_agent_v1"},
    ]


def test_incomplete_answer_and_content_list_required() -> None:
    response = responses({"content": [{"type": "text", "text": "Once upon"}], "stop_reason": "max_tokens"})
    assert (response["status"], response["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})
    assert response["output"][0]["status"] == "incomplete"
    with pytest.raises(ValueError):
        responses({"type": "error", "error": {"type": "api_error", "message": "x"}})


# -- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("error_type", "message", "code"), [
    ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", "rate_limit_exceeded"),
    ("rate_limit_error", "You exceeded your current quota, please check your plan and billing details.",
     "insufficient_quota"),
    ("billing_error", "Payment required.", "insufficient_quota"),
    ("invalid_request_error", "Your credit balance is too low to access the Anthropic API.", "insufficient_quota"),
    ("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum", "context_length_exceeded"),
    ("invalid_request_error", "This model's maximum context length is 128000 tokens.", "context_length_exceeded"),
    ("request_too_large", "Request exceeds the maximum allowed number of bytes.", "context_length_exceeded"),
    ("invalid_request_error", "tools.0.name: String should match pattern", "server_error"),
    ("overloaded_error", "Overloaded", "server_error"),
    ("api_error", "Internal server error", "server_error"),
    ("timeout_error", "The upstream provider stopped sending data (read timeout).", "server_error"),
])
def test_error_codes(error_type: str, message: str, code: str) -> None:
    assert responses_error_code(error_type, message) == code
    assert responses_error(error_type, message) == {"code": code, "message": message}


@pytest.mark.parametrize(("retry_after", "message"), [
    (12.5, "Slow down. Please try again in 12.5s."), (20, "Slow down. Please try again in 20s."),
    (0.25, "Slow down. Please try again in 0.25s."), (None, "Slow down."),
])
def test_rate_limit_message_carries_the_delay_codex_parses(retry_after: float | None, message: str) -> None:
    assert responses_error("rate_limit_error", "Slow down.", retry_after) == {"code": "rate_limit_exceeded",
                                                                              "message": message}
    already = "Rate limit reached. Please try again in 2s."
    assert responses_error("rate_limit_error", already, 9)["message"] == already
    assert responses_error("api_error", "Boom.", 9)["message"] == "Boom."


def test_http_error_body_has_openais_shape() -> None:
    recorded = body("openai-responses-error-400-stream-requested.json")
    made = responses_http_error("invalid_request_error", "Bad temperature.", param="temperature")
    assert made == {"error": {"message": "Bad temperature.", "type": "invalid_request_error", "param": "temperature",
                              "code": "invalid_request_error"}}
    assert set(made["error"]) == set(recorded["error"])
    assert responses_http_error("rate_limit_error", "Slow down.", 3)["error"] == {
        "message": "Slow down. Please try again in 3s.", "type": "rate_limit_exceeded", "param": None,
        "code": "rate_limit_exceeded"}
    assert responses_http_error("invalid_request_error", "prompt is too long")["error"]["code"] == "context_length_exceeded"
    assert responses_http_error("billing_error", "No credit.")["error"] == {
        "message": "No credit.", "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}


# -- items and echo -------------------------------------------------------------------------------

def test_reasoning_encryption_rules() -> None:
    assert reasoning_encryption("EqkECkYIBxgC") == (None, "dragoman:an:EqkECkYIBxgC")
    assert reasoning_encryption("dragoman:rs:rs_1:msg_1:gAAAA") == ("rs_1", "gAAAA")
    assert reasoning_encryption("dragoman:v1") == (None, None) and reasoning_encryption("") == (None, None)
    sealed = encrypted_from_redacted("EtgBCkYI")
    assert sealed == "dragoman:an:redacted_thinking:EtgBCkYI" and redacted_in_encrypted(sealed) == "EtgBCkYI"
    assert redacted_in_encrypted("dragoman:an:EqkE") is None
    assert anthropic_in_encrypted(sealed) == "redacted_thinking:EtgBCkYI"  # hence: test redacted first


def test_custom_input() -> None:
    assert custom_input('{"input": "patch"}') == "patch"
    assert custom_input('{"patch": "x"}') == '{"patch": "x"}' and custom_input("not json") == "not json"


def test_echo_defaults_and_what_codex_sends() -> None:
    assert response_echo({}) == {
        "background": False, "instructions": None, "max_output_tokens": None, "max_tool_calls": None,
        "metadata": {}, "parallel_tool_calls": True, "previous_response_id": None, "prompt_cache_key": None,
        "reasoning": {"effort": None, "summary": None}, "safety_identifier": None, "service_tier": "auto",
        "store": True, "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto", "tools": [], "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled", "user": None,
    }
    echo = response_echo({"model": "gpt-5-codex", "input": [], "stream": True, "store": False,
                          "reasoning": {"summary": "auto"}, "prompt_cache_key": "k", "temperature": None,
                          "text": {"verbosity": "low"}, "include": ["reasoning.encrypted_content"]})
    assert (echo["store"], echo["reasoning"], echo["prompt_cache_key"], echo["temperature"], echo["text"]) == (
        False, {"effort": None, "summary": "auto"}, "k", 1.0, {"format": {"type": "text"}, "verbosity": "low"})
    assert not {"model", "input", "stream", "include"} & set(echo)
    assert reasoning_requested({"reasoning": {"summary": "auto"}})
    assert not reasoning_requested({}) and not reasoning_requested({"reasoning": {"effort": "none"}})
