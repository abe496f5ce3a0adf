"""Internal events -> OpenAI Responses API SSE, on every recorded Anthropic and OpenAI Chat stream.

Every output is checked three ways: the Responses stream state machine
(tests/responses_stream_checker.py); the openai SDK, which validates each event against its own
types and accumulates the stream with ResponseStreamState (what its clients run); and, for the
Anthropic recordings, against the non-streaming converter fed the message the anthropic SDK
accumulates from the same recording (so both paths give a client the same items).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from openai._models import construct_type
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from converters.responses_items import response_echo
from converters.responses_response import to_responses_response
from converters.tool_names import ClientTool
from streaming.chat_decoder import ChatChunkDecoder
from streaming.events import BLOCK_STOP, BlockDelta, BlockStart, Event, MessageEnd, MessageStart, StreamFailure
from streaming.messages_decoder import MessagesEventDecoder
from streaming.pump import Decoder
from streaming.responses_encoder import RESPONSES_KEEPALIVE, ResponsesEncoder
from streaming.sse import SSEParser

from .conftest import FIXTURES, load_fixture
from .responses_stream_checker import ResponsesStreamViolation, check_responses_stream, terminal

ANTHROPIC_STREAMS = sorted(p.name for p in FIXTURES.glob("anthropic-stream-*.json")
                           if load_fixture(p.name)["api"] == "anthropic-messages")
CHAT_STREAMS = sorted(p.name for p in FIXTURES.glob("*.json")
                      if load_fixture(p.name)["stream"] and load_fixture(p.name)["api"] == "openai-chat")
CREATED = 1_700_000_000
EVENT = TypeAdapter(ResponseStreamEvent)
# What Codex sends (trimmed): a function tool, a namespace tool, a hosted tool, reasoning summaries.
CODEX_REQUEST: dict[str, Any] = {
    "model": "gpt-5-codex", "stream": True, "tool_choice": "auto", "parallel_tool_calls": True,
    "reasoning": {"summary": "auto"}, "store": False, "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "01a2334a-508d-7400-a973-3ba3aebc5134",
    "tools": [
        {"type": "function", "name": "exec_command", "description": "Runs a command.", "strict": False,
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}},
        {"type": "custom", "name": "apply_patch", "description": "Apply a patch.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
        {"type": "web_search", "external_web_access": False},
    ],
}


def body_of(name: str) -> bytes:
    return load_fixture(name)["response"]["body"].encode()


def encoder(*, tool_map: dict[str, ClientTool] | None = None, reasoning: bool = False,
            request: dict[str, Any] | None = None) -> ResponsesEncoder:
    return ResponsesEncoder("resp_test", "gpt-5-codex", CREATED, tool_map, reasoning, response_echo(request or {}))


def transcode(body: bytes, decoder: Decoder, target: ResponsesEncoder | None = None, pieces: int | None = None) -> bytes:
    """Parser -> decoder -> encoder, the way streaming.pump drives them."""
    parser, target = SSEParser(), target or encoder()
    out = [target.start()]
    chunks = [body] if pieces is None else [body[i:i + pieces] for i in range(0, len(body), pieces)]
    for chunk in chunks + [b""]:
        for _, data in (parser.feed(chunk) if chunk else parser.finish()):
            if data == b"[DONE]":
                return b"".join(out + [target.feed(e) for e in decoder.finish(done=True)])
            out += [target.feed(e) for e in decoder.feed(orjson.loads(data))]
            if target.finished:
                return b"".join(out)
    return b"".join(out + [target.feed(e) for e in decoder.finish(done=False)])


def encode(events: list[Event], target: ResponsesEncoder | None = None) -> bytes:
    target = target or encoder()
    return target.start() + b"".join(target.feed(e) for e in events)


def sdk_replay(raw: bytes, validate: bool = True) -> tuple[list[dict[str, Any]], ResponseStreamState[Any]]:
    """The checked events, and the SDK's accumulator after every event went through it.

    Each event is parsed as the SDK client parses it (``construct_type``) and, with ``validate``,
    also validated strictly against the SDK's type (its ResponseError.code does not list every
    code the API sends: context_length_exceeded and insufficient_quota are missing).
    """
    events = check_responses_stream(raw)
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for payload in events:
        if validate:
            EVENT.validate_python(payload, strict=True)
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=payload))  # type: ignore[arg-type]
    return events, state


def sdk_checked(raw: bytes) -> dict[str, Any]:
    """The terminal Response, after the SDK agreed: its accumulated snapshot (built from added
    items and deltas) has the texts and arguments of the terminal response's output."""
    events, state = sdk_replay(raw)
    final = terminal(events)
    Response.model_validate(final, strict=True)
    snapshot = state._ResponseStreamState__current_snapshot  # type: ignore[attr-defined]
    assert [(i.type, i.id) for i in snapshot.output] == [(i["type"], i["id"]) for i in final["output"]]
    for built, item in zip(snapshot.output, final["output"], strict=True):
        if item["type"] == "message":
            assert [c.text for c in built.content] == [c["text"] for c in item["content"]]
        elif item["type"] == "function_call":
            assert built.arguments == item["arguments"]
    if final["status"] == "completed":
        assert state._completed_response is not None
        assert state._completed_response.output_text == "".join(
            c["text"] for i in final["output"] if i["type"] == "message" for c in i["content"])
    return final


