"""The endpoint agent end to end, through the official ``openai`` client, against an OpenAI-compatible
HTTP server the tests start on 127.0.0.1 (never a mock of the client). The server's model replays the
scripted expert's actions, so its audits must be the expert's; it can also refuse keys, rate-limit, fail,
or never call a tool. Core profile (the ``endpoint`` extra)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from subliminal_gym.cli import main
from subliminal_gym.runner import ScriptedTextAgent, run_episodes
from subliminal_gym.settings import setting_of

KEY = "sk-test-not-a-real-key-4711"
EPISODES = 6


class _Model:
    """The server's state: how it answers, what it saw."""

    def __init__(self, env_id: str, mode: str = "replay", failures: int = 0) -> None:
        self.setting = setting_of(env_id)
        played = run_episodes(ScriptedTextAgent(0.5), env_id, episodes=EPISODES, seed=3, keep_observations=True)
        self.actions = {record.observations[0]: record.actions for record in played}
        self.mode, self.failures = mode, failures
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.requests: list[dict[str, Any]] = []
        self.authorizations: set[str] = set()
        self.status_sent: list[int] = []

    def answer(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.mode == "error500":
            return 500, {"error": {"message": "the model crashed", "type": "server_error"}}
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                return 429, {"error": {"message": "slow down", "type": "rate_limit"}}
        messages = request["messages"]
        if self.mode == "text":
            return 200, _completion(request["model"], content="I would start by looking around.")
        action = self.actions[messages[1]["content"]][sum(m["role"] == "assistant" for m in messages)]
        if "tools" not in request:  # plain-text mode: the reply is the action
            return 200, _completion(request["model"], content=action)
        name, arguments = self.setting.chat_call(action)
        return 200, _completion(request["model"], call=(name, arguments))


def _completion(model: str, *, content: str | None = None, call: tuple[str, dict] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if call is not None:
        message["tool_calls"] = [{"id": f"call_{time.monotonic_ns()}", "type": "function",
                                  "function": {"name": call[0], "arguments": json.dumps(call[1])}}]
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if call else "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _serve(model: _Model, key: str = KEY):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            auth = self.headers.get("Authorization", "")
            with model.lock:
                model.requests.append(body)
                model.authorizations.add(auth)
                model.in_flight += 1
                model.max_in_flight = max(model.max_in_flight, model.in_flight)
            try:
                time.sleep(0.02)  # long enough for concurrent requests to overlap
                if not self.path.endswith("/chat/completions"):
                    status, payload = 404, {"error": {"message": "no such path"}}
                elif auth != f"Bearer {key}":
                    status, payload = 401, {"error": {"message": "invalid api key", "type": "auth"}}
                else:
                    status, payload = model.answer(body)
            finally:
                with model.lock:
                    model.in_flight -= 1
                    model.status_sent.append(status)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("retry-after-ms", "5")
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


@pytest.fixture
def served(request):
    servers = []

    def start(model: _Model, key: str = KEY) -> str:
        server, url = _serve(model, key)
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _evaluate(url: str, env_id: str, out: Path, *extra: str) -> int:
    return main(["evaluate", "--endpoint", url, "--endpoint-model", "replayer", "--env", env_id, "--episodes",
                 str(EPISODES), "--seed", "3", "--concurrency", "3", "--out", str(out), *extra])


@pytest.mark.parametrize("env_id", ["SubliminalFS-v0", "SubliminalBash-v0"])
def test_a_model_behind_an_endpoint_is_audited_like_any_agent(env_id, served, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    model = _Model(env_id)
    out = tmp_path / "eval"
    assert _evaluate(served(model), env_id, out) == 0
    records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    expert = run_episodes(ScriptedTextAgent(0.5), env_id, episodes=EPISODES, seed=3)
    assert [r["audit"] for r in records] == [r.audit for r in expert]
    assert [r["actions"] for r in records] == [r.actions for r in expert]
    assert {r["success"] for r in records} == {True}
    # tool calling with the setting's schemas; requests in flight side by side; the key sent, never written
    assert all(request["tools"] == setting_of(env_id).chat_tools() for request in model.requests)
    assert model.max_in_flight >= 2
    assert model.authorizations == {f"Bearer {KEY}"}
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(), path
    summary = (out / "summary.json").read_text()
    assert '"agent": "endpoint"' in summary and '"model": "replayer"' in summary


def test_without_tools_each_reply_is_the_action(served, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    model = _Model("SubliminalBash-v0")
    assert _evaluate(served(model), "SubliminalBash-v0", tmp_path / "eval", "--no-tools") == 0
    records = [json.loads(line) for line in (tmp_path / "eval" / "episodes.jsonl").read_text().splitlines()]
    expert = run_episodes(ScriptedTextAgent(0.5), "SubliminalBash-v0", episodes=EPISODES, seed=3)
    assert [r["audit"] for r in records] == [r.audit for r in expert]
    assert not any("tools" in request for request in model.requests)


def test_rate_limits_are_retried_with_backoff(served, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    model = _Model("SubliminalFS-v0", failures=3)
    assert _evaluate(served(model), "SubliminalFS-v0", tmp_path / "eval") == 0
    assert model.status_sent.count(429) == 3
    assert len((tmp_path / "eval" / "episodes.jsonl").read_text().splitlines()) == EPISODES


@pytest.mark.parametrize("case,message", [
    ("error500", "answered HTTP 500"),
    ("wrong key", "refused the API key (HTTP 401); set OPENAI_API_KEY"),
    ("never calls a tool", "without calling a tool"),
    ("connection refused", "cannot reach"),
])
def test_an_unusable_endpoint_is_one_error_line(case, message, served, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong" if case == "wrong key" else KEY)
    if case == "connection refused":
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    else:
        url = served(_Model("SubliminalFS-v0", mode={"error500": "error500", "never calls a tool": "text"}.get(
            case, "replay")))
    status = _evaluate(url, "SubliminalFS-v0", tmp_path / "eval", "--max-retries", "1", "--timeout", "10")
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert status == 2
    # the progress bar's last state, then one line that says what is wrong; no traceback, no key
    assert len(errors) == 1 and message in errors[0] and stderr.strip().endswith(errors[0]), stderr
    assert "Traceback" not in stderr and "sk-wrong" not in stderr and KEY not in stderr


def test_endpoint_options_are_checked_before_any_request(tmp_path, capsys):
    assert main(["evaluate", "--endpoint", "http://127.0.0.1:9/v1", "--env", "SubliminalFS-v0",
                 "--out", str(tmp_path / "a")]) == 2
    assert "--endpoint-model" in capsys.readouterr().err
    assert main(["evaluate", "--endpoint", "ftp://x", "--endpoint-model", "m", "--env", "SubliminalFS-v0",
                 "--out", str(tmp_path / "b")]) == 2
    assert "http://" in capsys.readouterr().err
    assert main(["evaluate", "--endpoint", "http://127.0.0.1:9/v1", "--endpoint-model", "m",
                 "--out", str(tmp_path / "c")]) == 2
    assert "--env is required" in capsys.readouterr().err
