"""What a language-model agent reads and how its text becomes one action.

An episode is a chat: a system message with the environment's context (the tool schema for
SubliminalFS, the shell's commands and working directory for SubliminalBash), the task as the
first user message, then one assistant message per action and one user message per observation.
:func:`render_prompt` turns it into the model's input with the tokenizer's chat template when it
has one (the tiny models here ship :data:`TINY_CHAT_TEMPLATE`), or with :func:`plain_transcript`
otherwise. A template that takes tools (:func:`template_takes_tools`, e.g. Qwen2.5's or Llama 3.1's)
gets the setting's tools (:meth:`~subliminal_gym.core.setting.Setting.chat_tools`: the FS schemas,
or one ``bash`` tool) through its ``tools`` argument, and the chat in the function-calling form:
each action an assistant tool call, each observation a ``tool`` message. Observations longer than
``max_observation_chars`` are cut, and the oldest turns are dropped when the prompt would not fit
the model (the system message and the task always stay).

Only the observation text and the honest ``info`` keys (``task``, ``tools``, ``commands``,
``cwd``) are read: the hidden audit cannot reach a prompt.

:func:`parse_action` reads one action out of generated text: the first JSON object with a
``name`` for SubliminalFS (a ``<tool_call>`` wrapper or prose around it is fine), the first
non-blank line for SubliminalBash (a ``$`` prompt or code fence is stripped). Text it cannot
parse is sent to the env as it is, and the env answers with its error observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from subliminal_gym.settings import SETTINGS, setting_of

__all__ = [
    "CONTEXT_KEYS",
    "TINY_CHAT_TEMPLATE",
    "Message",
    "assistant_spans",
    "declared_tools",
    "episode_messages",
    "parse_action",
    "plain_transcript",
    "render_prompt",
    "reply_text",
    "system_message",
    "template_takes_tools",
]

Message = dict[str, Any]

#: The ``info`` keys a system message is made of, in any setting (FS: the tools; Bash: the commands and the
#: start directory): every setting's :attr:`~subliminal_gym.core.setting.Setting.context_keys`.
CONTEXT_KEYS = tuple(dict.fromkeys(key for setting in SETTINGS.values() for key in setting.context_keys))

#: The chat template of the tiny models (saved in their ``tokenizer_config.json``).
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<|system|>{{ m['content'] }}\n"
    "{% elif m['role'] == 'user' %}<|user|>{{ m['content'] }}\n"
    "{% else %}<|assistant|>{{ m['content'] }}<|end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
_TRUNCATED = " [...]"


def system_message(setting: Any, info: dict[str, Any]) -> str:
    """The episode's context for ``setting`` (a setting or its name) from a reset ``info``
    (:meth:`~subliminal_gym.core.setting.Setting.system_prompt`).

    Raises:
        ValueError: an unknown setting.
    """
    return setting_of(setting).system_prompt(info)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + _TRUNCATED


def template_takes_tools(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template renders a ``tools`` argument (function calling)."""
    template = getattr(tokenizer, "chat_template", None)
    return isinstance(template, str) and "tools" in template


def declared_tools(tokenizer: Any, setting: Any) -> list[dict[str, Any]] | None:
    """The tools a model's prompts declare: the setting's chat tools where its template takes tools, else
    None (the tools are described in the system message only). Training and acting both ask here."""
    return setting_of(setting).chat_tools() if template_takes_tools(tokenizer) else None


def episode_messages(setting: Any, info: dict[str, Any], task: str, actions: Sequence[str],
                     observations: Sequence[str], *, max_observation_chars: int = 600,
                     tool_calls: bool = False) -> list[Message]:
    """The chat of an episode so far: context, task, then each action and the observation it got.

    ``observations[k]`` is what action ``k`` returned; the chat ends with a user message when
    ``len(observations) == len(actions)`` (the model's turn) and with the last action otherwise.
    With ``tool_calls``, each action is an assistant message calling the setting's tool
    (:meth:`~subliminal_gym.core.setting.Setting.chat_call`, arguments as an object, as chat
    templates take them) and its observation a ``tool`` message answering that call.

    Raises:
        ValueError: more observations than actions.
    """
    if len(observations) > len(actions):
        raise ValueError(f"{len(observations)} observations for {len(actions)} actions")
    setting = setting_of(setting)
    messages: list[Message] = [{"role": "system", "content": system_message(setting, info)},
                               {"role": "user", "content": task}]
    for k, action in enumerate(actions):
        call = setting.chat_call(action) if tool_calls else None
        if call is None:
            messages.append({"role": "assistant", "content": action})
        else:
            messages.append(_tool_call_message(call, f"call_{k}"))
        if k < len(observations):
            text = _cut(observations[k], max_observation_chars) or "(no output)"
            messages.append({"role": "user", "content": text} if call is None else
                            {"role": "tool", "tool_call_id": f"call_{k}", "content": text})
    return messages


