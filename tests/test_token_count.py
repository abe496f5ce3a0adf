"""converters.token_count: the offline estimate behind /v1/messages/count_tokens.

Reference counts are o200k_base token counts measured by bench/token_count_accuracy.py (which
runs count_tokens with a real BPE in place of the estimator, over the same text and overheads).
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from converters.token_count import count_tokens, estimate_input_tokens

FIXTURES = Path(__file__).parent / "fixtures"

# o200k_base counts from bench/token_count_accuracy.py.
O200K = {
    "claude-code/01_main_first_request": 17041,
    "claude-code/02_main_tool_result_followup": 17109,
    "claude-code/04_parallel_tool_results_followup": 17168,
    "claude-code/06_haiku_model_request": 25129,
    "anthropic-stream-cache-read-system": 1013,
    "anthropic-tool-history": 199,
    "anthropic-parallel-tools-nonstream": 170,
    "anthropic-stream-parallel-tools-streamed-args": 162,
    "anthropic-stream-tool-result-with-thinking": 118,
    "anthropic-tool-choice-forced": 94,
}


def request(name: str) -> dict[str, Any]:
    data = orjson.loads((FIXTURES / f"{name}.json").read_bytes())
    found: dict[str, Any] = data["request"]["body"] if name.startswith("claude-code/") else data["request"]
    return found


def body(*content: Any, **fields: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": list(content)}],
            **fields}


def image(raw: bytes, media_type: str = "image/png") -> dict[str, Any]:
    data = base64.b64encode(raw + bytes(600)).decode()  # padding stands in for the pixel data
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def png(width: int, height: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x06"


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    exif = b"\xff\xe1" + (2 + 3000).to_bytes(2, "big") + bytes(3000)  # a big segment to skip over
    sof = b"\xff\xc2\x00\x11\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x03"
    return b"\xff\xd8" + app0 + exif + sof


@pytest.mark.parametrize("name", sorted(O200K))
def test_within_ten_percent_of_o200k(name: str) -> None:
    reference = O200K[name]
    assert 0.9 * reference <= count_tokens(request(name)) <= 1.1 * reference


def test_claude_code_capture_exact_value_is_stable() -> None:
    """Deterministic: the same body always gives the same count (17097 when calibrated)."""
    first = request("claude-code/01_main_first_request")
    assert count_tokens(first) == count_tokens(copy.deepcopy(first)) == 17097


def test_input_not_mutated() -> None:
    first = request("claude-code/04_parallel_tool_results_followup")
    before = copy.deepcopy(first)
    count_tokens(first)
    assert first == before


def test_grows_with_content() -> None:
    short = count_tokens(body({"type": "text", "text": "Hello there."}))
    longer = count_tokens(body({"type": "text", "text": "Hello there. " * 50}))
    assert 0 < short < longer
    assert count_tokens({"messages": []}) < short


def test_counts_system_tools_and_tool_traffic() -> None:
    base = body({"type": "text", "text": "What is the weather?"})
    with_system = {**base, "system": [{"type": "text", "text": "You are a weather bot for Montevideo."}]}
    tools = [{"name": "get_weather", "description": "Current weather for a city",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    with_tools = {**base, "tools": tools}
    assert count_tokens(with_system) > count_tokens(base)
    assert count_tokens(with_tools) > count_tokens(base) + 20
    # Server tools are not sent to an OpenAI-compatible upstream, so they cost nothing here.
    assert count_tokens({**base, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}) == \
        count_tokens(base)
    history = {**base, "messages": [
        *base["messages"],
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "The user wants the weather; call the tool.", "signature": "s"},
            {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Montevideo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "Sunny, 24 C"}]},
    ]}
    assert count_tokens(history) > count_tokens(base) + 20


@pytest.mark.parametrize(("raw", "media_type", "tokens"), [
    (png(1000, 1000), "image/png", 1334),  # ceil(1000*1000/750)
    (png(200, 100), "image/png", 27),  # ceil(20000/750)
    (png(3136, 1568), "image/png", 1600),  # scaled to 1568x784 = 1640, capped at 1600
    (b"GIF89a" + (100).to_bytes(2, "little") + (50).to_bytes(2, "little"), "image/gif", 7),
    (jpeg(640, 480), "image/jpeg", 410),  # ceil(307200/750), SOF found behind a 3 kB EXIF segment
    (b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00"
     + (299).to_bytes(3, "little") + (149).to_bytes(3, "little"), "image/webp", 60),  # 300x150
])
def test_image_tokens_from_header(raw: bytes, media_type: str, tokens: int) -> None:
    text_only = count_tokens(body({"type": "text", "text": "describe"}))
    assert count_tokens(body(image(raw, media_type), {"type": "text", "text": "describe"})) == text_only + tokens


def test_image_fallbacks_and_recorded_png() -> None:
    text_only = count_tokens(body({"type": "text", "text": "describe"}))
    url = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}}
    junk = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "bm90IGFuIGltYWdl"}}
    assert count_tokens(body(url, {"type": "text", "text": "describe"})) == text_only + 1600
    assert count_tokens(body(junk, {"type": "text", "text": "describe"})) == text_only + 1600
    # The recorded 166x282 PNG: ceil(166*282/750) = 63 image tokens (Anthropic billed 83 in all).
    recorded = request("anthropic-stream-image-base64")
    assert count_tokens(recorded) - count_tokens(body({"type": "text", "text": "Describe image in three words"})) \
        == 63
    # An image inside a tool result counts too.
    result = {"type": "tool_result", "tool_use_id": "t", "content": [image(png(200, 100))]}
    assert count_tokens(body(result)) == count_tokens(body({"type": "tool_result", "tool_use_id": "t"})) + 27


def test_estimate_input_tokens_from_body_size() -> None:
    size = len(orjson.dumps(request("claude-code/01_main_first_request")))
    assert size == 76331
    assert estimate_input_tokens(size) == 16962  # 76331 / 4.5; o200k says 17041
    assert estimate_input_tokens(0) == 1


def test_screenshot_counts_as_an_image_not_text() -> None:
    data = base64.b64encode(png(1568, 1000) + bytes(750_000)).decode()  # a 1 MB base64 PNG
    screenshot = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    request_body = body(screenshot, {"type": "text", "text": "What is on this screen?"})
    raw_len = len(orjson.dumps(request_body))
    assert (len(data), raw_len) == (1_000_036, 1_000_241)
    # 205 bytes of JSON and text / 4.5 = 46, plus the image: 1568*1000/750 = 2091, capped at 1600
    assert estimate_input_tokens(raw_len, request_body) == 46 + 1600
    assert estimate_input_tokens(raw_len) == 222_276  # the body size alone: base64 counted as text
    # the same screenshot returned by a tool (Claude Code's computer use, browser tools)
    result = body({"type": "tool_result", "tool_use_id": "t1", "content": [screenshot]})
    raw_len = len(orjson.dumps(result))
    assert estimate_input_tokens(raw_len, result) == round((raw_len - len(data)) / 4.5) + 1600 == 47 + 1600
    # a PDF: 3,000 tokens a page, a page per 50 kB (150 kB here: 3 pages), in both estimates
    pdf = base64.b64encode(b"%PDF-1.7\n" + bytes(149_991)).decode()
    document = body({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}},
                    {"type": "text", "text": "Summarise."})
    assert estimate_input_tokens(len(orjson.dumps(document)), document) == 45 + 9000
    assert count_tokens(document) == count_tokens(body({"type": "text", "text": "Summarise."})) + 9000


@pytest.mark.parametrize("raw", [
    png(0, 0), png(0, 500), png(500, 0),
    b"\x89PNG\r\n\x1a\n\x00\x00",  # truncated inside the header
    b"GIF89a\x00\x00\x00\x00" + bytes(600),  # 0 x 0 GIF
    jpeg(0, 0), b"\xff\xd8\xff\xe0\xff\xff",  # 0 x 0 JPEG; a JPEG whose first segment runs off the end
    b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(16),  # 0 x 0 lossy WebP
])
def test_zero_by_zero_png_header_is_not_a_crash(raw: bytes) -> None:
    """A header that says 0 x 0, or one cut short, counts as a full-size image (1,600 tokens)."""
    data = base64.b64encode(raw).decode()
    broken = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    text_only = count_tokens(body({"type": "text", "text": "describe"}))
    assert count_tokens(body(broken, {"type": "text", "text": "describe"})) == text_only + 1600
    in_tool = body({"type": "tool_result", "tool_use_id": "t", "content": [broken]})
    raw_len = len(orjson.dumps(in_tool))
    assert estimate_input_tokens(raw_len, in_tool) == round((raw_len - len(data)) / 4.5) + 1600
    garbage = body({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "\u00e9!*"}})
    assert count_tokens(garbage) == count_tokens(body()) + 1600


def test_estimate_ignores_malformed_bodies_and_counts_huge_integers() -> None:
    assert estimate_input_tokens(45, {"messages": "not a list"}) == 10
    assert estimate_input_tokens(45, {"messages": [None, {"content": [None, {"type": "image"}]}]}) == 10
    huge = body({"type": "tool_use", "id": "t", "name": "f", "input": {"n": 2**70}})
    assert count_tokens(huge) > count_tokens(body())
