"""Files the pipeline writes: run folders, atomic writes, and models as safetensors + JSON.

This is one of the few modules allowed to touch the host's disk (see ``tests/test_source_safety.py``):
episodes never do; the pipeline saves what it produced here, always through a temporary file in the
same folder and an atomic rename, so an interrupted write never leaves a half-written file and never
replaces a good one. Nothing is ever unpickled: models are safetensors weights plus a JSON config.

Importing this module does not import torch (the evaluator and the leaderboards' validator use its
file helpers): the model functions import it when called.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from subliminal_gym.views import ViewLayout

if TYPE_CHECKING:
    from subliminal_gym.baselines.policies import SlotScoringPolicy

__all__ = [
    "MODEL_CONFIG",
    "MODEL_WEIGHTS",
    "TOKENIZER_FILES",
    "TOKENIZER_SIDE_FILES",
    "TRANSFORMERS_FILES",
    "ArtifactError",
    "source_commit",
    "atomic_folder",
    "atomic_path",
    "clone_policy",
    "library_versions",
    "load_policy",
    "nonfinite_weights",
    "prepare_output",
    "read_json",
    "read_json_object",
    "safetensors_shapes",
    "save_policy",
    "shape_problems",
    "write_json",
    "write_text",
]

#: A transformers model folder needs one of these to have a tokenizer (fast, SentencePiece, BPE or WordPiece).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt")
#: Every file a transformers model folder is loaded from, besides its ``*.safetensors`` weights: what the
#: LM loader bounds and what the leaderboard copies and hashes (defined here, torch-free, for both).
TRANSFORMERS_FILES = ("config.json", "generation_config.json", "model.safetensors.index.json", *TOKENIZER_FILES,
                      "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                      "chat_template.jinja", "chat_template.json")
#: The tokenizer's share of :data:`TRANSFORMERS_FILES` (its total size is bounded).
TOKENIZER_SIDE_FILES = TRANSFORMERS_FILES[3:]
MODEL_WEIGHTS = "model.safetensors"
MODEL_CONFIG = "config.json"
MODEL_FORMAT = "subliminal_gym.slot_scoring_policy/1"


class ArtifactError(Exception):
    """A file the pipeline reads or writes is missing, malformed or would be overwritten."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """A temporary path next to ``destination``; renamed onto it only if the block succeeds."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp creates the file private (0600); give it the permissions a plain open() would
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def atomic_folder(directory: str | Path, *, force: bool = False) -> Iterator[Path]:
    """A temporary folder beside ``directory``, put in its place only if the block succeeds (an existing
    folder is replaced whole, so an interrupted save never leaves half a model); its files get 0644.

    Raises:
        ArtifactError: ``directory`` exists and is not empty, and ``force`` is not set.
    """
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not force:
        raise ArtifactError(f"{directory} is not empty (pass force=True to overwrite)")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        yield staging
        for path in staging.iterdir():
            path.chmod(0o644)
        staging.chmod(0o755)
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
            os.replace(directory, old / "previous")
            os.replace(staging, directory)
            _remove_tree(old)
        else:
            os.replace(staging, directory)
    except BaseException:
        _remove_tree(staging)
        raise


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        child.rmdir() if child.is_dir() and not child.is_symlink() else child.unlink()
    path.rmdir()


def _atomic_write(destination: str | Path, write: Callable[[IO[str]], None]) -> Path:
    with atomic_path(destination) as temporary:
        with temporary.open("w", encoding="utf-8") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(destination)


def write_text(destination: str | Path, text: str) -> Path:
    """Write ``text`` atomically."""

    def write(handle: IO[str]) -> None:
        handle.write(text)

    return _atomic_write(destination, write)