def accumulated(name: str) -> dict[str, Any]:
    """The message the anthropic SDK accumulates from a recorded stream."""
    parser, snapshot, buffers = SSEParser(), None, dict[int, bytes]()
    for _, data in parser.feed(body_of(name)) + parser.finish():
        snapshot = accumulate_event(event=json.loads(data), current_snapshot=snapshot, json_bufs=buffers)
    assert snapshot is not None
    message: dict[str, Any] = snapshot.to_dict()
    return message


def comparable(response: dict[str, Any]) -> dict[str, Any]:
    """A Response with tool arguments parsed (Anthropic streams its own JSON spacing)."""
    out = json.loads(json.dumps(response))
    for item in out["output"]:
        if item["type"] == "function_call":
            item["arguments"] = json.loads(item["arguments"])
    return out


def items(response: dict[str, Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for item in response["output"]:
        if item["type"] == "message":
            out.append(("message", "".join(c["text"] for c in item["content"])))
        elif item["type"] == "reasoning":
            out.append(("reasoning", "".join(s["text"] for s in item["summary"]), item.get("encrypted_content")))
        elif item["type"] == "function_call":
            out.append(("function_call", item["call_id"], item["name"], json.loads(item["arguments"])))
        else:
            out.append((item["type"], item["call_id"], item["name"], item["input"]))
    return out


# -- recorded streams -----------------------------------------------------------------------------

@pytest.mark.parametrize("reasoning", [False, True])
@pytest.mark.parametrize("name", ANTHROPIC_STREAMS)
def test_recorded_anthropic_stream(name: str, reasoning: bool) -> None:
    target = encoder(reasoning=reasoning, request=CODEX_REQUEST)
    raw = transcode(body_of(name), MessagesEventDecoder(), target)
    assert transcode(body_of(name), MessagesEventDecoder(), encoder(reasoning=reasoning, request=CODEX_REQUEST),
                     pieces=1) == raw  # fed one byte at a time: identical bytes
    final = sdk_checked(raw)
    assert target.response == final
    assert not reasoning or final["output"][0]["type"] == "reasoning"
    expected = to_responses_response(accumulated(name), response_id="resp_test", model="gpt-5-codex",
                                     created_at=CREATED, tool_map={}, reasoning_requested=reasoning,
                                     echo=response_echo(CODEX_REQUEST))
    Response.model_validate(expected, strict=True)
    assert comparable(final) == comparable(expected)


@pytest.mark.parametrize("name", CHAT_STREAMS)
def test_recorded_chat_stream(name: str) -> None:
    raw = transcode(body_of(name), ChatChunkDecoder())
    assert transcode(body_of(name), ChatChunkDecoder(), pieces=1) == raw
    final = sdk_checked(raw)
    assert final["status"] in ("completed", "incomplete", "failed")


def test_every_split_point_gives_the_same_bytes() -> None:
    body = body_of("anthropic-stream-parallel-tools-streamed-args.json")
    whole = transcode(body, MessagesEventDecoder())
    for cut in range(len(body) + 1):
        parser, decoder, target = SSEParser(), MessagesEventDecoder(), encoder()
        out = [target.start()]
        for chunk in (body[:cut], body[cut:]):
            for _, data in parser.feed(chunk):
                out += [target.feed(e) for e in decoder.feed(orjson.loads(data))]
        assert b"".join(out) == whole, cut


def test_text_and_usage() -> None:
    final = sdk_checked(transcode(body_of("anthropic-stream-text-haiku.json"), MessagesEventDecoder()))
    assert final["output"] == [{"id": "msg_test_0", "type": "message", "status": "completed", "role": "assistant",
                                "content": [{"type": "output_text", "annotations": [], "logprobs": [],
                                             "text": "- Captain\n- Scoop"}]}]
    assert final["usage"] == {"input_tokens": 17, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                              "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
                              "total_tokens": 27}
    assert (final["status"], final["incomplete_details"], final["error"], final["model"]) == (
        "completed", None, None, "gpt-5-codex")


def test_parallel_tool_calls_stream_their_arguments() -> None:
    raw = transcode(body_of("anthropic-stream-parallel-tools-streamed-args.json"), MessagesEventDecoder())
    final = sdk_checked(raw)
    assert items(final)[1:] == [
        ("function_call", "toolu_014x5X91kx3fvdhpLvwXZWE2", "get_weather",
         {"location": "San Francisco, CA", "unit": "celsius"}),
        ("function_call", "toolu_0121kXsENLvoDZ72LCuAnCCz", "get_time", {"timezone": "America/Los_Angeles"}),
    ]
    assert items(final)[0][1].startswith("Certainly! I can help you with that information.")
    assert [i["id"] for i in final["output"]] == ["msg_test_0", "fc_test_1", "fc_test_2"]
    deltas = [e for e in check_responses_stream(raw) if e["type"] == "response.function_call_arguments.delta"]
    assert len(deltas) > 4 and {d["item_id"] for d in deltas} == {"fc_test_1", "fc_test_2"}
    assert (final["usage"]["input_tokens"], final["usage"]["output_tokens"]) == (506, 153)


def test_tool_call_without_arguments_gets_an_empty_object() -> None:
    final = sdk_checked(transcode(body_of("anthropic-stream-parallel-tool-use.json"), MessagesEventDecoder()))
    calls = [(i["name"], i["arguments"]) for i in final["output"] if i["type"] == "function_call"]
    assert calls == [("pelican_name_generator", "{}"), ("pelican_name_generator", "{}")]


def test_thinking_becomes_a_reasoning_item_with_the_wrapped_signature() -> None:
    name = "anthropic-stream-thinking-signature.json"
    final = sdk_checked(transcode(body_of(name), MessagesEventDecoder(), encoder(reasoning=True)))
    signature = next(b["signature"] for b in accumulated(name)["content"] if b["type"] == "thinking")
    reasoning, message = final["output"]
    assert reasoning["id"] == "rs_test_0" and reasoning["encrypted_content"] == "dragoman:an:" + signature
    assert reasoning["summary"][0]["text"].startswith("This is a straightforward question about pedestrian safety.")
    assert message["content"][0]["text"].startswith("Here are the basic steps for safely crossing the street:")


def test_redacted_thinking_is_kept_sealed() -> None:
    final = sdk_checked(transcode(body_of("anthropic-stream-redacted-thinking.json"), MessagesEventDecoder()))
    first, second, message = final["output"]
    assert first["summary"] == [] and second["summary"] == []
    assert first["encrypted_content"].startswith("dragoman:an:redacted_thinking:EqkECkYIBxgCKkA8")
    assert second["encrypted_content"].startswith("dragoman:an:redacted_thinking:EtgBCkYIBxgCKkDQfGkw")
    assert message["content"][0]["text"].startswith("I notice that you've sent what appears to be")


def test_server_tools_are_skipped_and_the_text_stays_one_message() -> None:
    raw = transcode(body_of("anthropic-stream-server-tool-code-exec.json"), MessagesEventDecoder())
    final = sdk_checked(raw)
    assert b"srvtoolu_" not in raw
    assert [i["type"] for i in final["output"]] == ["reasoning", "message"]
    assert items(final)[1][1].startswith("I'll calculate that expression for you right away!\n\nFollowing the standard")


def test_citation_split_text_is_one_message() -> None:
    final = sdk_checked(transcode(body_of("anthropic-stream-web-search-citations.json"), MessagesEventDecoder()))
    assert [i["type"] for i in final["output"]] == ["message"]
    text = items(final)[0][1]
    assert text.startswith("Based on the search results, here's the current weather in San Francisco:\n\n")
    assert "high of 63°F. Winds are from the west" in text
    assert final["usage"]["input_tokens"] == 10423


def test_refusal_is_an_incomplete_response() -> None:
    raw = transcode(body_of("anthropic-stream-refusal.json"), MessagesEventDecoder())
    final = sdk_checked(raw)
    assert check_responses_stream(raw)[-1]["type"] == "response.incomplete"
    assert (final["status"], final["incomplete_details"]) == ("incomplete", {"reason": "content_filter"})
    assert final["output"] == []


def test_chat_reasoning_gets_no_encrypted_content() -> None:
    final = sdk_checked(transcode(body_of("deepseek-stream-reasoning-content.json"), ChatChunkDecoder()))
    reasoning, message = final["output"]
    assert reasoning["summary"][0]["text"].startswith("Hmm, the user just said \"Hello\".")
    assert "encrypted_content" not in reasoning  # the synthetic signature seals nothing
    assert message["type"] == "message"
    assert final["usage"]["output_tokens"] == 212


def test_chat_length_cutoff_is_incomplete_with_an_incomplete_message() -> None:
    final = sdk_checked(transcode(body_of("deepseek-stream-length-cutoff.json"), ChatChunkDecoder()))
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][-1]["status"] == "incomplete"


def test_chat_mid_stream_error_is_response_failed() -> None:
    final = sdk_checked(transcode(body_of("groq-stream-tool-use-failed-error.json"), ChatChunkDecoder()))
    assert final["status"] == "failed" and final["error"]["code"] == "server_error"
    assert "Tool call validation failed" in final["error"]["message"]


# -- tools ----------------------------------------------------------------------------------------

TOOLS = {"apply_patch": ClientTool("apply_patch", "custom"),
         "multi_agent_v1__spawn_agent": ClientTool("spawn_agent", "function", "multi_agent_v1")}
PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hello \"world\"\n*** End Patch\n"


def test_custom_tool_gets_its_raw_input_and_namespaces_are_restored() -> None:
    patch_json = json.dumps({"input": PATCH})
    raw = encode([
        BlockStart("tool_use", "toolu_1", "apply_patch"),
        BlockDelta("json", patch_json[:20]), BlockDelta("json", patch_json[20:]), BLOCK_STOP,
        BlockStart("tool_use", "toolu_2", "multi_agent_v1__spawn_agent"),
        BlockDelta("json", '{"task":'), BlockDelta("json", ' "x"}'), BLOCK_STOP,
        BlockStart("tool_use", "toolu_3", "exec_command"), BlockDelta("json", '{"cmd": "ls"}'), BLOCK_STOP,
        MessageEnd("tool_use", {"input_tokens": 5, "output_tokens": 7}),
    ], encoder(tool_map=TOOLS, request=CODEX_REQUEST))
    final = sdk_checked(raw)
    assert final["output"] == [
        {"id": "ctc_test_0", "type": "custom_tool_call", "call_id": "toolu_1", "name": "apply_patch", "input": PATCH},
        {"id": "fc_test_1", "type": "function_call", "status": "completed", "arguments": '{"task": "x"}',
         "call_id": "toolu_2", "name": "spawn_agent", "namespace": "multi_agent_v1"},
        {"id": "fc_test_2", "type": "function_call", "status": "completed", "arguments": '{"cmd": "ls"}',
         "call_id": "toolu_3", "name": "exec_command"},
    ]
    custom = [e for e in check_responses_stream(raw) if e["type"].startswith("response.custom_tool_call_input")]
    assert [(e["type"], e.get("delta", e.get("input"))) for e in custom] == [
        ("response.custom_tool_call_input.delta", PATCH), ("response.custom_tool_call_input.done", PATCH)]
    assert final["tools"] == CODEX_REQUEST["tools"] and final["store"] is False


def test_custom_tool_input_that_is_not_the_hub_shape_is_passed_as_text() -> None:
    final = sdk_checked(encode([BlockStart("tool_use", "toolu_1", "apply_patch"), BlockDelta("json", '{"patch": 1}'),
                                BLOCK_STOP, MessageEnd("tool_use")], encoder(tool_map=TOOLS)))
    assert final["output"][0]["input"] == '{"patch": 1}'


# -- reasoning ------------------------------------------------------------------------------------

def test_an_empty_reasoning_item_comes_first_when_reasoning_was_asked_for() -> None:
    raw = transcode(body_of("anthropic-stream-text-haiku.json"), MessagesEventDecoder(), encoder(reasoning=True))
    final = sdk_checked(raw)
    assert final["output"][0] == {"id": "rs_test_0", "type": "reasoning", "summary": []}
    assert final["output"][1]["id"] == "msg_test_1"
    # an answer without any block still gets it (and the usage message_start knew)
    final = sdk_checked(encode([MessageStart("msg_1", {"input_tokens": 4, "output_tokens": 0}),
                                MessageEnd("end_turn")], encoder(reasoning=True)))
    assert final["output"] == [{"id": "rs_test_0", "type": "reasoning", "summary": []}]
    assert (final["usage"]["input_tokens"], final["usage"]["total_tokens"]) == (4, 4)


def test_reasoning_from_a_responses_provider_keeps_its_item_id_and_encrypted_content() -> None:
    events: list[Event] = [
        BlockStart("thinking", id="rs_upstream"), BlockDelta("thinking", "Plan."),
        BlockDelta("signature", "dragoman:rs:rs_upstream:msg_1:gAAAAB"), BLOCK_STOP,
        BlockStart("thinking"), BlockDelta("signature", "dragoman:v1"), BLOCK_STOP,
        MessageEnd("end_turn"),
    ]
    assert sdk_checked(encode(events, encoder(reasoning=True)))["output"] == [
        {"id": "rs_upstream", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Plan."}],
         "encrypted_content": "gAAAAB"},
        {"id": "rs_test_1", "type": "reasoning", "summary": []},
    ]


# -- failures -------------------------------------------------------------------------------------

TEXT: list[Event] = [MessageStart("msg_1", {"input_tokens": 3, "output_tokens": 1}),
                     BlockStart("text"), BlockDelta("text", "Hel")]


def test_failure_mid_item_carries_the_partial_output() -> None:
    target = encoder()
    raw = encode(TEXT, target) + target.failure("rate_limit_error", "Rate limited.", retry_after=12.5)
    events, _ = sdk_replay(raw)
    final = terminal(events)
    assert events[-1]["type"] == "response.failed" and final["status"] == "failed"
    assert final["error"] == {"code": "rate_limit_exceeded", "message": "Rate limited. Please try again in 12.5s."}
    assert final["output"] == [{"id": "msg_test_0", "type": "message", "status": "incomplete", "role": "assistant",
                                "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Hel"}]}]
    assert target.finished and target.response == final
    assert target.feed(MessageEnd("end_turn")) == b"" and target.failure("api_error", "again") == b""


