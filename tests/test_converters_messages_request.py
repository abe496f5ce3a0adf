"""converters.messages_request: Anthropic Messages request -> OpenAI Chat request.

Real Claude Code bodies (2.1.197 and 2.1.332, fixtures/claude-code) plus one hand-written case per rule.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from converters.chat_messages import SERVER_TOOL_BLOCKS
from converters.messages_request import ChatTarget, ConversionError, to_chat_request
from converters.tool_names import restore_map

FIXTURES = Path(__file__).parent / "fixtures"
TARGET = ChatTarget(model="gpt-test")
ANTHROPIC_ONLY_KEYS = ("cache_control", "context_management", "output_config", "thinking", "defer_loading")
CAPTURES = ("01_main_first_request", "02_main_tool_result_followup", "03_side_title_generation",
            "04_parallel_tool_results_followup", "06_haiku_model_request", "08_v2_1_332_first_request",
            "09_v2_1_332_tool_search_followup")


def capture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((FIXTURES / "claude-code" / f"{name}.json").read_bytes())["request"]["body"]
    return body


def recorded_request(name: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((FIXTURES / f"{name}.json").read_bytes())["request"]
    return body


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks)}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def convert(messages: list[dict[str, Any]], target: ChatTarget = TARGET, **fields: Any) -> dict[str, Any]:
    return to_chat_request({"model": "claude-x", "max_tokens": 100, "messages": messages, **fields}, target)


# --- real Claude Code captures -------------------------------------------------------------------


def test_claude_code_2_1_332_tool_search_on_a_chat_provider() -> None:
    """Claude Code 2.1.332 loads deferred tools through its own ToolSearch: the result is a
    tool_reference block, said as text; the loaded tool (defer_loading) is sent like any other."""
    body = capture("09_v2_1_332_tool_search_followup")
    out = to_chat_request(body, TARGET)
    names = [tool["function"]["name"] for tool in out["tools"]]
    assert names == [tool["name"] for tool in body["tools"]] and "WebFetch" in names
    assert "defer_loading" not in orjson.dumps(out["tools"]).decode()
    call_message, tool_message, after = out["messages"][-3:]
    assert call_message["tool_calls"][0]["function"] == {
        "name": "ToolSearch", "arguments": '{"query":"select:Grep,WebFetch,TodoWrite"}'}
    assert tool_message == {"role": "tool", "tool_call_id": "toolu_01", "content": "[tool WebFetch loaded]"}
    assert after == {"role": "user", "content": "Tool loaded."}
    first = to_chat_request(capture("08_v2_1_332_first_request"), ChatTarget(model="m", reasoning_effort=True))
    assert first["reasoning_effort"] == "medium"   # thinking adaptive, output_config.effort medium
    assert [m["role"] for m in first["messages"]] == ["system", "user", "system"]


def test_capture_system_first_and_role_system_message_kept_in_place() -> None:
    body = capture("01_main_first_request")
    out = to_chat_request(body, TARGET)
    system = out["messages"][0]
    assert system["role"] == "system"
    # The billing-header block (new hash every run) is dropped so upstream prefix caching works.
    assert system["content"].startswith(
        "You are a Claude agent, built on Anthropic's Claude Agent SDK.\n\n\nYou are an interactive agent"
    )
    assert "x-anthropic-billing-header" not in orjson.dumps(out).decode()
    assert system["content"] == "\n\n".join(block["text"] for block in body["system"][1:])
    assert [m["role"] for m in out["messages"]] == ["system", "user", "system"]
    # The two user text blocks (a <system-reminder> and the prompt) become one string.
    assert out["messages"][1]["content"].startswith("<system-reminder>\nAs you answer the user's questions")
    assert out["messages"][1]["content"].endswith("</system-reminder>\n\n\n\nCreate a file hello.txt with a greeting.")
    assert out["messages"][2] == {"role": "system", "content": body["messages"][1]["content"]}
    assert out["messages"][2]["content"].startswith("Available agent types for the Agent tool:")


def test_capture_24_tools_with_schema_unchanged() -> None:
    body = capture("01_main_first_request")
    tools = to_chat_request(body, TARGET)["tools"]
    assert len(tools) == 24
    assert [t["function"]["name"] for t in tools][:4] == ["Agent", "Bash", "CronCreate", "CronDelete"]
    for tool, original in zip(tools, body["tools"], strict=True):
        assert tool == {
            "type": "function",
            "function": {
                "name": original["name"],
                "description": original["description"],
                "parameters": original["input_schema"],
            },
        }


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_no_anthropic_only_key_survives(name: str) -> None:
    serialized = orjson.dumps(to_chat_request(capture(name), ChatTarget(model="m", reasoning_effort=True)))
    for key in ANTHROPIC_ONLY_KEYS:
        assert f'"{key}":'.encode() not in serialized, key


def test_capture_top_level_fields() -> None:
    out = to_chat_request(capture("01_main_first_request"), TARGET)
    assert {k: v for k, v in out.items() if k not in ("messages", "tools")} == {
        "model": "gpt-test",
        "max_tokens": 64000,
        "stream": True,
        "stream_options": {"include_usage": True},
        # Claude Code's 160-character JSON user_id, as a stable sha256-derived id
        "user": "user-" + hashlib.sha256(
            b'{"device_id":"ac2b4f87a5786a6055ad8de6b02125317b9ee823e82cc64d52161ca9355af95d",'
            b'"account_uuid":"","session_id":"bdd9ae6b-ec58-4d08-a91d-cb1b295bde23"}').hexdigest()[:32],
    }


def test_capture_tool_result_followup() -> None:
    out = to_chat_request(capture("02_main_tool_result_followup"), TARGET)
    assert out["messages"][-2:] == [
        {
            "role": "assistant",
            "content": "I'll create the file.",
            "tool_calls": [{
                "id": "toolu_53da36be77174ff48fc274bd",
                "type": "function",
                "function": {
                    "name": "Write",
                    "arguments": '{"file_path":"/home/user/project/hello.txt",'
                                 '"content":"hello from the dragoman mock 7f3a\\n"}',
                },
            }],
        },
        {
            "role": "tool",
            "tool_call_id": "toolu_53da36be77174ff48fc274bd",
            "content": "File created successfully at: /home/user/project/hello.txt "
                       "(file state is current in your context \u2014 no need to Read it back)",
        },
    ]


def test_capture_parallel_tool_results_in_order() -> None:
    out = to_chat_request(capture("04_parallel_tool_results_followup"), TARGET)
    calls = out["messages"][-3]["tool_calls"]
    assert [c["id"] for c in calls] == ["toolu_ffdc4ec9689a426db45681c2", "toolu_5d837804613f4a9298bf9e27"]
    assert [(m["role"], m["tool_call_id"]) for m in out["messages"][-2:]] == [
        ("tool", "toolu_ffdc4ec9689a426db45681c2"),
        ("tool", "toolu_5d837804613f4a9298bf9e27"),
    ]
    assert out["messages"][-1]["content"].startswith("File created successfully at: /home/user/project/hello2.txt")


def test_capture_max_tokens_clamped_by_target() -> None:
    body = capture("01_main_first_request")
    assert to_chat_request(body, ChatTarget(model="m", max_tokens=8192))["max_tokens"] == 8192
    assert to_chat_request(body, ChatTarget(model="m", max_tokens=100_000))["max_tokens"] == 64000
    out = to_chat_request(body, ChatTarget(model="m", max_tokens=4096, max_tokens_field="max_completion_tokens"))
    assert out["max_completion_tokens"] == 4096
    assert "max_tokens" not in out


def test_capture_reasoning_effort_only_when_enabled() -> None:
    first = capture("01_main_first_request")  # thinking adaptive, output_config.effort "high"
    assert "reasoning_effort" not in to_chat_request(first, TARGET)
    assert to_chat_request(first, ChatTarget(model="m", reasoning_effort=True))["reasoning_effort"] == "high"
    haiku = capture("06_haiku_model_request")  # thinking enabled, budget_tokens 31999
    assert to_chat_request(haiku, ChatTarget(model="m", reasoning_effort=True))["reasoning_effort"] == "high"
    title = capture("03_side_title_generation")  # thinking disabled but output_config.effort "high"
    assert "reasoning_effort" not in to_chat_request(title, ChatTarget(model="m", reasoning_effort=True))


def test_capture_structured_output_and_no_tools() -> None:
    out = to_chat_request(capture("03_side_title_generation"), TARGET)
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "output",
            "schema": {
                "type": "object",
                "properties": {"title": {"type": "string"}},
                "required": ["title"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }
    assert "tools" not in out and "tool_choice" not in out


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_input_not_mutated(name: str) -> None:
    body = capture(name)
    before = copy.deepcopy(body)
    to_chat_request(body, ChatTarget(model="m", max_tokens=10, reasoning_effort=True))
    assert body == before


# --- recorded Anthropic requests ------------------------------------------------------------------


def test_recorded_base64_image_becomes_data_url() -> None:
    out = to_chat_request(recorded_request("anthropic-stream-image-base64"), TARGET)
    parts = out["messages"][0]["content"]
    assert parts[0]["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAKYAAAEa")
    assert parts[1] == {"type": "text", "text": "Describe image in three words"}
    assert out["temperature"] == 1.0


def test_recorded_url_image() -> None:
    out = to_chat_request(recorded_request("anthropic-image-url"), TARGET)
    assert out["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is this vegetable?"},
        {"type": "image_url", "image_url": {
            "url": "https://t3.ftcdn.net/jpg/00/85/79/92/360_F_85799278_0BBGV9OAdQDTLnKwAPBCcg1J7QtiieJY.jpg"}},
    ]}]


def test_recorded_prefill_and_stop_sequences() -> None:
    out = to_chat_request(recorded_request("anthropic-stream-prefill-stop-sequence"), TARGET)
    assert out["stop"] == ["```"]
    assert out["messages"][-1] == {"role": "assistant", "content": "```python"}


def test_recorded_thinking_in_history_dropped() -> None:
    out = to_chat_request(recorded_request("anthropic-stream-tool-result-with-thinking"),
                          ChatTarget(model="m", reasoning_effort=True))
    assert out["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [{
        "id": "toolu_01825dXWLSoJwCst1qTsiWdb", "type": "function",
        "function": {"name": "fixed_version", "arguments": "{}"}}]}
    assert out["messages"][2] == {"role": "tool", "tool_call_id": "toolu_01825dXWLSoJwCst1qTsiWdb",
                                  "content": "0.32a0"}
    assert out["reasoning_effort"] == "low"  # budget_tokens 1024


def test_recorded_server_tools_dropped_with_their_tool_choice() -> None:
    web = to_chat_request(recorded_request("anthropic-stream-web-search-citations"), TARGET)
    assert "tools" not in web
    code = to_chat_request(recorded_request("anthropic-stream-server-tool-code-exec"), TARGET)
    assert "tools" not in code and "tool_choice" not in code


def test_recorded_tool_choice_any_is_required() -> None:
    out = to_chat_request(recorded_request("anthropic-tool-choice-forced"), TARGET)
    assert out["tool_choice"] == "required"
    # An empty description is left out rather than sent as "".
    assert out["tools"][0]["function"] == {
        "name": "get_user_country",
        "parameters": {"additionalProperties": False, "properties": {}, "type": "object"},
    }


def test_recorded_whitespace_assistant_text_dropped() -> None:
    out = to_chat_request(recorded_request("anthropic-stream-after-parallel-tool-results"), TARGET)
    assert out["messages"][1]["content"] is None  # the recorded text block is " "
    assert [m["content"] for m in out["messages"][2:]] == ["Charles", "Sammy"]


# --- hand-written cases, one rule each -------------------------------------------------------------


def test_system_string_and_block_list() -> None:
    assert convert([], system="Be brief.")["messages"] == [{"role": "system", "content": "Be brief."}]
    blocks = [text("A", cache_control={"type": "ephemeral"}), text("  "), text("B")]
    assert convert([], system=blocks)["messages"] == [{"role": "system", "content": "A\n\nB"}]
    assert convert([], system="   ")["messages"] == []


def test_role_system_message_with_blocks() -> None:
    messages = [user(text("hi")), {"role": "system", "content": [text("rule 1"), text("rule 2")]}]
    assert convert(messages)["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "rule 1\n\nrule 2"},
    ]


def test_empty_and_whitespace_text_never_sent() -> None:
    messages = [user(text(""), text(" \n "), text("real")), user(text("  ")), {"role": "user", "content": ""},
                assistant(text(""))]
    assert convert(messages)["messages"] == [{"role": "user", "content": "real"}]


def test_user_images_base64_and_url_in_order() -> None:
    messages = [user(
        text("compare"),
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/b.png"}},
    )]
    assert convert(messages)["messages"][0]["content"] == [
        {"type": "text", "text": "compare"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}},
    ]


def test_image_file_source_is_conversion_error() -> None:
    messages = [user(text("look"), {"type": "image", "source": {"type": "file", "file_id": "file_1"}})]
    with pytest.raises(ConversionError) as caught:
        convert(messages)
    assert caught.value.param == "messages.0.content.1.source"
    assert "'file'" in str(caught.value) and "base64" in str(caught.value)


def test_image_file_source_inside_tool_result_is_conversion_error() -> None:
    messages = [user(text("go")), assistant({"type": "tool_use", "id": "t1", "name": "shot", "input": {}}),
                user({"type": "tool_result", "tool_use_id": "t1",
                      "content": [text("x"), {"type": "image", "source": {"type": "file", "file_id": "f"}}]})]
    with pytest.raises(ConversionError) as caught:
        convert(messages)
    assert caught.value.param == "messages.2.content.0.content.1.source"


def test_tool_results_come_before_user_text_of_the_same_turn() -> None:
    messages = [user(text("go")),
                assistant({"type": "tool_use", "id": "a", "name": "f", "input": {"x": 1}},
                          {"type": "tool_use", "id": "b", "name": "f", "input": {"x": 2}}),
                user(text("also this"),
                     {"type": "tool_result", "tool_use_id": "a", "content": "one"},
                     {"type": "tool_result", "tool_use_id": "b", "content": [text("two"), text("lines")]})]
    assert convert(messages)["messages"][2:] == [
        {"role": "tool", "tool_call_id": "a", "content": "one"},
        {"role": "tool", "tool_call_id": "b", "content": "two\nlines"},
        {"role": "user", "content": "also this"},
    ]


def test_tool_result_error_and_empty_content() -> None:
    messages = [user({"type": "tool_result", "tool_use_id": "a", "content": "boom", "is_error": True},
                     {"type": "tool_result", "tool_use_id": "b", "content": ""},
                     {"type": "tool_result", "tool_use_id": "c"},
                     {"type": "tool_result", "tool_use_id": "d", "content": [], "is_error": True})]
    assert [m["content"] for m in convert(messages)["messages"]] == [
        "[tool error] boom", "(empty result)", "(empty result)", "[tool error] (empty result)",
    ]


def test_image_inside_tool_result_moves_to_following_user_message() -> None:
    png = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}
    messages = [user({"type": "tool_result", "tool_use_id": "a", "content": [text("chart:"), png]},
                     {"type": "tool_result", "tool_use_id": "b", "content": [png]},
                     text("what now?"))]
    assert convert(messages)["messages"] == [
        {"role": "tool", "tool_call_id": "a", "content": "chart:\n[image attached below]"},
        {"role": "tool", "tool_call_id": "b", "content": "[image attached below]"},
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            {"type": "text", "text": "what now?"},
        ]},
    ]


def test_assistant_text_joined_thinking_dropped() -> None:
    messages = [user(text("q")),
                assistant({"type": "thinking", "thinking": "secret", "signature": "sig"},
                          {"type": "redacted_thinking", "data": "EmwKAhgB"},
                          text("first"), text("second")),
                assistant({"type": "thinking", "thinking": "only thoughts", "signature": "sig"})]
    assert convert(messages)["messages"] == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "first\n\nsecond"},
    ]


PDF = {"type": "document", "title": "report.pdf",
       "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}
PDF_PART = {"type": "file", "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}}
PNG = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}
FILES = ChatTarget(model="gpt-test", file_parts=True)


def refused(messages: list[dict[str, Any]], target: ChatTarget = TARGET) -> ConversionError:
    with pytest.raises(ConversionError) as caught:
        convert(messages, target)
    return caught.value


def test_pdf_document_becomes_a_file_part() -> None:
    untitled = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0y"}}
    notes = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}}
    assert convert([user(text("summarise"), PDF, untitled, notes)], FILES)["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "summarise"},
        PDF_PART,
        {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBERi0y"}},
        {"type": "text", "text": "notes"},  # a text document is text, whatever the target reads
    ]}]


def test_pdf_document_refused_when_provider_reads_no_files() -> None:
    error = refused([user(text("q")), assistant(text("a")), user(text("read this"), PDF)])
    assert error.param == "messages.2.content.1"
    assert str(error) == ("this provider cannot read documents (PDF); send the document's text instead, "
                          "or use a provider that reads PDF files")
    # Chat file parts take base64 only: a PDF by URL is refused even where files are read
    by_url = {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}
    error = refused([user(by_url)], FILES)
    assert error.param == "messages.0.content.0.source"
    assert str(error).startswith("a PDF given by URL cannot be sent to an OpenAI-compatible provider")
    by_id = {"type": "document", "source": {"type": "file", "file_id": "file_1"}}
    assert refused([user(by_id)], FILES).param == "messages.0.content.0.source"
    not_pdf = {"type": "document", "source": {"type": "base64", "media_type": "text/csv", "data": "YSxi"}}
    assert refused([user(not_pdf)], FILES).param == "messages.0.content.0.source.media_type"
    assert refused([user({"type": "document"})], FILES).param == "messages.0.content.0.source"


def test_pdf_in_tool_result_moves_to_user_message() -> None:
    messages = [user({"type": "tool_result", "tool_use_id": "a", "content": [text("page 1:"), PDF]},
                     {"type": "tool_result", "tool_use_id": "b", "content": [PDF, PNG, PDF]},
                     text("what now?"))]
    assert convert(messages, FILES)["messages"] == [
        {"role": "tool", "tool_call_id": "a", "content": "page 1:\n[document attached below]"},
        {"role": "tool", "tool_call_id": "b", "content": "[document attached below]\n[image attached below]"},
        {"role": "user", "content": [PDF_PART, PDF_PART,
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                                     PDF_PART, {"type": "text", "text": "what now?"}]},
    ]
    error = refused(messages)
    assert error.param == "messages.0.content.0.content.1"
    assert str(error).startswith("this provider cannot read documents (PDF)")


def test_tool_result_with_only_uncarriable_content_is_refused() -> None:
    call = assistant({"type": "tool_use", "id": "t1", "name": "render", "input": {}})
    result = {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "audio", "data": "UklG"}]}
    error = refused([user(text("go")), call, user(result)])
    assert error.param == "messages.2.content.0.content.0"
    assert str(error) == ("content block type 'audio' in a tool result cannot be sent to this provider "
                          "(it has no OpenAI Chat form)")
    # a tool result holding only a PDF, for a provider that reads none: refused, not "(empty result)"
    assert refused([user(text("go")), call, user({**result, "content": [PDF]})]).param == \
        "messages.2.content.0.content.0"
    # "(empty result)" is only for a result that had no content (test_tool_result_error_and_empty_content)
    blank = {**result, "content": [text(" ")]}
    assert convert([user(text("go")), call, user(blank)])["messages"][-1]["content"] == "(empty result)"


def test_unknown_block_type_is_refused() -> None:
    error = refused([user(text("hi"), {"type": "brand_new_block", "x": 1})])
    assert error.param == "messages.0.content.1"
    assert str(error) == ("content block type 'brand_new_block' in a user turn cannot be sent to this provider "
                          "(it has no OpenAI Chat form)")
    error = refused([user(text("hi")), assistant(text("a"), {"type": "compaction", "content": "summary"})])
    assert error.param == "messages.1.content.1"
    assert "'compaction' in an assistant turn" in str(error)
    # known blocks in the wrong role are refused the same way
    assert refused([user({"type": "tool_use", "id": "t", "name": "f", "input": {}})]).param == "messages.0.content.0"
    assert refused([user(text("q")), assistant(PNG)]).param == "messages.1.content.0"
    assert refused([user(text("q")), assistant({"type": "tool_result", "tool_use_id": "t"})]).param == \
        "messages.1.content.0"
    assert refused([user({"type": "tool_reference", "tool_name": "f"})]).param == "messages.0.content.0"


@pytest.mark.parametrize("kind", sorted(SERVER_TOOL_BLOCKS))
def test_server_tool_blocks_in_history_are_dropped(kind: str) -> None:
    block = {"type": kind, "id": "srvtoolu_1", "tool_use_id": "srvtoolu_1", "content": []}
    messages = [user(text("look it up"), block),
                assistant(text("searching"), block, text("found it")),
                assistant(block)]  # a turn of server-tool traffic only: nothing left to send
    assert convert(messages)["messages"] == [
        {"role": "user", "content": "look it up"},
        {"role": "assistant", "content": "searching\n\nfound it"},
    ]


def test_server_tool_blocks_are_the_documented_set() -> None:
    assert SERVER_TOOL_BLOCKS == {
        "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
        "bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result",
        "mcp_tool_use", "mcp_tool_result", "container_upload"}


def test_search_result_becomes_text() -> None:
    found = {"type": "search_result", "source": "https://example.com/guide", "title": "Setup guide",
             "content": [text("Install it."), text("Then run it.")], "citations": {"enabled": True}}
    assert convert([user(found, text("How do I start?"))])["messages"] == [{"role": "user", "content": (
        "Search result: Setup guide\nSource: https://example.com/guide\n\nInstall it.\n\nThen run it.\n\n"
        "How do I start?")}]
    # in a tool result (a client-side search tool), and next to a tool search's tool reference
    result = {"type": "tool_result", "tool_use_id": "t1",
              "content": [found, {"type": "tool_reference", "tool_name": "get_weather"}]}
    assert convert([user(result)])["messages"] == [{"role": "tool", "tool_call_id": "t1", "content": (
        "Search result: Setup guide\nSource: https://example.com/guide\n\nInstall it.\n\nThen run it.\n"
        "[tool get_weather loaded]")}]
    # without text, its title and source are still what the user sent
    empty = {"type": "search_result", "source": "https://example.com/x", "title": "X", "content": []}
    assert convert([user(empty, text("q"))])["messages"] == [
        {"role": "user", "content": "Search result: X\nSource: https://example.com/x\n\nq"}]


def test_tool_definition_built_from_allowed_fields_only() -> None:
    tools = [
        {"name": "read", "description": "Read a file", "input_schema": {"type": "object"},
         "cache_control": {"type": "ephemeral"}, "defer_loading": True, "input_examples": [{}], "strict": True},
        {"type": "custom", "name": "noschema"},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    ]
    assert convert([user(text("q"))], tools=tools)["tools"] == [
        {"type": "function", "function": {"name": "read", "description": "Read a file",
                                          "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "noschema",
                                          "parameters": {"type": "object", "properties": {}}}},
    ]


@pytest.mark.parametrize(("choice", "expected"), [
    ({"type": "auto"}, {"tool_choice": "auto"}),
    ({"type": "any"}, {"tool_choice": "required"}),
    ({"type": "none"}, {"tool_choice": "none"}),
    ({"type": "tool", "name": "f"}, {"tool_choice": {"type": "function", "function": {"name": "f"}}}),
    ({"type": "auto", "disable_parallel_tool_use": True}, {"tool_choice": "auto", "parallel_tool_calls": False}),
    ({"type": "any", "disable_parallel_tool_use": False}, {"tool_choice": "required"}),
    ({"type": "tool", "name": "web_search"}, {}),  # forcing a dropped server tool: left to the model
])
def test_tool_choice(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    tools = [{"name": "f", "input_schema": {"type": "object"}}, {"type": "web_search_20250305", "name": "web_search"}]
    out = convert([user(text("q"))], tools=tools, tool_choice=choice)
    assert {k: out[k] for k in ("tool_choice", "parallel_tool_calls") if k in out} == expected


def test_tool_choice_dropped_without_tools() -> None:
    for tools in ([], [{"type": "web_search_20250305", "name": "web_search"}], None):
        out = convert([user(text("q"))], tools=tools,
                      tool_choice={"type": "any", "disable_parallel_tool_use": True})
        assert "tools" not in out and "tool_choice" not in out and "parallel_tool_calls" not in out


def test_long_tool_name_shortened_everywhere_and_restorable() -> None:
    name = "mcp__github_enterprise_server__list_pull_request_review_comments_xyz12"
    assert len(name) == 70
    tools = [{"name": name, "input_schema": {"type": "object"}}]
    messages = [user(text("q")), assistant({"type": "tool_use", "id": "t1", "name": name, "input": {}})]
    out = convert(messages, tools=tools, tool_choice={"type": "tool", "name": name})
    short = out["tools"][0]["function"]["name"]
    assert len(short) == 64 and short.startswith(name[:55] + "_")
    assert out["tool_choice"] == {"type": "function", "function": {"name": short}}
    assert out["messages"][1]["tool_calls"][0]["function"]["name"] == short
    assert restore_map(tools) == {short: name}


def test_sampling_stop_user_and_dropped_fields() -> None:
    out = convert([user(text("q"))], temperature=0.2, top_p=0.9, top_k=40, stop_sequences=["END", ""],
                  metadata={"user_id": "u-1"}, service_tier="auto", container="c", mcp_servers=[],
                  context_management={"edits": []}, betas=["x"], brand_new_field={"a": 1})
    assert out == {"model": "gpt-test", "messages": [{"role": "user", "content": "q"}], "max_tokens": 100,
                   "temperature": 0.2, "top_p": 0.9, "stop": ["END"], "user": "u-1"}


def test_non_string_user_id_ignored() -> None:
    assert "user" not in convert([user(text("q"))], metadata={"user_id": 42})


def test_max_tokens_defaults() -> None:
    body = {"model": "claude-x", "messages": [user(text("q"))]}
    assert to_chat_request(body, ChatTarget(model="m", default_max_tokens=4096))["max_tokens"] == 4096
    assert "max_tokens" not in to_chat_request(body, ChatTarget(model="m"))


def test_stream_options_only_when_streaming() -> None:
    assert "stream" not in convert([user(text("q"))], stream=False)
    out = convert([user(text("q"))], stream=True)
    assert (out["stream"], out["stream_options"]) == (True, {"include_usage": True})


@pytest.mark.parametrize(("thinking", "output_config", "effort"), [
    ({"type": "enabled", "budget_tokens": 1024}, None, "low"),
    ({"type": "enabled", "budget_tokens": 4096}, None, "low"),
    ({"type": "enabled", "budget_tokens": 4097}, None, "medium"),
    ({"type": "enabled", "budget_tokens": 16384}, None, "medium"),
    ({"type": "enabled", "budget_tokens": 16385}, None, "high"),
    ({"type": "adaptive"}, None, "medium"),
    ({"type": "adaptive"}, {"effort": "low"}, "low"),
    ({"type": "adaptive"}, {"effort": "max"}, "high"),
    ({"type": "disabled"}, {"effort": "high"}, None),
    (None, {"effort": "high"}, None),
])
def test_reasoning_effort_mapping(thinking: Any, output_config: Any, effort: str | None) -> None:
    fields = {k: v for k, v in (("thinking", thinking), ("output_config", output_config)) if v is not None}
    out = convert([user(text("q"))], ChatTarget(model="m", reasoning_effort=True), **fields)
    assert out.get("reasoning_effort") == effort
    assert "reasoning_effort" not in convert([user(text("q"))], TARGET, **fields)


def test_legacy_output_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    out = convert([user(text("q"))], output_format={"type": "json_schema", "schema": schema})
    assert out["response_format"] == {"type": "json_schema",
                                      "json_schema": {"name": "output", "schema": schema, "strict": True}}


def test_hand_written_input_not_mutated() -> None:
    body = {
        "model": "claude-x", "max_tokens": 5000, "stream": True,
        "system": [text("sys", cache_control={"type": "ephemeral"})],
        "tools": [{"name": "f" * 70, "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [
            user(text("q", cache_control={"type": "ephemeral"})),
            assistant({"type": "thinking", "thinking": "t", "signature": "s"},
                      {"type": "tool_use", "id": "a", "name": "f" * 70, "input": {"k": [1, 2]}}),
            user({"type": "tool_result", "tool_use_id": "a", "is_error": True, "content": [
                text("e"), {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "x"}}]}),
        ],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    before = copy.deepcopy(body)
    to_chat_request(body, ChatTarget(model="m", max_tokens=1000, reasoning_effort=True))
    assert body == before


@pytest.mark.parametrize(("messages", "param"), [
    ([user({"type": "tool_result", "content": "ok"})], "messages.0.content.0.tool_use_id"),
    ([user(text("q")), assistant(text("a"), {"type": "tool_use", "name": "f", "input": {}})], "messages.1.content.1.id"),
    ([user(text("q")), assistant({"type": "tool_use", "id": "t", "input": {}})], "messages.1.content.0.name"),
    ([{"role": "developer", "content": "x"}], "messages.0.role"),
])
def test_unpairable_tool_blocks_and_unknown_roles_are_conversion_errors(messages: list[Any], param: str) -> None:
    with pytest.raises(ConversionError) as caught:
        convert(messages)
    assert caught.value.param == param


# --- provider quirks -----------------------------------------------------------------------------


def test_reasoning_passback_puts_thinking_on_tool_call_turns_only() -> None:
    thinking = {"type": "thinking", "thinking": "I should list files.", "signature": "dragoman:v1"}
    call = {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}}
    result = {"type": "tool_result", "tool_use_id": "call_1", "content": "a.txt"}
    messages = [user(text("list")), assistant(thinking, call), user(result),
                assistant({"type": "thinking", "thinking": "done", "signature": "s"}, text("a.txt"))]
    plain = convert(messages)
    assert all("reasoning_content" not in m for m in plain["messages"])
    deepseek = convert(messages, ChatTarget(model="deepseek-reasoner", reasoning_passback=True))
    turns = [m for m in deepseek["messages"] if m["role"] == "assistant"]
    assert turns[0]["reasoning_content"] == "I should list files."
    assert "reasoning_content" not in turns[1]  # a plain text turn: DeepSeek wants none there
    assert "done" not in orjson.dumps(deepseek).decode()


def test_gemini_schemas_are_cleaned_copies() -> None:
    tool = {"name": "fetch", "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "additionalProperties": False, "properties": {"url": {"type": "string", "format": "uri"}},
        "required": ["url"]}}
    body = {"model": "x", "max_tokens": 10, "messages": [user(text("go"))], "tools": [tool]}
    gemini = to_chat_request(body, ChatTarget(model="gemini-2.5-pro", gemini_schemas=True))
    assert gemini["tools"][0]["function"]["parameters"] == {
        "type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}
    other = to_chat_request(body, TARGET)
    assert other["tools"][0]["function"]["parameters"] is tool["input_schema"]
    assert tool["input_schema"]["additionalProperties"] is False
