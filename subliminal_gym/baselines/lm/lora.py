"""LoRA adapters (peft) over a local base model: how a real checkpoint becomes θ0, a teacher or a student.

The paper fine-tunes Llama and Qwen models with LoRA (rank 16). Here every stage of the recipe over a
base-model folder trains one adapter: :func:`attach_lora` wraps the base (its weights frozen) in a
seeded adapter, :func:`~subliminal_gym.baselines.lm.finetune_lm` trains only the adapter's
weights, and a teacher or a student starts from a copy of θ0's adapter, so every model of a run is
"the base folder plus one adapter". :func:`save_adapter` writes ``adapter_config.json`` and
``adapter_model.safetensors`` (megabytes, not the base's gigabytes) with an atomic folder swap and
records the base folder; :func:`load_adapter` checks an adapter folder against its base (a LoRA
config with only the keys this loader knows, no code, no pickles, every tensor's shape as the base
declares it, finite weights) before it loads anything.

Needs ``peft`` (the ``lm`` extra).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch as th

from subliminal_gym.baselines.artifacts import (
    ArtifactError,
    atomic_folder,
    nonfinite_weights,
    read_json_object,
    safetensors_shapes,
    shape_problems,
)
from subliminal_gym.baselines.tracks import DEFAULT_TARGET_MODULES, MAX_ADAPTER_RANK, LoRAConfig

__all__ = ["ADAPTER_CONFIG", "ADAPTER_FILES", "ADAPTER_WEIGHTS", "DEFAULT_TARGET_MODULES", "MAX_ADAPTER_RANK",
           "LoRAConfig", "adapter_base", "attach_lora", "clone_adapter", "is_adapter", "is_adapter_folder",
           "load_adapter", "save_adapter"]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
#: What an adapter folder holds (:func:`save_adapter` writes nothing else; :func:`load_adapter` reads nothing else).
ADAPTER_FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS)
_MAX_CONFIG_BYTES = 256 * 1024
#: The adapter_config.json keys a loaded adapter may set to something other than peft's default.
_LOADED_KEYS = {"r", "lora_alpha", "lora_dropout", "target_modules", "bias", "task_type", "peft_type",
                "base_model_name_or_path", "inference_mode", "peft_version", "revision"}


def is_adapter(model: Any) -> bool:
    """Whether ``model`` is a base model wrapped in a peft adapter."""
    from peft import PeftModel

    return isinstance(model, PeftModel)


def attach_lora(model: Any, config: LoRAConfig, *, seed: int) -> Any:
    """``model`` wrapped in a fresh LoRA adapter (peft), its weights fixed by ``seed``; only the adapter trains.

    The adapter's B matrices start at zero, as LoRA's do, so the wrapped model computes what ``model``
    did until it is trained.

    Raises:
        ValueError: no module of ``model`` matches the config's target modules.
    """
    from peft import get_peft_model

    generator_state = th.random.get_rng_state()
    try:
        th.manual_seed(seed)
        wrapped = get_peft_model(model, config.to_peft())
    except ValueError as exc:  # peft: "Target modules {...} not found in the base model"
        raise ValueError(f"LoRA: {' '.join(str(exc).split())[:300]}") from None
    finally:
        th.random.set_rng_state(generator_state)
    return wrapped


def _config_of(model: Any) -> dict[str, Any]:
    return model.peft_config["default"].to_dict()


def save_adapter(model: Any, directory: str | Path, *, base_model: str | Path, force: bool = False) -> Path:
    """Write the adapter of ``model`` (from :func:`attach_lora`) into ``directory``, atomically, recording
    ``base_model`` (its folder, made absolute) as the base it applies to.

    Raises:
        ArtifactError: ``directory`` exists and is not empty, and ``force`` is not set.
        ValueError: ``model`` has no adapter.
    """
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    if not is_adapter(model):
        raise ValueError("the model has no LoRA adapter to save (attach_lora)")
    directory = Path(directory)
    config = _config_of(model)
    config = {key: (sorted(value) if isinstance(value, set) else value) for key, value in config.items()}
    config.update(base_model_name_or_path=str(Path(base_model).resolve()), inference_mode=True)
    weights = {name: tensor.detach().to("cpu").contiguous()
               for name, tensor in get_peft_model_state_dict(model).items()}
    with atomic_folder(directory, force=force) as staging:
        save_file(weights, str(staging / ADAPTER_WEIGHTS), metadata={"format": "pt"})
        (staging / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
    return directory


def is_adapter_folder(directory: str | Path) -> bool:
    """Whether ``directory`` holds an adapter (``adapter_config.json``) rather than a whole model."""
    return (Path(directory) / ADAPTER_CONFIG).is_file()


def _adapter_config(directory: Path) -> dict[str, Any]:
    return read_json_object(directory / ADAPTER_CONFIG, max_bytes=_MAX_CONFIG_BYTES)


def adapter_base(directory: str | Path) -> str | None:
    """The base folder the adapter in ``directory`` records (None when it records none).

    Raises:
        ArtifactError: an unreadable ``adapter_config.json``.
    """
    recorded = _adapter_config(Path(directory)).get("base_model_name_or_path")
    return recorded if isinstance(recorded, str) and recorded else None


def _lora_config(directory: Path, data: dict[str, Any]) -> LoRAConfig:
    """The adapter's :class:`LoRAConfig`, refusing every setting this loader does not reproduce."""
    from peft import LoraConfig

    if data.get("peft_type") != "LORA":
        raise ArtifactError(f"{directory}: {ADAPTER_CONFIG} has peft_type {data.get('peft_type')!r:.40}; only LoRA "
                            "adapters are loaded")
    if data.get("task_type") not in (None, "CAUSAL_LM"):
        raise ArtifactError(f"{directory}: {ADAPTER_CONFIG} has task_type {data.get('task_type')!r:.40}, not "
                            "CAUSAL_LM")
    defaults = LoraConfig().to_dict()
    unsupported = sorted(key for key, value in data.items()
                         if key not in _LOADED_KEYS and key in defaults and value not in (defaults[key], None, {}, []))
    if data.get("bias", "none") != "none":  # trained bias terms are more than an adapter (an explicit null too)
        unsupported.append("bias")
    if unsupported:
        raise ArtifactError(f"{directory}: {ADAPTER_CONFIG} sets {', '.join(unsupported[:5])}; this loader takes "
                            "plain LoRA adapters (rank, alpha, dropout, target modules) only")
    targets = data.get("target_modules")
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise ArtifactError(f"{directory}: {ADAPTER_CONFIG}'s target_modules must be a list of module names")
    try:
        return LoRAConfig(rank=data.get("r"), alpha=float(data.get("lora_alpha", 8)),  # type: ignore[arg-type]
                          dropout=float(data.get("lora_dropout", 0.0)), target_modules=tuple(targets))
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{directory}: {ADAPTER_CONFIG}: {exc}") from None


