"""End to end with the REAL Claude Code CLI: claude -p -> dragoman -> a scripted OpenAI-dialect provider.

The mock provider plays a model that, asked with tools, streams some text and a `Write` tool call
(arguments in fragments), and, once the tool result comes back, streams a final text. Claude Code
must really execute the tool (the file appears on disk) and report success; the provider must have
seen only streaming requests (CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK=1 keeps Claude Code from
silently retrying a broken stream without `stream`), with nothing Anthropic-only leaking upstream.

The CLI is found through CLAUDE_CODE_BIN, then `claude` on PATH, then .ci/node (see .ci/run). The
test skips when it is missing, unless DRAGOMAN_REQUIRE_CLAUDE_CODE=1 (CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import MockProvider, Reply

ROOT = Path(__file__).resolve().parent.parent
CI_CLAUDE = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "claude"
CLI_TIMEOUT = 120.0
API_KEY = "test-key"
PROMPT = "Create a file hello.txt with a greeting."
FINAL_TEXT = "Done: created hello.txt."
LEAKS = ("cache_control", "context_management", "output_config")
THINKING = "The user wants a greeting file. The Write tool creates it."


def find_claude() -> str | None:
    candidates = [os.environ.get("CLAUDE_CODE_BIN") or "", shutil.which("claude") or "", str(CI_CLAUDE)]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture
def claude_bin() -> str:
    """Requested first by the test, so a missing CLI skips before the servers start."""
    return require_claude()


def require_claude() -> str:
    found = find_claude()
    if found is not None:
        return found
    if os.environ.get("DRAGOMAN_REQUIRE_CLAUDE_CODE") == "1":
        pytest.fail("DRAGOMAN_REQUIRE_CLAUDE_CODE=1 but the Claude Code CLI was not found: set CLAUDE_CODE_BIN, "
                    f"put `claude` on PATH or install it in {CI_CLAUDE.parent.parent.parent} (see .ci/run)",
                    pytrace=False)
    pytest.skip("Claude Code CLI not installed (npm install @anthropic-ai/claude-code; see .ci/run)")


class ScriptedModel:
    """An OpenAI-dialect model: a Write tool call first, a final text once the tool result is back.
    With ``tool_search``, it first loads a deferred tool through Claude Code's ToolSearch."""

    def __init__(self, file_path: Path, content: str, tool_search: bool = False) -> None:
        self.file_path = file_path
        self.content = content
        self.tool_search = tool_search
        self._n = 0

    def _chunk(self, model: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"id": f"chatcmpl-e2e{self._n}", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": model, "choices": choices, **extra}

    @staticmethod
    def _usage(prompt: int, completion: int) -> dict[str, int]:
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def __call__(self, body: dict[str, Any]) -> Reply:
        self._n += 1
        model = body.get("model", "unknown")
        messages = body.get("messages") or []
        last_role = messages[-1].get("role") if messages else None
        results = [m for m in messages if m.get("role") == "tool"]
        if self.tool_search and body.get("tools") and not results:
            return self._tool_call(body, model, "ToolSearch", json.dumps({"query": "select:WebFetch"}))
        if body.get("tools") and (last_role != "tool" or self.tool_search and len(results) == 1):
            return self._tool_call(body, model)
        text = FINAL_TEXT if last_role == "tool" else "OK."
        return self._text(body, model, text)

    def _tool_call(self, body: dict[str, Any], model: str, name: str = "Write", arguments: str = "") -> Reply:
        arguments = arguments or json.dumps({"file_path": str(self.file_path), "content": self.content})
        third = len(arguments) // 3
        fragments = [arguments[:third], arguments[third:2 * third], arguments[2 * third:]]
        call_id = f"call_e2e{secrets.token_hex(6)}"
        if not body.get("stream"):
            message = {"role": "assistant", "content": "I'll create the file.",
                       "tool_calls": [{"id": call_id, "type": "function",
                                       "function": {"name": name, "arguments": arguments}}]}
            return self._json(model, message, "tool_calls")
        half = len(THINKING) // 2
        chunks = [
            self._chunk(model, [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
            # a reasoning model, as DeepSeek and vLLM stream it: thinking first, then text and the call
            self._chunk(model, [{"index": 0, "delta": {"reasoning_content": THINKING[:half]}, "finish_reason": None}]),
            self._chunk(model, [{"index": 0, "delta": {"reasoning_content": THINKING[half:]}, "finish_reason": None}]),
            self._chunk(model, [{"index": 0, "delta": {"content": "I'll create "}, "finish_reason": None}]),
            self._chunk(model, [{"index": 0, "delta": {"content": "the file."}, "finish_reason": None}]),
            self._chunk(model, [{"index": 0, "finish_reason": None, "delta": {"tool_calls": [
                {"index": 0, "id": call_id, "type": "function",
                 "function": {"name": name, "arguments": fragments[0]}}]}}]),
            *(self._chunk(model, [{"index": 0, "finish_reason": None, "delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": fragment}}]}}]) for fragment in fragments[1:]),
            self._chunk(model, [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
            self._chunk(model, [], usage=self._usage(1200, 42)),
        ]
        return Reply.sse(*chunks, chunk_size=61)

    def _text(self, body: dict[str, Any], model: str, text: str) -> Reply:
        if not body.get("stream"):
            return self._json(model, {"role": "assistant", "content": text}, "stop")
        half = len(text) // 2
        chunks = [
            self._chunk(model, [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
            self._chunk(model, [{"index": 0, "delta": {"content": text[:half]}, "finish_reason": None}]),
            self._chunk(model, [{"index": 0, "delta": {"content": text[half:]}, "finish_reason": None}]),
            self._chunk(model, [{"index": 0, "delta": {}, "finish_reason": "stop"}]),
            self._chunk(model, [], usage=self._usage(1300, 9)),
        ]
        return Reply.sse(*chunks, chunk_size=61)

    def _json(self, model: str, message: dict[str, Any], finish_reason: str) -> Reply:
        return Reply.json({"id": f"chatcmpl-e2e{self._n}", "object": "chat.completion", "created": int(time.time()),
                           "model": model, "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
                           "usage": self._usage(1200, 20)})


def cli_env(home: Path, base_url: str) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": API_KEY,
        "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }
    for passthrough in ("LANG", "LC_ALL", "TMPDIR"):
        if passthrough in os.environ:
            env[passthrough] = os.environ[passthrough]
    return env   # built from scratch: no ANTHROPIC_AUTH_TOKEN, no other ANTHROPIC_* / CLAUDE_* from the caller


def tool_message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


@pytest.mark.claude_code
@pytest.mark.timeout(240)
async def test_claude_code_writes_a_file_through_dragoman(claude_bin: str, provider: MockProvider, start_dragoman,
                                                          tmp_path: Path) -> None:
    claude = claude_bin
    project = tmp_path / "project"
    home = tmp_path / "home"
    project.mkdir()
    home.mkdir()
    (home / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True}), encoding="utf-8")
    target = project / "hello.txt"
    content = f"hello from dragoman e2e {secrets.token_hex(8)}\n"
    provider.responder = ScriptedModel(target, content)
    base_url = await start_dragoman(auth={"api_keys": [API_KEY]})
    code, events, report = await run_claude(claude, base_url, project, home, provider)
    assert code == 0, report
    assert target.is_file(), report
    assert target.read_text(encoding="utf-8") == content
    assert_success(events, report)
    check_chat_requests(provider, report)

    # dragoman authenticated the CLI with its own key and sent the provider's key, never the client's
    for headers in provider.headers:
        sent = {k.lower(): v for k, v in headers.items()}
        assert API_KEY not in sent.get("authorization", "") and "x-api-key" not in sent, sent
        assert sent.get("authorization") == "Bearer sk-upstream-secret-0123456789"
    requests = provider.requests
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base_url}/v1/messages", json={"model": "claude-opus-4-8", "max_tokens": 8,
                                "messages": [{"role": "user", "content": "hi"}]},
                                headers={"x-api-key": "wrong-key", "anthropic-version": "2023-06-01"}) as response:
            assert response.status == 401, await response.text()
    assert len(provider.requests) == len(requests)

    # the thinking block reached Claude Code (signed, so it kept it) and was not sent back as text
    thinking = [block for e in events if e.get("type") == "assistant"
                for block in (e.get("message") or {}).get("content") or [] if block.get("type") == "thinking"]
    assert [block.get("thinking") for block in thinking] == [THINKING], report
    assert THINKING not in json.dumps(requests[1])


