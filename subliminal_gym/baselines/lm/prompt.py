"""What a language-model agent reads and how its text becomes one action.

An episode is a chat: a system message with the environment's context (the tool schema for
SubliminalFS, the shell's commands and working directory for SubliminalBash), the task as the
first user message, then one assistant message per action and one user message per observation.
:func:`render_prompt` turns it into the model's input with the tokenizer's chat template when it
has one (the tiny models here ship :data:`TINY_CHAT_TEMPLATE`), or with :func:`plain_transcript`
otherwise. Observations longer than ``max_observation_chars`` are cut, and the oldest turns are
dropped when the prompt would not fit the model (the system message and the task always stay).

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
    "episode_messages",
    "parse_action",
    "plain_transcript",
    "render_prompt",
    "system_message",
]

Message = dict[str, str]

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


def episode_messages(setting: Any, info: dict[str, Any], task: str, actions: Sequence[str],
                     observations: Sequence[str], *, max_observation_chars: int = 600) -> list[Message]:
    """The chat of an episode so far: context, task, then each action and the observation it got.

    ``observations[k]`` is what action ``k`` returned; the chat ends with a user message when
    ``len(observations) == len(actions)`` (the model's turn) and with the last action otherwise.

    Raises:
        ValueError: more observations than actions.
    """
    if len(observations) > len(actions):
        raise ValueError(f"{len(observations)} observations for {len(actions)} actions")
    messages = [{"role": "system", "content": system_message(setting, info)}, {"role": "user", "content": task}]
    for k, action in enumerate(actions):
        messages.append({"role": "assistant", "content": action})
        if k < len(observations):
            messages.append({"role": "user", "content": _cut(observations[k], max_observation_chars) or "(no output)"})
    return messages


def plain_transcript(messages: Sequence[Message], *, add_generation_prompt: bool) -> str:
    """A chat as plain text, for models without a chat template."""
    labels = {"system": "", "user": "User: ", "assistant": "Assistant: "}
    lines = [labels[m["role"]] + m["content"] for m in messages]
    return "\n\n".join(lines) + ("\n\nAssistant: " if add_generation_prompt else "")


def _render(tokenizer: Any, messages: Sequence[Message], *, add_generation_prompt: bool) -> str:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(messages), tokenize=False,
                                             add_generation_prompt=add_generation_prompt)
    return plain_transcript(messages, add_generation_prompt=add_generation_prompt)


def render_prompt(tokenizer: Any, messages: Sequence[Message], *, max_tokens: int | None = None) -> str:
    """The model input for the next action: the chat with the generation prompt.

    When ``max_tokens`` is given and the prompt is longer, the oldest action/observation pairs are
    dropped (the system message and the task stay) until it fits or none are left. The pairs to
    drop are first estimated from per-message token counts, so one more pair than strictly needed
    may go.
    """
    messages = list(messages)
    text = _render(tokenizer, messages, add_generation_prompt=True)
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
        excess -= sum(_count(tokenizer, m["content"]) for m in pair)
        drop += 1
    while True:
        kept = messages[:2] + messages[2 + 2 * drop:]
        text = _render(tokenizer, kept, add_generation_prompt=True)
        if len(kept) <= 3 or _count(tokenizer, text) <= max_tokens:
            return text
        drop += 1


def _count(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def assistant_spans(tokenizer: Any, messages: Sequence[Message]) -> tuple[str, list[tuple[int, int]]]:
    """The whole chat as text and the character spans of each assistant reply in it (for training).

    A span covers what the model generates at that turn: the reply and the template's end-of-turn
    text (up to the next message), so the model also learns to stop.
    """
    spans = []
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(_render(tokenizer, messages[:k], add_generation_prompt=True))
        end = len(_render(tokenizer, messages[: k + 1], add_generation_prompt=False))
        spans.append((start, end))
    return _render(tokenizer, messages, add_generation_prompt=False), spans


def parse_action(setting: Any, text: str) -> str | None:
    """The action in generated ``text``, or None when there is none
    (:meth:`~subliminal_gym.core.setting.Setting.parse_action` of ``setting``, a setting or its name).

    SubliminalFS: the first JSON object with a string ``name``, re-serialised as ``json.dumps`` writes it
    (the format of the suite's own tool calls).
    SubliminalBash: the first non-blank line, without a leading ``$`` prompt or code fence.
    """
    return setting_of(setting).parse_action(text)
