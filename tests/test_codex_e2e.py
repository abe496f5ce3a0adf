"""End to end with the REAL Codex CLI: codex exec -> dragoman (/v1/responses) -> a scripted provider.

Codex speaks only the Responses API. Here it is served by a scripted Chat Completions provider and
by a scripted Anthropic provider: the model reasons, calls ``exec_command`` with its arguments
streamed in fragments, Codex runs the command, and the model answers from its output. The test
checks the file the command wrote, Codex's final message, and what reached the provider: no
Responses-only field upstream, the tool call and its output intact in the second turn's history,
and (Anthropic) the signed thinking handed back to the provider unchanged.

The CLI is found through CODEX_BIN, then `codex` on PATH, then .ci/node (see .ci/run). The test
skips when it is missing, unless DRAGOMAN_REQUIRE_CODEX=1 (CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.conftest import MockProvider, Reply

ROOT = Path(__file__).resolve().parent.parent
CI_CODEX = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "codex"
CLI_TIMEOUT = 120.0
API_KEY = "codex-test-key"
THINKING = "The user wants the proof file. One shell command writes it."
SIGNATURE = "EqQBCkYIBxgCKkBsignature" + "A" * 40
RESPONSES_ONLY = ("input", "instructions", "include", "store", "previous_response_id", "client_metadata",
                  "parallel_tool_calls", "reasoning", "max_output_tokens", "text")


def find_codex() -> str | None:
    for candidate in (os.environ.get("CODEX_BIN") or "", shutil.which("codex") or "", str(CI_CODEX)):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture
def codex_bin() -> str:
    found = find_codex()
    if found is not None:
        return found
    if os.environ.get("DRAGOMAN_REQUIRE_CODEX") == "1":
        pytest.fail("DRAGOMAN_REQUIRE_CODEX=1 but the Codex CLI was not found: set CODEX_BIN, put `codex` on "
                    f"PATH or install it in {CI_CODEX.parent.parent.parent} (see .ci/run)", pytrace=False)
    pytest.skip("Codex CLI not installed (npm install @openai/codex; see .ci/run)")


def command_for(proof: Path, token: str) -> str:
    return f"printf '%s' {token} > {proof.name} && echo wrote-{token}"


class ChatModel:
    """An OpenAI-dialect reasoning model: reasoning, then an exec_command call (arguments in
    fragments); once the call's output is back, a final text quoting it."""

    def __init__(self, proof: Path, token: str) -> None:
        self.proof, self.token = proof, token

    def __call__(self, body: dict[str, Any]) -> Reply:
        model = body.get("model", "m")
        messages = body.get("messages") or []
        if messages and messages[-1].get("role") == "tool":
            output = messages[-1].get("content") or ""
            text = f"Done: the command said wrote-{self.token}." if f"wrote-{self.token}" in str(output) else "No output?"
            return Reply.sse(self._chunk(model, {"role": "assistant", "content": ""}),
                             self._chunk(model, {"content": text[:10]}), self._chunk(model, {"content": text[10:]}),
                             self._chunk(model, {}, "stop"), chunk_size=53)
        arguments = json.dumps({"cmd": command_for(self.proof, self.token)})
        third = len(arguments) // 3
        call = {"index": 0, "id": "call_" + secrets.token_hex(6), "type": "function",
                "function": {"name": "exec_command", "arguments": arguments[:third]}}
        return Reply.sse(
            self._chunk(model, {"role": "assistant", "content": ""}),
            self._chunk(model, {"reasoning_content": THINKING[:20]}),
            self._chunk(model, {"reasoning_content": THINKING[20:]}),
            self._chunk(model, {"tool_calls": [call]}),
            self._chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": arguments[third:2 * third]}}]}),
            self._chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": arguments[2 * third:]}}]}),
            self._chunk(model, {}, "tool_calls"),
            {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [],
             "usage": {"prompt_tokens": 9000, "completion_tokens": 40, "total_tokens": 9040,
                       "prompt_tokens_details": {"cached_tokens": 8000}}},
            chunk_size=61)

    @staticmethod
    def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-codex", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class AnthropicModel:
    """The same session from an Anthropic model: signed thinking, then a tool_use whose input
    streams as input_json_delta fragments; then text quoting the tool result."""

    def __init__(self, proof: Path, token: str, code_mode: bool = False) -> None:
        self.proof, self.token, self.code_mode = proof, token, code_mode

    def __call__(self, body: dict[str, Any]) -> Reply:
        messages = body.get("messages") or []
        last = messages[-1]["content"] if messages else []
        results = [b for b in last if isinstance(b, dict) and b.get("type") == "tool_result"] if isinstance(last, list) else []
        events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": {
            "id": "msg_codex", "type": "message", "role": "assistant", "model": body.get("model"), "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 50, "output_tokens": 1}}})]
        if results:
            text = f"Done: the command said wrote-{self.token}." if f"wrote-{self.token}" in json.dumps(results) else "?"
            events += [self._start(0, {"type": "text", "text": ""}), self._delta(0, {"type": "text_delta", "text": text}),
                       ("content_block_stop", {"type": "content_block_stop", "index": 0})]
            stop = "end_turn"
        else:
            command = command_for(self.proof, self.token)
            name, arguments = "exec_command", json.dumps({"cmd": command})
            if self.code_mode:   # Codex's default model runs its tools from JavaScript given to a freeform tool
                name = "functions__exec"
                arguments = json.dumps({"input": f"const r = await tools.exec_command({{cmd: {json.dumps(command)}}});"
                                                 "\ntext(r.output);"})
            half = len(arguments) // 2
            events += [
                self._start(0, {"type": "thinking", "thinking": "", "signature": ""}),
                self._delta(0, {"type": "thinking_delta", "thinking": THINKING}),
                self._delta(0, {"type": "signature_delta", "signature": SIGNATURE}),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                self._start(1, {"type": "tool_use", "id": "toolu_" + secrets.token_hex(8), "name": name, "input": {}}),
                self._delta(1, {"type": "input_json_delta", "partial_json": arguments[:half]}),
                self._delta(1, {"type": "input_json_delta", "partial_json": arguments[half:]}),
                ("content_block_stop", {"type": "content_block_stop", "index": 1})]
            stop = "tool_use"
        events += [("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": {"output_tokens": 30}}),
                   ("message_stop", {"type": "message_stop"})]
        sse = b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)
        return Reply(body=sse, content_type="text/event-stream", chunk_size=71)

    @staticmethod
    def _start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}

    @staticmethod
    def _delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