def write_json(destination: str | Path, data: Any) -> Path:
    """Write ``data`` as indented, key-sorted JSON atomically (byte-identical for equal data)."""
    return write_text(destination, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    """Parse a JSON file.

    Raises:
        ArtifactError: the file is missing, unreadable or not JSON.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise ArtifactError(f"{path}: JSON nested too deeply") from None


def read_json_object(path: str | Path, *, max_bytes: int) -> dict[str, Any]:
    """Parse a JSON file that must hold one object, refusing it unread above ``max_bytes`` (a config is input).

    Raises:
        ArtifactError: the file is too large, missing, unreadable, not JSON or not an object.
    """
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    if size > max_bytes:
        raise ArtifactError(f"{path}: {size:,} bytes; a config is refused above {max_bytes:,}")
    data = read_json(path)
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: not a JSON object")
    return data


def safetensors_shapes(paths: Iterable[str | Path]) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in the safetensors files ``paths``, read from their headers only
    (nothing is allocated, so a model's declared sizes can be checked before anything is built).

    Raises:
        ArtifactError: a file is not readable safetensors, or two files hold the same tensor name.
    """
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for path in paths:
        try:
            with safe_open(str(path), framework="numpy") as handle:
                for name in handle.keys():
                    if name in shapes:
                        raise ArtifactError(f"{path}: tensor {name!r} appears in two weight files")
                    shapes[name] = tuple(int(n) for n in handle.get_slice(name).get_shape())
        except ArtifactError:
            raise
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            text = " ".join(str(exc).split())[:200]
            raise ArtifactError(f"{path}: not a readable safetensors file ({text})") from None
    return shapes


def shape_problems(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]) -> str | None:
    """One line saying how the weights ``found`` differ from the ``expected`` names and shapes, or None."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    wrong = sorted(name for name in set(expected) & set(found) if expected[name] != found[name])
    parts = []
    if missing:
        parts.append(f"{len(missing)} weight(s) missing (e.g. {missing[0]})")
    if extra:
        parts.append(f"{len(extra)} unexpected weight(s) (e.g. {extra[0]})")
    if wrong:
        name = wrong[0]
        parts.append(f"{len(wrong)} weight(s) of the wrong shape (e.g. {name}: {list(found[name])}, "
                     f"the config needs {list(expected[name])})")
    return "; ".join(parts) or None


def nonfinite_weights(tensors: Iterable[tuple[str, Any]]) -> list[str]:
    """Names of the (torch) tensors holding a NaN or an infinity."""
    import torch

    return [name for name, tensor in tensors
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]


def prepare_output(path: str | Path, *, force: bool = False) -> Path:
    """Check that ``path`` (a file or a run folder) may be written.

    Raises:
        ArtifactError: it exists (a non-empty folder, or a file) and ``force`` is not set.
    """
    path = Path(path)
    if path.exists() and not force and (path.is_file() or any(path.iterdir())):
        raise ArtifactError(f"{path} already exists; pass --force to overwrite it")
    return path


def source_commit(start: str | Path | None = None) -> str | None:
    """The commit checked out in the git work tree holding ``start`` (default: this package), read from
    ``.git`` (``HEAD``, the branch's ref or ``packed-refs``); None outside a git checkout. Uncommitted
    changes are not detected: a run records the commit it started from."""
    here = Path(start or __file__).resolve()
    for folder in (here, *here.parents):
        git = folder / ".git"
        if git.is_dir():
            break
    else:
        return None
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head or None
        ref = head.removeprefix("ref: ")
        if (git / ref).is_file():
            return (git / ref).read_text(encoding="utf-8").strip() or None
        packed = (git / "packed-refs").read_text(encoding="utf-8") if (git / "packed-refs").is_file() else ""
    except OSError:
        return None
    for line in packed.splitlines():
        digest, _, name = line.partition(" ")
        if name == ref:
            return digest
    return None


def library_versions() -> dict[str, str]:
    """Python and the versions of the libraries a result depends on (recorded in every run folder)."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in ("subliminal-gym", "gymnasium", "numpy", "torch", "stable-baselines3", "imitation", "pyfakefs",
                 "safetensors"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def save_policy(policy: SlotScoringPolicy, directory: str | Path, *, meta: dict[str, Any] | None = None,
                force: bool = False) -> Path:
    """Save ``policy`` as ``model.safetensors`` + ``config.json`` in ``directory``.

    ``meta`` (e.g. the env id, how it was trained) is stored in the config under "metadata".

    Raises:
        ArtifactError: ``directory`` holds a model already and ``force`` is not set.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    if (directory / MODEL_WEIGHTS).exists() and not force:
        raise ArtifactError(f"{directory} already holds a model; pass --force to overwrite it")
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in policy.state_dict().items()}
    with atomic_path(directory / MODEL_WEIGHTS) as temporary:
        save_file(tensors, str(temporary), metadata={"format": MODEL_FORMAT})
    write_json(directory / MODEL_CONFIG, {
        "format": MODEL_FORMAT, "layout": policy.layout.to_dict(), "arch": policy.arch.to_dict(),
        "metadata": meta or {},
    })
    return directory


def load_policy(directory: str | Path) -> tuple[SlotScoringPolicy, dict[str, Any]]:
    """Load a policy saved by :func:`save_policy`; returns it (in eval mode) and its metadata.

    Raises:
        ArtifactError: a file is missing, the config is malformed, or the weights do not fit it.
    """
    from safetensors.torch import load_file

    from subliminal_gym.baselines.policies import PolicyArch, build_policy, parameter_shapes

    directory = Path(directory)
    config = read_json(directory / MODEL_CONFIG)
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise ArtifactError(f"{directory / MODEL_CONFIG}: not a {MODEL_FORMAT} config")
    try:
        layout = ViewLayout.from_dict(config["layout"])
        arch = PolicyArch.from_dict(config["arch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{directory / MODEL_CONFIG}: malformed layout or arch ({exc})") from None
    weights = directory / MODEL_WEIGHTS
    if not weights.is_file():
        raise ArtifactError(f"{weights}: no such file")
    # The sizes a config declares are checked against the file's header before anything is built, so a
    # config that asks for gigabytes is refused in milliseconds instead of allocated.
    mismatch = shape_problems(parameter_shapes(layout, arch), safetensors_shapes([weights]))
    if mismatch:
        raise ArtifactError(f"{weights}: weights do not match the config: {mismatch}")
    try:
        tensors = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ArtifactError(f"{weights}: not a readable safetensors file ({exc})") from None
    bad = nonfinite_weights(tensors.items())
    if bad:
        raise ArtifactError(f"{weights}: {len(bad)} weight tensor(s) hold NaN or infinite values (e.g. {bad[0]})")
    policy = build_policy(layout, arch, seed=0, initialise=False)  # every weight is loaded next
    try:
        policy.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(f"{weights}: weights do not match the config ({str(exc)[:300]})") from None
    policy.set_training_mode(False)
    return policy, dict(config.get("metadata", {}))


def clone_policy(policy: SlotScoringPolicy) -> SlotScoringPolicy:
    """An independent copy with the same weights (a student's shared initialisation)."""
    from subliminal_gym.baselines.policies import build_policy

    copy = build_policy(policy.layout, policy.arch, seed=0, initialise=False)  # every weight is copied next
    copy.load_state_dict({k: v.clone() for k, v in policy.state_dict().items()})
    return copy