def load_adapter(directory: str | Path, base_model: str | Path | None = None, *, device: str | None = None,
                 dtype: str = "auto") -> tuple[Any, Any]:
    """The model in ``base_model`` (default: the folder the adapter records) with the adapter in
    ``directory`` applied, and the base's tokenizer, ready to evaluate or to train on. With a
    ``device``, the base is placed there in ``dtype`` (:func:`~subliminal_gym.baselines.lm.place_lm`)
    before the adapter is attached, so the adapter keeps float32 weights to train in.

    The base is loaded with :func:`~subliminal_gym.baselines.lm.load_lm` and its checks. The adapter
    folder must hold exactly :data:`ADAPTER_FILES`' kind of content: a LoRA config with no setting this
    loader does not reproduce, safetensors weights (never a pickle) whose names and shapes are exactly
    the adapter the config declares on that base, and finite values.

    Raises:
        ArtifactError: no such folder, no base to apply it to, pickled or missing weights, code in the
            folder, settings or shapes that do not fit the base, non-finite weights.
    """
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from safetensors.torch import load_file

    from subliminal_gym.baselines.lm.model import load_lm, place_lm, refuse_python_files

    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: no such adapter folder")
    if not is_adapter_folder(directory):
        raise ArtifactError(f"{directory}: no {ADAPTER_CONFIG} (is this a LoRA adapter folder?)")
    refuse_python_files(directory)
    if not (directory / ADAPTER_WEIGHTS).is_file():
        raise ArtifactError(f"{directory}: no {ADAPTER_WEIGHTS} (adapters are loaded from safetensors only; "
                            "`model.save_pretrained(DIR, safe_serialization=True)` writes one)")
    data = _adapter_config(directory)
    config = _lora_config(directory, data)
    base = base_model if base_model is not None else adapter_base(directory)
    if base is None:
        raise ArtifactError(f"{directory}: the adapter records no base model; name its folder (--base-model DIR)")
    if not Path(base).is_dir():
        raise ArtifactError(f"{directory}: its base model folder {base} does not exist here; name the folder that "
                            "holds it (--base-model DIR)")
    if is_adapter_folder(base):
        raise ArtifactError(f"{directory}: its base {base} is itself an adapter; an adapter applies to a whole "
                            "model folder")
    model, tokenizer = load_lm(base)
    if device is not None:
        model = place_lm(model, device=device, dtype=dtype)
    try:
        wrapped = attach_lora(model, config, seed=0)  # every weight is replaced by the file's below
    except ValueError as exc:
        raise ArtifactError(f"{directory}: does not fit the base model {base}: {exc}") from None
    expected = {name: tuple(tensor.shape) for name, tensor in get_peft_model_state_dict(wrapped).items()}
    mismatch = shape_problems(expected, safetensors_shapes([directory / ADAPTER_WEIGHTS]))
    if mismatch:
        raise ArtifactError(f"{directory}: {ADAPTER_WEIGHTS} does not fit rank {config.rank} on {base}: {mismatch}")
    state = load_file(str(directory / ADAPTER_WEIGHTS))
    bad = nonfinite_weights(state.items())
    if bad:
        raise ArtifactError(f"{directory}: {len(bad)} weight tensor(s) hold NaN or infinite values (e.g. {bad[0]})")
    set_peft_model_state_dict(wrapped, state)
    wrapped.peft_config["default"].base_model_name_or_path = str(Path(base).resolve())
    return wrapped.eval(), tokenizer


def clone_adapter(model: Any) -> Any:
    """An independent copy of ``model`` that shares its frozen weights: an adapter model's copy holds its own
    adapter and the same base tensors (a real base is gigabytes; no stage ever trains it), a model without
    an adapter is copied whole. Move the original to another device before cloning, not after."""
    shared = {id(p): p for p in model.parameters() if not p.requires_grad}
    return copy.deepcopy(model, memo=shared)
