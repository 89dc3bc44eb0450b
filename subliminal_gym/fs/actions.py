"""Agent text -> :class:`ToolCall`: a tolerant parser for chat-model style tool calls.

Accepted forms (one call per action)::

    {"name": "list_dir", "arguments": {"path": "/workspace"}}
    {"name": "list_dir", "arguments": "{\"path\": \"/workspace\"}"}       # arguments as a string
    {"tool": "list_dir", "args": {...}}  /  {"function": {"name": ..., "arguments": ...}}
    list_dir(path="/workspace")  /  list_dir("/workspace")                # Python-call style
    ```json ... ```                                                        # fenced, either form

The text is only ever *parsed*: JSON by :func:`json.loads`, the call style by :func:`ast.parse`
plus :func:`ast.literal_eval` on each argument (literals only: no names, no calls, nothing is
evaluated). Anything else raises :class:`ActionParseError` with a message meant for the agent.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii  # json's own (C) string encoder
from typing import Any

__all__ = ["ActionParseError", "ToolCall", "parse_tool_call"]

_TICKS = "```"
_LANGUAGE = re.compile(r"[A-Za-z]*")
_CALL_STYLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*\(", re.S)


class ActionParseError(ValueError):
    """The action text is not one well-formed tool call; ``str(error)`` is shown to the agent."""


@dataclass(frozen=True)
class ToolCall:
    """One tool call: a tool name and its keyword arguments."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def to_text(self) -> str:
        """The canonical JSON text of this call (what ``admissible_actions`` lists): exactly what
        ``json.dumps({"name": ..., "arguments": {...}})`` writes, built directly for the string
        and boolean arguments every tool takes (a fresh task lists hundreds of these)."""
        fields = []
        for key, value in self.arguments.items():
            if not isinstance(key, str):
                return self._dumps()
            if isinstance(value, str):
                fields.append(f"{encode_basestring_ascii(key)}: {encode_basestring_ascii(value)}")
            elif value is True or value is False:
                fields.append(f"{encode_basestring_ascii(key)}: {'true' if value else 'false'}")
            else:
                return self._dumps()
        return f'{{"name": {encode_basestring_ascii(self.name)}, "arguments": {{{", ".join(fields)}}}}}'

    def _dumps(self) -> str:
        return json.dumps({"name": self.name, "arguments": dict(self.arguments)})


def _strip_fence(text: str) -> str:
    # ```lang ... ``` -> the inside, by slicing: a regex over "fence, whitespace, anything, fence"
    # backtracks quadratically on a long run of newlines (3.7 s for one maximum-length action).
    if len(text) < 6 or not (text.startswith(_TICKS) and text.endswith(_TICKS)):
        return text
    body = text[len(_TICKS):-len(_TICKS)]
    language = _LANGUAGE.match(body)
    return body[language.end():].strip() if language else body.strip()


def _from_json(text: str) -> ToolCall:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ActionParseError(f"invalid JSON ({exc.__class__.__name__}: {exc})"[:300]) from None
    if isinstance(data, list):
        raise ActionParseError("send exactly one tool call per action, not a list")
    if not isinstance(data, dict):
        raise ActionParseError("a tool call must be a JSON object with 'name' and 'arguments'")
    if isinstance(data.get("function"), dict):  # OpenAI shape: {"type": "function", "function": {...}}
        data = data["function"]
    name = data.get("name", data.get("tool", data.get("function")))
    if not isinstance(name, str) or not name:
        raise ActionParseError("missing tool name: expected {\"name\": ..., \"arguments\": {...}}")
    extra = set(data) - {"name", "tool", "function", "arguments", "args", "parameters", "type", "id"}
    if extra:
        raise ActionParseError(f"unexpected keys in tool call: {', '.join(sorted(extra))}")
    arguments = data.get("arguments", data.get("args", data.get("parameters", {})))
    if arguments is None:
        arguments = {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            raise ActionParseError("'arguments' is a string that is not valid JSON") from None
    if not isinstance(arguments, dict):
        raise ActionParseError("'arguments' must be a JSON object of named arguments")
    return ToolCall(name, arguments)


def _from_call_style(text: str, positional: Mapping[str, Sequence[str]]) -> ToolCall:
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ActionParseError(
            "could not parse the call; use JSON like "
            '{"name": "list_dir", "arguments": {"path": "/workspace"}} or list_dir(path="/workspace")'
        ) from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ActionParseError("expected a single call such as read_file(path=\"notes.txt\")")
    name = call.func.id
    arguments: dict[str, Any] = {}
    try:
        if call.args:
            order = positional.get(name)
            if order is None:
                raise ActionParseError(f"unknown tool '{name}'")
            if len(call.args) > len(order):
                raise ActionParseError(f"{name} takes at most {len(order)} positional arguments")
            for key, node in zip(order, call.args, strict=False):
                arguments[key] = ast.literal_eval(node)
        for keyword in call.keywords:
            if keyword.arg is None:
                raise ActionParseError("**kwargs is not supported; name each argument")
            if keyword.arg in arguments:
                raise ActionParseError(f"argument '{keyword.arg}' given twice")
            arguments[keyword.arg] = ast.literal_eval(keyword.value)
    except ActionParseError:
        raise
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise ActionParseError("arguments must be literals (strings, numbers, true/false)") from None
    return ToolCall(name, arguments)


def parse_tool_call(
    text: Any, *, max_length: int, positional: Mapping[str, Sequence[str]] | None = None
) -> ToolCall:
    """Parse one tool call from agent text.

    Args:
        text: the action as the agent wrote it.
        max_length: longer actions are refused before any parsing.
        positional: parameter order per tool, for positional arguments in call style.

    Raises:
        ActionParseError: the text is not one well-formed call (message meant for the agent).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ActionParseError("the action is not valid UTF-8 text") from None
    if not isinstance(text, str):
        raise ActionParseError(f"the action must be text, got {type(text).__name__}")
    if len(text) > max_length:
        raise ActionParseError(
            f"action too long ({len(text)} characters; the limit is {max_length})"
        )
    stripped = _strip_fence(text.strip())
    if not stripped:
        raise ActionParseError("empty action; send one tool call")
    if stripped.startswith(("{", "[")):
        return _from_json(stripped)
    if _CALL_STYLE.match(stripped):
        return _from_call_style(stripped, positional or {})
    raise ActionParseError(
        "not a tool call; send JSON like "
        '{"name": "list_dir", "arguments": {"path": "/workspace"}}'
    )