async def run_claude(claude: str, base_url: str, project: Path, home: Path,
                     provider: MockProvider) -> tuple[int, list[dict[str, Any]], str]:
    """Run `claude -p` in ``project``; (exit code, its stream-json events, a report for failures)."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        claude, "-p", PROMPT, "--allowedTools", "Write,Bash,Read,Edit",
        "--output-format", "stream-json", "--verbose",
        cwd=project, env=cli_env(home, base_url),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stdout_b, stderr_b = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        stdout_b, stderr_b = await proc.communicate()
        pytest.fail(f"claude did not finish within {CLI_TIMEOUT:.0f} s; provider saw {len(provider.requests)} "
                    f"request(s)\n--- stdout ---\n{stdout_b.decode(errors='replace')[-6000:]}\n"
                    f"--- stderr ---\n{stderr_b.decode(errors='replace')[-3000:]}")
    elapsed = time.monotonic() - started
    stdout, stderr = stdout_b.decode(errors="replace"), stderr_b.decode(errors="replace")
    events = []
    for line in stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    report = (f"claude exited {proc.returncode} after {elapsed:.1f} s; provider saw {len(provider.requests)} "
              f"request(s): {[(b.get('model'), b.get('stream'), (b.get('messages') or [{}])[-1].get('role')) for b in provider.requests]}"
              f"\n--- stdout ---\n{stdout[-6000:]}\n--- stderr ---\n{stderr[-3000:]}")
    print(report)

    return proc.returncode if proc.returncode is not None else -1, events, report


def assert_success(events: list[dict[str, Any]], report: str) -> None:
    results = [e for e in events if e.get("type") == "result"]
    assert results, report
    assert results[-1].get("subtype") == "success", report
    assert results[-1].get("is_error") is False, report   # an API error is also reported as subtype "success"
    assert FINAL_TEXT in (results[-1].get("result") or ""), report


@pytest.mark.claude_code
@pytest.mark.timeout(180)
async def test_claude_code_loads_a_deferred_tool_through_tool_search(claude_bin: str, provider: MockProvider,
                                                                     start_dragoman, tmp_path: Path) -> None:
    """Claude Code's ToolSearch answers with a tool_reference block: on a Chat provider it is said
    as text in the role:tool message, the loaded tool joins the functions, and the session goes on."""
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    (home / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True}), encoding="utf-8")
    target = project / "hello.txt"
    content = f"hello after a tool search {secrets.token_hex(8)}\n"
    provider.responder = ScriptedModel(target, content, tool_search=True)
    base_url = await start_dragoman(auth={"api_keys": [API_KEY]})
    code, events, report = await run_claude(claude_bin, base_url, project, home, provider)
    assert code == 0, report
    assert target.read_text(encoding="utf-8") == content, report
    assert_success(events, report)
    first, second = provider.requests[0], provider.requests[1]
    assert "ToolSearch" in [tool["function"]["name"] for tool in first["tools"]], report
    assert "WebFetch" not in [tool["function"]["name"] for tool in first["tools"]]
    assert "WebFetch" in [tool["function"]["name"] for tool in second["tools"]], report   # loaded
    search_result = [m for m in second["messages"] if m["role"] == "tool"][0]
    assert tool_message_text(search_result) == "[tool WebFetch loaded]", search_result


def check_chat_requests(provider: MockProvider, report: str) -> None:
    """What reached the Chat provider: streams only, the route's model, nothing Anthropic-only,
    Claude Code's tools as functions, and the tool result as a role:tool message."""
    requests = provider.requests
    assert len(requests) >= 2, report
    assert all(body.get("stream") is True for body in requests), \
        f"a request without stream: true reached the provider: {[b.get('stream') for b in requests]}"
    assert all(body.get("model") == "big-model" for body in requests), [b.get("model") for b in requests]
    for i, body in enumerate(requests):
        raw = json.dumps(body)
        leaked = [word for word in LEAKS if word in raw]
        assert not leaked, f"upstream request {i} carries Anthropic-only fields {leaked}"

    first = requests[0]
    names = [tool.get("function", {}).get("name") for tool in first.get("tools") or []]
    # Claude Code 2.1.332 sends a dozen tools up front and loads the rest on demand (ToolSearch)
    assert {"Write", "Bash", "Read", "Edit"} <= set(names) and len(names) >= 8, names
    assert all(tool.get("type") == "function" for tool in first["tools"])

    second = requests[1]
    tool_messages = [m for m in second.get("messages") or [] if m.get("role") == "tool"]
    assert tool_messages, f"no role:tool message in the follow-up: {[m.get('role') for m in second['messages']]}"
    assert any("created" in tool_message_text(m).lower() for m in tool_messages), tool_messages
    assert second["messages"][-1].get("role") == "tool"


