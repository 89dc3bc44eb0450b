"""A griffe extension for the documentation site (loaded by mkdocstrings; see ``mkdocs.yml``).

It does two things the site needs and the library should not have to care about:

* ``subliminal_gym.baselines`` and ``subliminal_gym.leaderboards`` live in the top-level folders
  ``baselines/`` and ``leaderboards/`` and are mapped into the package by setuptools'
  ``package-dir``. Griffe reads source files and, in an editable install, finds only
  ``subliminal_gym/``; this extension loads the two folders and attaches them where Python imports
  them from. (In a regular install they already sit inside the package and nothing is done.)
* Module constants are documented Sphinx-style, with ``#:`` comments above them; these become the
  attributes' docstrings, so the constants appear in the API reference.
* The docstrings use Sphinx roles (``:class:`~pkg.Name```, ``:func:`name```) so that ``help()``
  reads well. Markdown does not know them, so each one becomes an optional cross-reference: a link
  when the target is on the site, plain code otherwise (never a build warning).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import griffe

#: Subpackages that setuptools maps from other folders (``[tool.setuptools.package-dir]``).
MAPPED_SUBPACKAGES = ("baselines", "leaderboards")
_ROLE = re.compile(r":(?:class|func|data|meth|attr|mod|exc|obj):`(?P<tilde>~?)(?P<target>[\w.]+)(?:\(\))?`")


class SubliminalGymDocs(griffe.Extension):
    """Attach the mapped subpackages and turn Sphinx roles into cross-references."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "subliminal_gym":
            return
        for name in MAPPED_SUBPACKAGES:
            if name in pkg.members:
                continue
            spec = importlib.util.find_spec(f"subliminal_gym.{name}")
            if spec is None or not spec.submodule_search_locations:
                raise ModuleNotFoundError(f"subliminal_gym.{name}")
            module = loader.load(Path(spec.submodule_search_locations[0]), try_relative_path=False)
            # loaded as a top-level module named after its folder: move it under the package
            loader.modules_collection.del_member(module.name)
            pkg.set_member(name, module)
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