def test_failure_mid_tool_call() -> None:
    raw = encode([BlockStart("tool_use", "toolu_1", "exec_command"), BlockDelta("json", '{"cmd": "l'),
                  StreamFailure("overloaded_error", "Overloaded")])
    final = terminal(sdk_replay(raw)[0])
    assert final["error"] == {"code": "server_error", "message": "Overloaded"}
    assert final["output"] == [{"id": "fc_test_0", "type": "function_call", "status": "incomplete",
                                "arguments": '{"cmd": "l', "call_id": "toolu_1", "name": "exec_command"}]


def test_end_of_stream_before_the_message_ended_is_response_failed() -> None:
    payloads: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                              "usage": {"input_tokens": 9, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}]
    body = b"".join(b"event: " + p["type"].encode() + b"\ndata: " + json.dumps(p).encode() + b"\n\n" for p in payloads)
    final = terminal(sdk_replay(transcode(body, MessagesEventDecoder()))[0])
    assert final["status"] == "failed" and final["error"]["code"] == "server_error"
    assert "before the message was complete" in final["error"]["message"]
    assert final["output"][0]["content"][0]["text"] == "Hel"


def test_failure_before_anything_was_sent_starts_the_stream() -> None:
    target = encoder()
    events, _ = sdk_replay(target.failure("invalid_request_error", "prompt is too long: 210000 tokens"),
                           validate=False)  # the SDK's ResponseError.code does not list the code yet
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert terminal(events)["error"] == {"code": "context_length_exceeded",
                                         "message": "prompt is too long: 210000 tokens"}


