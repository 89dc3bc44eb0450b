"""Reading a submission folder: ``submission.json`` checked against the schema, the policy artifacts
checked on disk (no pickles, size limits, shapes that fit the env's view), and the artifact's hash.
A defences-board submission holds a recipe (``defence``) instead of policies
(:mod:`subliminal_gym.leaderboards.defences`).

Nothing in a submission is ever executed or unpickled: weights are read with ``safetensors`` and the
architecture is one of the suite's own, built from a JSON config, or (``transformers``) one that the
installed transformers library ships, never code from the submission (no ``trust_remote_code``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from subliminal_gym.baselines.artifacts import TOKENIZER_FILES, TRANSFORMERS_FILES
from subliminal_gym.leaderboards.schema import is_safe_link, schema_problems

__all__ = [
    "ADAPTER_FILES",
    "MAX_ARTIFACT_BYTES",
    "MAX_SUBMISSION_JSON_BYTES",
    "PICKLE_SUFFIXES",
    "SLOT_SCORING_FILES",
    "SUBMISSION_FILE",
    "TOKENIZER_FILES",
    "TRANSFORMERS_FILES",
    "PolicySpec",
    "Submission",
    "SubmissionError",
    "base_model_sha256",
    "load_submission",
    "policy_files",
]

SUBMISSION_FILE = "submission.json"
MAX_SUBMISSION_JSON_BYTES = 100_000
#: Total size of one policy folder's files.
MAX_ARTIFACT_BYTES = 100 * 1024 * 1024
#: Formats that can run code when loaded; refused with a conversion hint.
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".zip", ".joblib", ".bin", ".ckpt")
_CONVERT_HINT = ("convert it to safetensors: for a SlotScoringPolicy, "
                 "`subliminal_gym.baselines.artifacts.save_policy(policy, FOLDER)` writes model.safetensors + "
                 "config.json (an SB3 .zip: `PPO.load(...).policy` first); for a transformers model, "
                 "`model.save_pretrained(FOLDER, safe_serialization=True)`")

#: What the scorer reads from a policy folder, by kind: only these files are hashed, copied into the
#: entry and loaded (a README, or anything else beside them, is neither). Kept equal to what the
#: loaders read by a test (``save_policy`` and ``save_lm`` write nothing else).
SLOT_SCORING_FILES = ("config.json", "model.safetensors")


#: What a LoRA adapter folder is loaded from (``adapter_config.json``; its weights are ``*.safetensors``).
ADAPTER_FILES = ("adapter_config.json",)


def policy_files(folder: Path, kind: str) -> list[Path]:
    """The files of the policy folder ``folder`` that a ``kind`` policy is loaded from, sorted."""
    if kind == "slot_scoring":
        names = set(SLOT_SCORING_FILES)
    else:
        names = set(TRANSFORMERS_FILES) | set(ADAPTER_FILES) | {p.name for p in folder.glob("*.safetensors")}
    return sorted(folder / name for name in names if (folder / name).is_file() and not (folder / name).is_symlink())


class SubmissionError(ValueError):
    """A submission that cannot be accepted; ``problems`` lists every reason, one message each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class PolicySpec:
    """One env's policy: its kind, its folder (``None`` for the scripted expert) and bias."""

    env_id: str
    kind: str
    folder: Path | None = None
    bias: float | None = None
    base_model: str | None = None
    """A ``transformers`` adapter's base model: its name in the submission."""
    base_folder: Path | None = None
    """Where the scorer holds that base model (``--base-models DIR``/name)."""
    base_sha256: str | None = None
    """:func:`base_model_sha256` of :attr:`base_folder`, hashed once when the submission is loaded."""


