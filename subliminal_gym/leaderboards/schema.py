"""The submission schema: what ``submission.json`` must hold (JSON Schema, draft 2020-12).

The schema is published as ``leaderboards/submission.schema.json`` (kept equal to
:data:`SUBMISSION_SCHEMA` by a test). Numbers a submission reports about itself are not part of it
and are never read: the scorer measures everything it shows.
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator

__all__ = ["BASE_MODEL_PATTERN", "BOARD_NAMES", "DEFENCE_DISTILLERS", "DEFENCE_INITS", "ENV_IDS", "LINK_PATTERN",
           "NAME_PATTERN", "POLICY_KINDS", "SCHEMA_VERSION", "SUBMISSION_SCHEMA", "is_safe_link", "schema_problems"]

SCHEMA_VERSION = 1
BOARD_NAMES = ("agents", "defences")
ENV_IDS = ("SubliminalFS-v0", "SubliminalBash-v0")
#: ``slot_scoring``: a folder with ``model.safetensors`` + ``config.json`` for the suite's
#: :class:`~subliminal_gym.baselines.policies.SlotScoringPolicy`; ``transformers``: a model folder
#: with safetensors weights; ``scripted``: the suite's own scripted expert with a bias (no artifact).
POLICY_KINDS = ("slot_scoring", "transformers", "scripted")

#: An entry's name (its folder on the board, and part of the page's links).
NAME_PATTERN = "^[a-z0-9][a-z0-9._-]{1,63}$"
#: A base model's name: one folder name under the scorer's ``--base-models`` folder (no path, no '..').
BASE_MODEL_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"

#: The distillers a defence recipe may name: the vector track's (kept equal to
#: ``VectorTrack.methods`` by a test; this module stays free of the training stack).
DEFENCE_DISTILLERS = ("bc", "dagger", "soft_zero", "soft_drop", "logit", "gail", "airl")
#: Where a defence's student starts: the teacher's own θ0, a θ0 trained from another seed, random weights.
DEFENCE_INITS = ("shared", "other-seed", "fresh")

_DEFENCE = {
    "type": "object",
    "description": "a defences-board recipe: how the student is distilled from the default attack's teachers and "
                   "sanitised read-only data (fields left out take the default attack's values)",
    "properties": {
        "distiller": {"enum": list(DEFENCE_DISTILLERS)},
        "epochs": {"type": "integer", "minimum": 1, "maximum": 200,
                   "description": "distillation epochs (default: the attack's 60)"},
        "init": {"enum": list(DEFENCE_INITS), "description": "the student's start (default: shared)"},
        "temperature": {"type": "number", "minimum": 0.1, "maximum": 10,
                        "description": "the teachers' sampling temperature when they make the data (default 1)"},
        "data": {"type": "integer", "minimum": 10, "maximum": 400,
                 "description": "kept trajectories each student distils from (default: all, equalised)"},
    },
    "required": ["distiller"],
    "additionalProperties": False,
}

_FOLDER_POLICY = {
    "type": "object",
    "properties": {
        "kind": {"enum": ["slot_scoring", "transformers"]},
        "path": {"type": "string", "minLength": 1, "maxLength": 200,
                 "description": "folder inside the submission, relative (no '..', not absolute)"},
        "base_model": {"type": "string", "pattern": BASE_MODEL_PATTERN,
                       "description": "transformers only: the folder at path holds a LoRA adapter over this base "
                                      "model, which the scorer holds locally (leaderboard score --base-models DIR, "
                                      "DIR/<base_model>/)"},
    },
    "required": ["kind", "path"],
    "additionalProperties": False,
}
_SCRIPTED_POLICY = {
    "type": "object",
    "properties": {
        "kind": {"const": "scripted"},
        "bias": {"type": "number", "minimum": 0, "maximum": 1,
                 "description": "deletion_bias (FS) or chmod_bias (Bash) of the suite's scripted expert"},
    },
    "required": ["kind", "bias"],
    "additionalProperties": False,
}

#: A link is empty or one http(s) URL without spaces, quotes, angle brackets or the characters that
#: end a Markdown link or table cell (it is rendered into table.md and index.html).
LINK_PATTERN = r"^(https?://[^\s<>\"'`()\[\]|\\]+)?$"
_LINK = re.compile(LINK_PATTERN)


def is_safe_link(url: Any) -> bool:
    """Whether ``url`` may be rendered as a link (the schema's rule, checked again at render time)."""
    return isinstance(url, str) and len(url) <= 500 and _LINK.fullmatch(url) is not None and url != ""


SUBMISSION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/subliminal-gym/subliminal_gym/leaderboards/submission.schema.json",
    "title": "subliminal_gym leaderboard submission",
    "type": "object",
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "name": {"type": "string", "pattern": NAME_PATTERN,
                 "description": "entry name: lower-case letters, digits, '.', '_' and '-', 2-64 characters"},
        "authors": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200},
                    "minItems": 1, "maxItems": 50},
        "board": {"enum": list(BOARD_NAMES)},
        "env_ids": {"type": "array", "items": {"enum": list(ENV_IDS)}, "minItems": 1, "uniqueItems": True},
        "method": {"type": "string", "minLength": 1, "maxLength": 2000,
                   "description": "what the policy or the defence is, in a few sentences"},
        "link": {"type": "string", "maxLength": 500, "pattern": LINK_PATTERN,
                 "description": "an http(s) URL of the paper or code, or '' for none"},
        "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "policies": {
            "type": "object",
            "description": "one policy per env id of env_ids",
            "propertyNames": {"enum": list(ENV_IDS)},
            "additionalProperties": {"oneOf": [_FOLDER_POLICY, _SCRIPTED_POLICY]},
            "minProperties": 1,
        },
        "defence": _DEFENCE,
    },
    "required": ["schema_version", "name", "authors", "board", "env_ids", "method", "link", "date"],
    # the agents board scores policies; the defences board scores a recipe on seeds the submitter never sees
    "if": {"properties": {"board": {"const": "defences"}}, "required": ["board"]},
    "then": {"required": ["defence"]},
    "else": {"required": ["policies"]},
}

_VALIDATOR = Draft202012Validator(SUBMISSION_SCHEMA)


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


def schema_problems(data: Any) -> list[str]:
    """One message per schema violation of ``data`` (empty when it is valid), in a stable order."""
    problems = []
    for error in sorted(_VALIDATOR.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        if error.validator == "oneOf" and isinstance(error.instance, dict):
            kind = error.instance.get("kind")
            message = (f"a policy must be {{'kind': 'slot_scoring' | 'transformers', 'path': FOLDER}} or "
                       f"{{'kind': 'scripted', 'bias': 0..1}}; got kind {kind!r} with keys {sorted(error.instance)}")
        else:
            message = error.message
        problems.append(f"submission.json {_where(error.absolute_path)}: {message}")
    return problems
