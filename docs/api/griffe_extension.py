"""A griffe extension for the documentation site (loaded by mkdocstrings; see ``mkdocs.yml``).

It does two things the site needs and the library should not have to care about:

* Module constants are documented Sphinx-style, with ``#:`` comments above them; these become the
  attributes' docstrings, so the constants appear in the API reference.
* The docstrings use Sphinx roles (``:class:`~pkg.Name```, ``:func:`name```) so that ``help()``
  reads well. Markdown does not know them, so each one becomes an optional cross-reference: a link
  when the target is on the site, plain code otherwise (never a build warning).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|data|meth|attr|mod|exc|obj):`(?P<tilde>~?)(?P<target>[\w.]+)(?:\(\))?`")


class SubliminalGymDocs(griffe.Extension):
    """Give ``#:`` constants their docstrings and turn Sphinx roles into cross-references."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "subliminal_gym":
            return
        for obj in _walk(pkg):
            if obj.is_attribute and obj.docstring is None:
                _comment_docstring(obj)
            if obj.docstring is not None:
                obj.docstring.value = _ROLE.sub(lambda match, scope=obj: _autoref(match, scope), obj.docstring.value)


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found += _walk(member)
    return found


def _comment_docstring(attribute: griffe.Object) -> None:
    """Give ``attribute`` the ``#:`` comment lines right above its definition as its docstring."""
    lines = attribute.module.lines
    comment: list[str] = []
    index = (attribute.lineno or 0) - 2  # the line above, 0-based
    while 0 <= index < len(lines) and lines[index].strip().startswith("#:"):
        comment.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    if comment:
        attribute.docstring = griffe.Docstring("\n".join(comment), lineno=index + 2, parent=attribute)


def _autoref(match: re.Match[str], scope: griffe.Object) -> str:
    target = match["target"]
    head, _, rest = target.partition(".")
    try:
        # resolve the first name where the docstring sits (imports included), keep the rest
        identifier = scope.resolve(head) + (f".{rest}" if rest else "")
    except griffe.NameResolutionError:
        identifier = target
    title = target.rsplit(".", 1)[-1] if match["tilde"] else target
    return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'