@dataclass(frozen=True)
class Submission:
    """A validated submission folder."""

    root: Path
    data: dict[str, Any]
    policies: dict[str, PolicySpec]
    defence: Any = None
    """The :class:`~subliminal_gym.leaderboards.defences.DefenceRecipe` of a defences-board submission."""

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def board(self) -> str:
        return str(self.data["board"])

    @property
    def env_ids(self) -> list[str]:
        return list(self.data["env_ids"])

    def artifact_files(self) -> list[Path]:
        """The files the policies are loaded from (:func:`policy_files`), sorted: what
        :meth:`artifact_sha256` covers and what the scorer copies into the entry."""
        files: list[Path] = []
        for spec in self.policies.values():
            if spec.folder is not None:
                files += policy_files(spec.folder, spec.kind)
        return files

    @property
    def settings(self) -> list[str]:
        """The setting names of :attr:`env_ids`, in the suite's order."""
        from subliminal_gym.settings import SETTINGS

        return [name for name, setting in SETTINGS.items() if setting.env_id in self.env_ids]

    def artifact_sha256(self) -> str:
        """SHA-256 over what is loaded: each env's spec, then each loaded file's name and bytes (so a
        renamed folder or an extra README does not make a copy of an entry look new); for a defence,
        over its recipe (defaults filled in) and its envs."""
        digest = hashlib.sha256()
        if self.defence is not None:
            digest.update(json.dumps([self.defence.sha256(), sorted(self.env_ids)]).encode())
            return digest.hexdigest()
        for env_id in sorted(self.policies):
            spec = self.policies[env_id]
            identity: list[Any] = [env_id, spec.kind, spec.bias]
            if spec.base_sha256 is not None:  # an adapter is new when its base's bytes are, whatever its name
                identity.append(spec.base_sha256)
            digest.update(json.dumps(identity, sort_keys=True).encode())
            if spec.folder is not None:
                for path in policy_files(spec.folder, spec.kind):
                    digest.update(path.name.encode() + b"\0")
                    digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()


def _read_json(path: Path) -> tuple[Any, list[str]]:
    if path.is_symlink():
        return None, [f"{path.name} is a link; it must be a file in the submission folder"]
    if not path.is_file():
        return None, [f"{path.name} is missing (every submission folder needs one)"]
    size = path.stat().st_size
    if size > MAX_SUBMISSION_JSON_BYTES:
        return None, [f"{path.name} is {size:,} bytes; the limit is {MAX_SUBMISSION_JSON_BYTES:,}"]
    try:
        return json.loads(path.read_text(encoding="utf-8")), []
    except UnicodeDecodeError:
        return None, [f"{path.name} is not UTF-8 text"]
    except json.JSONDecodeError as exc:
        return None, [f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]
    except RecursionError:
        return None, [f"{path.name} is nested too deeply"]


def _policy_folder(root: Path, env_id: str, relative: str) -> tuple[Path | None, list[str]]:
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts or relative.startswith("~"):
        return None, [f"policies.{env_id}.path {relative!r} must be a folder inside the submission"]
    folder = root / pure
    try:
        inside = folder.resolve().is_relative_to(root.resolve())
    except OSError as exc:
        return None, [f"policies.{env_id}.path {relative!r}: {exc}"]
    if not inside:
        return None, [f"policies.{env_id}.path {relative!r} leaves the submission folder (a link?)"]
    if not folder.is_dir():
        return None, [f"policies.{env_id}.path {relative!r}: no such folder in the submission"]
    return folder, []


def _artifact_problems(folder: Path, env_id: str) -> list[str]:
    problems = []
    files = sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())
    for path in files:
        if path.is_symlink():
            problems.append(f"{path.relative_to(folder)}: links are not accepted in a policy folder")
        elif path.suffix.lower() in PICKLE_SUFFIXES:
            problems.append(f"{folder.name}/{path.relative_to(folder)}: {path.suffix} files are pickles, which can "
                            f"run code when loaded, and are refused; {_CONVERT_HINT}")
    total = sum(p.stat().st_size for p in files if p.is_file() and not p.is_symlink())
    if total > MAX_ARTIFACT_BYTES:
        problems.append(f"policies.{env_id}: the folder holds {total / 2**20:.1f} MiB; the limit is "
                        f"{MAX_ARTIFACT_BYTES / 2**20:.0f} MiB")
    return problems


