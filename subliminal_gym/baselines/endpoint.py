"""A model behind any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp's server,
SGLang, Ollama...) as a text agent, through the official ``openai`` client.

The model gets what every language-model agent gets: the setting's system message, the task, and per
turn the env's answer. It acts by calling the setting's tools (:meth:`~subliminal_gym.core.setting.
Setting.chat_tools`: SubliminalFS's own tool schemas, or one ``bash`` tool), each call becoming the
action text our parser reads (:meth:`~subliminal_gym.core.setting.Setting.call_action`); a reply
without a tool call is itself the action (plain-text mode, as a shell line). Episodes run side by side
(``evaluate(..., batch_size=N)``) and the agent sends their requests concurrently.

The API key comes from ``OPENAI_API_KEY`` only (a local server without auth needs none): never from a
flag, never written to a file or a log. The client retries 429 and 5xx answers with exponential
backoff (honouring ``Retry-After``) up to ``max_retries`` times; what still fails, a connection refused,
a key refused, a model the server does not know, or a model that never calls a tool, raises
:class:`EndpointError` with one clear line (the CLI prints it as ``error:`` and exits 2).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from subliminal_gym.runner import TextAgent
from subliminal_gym.settings import setting_of

__all__ = ["API_KEY_VARIABLE", "EndpointAgent", "EndpointError"]

#: The only place the API key is read from.
API_KEY_VARIABLE = "OPENAI_API_KEY"
#: Replies without a tool call, from the start of a run, after which a model is taken not to call tools.
NO_TOOL_LIMIT = 8


class EndpointError(RuntimeError):
    """The endpoint cannot be used: unreachable, key refused, unknown model, a model that never calls a
    tool, or errors left after the retries. Its message is one line, without the key."""


class EndpointAgent(TextAgent):
    """A chat model behind an OpenAI-compatible endpoint, acting through the setting's tools.

    Args:
        base_url: the endpoint, e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name the server knows.
        env_id: the env it plays (its setting gives the system message and the tools).
        temperature: sampling temperature (0: the server's greedy choice).
        max_tokens: the most tokens per reply.
        tools: declare the setting's tools (else plain text only: each reply is the action).
        max_retries: retries of a 429 or 5xx answer, with exponential backoff.
        timeout: seconds per request.
        concurrency: requests in flight at once (at most one per running episode).

    Raises:
        EndpointError: the ``openai`` package is missing (the ``endpoint`` extra).
    """

    def __init__(self, base_url: str, model: str, *, env_id: str, temperature: float = 0.0, max_tokens: int = 512,
                 tools: bool = True, max_retries: int = 4, timeout: float = 120.0, concurrency: int = 8) -> None:
        try:
            import openai
        except ModuleNotFoundError as exc:
            raise EndpointError(f"the endpoint agent needs the openai package: pip install "
                                f"'subliminal-gym[endpoint]' ({exc})") from None
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._openai = openai
        try:  # the client reads OPENAI_API_KEY itself
            self.client = openai.OpenAI(base_url=base_url, max_retries=max_retries, timeout=timeout)
        except openai.OpenAIError:  # no key set: a server without auth accepts any, the client insists on one
            self.client = openai.OpenAI(base_url=base_url, api_key="no-key", max_retries=max_retries, timeout=timeout)
        self.base_url, self.model, self.env_id = base_url, model, env_id
        self.setting = setting_of(env_id)
        self.temperature, self.max_tokens = temperature, max_tokens
        self.tools = self.setting.chat_tools() if tools else None
        self.concurrency = concurrency
        self._messages: dict[int, list[dict[str, Any]]] = {}
        self._seeds: dict[int, int] = {}
        self._pending: dict[int, str | None] = {}  # slot -> the id of the tool call the next observation answers
        self._count = threading.Lock()  # requests run in threads
        self.replies = 0
        """Replies received so far."""
        self.tool_calls = 0
        """Replies that called a tool."""

    def describe(self) -> dict[str, Any]:
        """What evaluations record about the agent (never the key)."""
        return {"agent": "endpoint", "base_url": self.base_url, "model": self.model, "tools": self.tools is not None,
                "temperature": self.temperature, "max_tokens": self.max_tokens}

    def start(self, slot: int, observation: str, info: dict[str, Any], *, seed: int) -> None:
        self._messages[slot] = [{"role": "system", "content": self.setting.system_prompt(info)},
                                {"role": "user", "content": observation}]
        self._seeds[slot] = seed % 2**31
        self._pending[slot] = None

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        for observation, slot in zip(observations, slots, strict=True):
            call_id = self._pending[slot]
            if call_id is not None:  # the env's answer to the last tool call
                self._messages[slot].append({"role": "tool", "tool_call_id": call_id, "content": observation})
            elif self._messages[slot][-1]["role"] == "assistant":  # the answer to a plain-text action
                self._messages[slot].append({"role": "user", "content": observation})
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(slots))) as pool:
            return list(pool.map(self._act, slots))

    def _act(self, slot: int) -> str:
        message = self._complete(self._messages[slot], self._seeds[slot])
        calls = list(getattr(message, "tool_calls", None) or [])
        with self._count:
            self.replies += 1
            self.tool_calls += bool(calls)
            replies, never = self.replies, self.tool_calls == 0
        if not calls:
            if self.tools is not None and never and replies >= NO_TOOL_LIMIT:
                raise EndpointError(f"{self.model} at {self.base_url} answered {replies} times without calling "
                                    "a tool: does the server enable tool calling for it (vLLM: "
                                    "--enable-auto-tool-choice; llama.cpp: --jinja)? Or evaluate without tools")
            text = message.content or ""
            self._messages[slot].append({"role": "assistant", "content": text})
            self._pending[slot] = None
            return text
        call = calls[0]  # one action per turn: the first call; the rest are dropped from the history
        try:
            arguments = json.loads(call.function.arguments or "{}")
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):  # unparsable arguments: the env answers the raw text
            action = str(call.function.arguments)
        else:
            action = self.setting.call_action(call.function.name, arguments)
        self._messages[slot].append({"role": "assistant", "content": message.content or "", "tool_calls": [
            {"id": call.id, "type": "function",
             "function": {"name": call.function.name, "arguments": call.function.arguments}}]})
        self._pending[slot] = call.id
        return action

    def _complete(self, messages: list[dict[str, Any]], seed: int) -> Any:
        openai = self._openai
        request: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature,
                                   "max_tokens": self.max_tokens, "seed": seed}
        if self.tools is not None:
            request["tools"] = self.tools
        where = f"{self.base_url} ({self.model})"
        try:
            response = self.client.chat.completions.create(**request)
        except openai.APIConnectionError as exc:  # APITimeoutError included
            raise EndpointError(f"cannot reach {where}: {type(exc).__name__}: {_first_line(exc)}") from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise EndpointError(f"{where} refused the API key (HTTP {exc.status_code}); set {API_KEY_VARIABLE}") \
                from None
        except openai.NotFoundError:
            raise EndpointError(f"{where}: the server does not know this model or path (HTTP 404)") from None
        except openai.APIStatusError as exc:  # 429 and 5xx after the retries, and any other 4xx
            raise EndpointError(f"{where} answered HTTP {exc.status_code}: {_first_line(exc)}") from None
        if not response.choices:
            raise EndpointError(f"{where} sent a reply without choices")
        return response.choices[0].message


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