async def run_codex(codex: str, base_url: str, project: Path, home: Path, *extra: str,
                    model: str | None = "gpt-5-codex") -> tuple[int, str, str]:
    env = {"HOME": str(home), "CODEX_HOME": str(home / ".codex"), "DRAGOMAN_API_KEY": API_KEY,
           "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "NO_COLOR": "1"}
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    overrides = [f'model="{model}"'] if model else []
    overrides += ['model_provider="dragoman"', 'model_providers.dragoman.name="dragoman"',
                 f'model_providers.dragoman.base_url="{base_url}/v1"', 'model_providers.dragoman.env_key="DRAGOMAN_API_KEY"',
                 'model_providers.dragoman.wire_api="responses"', "model_providers.dragoman.request_max_retries=0",
                 "model_providers.dragoman.stream_max_retries=0"]
    args = [codex, "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "--color", "never",
            "-C", str(project)]
    for override in overrides:
        args += ["-c", override]
    proc = await asyncio.create_subprocess_exec(*args, *extra, "please run the proof command", cwd=project, env=env,
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    return proc.returncode if proc.returncode is not None else -1, out.decode(errors="replace"), err.decode(errors="replace")


def assert_clean_access_log(logs: list[dict[str, Any]]) -> None:
    """Codex hangs up right after response.completed: that is a whole answer, logged as one."""
    lines = [line for line in logs if line["event"] == "request"]
    assert [(line["path"], line["status"], line["error"]) for line in lines] == [("/v1/responses", 200, None)] * 2
    assert not [line for line in logs if line.get("log_level") == "error"], logs


def leaked(body: dict[str, Any]) -> list[str]:
    return [key for key in RESPONSES_ONLY if key in body]


async def codex_session(codex: str, provider: MockProvider, start_dragoman: Any, tmp_path: Path,
                        model: Callable[[Path, str], Callable[[dict[str, Any]], Reply]], route: dict[str, Any],
                        *extra: str, codex_model: str | None = "gpt-5-codex") -> tuple[Path, str, str, str]:
    """Run one ``codex exec`` session through dragoman on the scripted ``model`` and check what every
    session must show: exit 0, the proof file the command wrote, Codex's final message quoting the
    command's output, a clean access log. (project, token, stdout + stderr, report)."""
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    token = secrets.token_hex(6)
    provider.responder = model(project / "proof.txt", token)
    base_url = await start_dragoman(auth={"api_keys": [API_KEY]}, routes=[{"match": "*", "client": "responses", **route}])
    with capture_logs() as logs:
        code, out, err = await run_codex(codex, base_url, project, home, *extra, model=codex_model)
    report = (f"codex exited {code}; provider saw {len(provider.requests)} request(s)\n--- stdout ---\n{out[-4000:]}"
              f"\n--- stderr ---\n{err[-4000:]}")
    assert code == 0, report
    assert (project / "proof.txt").read_text() == token, report
    assert f"Done: the command said wrote-{token}." in out, report
    assert_clean_access_log(logs)
    assert len(provider.requests) == 2, report
    return project, token, err + out, report


@pytest.mark.codex
@pytest.mark.timeout(240)
async def test_codex_runs_a_command_through_dragoman_on_a_chat_provider(codex_bin: str, provider: MockProvider,
                                                                       start_dragoman, tmp_path: Path) -> None:
    project, token, output, report = await codex_session(codex_bin, provider, start_dragoman, tmp_path, ChatModel,
                                                         {"provider": "mock", "model": "big-model"})
    first, second = provider.requests
    assert all(body["stream"] is True and body["model"] == "big-model" for body in provider.requests)
    assert not leaked(first) and not leaked(second), (leaked(first), leaked(second))
    assert first["messages"][0]["role"] == "system" and "Codex" in first["messages"][0]["content"]
    names = [tool["function"]["name"] for tool in first["tools"]]
    assert "exec_command" in names and "multi_agent_v1__spawn_agent" in names, names   # a namespace, flattened
    # Codex's session is its prompt_cache_key: OpenAI's Chat API takes one too, for its prompt cache
    session = re.search(r"session id: (\S+)", output)
    assert session is not None and {b["prompt_cache_key"] for b in provider.requests} == {session.group(1)}
    # the second turn carries the call and its output, paired
    calls = [m for m in second["messages"] if m.get("tool_calls")]
    outputs = [m for m in second["messages"] if m["role"] == "tool"]
    assert [c["tool_calls"][0]["function"]["name"] for c in calls] == ["exec_command"]
    assert json.loads(calls[0]["tool_calls"][0]["function"]["arguments"]) == {"cmd": command_for(project / "proof.txt", token)}
    assert outputs[0]["tool_call_id"] == calls[0]["tool_calls"][0]["id"] and f"wrote-{token}" in outputs[0]["content"]
    assert THINKING not in json.dumps(second)   # reasoning a Chat model wrote is not sent back as text
    for headers in provider.headers:
        assert {k.lower(): v for k, v in headers.items()}["authorization"] == "Bearer sk-upstream-secret-0123456789"


@pytest.mark.codex
@pytest.mark.timeout(240)
async def test_codex_runs_a_command_through_dragoman_on_an_anthropic_provider(codex_bin: str, provider: MockProvider,
                                                                             start_dragoman, tmp_path: Path) -> None:
    _, token, _, report = await codex_session(codex_bin, provider, start_dragoman, tmp_path, AnthropicModel,
                                              {"provider": "claude", "model": "claude-sonnet-4-5"},
                                              "-c", 'model_reasoning_effort="medium"')
    assert provider.paths == ["/v1/messages", "/v1/messages"], report
    first, second = provider.requests
    assert not leaked(first) and not leaked(second) and "prompt_cache_key" not in first
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert "Codex" in json.dumps(first["system"])
    # the assistant turn Codex sent back starts with the signed thinking, untouched, then the call
    assistant = [m for m in second["messages"] if m["role"] == "assistant"][-1]
    kinds = [block["type"] for block in assistant["content"]]
    assert kinds[0] == "thinking" and "tool_use" in kinds, kinds
    assert (assistant["content"][0]["thinking"], assistant["content"][0]["signature"]) == (THINKING, SIGNATURE)
    assert second["thinking"] == {"type": "enabled", "budget_tokens": 8192}   # kept on in the tool loop
    result = second["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and f"wrote-{token}" in json.dumps(result)


@pytest.mark.codex
@pytest.mark.timeout(240)
async def test_codex_default_model_gets_its_tools_from_the_conversation_on_an_anthropic_provider(
        codex_bin: str, provider: MockProvider, start_dragoman, tmp_path: Path) -> None:
    """With no model configured, Codex 0.171 asks for its default model and declares its tools in an
    ``additional_tools`` input item: a freeform ``exec`` tool taking JavaScript that calls the others.
    Claude gets them as tools and its call runs: Codex evaluates the script, which runs the command."""
    _, token, _, _ = await codex_session(codex_bin, provider, start_dragoman, tmp_path,
                                         lambda proof, token: AnthropicModel(proof, token, code_mode=True),
                                         {"provider": "claude", "model": "claude-sonnet-4-5"}, codex_model=None)
    first, second = provider.requests
    assert not leaked(first) and not leaked(second)
    tools = {tool["name"]: tool for tool in first["tools"]}
    assert {"functions__exec", "functions__wait", "clock__sleep", "collaboration__spawn_agent"} <= set(tools)
    assert tools["functions__exec"]["input_schema"]["required"] == ["input"]   # freeform: raw text in one field
    assert "additional_tools" not in json.dumps(first["messages"])
    call = [b for m in second["messages"] if m["role"] == "assistant" for b in m["content"] if b["type"] == "tool_use"]
    assert [c["name"] for c in call] == ["functions__exec"] and "tools.exec_command" in call[0]["input"]["input"]
    result = second["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == call[0]["id"]
    assert f"wrote-{token}" in json.dumps(result["content"])