def _slot_scoring_problems(folder: Path, env_id: str) -> list[str]:
    from subliminal_gym.baselines.artifacts import MODEL_CONFIG, MODEL_WEIGHTS, ArtifactError, load_policy, read_json
    from subliminal_gym.views import ViewLayout, make_view_env

    missing = [name for name in (MODEL_WEIGHTS, MODEL_CONFIG) if not (folder / name).is_file()]
    if missing:
        return [f"policies.{env_id}: {folder.name}/ lacks {' and '.join(missing)} (save it with save_policy)"]
    view = make_view_env(env_id)
    expected = view.layout
    view.close()
    # The layout is compared with the env's before the model is built: a config is input, and one that
    # declares a billion buckets must be refused, not allocated.
    try:
        config = read_json(folder / MODEL_CONFIG)
        layout = ViewLayout.from_dict(config["layout"])
    except (ArtifactError, ValueError, KeyError, TypeError) as exc:
        return [f"policies.{env_id}: {folder.name}/{MODEL_CONFIG} has no valid layout: "
                f"{_one_line(str(exc) or type(exc).__name__, folder)}"]
    # a model trained before the relation features existed keeps its view (it reads its own layout)
    if layout not in (expected, dataclasses.replace(expected, relations=False)):
        return [f"policies.{env_id}: the model was built for a view with obs_dim {layout.obs_dim} and "
                f"{layout.max_actions} slots, but {env_id}'s view has obs_dim {expected.obs_dim} and "
                f"{expected.max_actions} slots (mismatched architecture shapes)"]
    try:
        _, meta = load_policy(folder)
    except (ArtifactError, ValueError, KeyError, TypeError) as exc:
        return [f"policies.{env_id}: {folder.name}/ does not load as a SlotScoringPolicy: "
                f"{_one_line(str(exc), folder)}"]
    if meta.get("env_id") not in (None, env_id):
        return [f"policies.{env_id}: the model records env {meta['env_id']!r}"]
    return []


def _one_line(text: str, folder: Path, limit: int = 300) -> str:
    """A loader's message as one short line, without the folder's path (the caller names it)."""
    for long, short in ((f"{folder}: ", ""), (f"{folder}/", f"{folder.name}/"), (f"{folder}", f"{folder.name}/")):
        text = text.replace(long, short)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _transformers_problems(folder: Path, env_id: str, base_folder: Path | None = None) -> list[str]:
    adapter = (folder / ADAPTER_FILES[0]).is_file()
    if adapter and base_folder is None:
        return [f"policies.{env_id}: {folder.name}/ holds a LoRA adapter; name the base model it applies to "
                "(\"base_model\": NAME)"]
    if base_folder is not None and not adapter:
        return [f"policies.{env_id}: base_model is set, but {folder.name}/ holds no adapter ({ADAPTER_FILES[0]})"]
    if base_folder is not None:
        return _adapter_problems(folder, env_id, base_folder)
    problems = []
    if not (folder / "config.json").is_file():
        problems.append(f"policies.{env_id}: {folder.name}/ lacks config.json (a transformers model folder)")
    if not any(folder.glob("*.safetensors")):
        problems.append(f"policies.{env_id}: {folder.name}/ has no .safetensors weights")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        problems.append(f"policies.{env_id}: {folder.name}/ has no tokenizer ({', '.join(TOKENIZER_FILES)}); "
                        "save it beside the model with `tokenizer.save_pretrained(FOLDER)`")
    if problems:
        return problems
    try:
        from subliminal_gym.baselines.lm import load_lm
    except ImportError as exc:
        return [f"policies.{env_id}: transformers policies need the lm extra (pip install 'subliminal-gym[lm]'): "
                f"{exc}"]
    from subliminal_gym.baselines.artifacts import ArtifactError

    try:
        model, tokenizer = load_lm(folder)
    except ArtifactError as exc:  # load_lm turns whatever transformers raised into one line
        return [f"policies.{env_id}: {folder.name}/ does not load as a transformers causal LM with its tokenizer: "
                f"{_one_line(str(exc) or type(exc).__name__, folder)}"]
    embeddings = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > embeddings:
        return [f"policies.{env_id}: {folder.name}/'s tokenizer has {len(tokenizer)} tokens but the model embeds only "
                f"{embeddings} (mismatched tokenizer and model)"]
    return []


def base_model_sha256(folder: Path) -> str:
    """SHA-256 over a base model folder's loaded files (names and bytes): what an adapter entry records of its
    base, so that two scorers holding different bytes under one name do not look alike."""
    digest = hashlib.sha256()
    for path in policy_files(folder, "transformers"):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _base_folder(env_id: str, name: str, base_models: Path | None) -> tuple[Path | None, list[str]]:
    """The scorer's folder of the base model ``name``."""
    if base_models is None:
        return None, [f"policies.{env_id}.base_model: the adapter applies to base model {name!r}; validate and "
                      f"score it with --base-models DIR, a folder that holds {name}/"]
    folder = Path(base_models) / name
    if not folder.is_dir() or not folder.resolve().is_relative_to(Path(base_models).resolve()):
        return None, [f"policies.{env_id}.base_model: no base model {name!r} here ({folder} is not a folder); the "
                      "scorer holds only the base models under --base-models"]
    return folder, []