class ResponsesModel:
    """The same model behind the OpenAI Responses API (OpenAI's newest models are served only
    there): a reasoning item with encrypted content, text, and a Write call with streamed
    arguments; once the call's output is back, a final text."""

    def __init__(self, file_path: Path, content: str) -> None:
        self.file_path, self.content = file_path, content
        self.encrypted = "gAAAAAB" + secrets.token_hex(24)

    def __call__(self, body: dict[str, Any]) -> Reply:
        items = body.get("input") or []
        if any(item.get("type") == "function_call_output" for item in items):
            return self._stream([("message", FINAL_TEXT)])
        arguments = json.dumps({"file_path": str(self.file_path), "content": self.content})
        return self._stream([("reasoning", THINKING), ("message", "I'll create the file."),
                             ("function_call", arguments)])

    def _stream(self, items: list[tuple[str, str]]) -> Reply:
        events: list[dict[str, Any]] = []
        response = {"id": "resp_e2e", "object": "response", "created_at": int(time.time()), "status": "in_progress",
                    "model": "big-model", "output": [], "usage": None}
        events.append({"type": "response.created", "response": response})
        output: list[dict[str, Any]] = []
        for index, (kind, text) in enumerate(items):
            if kind == "reasoning":
                item = {"type": "reasoning", "id": f"rs_e2e{index}", "summary": []}
                events.append({"type": "response.output_item.added", "output_index": index, "item": item})
                events.append({"type": "response.reasoning_summary_part.added", "item_id": item["id"],
                               "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}})
                for piece in (text[:25], text[25:]):
                    events.append({"type": "response.reasoning_summary_text.delta", "item_id": item["id"],
                                   "output_index": index, "summary_index": 0, "delta": piece})
                item = {**item, "summary": [{"type": "summary_text", "text": text}], "encrypted_content": self.encrypted}
            elif kind == "message":
                item = {"type": "message", "id": f"msg_e2e{index}", "role": "assistant", "status": "in_progress",
                        "content": []}
                events.append({"type": "response.output_item.added", "output_index": index, "item": item})
                for piece in (text[:9], text[9:]):
                    events.append({"type": "response.output_text.delta", "item_id": item["id"], "output_index": index,
                                   "content_index": 0, "delta": piece})
                item = {**item, "status": "completed",
                        "content": [{"type": "output_text", "text": text, "annotations": []}]}
            else:
                item = {"type": "function_call", "id": f"fc_e2e{index}", "call_id": "call_" + secrets.token_hex(6),
                        "name": "Write", "arguments": "", "status": "in_progress"}
                events.append({"type": "response.output_item.added", "output_index": index, "item": item})
                third = len(text) // 3
                for piece in (text[:third], text[third:2 * third], text[2 * third:]):
                    events.append({"type": "response.function_call_arguments.delta", "item_id": item["id"],
                                   "output_index": index, "delta": piece})
                item = {**item, "arguments": text, "status": "completed"}
            events.append({"type": "response.output_item.done", "output_index": index, "item": item})
            output.append(item)
        usage = {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1000}, "output_tokens": 42,
                 "output_tokens_details": {"reasoning_tokens": 12}, "total_tokens": 1242}
        events.append({"type": "response.completed", "response": {**response, "status": "completed",
                                                                  "output": output, "usage": usage}})
        body = b"".join(f"event: {e['type']}\ndata: {json.dumps({**e, 'sequence_number': n})}\n\n".encode()
                        for n, e in enumerate(events))
        return Reply(body=body, content_type="text/event-stream", chunk_size=61)


@pytest.mark.claude_code
@pytest.mark.timeout(240)
async def test_claude_code_on_a_responses_provider(claude_bin: str, provider: MockProvider, start_dragoman,
                                                   tmp_path: Path) -> None:
    """Claude Code on a Responses-only model: the reasoning item's encrypted content travels in the
    thinking signature and comes back to the provider as the same reasoning item, before the call."""
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    (home / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True}), encoding="utf-8")
    target = project / "hello.txt"
    content = f"hello from dragoman e2e {secrets.token_hex(8)}\n"
    model = ResponsesModel(target, content)
    provider.responder = model
    providers = [{"name": "resp", "protocol": "responses", "base_url": provider.url,
                  "api_key": "sk-upstream-secret-0123456789"}]
    base_url = await start_dragoman(auth={"api_keys": [API_KEY]}, providers=providers,
                                    routes=[{"match": "*", "provider": "resp", "model": "big-model"}])
    code, events, report = await run_claude(claude_bin, base_url, project, home, provider)
    assert code == 0, report
    assert target.read_text(encoding="utf-8") == content, report
    assert_success(events, report)

    requests = provider.requests
    assert len(requests) >= 2 and set(provider.paths) == {"/v1/responses"}, report
    assert all(body["stream"] is True and body["store"] is False and body["model"] == "big-model" for body in requests)
    for i, body in enumerate(requests):
        leaked = [word for word in (*LEAKS, "messages", "max_tokens", "metadata") if word in body]
        assert not leaked, f"upstream request {i} carries Anthropic-only fields {leaked}"
    assert "Write" in [tool["name"] for tool in requests[0]["tools"]]
    second = requests[-1]["input"]
    reasoning = [item for item in second if item.get("type") == "reasoning"]
    assert [(item["id"], item["encrypted_content"]) for item in reasoning] == [("rs_e2e0", model.encrypted)]
    kinds = [item.get("type") for item in second]
    assert kinds.index("reasoning") < kinds.index("function_call") < kinds.index("function_call_output")
    # the API pairs a returned reasoning item with the item that followed it, by id
    after = second[kinds.index("reasoning") + 1]
    assert (after["type"], after["id"], after["content"][0]["text"]) == ("message", "msg_e2e1", "I'll create the file.")
    thinking = [block for e in events if e.get("type") == "assistant"
                for block in (e.get("message") or {}).get("content") or [] if block.get("type") == "thinking"]
    assert [block.get("thinking") for block in thinking] == [THINKING], report