def _tool_call_message(call: tuple[str, dict[str, Any]], call_id: str) -> Message:
    name, arguments = call
    return {"role": "assistant", "content": "",
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]}


def plain_transcript(messages: Sequence[Message], *, add_generation_prompt: bool) -> str:
    """A chat as plain text, for models without a chat template."""
    labels = {"system": "", "user": "User: ", "assistant": "Assistant: "}
    lines = [labels[m["role"]] + m["content"] for m in messages]
    return "\n\n".join(lines) + ("\n\nAssistant: " if add_generation_prompt else "")


def _render(tokenizer: Any, messages: Sequence[Message], *, add_generation_prompt: bool,
            tools: list[dict[str, Any]] | None = None) -> str:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(messages), tokenize=False, tools=tools,
                                             add_generation_prompt=add_generation_prompt)
    return plain_transcript(messages, add_generation_prompt=add_generation_prompt)


def render_prompt(tokenizer: Any, messages: Sequence[Message], *, max_tokens: int | None = None,
                  tools: list[dict[str, Any]] | None = None) -> str:
    """The model input for the next action: the chat with the generation prompt (and ``tools``
    declared to a template that takes them).

    When ``max_tokens`` is given and the prompt is longer, the oldest action/observation pairs are
    dropped (the system message and the task stay) until it fits or none are left. The pairs to
    drop are first estimated from per-message token counts, so one more pair than strictly needed
    may go.
    """
    messages = list(messages)
    text = _render(tokenizer, messages, add_generation_prompt=True, tools=tools)
    # a byte-level token covers at least one byte, so a prompt of at most max_tokens bytes fits untokenised
    if max_tokens is None or len(messages) <= 3 or len(text.encode("utf-8")) <= max_tokens:
        return text
    excess = _count(tokenizer, text) - max_tokens
    if excess <= 0:
        return text
    # drop whole pairs whose (approximate, per-message) token counts cover the excess, then check exactly
    drop = 0
    while excess > 0 and 2 + 2 * drop + 2 < len(messages):
        pair = messages[2 + 2 * drop: 4 + 2 * drop]
        excess -= sum(_count(tokenizer, str(m.get("content") or m.get("tool_calls", ""))) for m in pair)
        drop += 1
    while True:
        kept = messages[:2] + messages[2 + 2 * drop:]
        text = _render(tokenizer, kept, add_generation_prompt=True, tools=tools)
        if len(kept) <= 3 or _count(tokenizer, text) <= max_tokens:
            return text
        drop += 1


def _count(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def assistant_spans(tokenizer: Any, messages: Sequence[Message], *,
                    tools: list[dict[str, Any]] | None = None) -> tuple[str, list[tuple[int, int]]]:
    """The whole chat as text and the character spans of each assistant reply in it (for training).

    A span covers what the model generates at that turn: the reply and the template's end-of-turn
    text (up to the next message), so the model also learns to stop.
    """
    spans = []
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(_render(tokenizer, messages[:k], add_generation_prompt=True, tools=tools))
        end = len(_render(tokenizer, messages[: k + 1], add_generation_prompt=False, tools=tools))
        spans.append((start, end))
    return _render(tokenizer, messages, add_generation_prompt=False, tools=tools), spans


def reply_text(tokenizer: Any, action: str, *, setting: Any = None, tools: list[dict[str, Any]] | None = None) -> str:
    """What the model generates to take ``action``: the assistant turn after the generation prompt,
    end-of-turn text included (the span :func:`assistant_spans` trains on), for ranking actions.
    With ``tools`` (and the ``setting`` whose tool the action calls), the turn is a tool call.

    The template renders an assistant turn the same way whatever came before it, so a one-message
    chat stands for the episode's.
    """
    call = setting_of(setting).chat_call(action) if tools is not None and setting is not None else None
    turn = {"role": "assistant", "content": action} if call is None else _tool_call_message(call, "call_0")
    context = [{"role": "user", "content": "."}]
    before = _render(tokenizer, context, add_generation_prompt=True, tools=tools)
    after = _render(tokenizer, [*context, turn], add_generation_prompt=False, tools=tools)
    if not after.startswith(before):  # a template that rewrites earlier turns: the reply alone
        return action
    return after[len(before):]


def parse_action(setting: Any, text: str) -> str | None:
    """The action in generated ``text``, or None when there is none
    (:meth:`~subliminal_gym.core.setting.Setting.parse_action` of ``setting``, a setting or its name).

    SubliminalFS: the first JSON object with a string ``name``, re-serialised as ``json.dumps`` writes it
    (the format of the suite's own tool calls).
    SubliminalBash: the first non-blank line, without a leading ``$`` prompt or code fence.
    """
    return setting_of(setting).parse_action(text)