def _adapter_problems(folder: Path, env_id: str, base_folder: Path) -> list[str]:
    try:
        from subliminal_gym.baselines.lm.lora import load_adapter
    except ImportError as exc:
        return [f"policies.{env_id}: adapters need the lm extra (pip install 'subliminal-gym[lm]'): {exc}"]
    from subliminal_gym.baselines.artifacts import ArtifactError

    try:
        load_adapter(folder, base_folder)
    except ArtifactError as exc:  # every check of the adapter against its base, as one line
        return [f"policies.{env_id}: {folder.name}/ does not load as a LoRA adapter over {base_folder.name}: "
                f"{_one_line(str(exc) or type(exc).__name__, folder)}"]
    return []


def load_submission(path: str | Path, *, base_models: str | Path | None = None) -> Submission:
    """Validate the submission folder ``path`` completely.

    ``base_models``: the scorer's folder of base models (``NAME/`` each), for ``transformers`` policies
    that are LoRA adapters over one (``"base_model": NAME``).

    Raises:
        SubmissionError: with one message per problem found (all of them, not just the first).
    """
    root = Path(path)
    if not root.is_dir():
        raise SubmissionError([f"{root}: not a folder (a submission is a folder with {SUBMISSION_FILE})"])
    data, problems = _read_json(root / SUBMISSION_FILE)
    if problems:
        raise SubmissionError(problems)
    problems = schema_problems(data)
    if problems:
        raise SubmissionError(problems)
    if data["link"] and not is_safe_link(data["link"]):
        raise SubmissionError(["link: must be one http(s) URL without spaces, quotes or brackets, or ''"])
    from subliminal_gym.leaderboards.boards import BOARDS

    board = BOARDS[data["board"]]
    env_ids = list(data["env_ids"])
    problems += [f"env_ids: board {board.name!r} takes {', '.join(board.env_ids)}, not {e}"
                 for e in env_ids if e not in board.env_ids]
    if board.name == "defences":
        return _defence_submission(root, data, problems)
    if "defence" in data:
        problems.append("defence: only the defences board takes a recipe; the agents board takes policies")
    if set(data["policies"]) != set(env_ids):
        problems.append(f"policies: needs exactly one entry per env id of env_ids ({', '.join(env_ids)}); "
                        f"got {', '.join(sorted(data['policies']))}")
    policies: dict[str, PolicySpec] = {}
    for env_id, raw in sorted(data["policies"].items()):
        kind = raw["kind"]
        if kind not in board.policy_kinds:
            problems.append(f"policies.{env_id}: board {board.name!r} takes {', '.join(board.policy_kinds)} "
                            f"policies, not {kind}")
            continue
        if kind == "scripted":
            policies[env_id] = PolicySpec(env_id, kind, bias=float(raw["bias"]))
            continue
        folder, found = _policy_folder(root, env_id, raw["path"])
        problems += found
        if folder is None:
            continue
        base_name = raw.get("base_model")
        base_folder = None
        if base_name is not None:
            if kind != "transformers":
                problems.append(f"policies.{env_id}.base_model: only transformers policies are adapters over a base")
                continue
            base_folder, found = _base_folder(env_id, base_name, None if base_models is None else Path(base_models))
            problems += found
            if base_folder is None:
                continue
        found = _artifact_problems(folder, env_id)
        if not found:
            found = (_slot_scoring_problems(folder, env_id) if kind == "slot_scoring" else
                     _transformers_problems(folder, env_id, base_folder))
        problems += found
        policies[env_id] = PolicySpec(env_id, kind, folder=folder, base_model=base_name, base_folder=base_folder,
                                      base_sha256=(base_model_sha256(base_folder)
                                                   if base_folder is not None and not found else None))
    if problems:
        raise SubmissionError(problems)
    return Submission(root=root, data=data, policies=policies)


def _defence_submission(root: Path, data: dict[str, Any], problems: list[str]) -> Submission:
    from subliminal_gym.leaderboards.defences import DefenceRecipe

    if "policies" in data:
        problems.append("policies: the defences board scores a recipe ('defence'), not trained policies: one model "
                        "is one training run, so the board trains its own, on seeds drawn when it scores")
    recipe = DefenceRecipe.from_json(data["defence"])
    if recipe.distiller in ("gail", "airl") and data["env_ids"] != ["SubliminalFS-v0"]:
        problems.append(f"defence.distiller: {recipe.distiller} learns from the FS env's task reward; its env_ids "
                        "must be ['SubliminalFS-v0']")
    if problems:
        raise SubmissionError(problems)
    return Submission(root=root, data=data, policies={}, defence=recipe)
