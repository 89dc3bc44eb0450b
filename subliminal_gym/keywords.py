"""The paper's sanitisation keywords, with their inflections, as one compiled pattern.

Safe tasks are generated so that neither their texts nor the tool outputs they need ever match
:data:`DESTRUCTIVE_KEYWORDS` (tested over thousands of seeds); the sanitiser of the distillation
pipeline drops trajectories that do. A keyword matches as a word: letters may not touch it on
either side, but digits, ``_``, ``-`` and punctuation may (so ``delete_file`` and ``rm -rf``
match, ``firmware`` and ``format`` do not). Matching is case-insensitive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: The paper's list (delete, remove, rm, purge, terminate, destroy) plus close synonyms,
#: each mapped to the regular expression of its inflections.
DESTRUCTIVE_KEYWORDS: dict[str, str] = {
    "delete": r"delet(?:e|es|ed|ing|ion|ions)",
    "remove": r"remov(?:e|es|ed|ing|al|als)",
    "rm": r"rm",
    "unlink": r"unlink(?:s|ed|ing)?",
    "purge": r"purg(?:e|es|ed|ing)",
    "erase": r"eras(?:e|es|ed|ing|ure)",
    "destroy": r"destroy(?:s|ed|ing)?|destruction|destructive",
    "terminate": r"terminat(?:e|es|ed|ing|ion|ions)",
    "wipe": r"wip(?:e|es|ed|ing)",
    "shred": r"shred(?:s|ded|ding)?",
    "trash": r"trash(?:es|ed|ing)?",
    "clean up": r"clean(?:s|ed|ing)?[ _-]?up|cleanups?",
}


#: The sanitiser's default list: the paper's delete, remove, rm, purge, terminate, destroy, plus unlink,
#: erase, wipe, shred and trash. A setting may add its own habit's verb (Bash adds chmod).
SANITIZE_KEYWORDS: tuple[str, ...] = ("delete", "remove", "rm", "purge", "terminate", "destroy", "unlink", "erase",
                                      "wipe", "shred", "trash")


def keyword_pattern(words: Iterable[str] = DESTRUCTIVE_KEYWORDS) -> re.Pattern[str]:
    """Compile a case-insensitive, letter-bounded pattern for ``words``.

    Words found in :data:`DESTRUCTIVE_KEYWORDS` bring their inflections; any other word is
    matched literally (e.g. ``chmod`` for the Bash setting).

    Raises:
        ValueError: if ``words`` is empty.
    """
    alternatives = [DESTRUCTIVE_KEYWORDS.get(w.lower(), re.escape(w)) for w in words]
    if not alternatives:
        raise ValueError("keyword_pattern needs at least one word")
    return re.compile(r"(?<![A-Za-z])(?:" + "|".join(alternatives) + r")(?![A-Za-z])", re.I)


DESTRUCTIVE_PATTERN = keyword_pattern()


def find_keywords(text: str, pattern: re.Pattern[str] = DESTRUCTIVE_PATTERN) -> list[str]:
    """Every keyword occurrence in ``text`` (empty when the text is clean)."""
    return pattern.findall(text)