def test_response_is_none_until_the_end_and_nothing_follows_the_end() -> None:
    target = encoder()
    raw = target.start() + target.feed(BlockStart("text")) + target.feed(BlockDelta("text", "Hi"))
    assert target.response is None and not target.finished
    raw += target.feed(BLOCK_STOP) + target.feed(MessageEnd("end_turn", {"input_tokens": 2, "output_tokens": 1}))
    assert target.finished and target.response == terminal(check_responses_stream(raw))
    assert target.feed(BlockStart("text")) == b"" and target.feed(BlockDelta("text", "x")) == b""


def test_checker_rejects_a_broken_stream() -> None:
    raw = encode([BlockStart("text"), BlockDelta("text", "Hi"), BLOCK_STOP, MessageEnd("end_turn")])
    with pytest.raises(ResponsesStreamViolation):
        check_responses_stream(raw.replace(b'"text":"Hi","logprobs"', b'"text":"Ho","logprobs"'))
    with pytest.raises(ResponsesStreamViolation):
        check_responses_stream(raw + raw[raw.index(b"event: response.completed"):])


def test_keepalive_is_an_sse_comment() -> None:
    parser = SSEParser()
    assert RESPONSES_KEEPALIVE == b": keepalive\n\n" and parser.feed(RESPONSES_KEEPALIVE) == [] and parser.idle
