"""Tiny causal language models built here, and loading any compatible checkpoint from a folder.

The tiny models are Llama-architecture decoders from :data:`TINY_CONFIGS` ("large": 4 layers of
width 96; "small": 2 layers of width 64; input and output embeddings tied),
small enough to train on a laptop CPU in minutes. Their tokenizer is a byte-level BPE trained with
the ``tokenizers`` library on the suite's own episodes (:func:`train_tokenizer`) and saved with the
model, together with its chat template (:data:`~subliminal_gym.baselines.lm.prompt.TINY_CHAT_TEMPLATE`).

:func:`save_lm` writes ``model.safetensors``, ``config.json``, the tokenizer files and
``generation_config.json`` with an atomic folder swap; :func:`load_lm` reads any transformers
causal LM from a local folder (``local_files_only``: nothing is ever downloaded). Pickled
weights are refused: only safetensors are loaded.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch as th

from subliminal_gym.baselines.artifacts import (
    TOKENIZER_FILES,
    TOKENIZER_SIDE_FILES,
    ArtifactError,
    atomic_folder,
    nonfinite_weights,
    read_json_object,
    safetensors_shapes,
)
from subliminal_gym.baselines.lm.prompt import TINY_CHAT_TEMPLATE
from subliminal_gym.baselines.tracks import LM_DEVICES, LM_DTYPES

__all__ = ["MAX_CONFIG_BYTES", "MAX_MODEL_LAYERS", "MAX_TOKENIZER_BYTES", "SPECIAL_TOKENS", "TINY_CONFIGS",
           "TOKENIZER_FILES", "TOKENIZER_SIDE_FILES", "build_tiny_lm", "load_lm", "place_lm", "refuse_python_files",
           "resolve_device", "save_lm", "train_tokenizer"]

#: pad, end-of-turn (also end of sequence) and the chat template's role markers.
SPECIAL_TOKENS = ("<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>")

#: Sizes of the tiny models (Llama-architecture keyword arguments).
TINY_CONFIGS: dict[str, dict[str, int]] = {
    "large": {"hidden_size": 96, "intermediate_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
              "num_key_value_heads": 4, "max_position_embeddings": 1024},
    "small": {"hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 4, "max_position_embeddings": 1024},
}
_PICKLED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
#: Parsing a 78 MB tokenizer took 75 s and 1.9 GB; real ones (Qwen2.5's, Llama 3's) total about 9-12 MB.
MAX_TOKENIZER_BYTES = 16 * 1024 * 1024
#: A config.json is a few kilobytes; one larger than this is refused before it is parsed.
MAX_CONFIG_BYTES = 1024 * 1024
#: Layers a loadable model may declare (Llama 3.1 405B has 126); checked before the model is built.
MAX_MODEL_LAYERS = 256


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 2048) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``, as a ``PreTrainedTokenizerFast`` with the chat template.

    Training is deterministic: the same texts give the same vocabulary.

    Raises:
        ValueError: ``vocab_size`` too small for the byte alphabet and the special tokens.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 256 + len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"vocab_size must exceed {256 + len(SPECIAL_TOKENS)}, got {vocab_size}")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<|pad|>", eos_token="<|end|>",
                                   bos_token=None, unk_token=None,
                                   additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"])
    fast.model_input_names = ["input_ids", "attention_mask"]
    fast.chat_template = TINY_CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def build_tiny_lm(size: str, tokenizer: Any, *, seed: int) -> Any:
    """A freshly initialised tiny causal LM of ``size`` for ``tokenizer``, its weights fixed by ``seed``.

    Raises:
        ValueError: an unknown size.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    if size not in TINY_CONFIGS:
        raise ValueError(f"unknown tiny LM size {size!r}; known: {', '.join(TINY_CONFIGS)}")
    config = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=True,
                         **TINY_CONFIGS[size])
    generator_state = th.random.get_rng_state()
    try:
        th.manual_seed(seed)
        model = LlamaForCausalLM(config)
    finally:
        th.random.set_rng_state(generator_state)
    generation = model.generation_config
    if generation is not None:  # a causal LM built from a config always has one
        generation.pad_token_id = tokenizer.pad_token_id
        generation.eos_token_id = tokenizer.eos_token_id
    return model.eval()


def save_lm(model: Any, tokenizer: Any, directory: str | Path, *, force: bool = False) -> Path:
    """Save ``model`` (safetensors) and ``tokenizer`` into ``directory``, atomically.

    Everything is written into a temporary folder beside ``directory`` and moved into place at
    the end, so an interrupted save never leaves a half-written model.

    Raises:
        ArtifactError: ``directory`` exists and is not empty, and ``force`` is not set.
    """
    with atomic_folder(directory, force=force) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
    return Path(directory)


def refuse_python_files(directory: Path) -> None:
    """Refuse a model or adapter folder that holds Python files: code that comes with a model is never run.

    Raises:
        ArtifactError: the folder holds a ``.py`` file, at any depth.
    """
    code = sorted(path.name for path in directory.rglob("*.py"))
    if code:
        raise ArtifactError(f"{directory}: holds Python files ({', '.join(code[:3])}); code that comes with a "
                            "model is never run, so folders with code are refused")


def _refuse_custom_code(directory: Path) -> None:
    """Refuse anything that would make transformers import code from the folder, before it is asked to
    (an unknown ``model_type`` with an ``auto_map`` made it prompt to run the folder's .py files)."""
    refuse_python_files(directory)
    config = read_json_object(directory / "config.json", max_bytes=MAX_CONFIG_BYTES)
    tokenizer_config = (read_json_object(directory / "tokenizer_config.json", max_bytes=MAX_CONFIG_BYTES)
                        if (directory / "tokenizer_config.json").is_file() else {})
    for name, data in (("config.json", config), ("tokenizer_config.json", tokenizer_config)):
        if "auto_map" in data:
            raise ArtifactError(f"{directory}: {name} has an auto_map (custom code); only the architectures "
                                "and tokenizers the installed transformers ships are loaded")
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ArtifactError(f"{directory}: config.json's model_type {model_type!r:.60} is not an architecture the "
                            "installed transformers ships")
    tokenizer_bytes = sum((directory / name).stat().st_size for name in TOKENIZER_SIDE_FILES
                          if (directory / name).is_file())
    if tokenizer_bytes > MAX_TOKENIZER_BYTES:
        raise ArtifactError(f"{directory}: the tokenizer files hold {tokenizer_bytes / 2**20:.1f} MiB; the limit is "
                            f"{MAX_TOKENIZER_BYTES / 2**20:.0f} MiB")


def _check_declared_sizes(directory: Path, config: Any) -> None:
    """Build the model on the meta device (no memory) and compare every parameter with the weight files'
    headers, so a config that declares more than its weights hold is refused before anything is allocated."""
    from transformers import AutoModelForCausalLM

    layers = getattr(config, "num_hidden_layers", None)
    if not isinstance(layers, int) or isinstance(layers, bool) or not 1 <= layers <= MAX_MODEL_LAYERS:
        raise ArtifactError(f"{directory}: config.json declares {layers!r:.40} layers; a loadable model has 1 to "
                            f"{MAX_MODEL_LAYERS}")
    with th.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=False)
    found = safetensors_shapes(sorted(directory.glob("*.safetensors")))
    prefix = f"{model.base_model_prefix}." if model.base_model_prefix else ""
    for name, parameter in model.named_parameters():
        stored = next((n for n in (name, name.removeprefix(prefix), prefix + name) if n in found), None)
        if stored is None:
            raise ArtifactError(f"{directory}: the weights lack {name} (every parameter the config declares must "
                                "be in the safetensors files)")
        if found[stored] != tuple(parameter.shape):
            raise ArtifactError(f"{directory}: {stored} has shape {list(found[stored])}; config.json declares "
                                f"{list(parameter.shape)}")


@contextmanager
def _no_standard_input() -> Iterator[None]:
    # Loading never asks a question: any prompt gets end-of-file instead of waiting on the terminal.
    previous = sys.stdin
    sys.stdin = io.StringIO()
    try:
        yield
    finally:
        sys.stdin = previous


def resolve_device(name: str) -> th.device:
    """The torch device of ``name`` (:data:`~subliminal_gym.baselines.tracks.LM_DEVICES`).

    Raises:
        ValueError: an unknown name, or a device this torch cannot use.
    """
    if name not in LM_DEVICES:
        raise ValueError(f"device must be one of {', '.join(LM_DEVICES)}, got {name!r}")
    mps = getattr(th.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if name == "auto":
        return th.device("cuda" if th.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not th.cuda.is_available():
        raise ValueError("device cuda: this torch sees no CUDA device (torch.cuda.is_available() is False; a CPU "
                         "build of torch never does)")
    if name == "mps" and not has_mps:
        raise ValueError("device mps: this torch sees no Apple MPS device")
    return th.device(name)


def place_lm(model: Any, *, device: str = "auto", dtype: str = "auto") -> Any:
    """Move ``model`` to ``device`` in ``dtype`` (:data:`~subliminal_gym.baselines.tracks.LM_DTYPES`) and
    return it; the agent and the trainer then put their inputs where its weights are.

    Raises:
        ValueError: an unknown device or dtype, or a device this torch cannot use.
    """
    target = resolve_device(device)
    if dtype not in LM_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(LM_DTYPES)}, got {dtype!r}")
    if dtype == "auto":
        dtype = "bfloat16" if target.type == "cuda" and th.cuda.is_bf16_supported() else "float32"
    return model.to(device=target, dtype=getattr(th, dtype))


def load_lm(directory: str | Path, *, base_model: str | Path | None = None) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer from a local folder (never from a hub, never with its own code).

    A folder that holds a LoRA adapter (``adapter_config.json``) is loaded over its base model: the
    folder ``base_model`` names, else the one the adapter records
    (:func:`~subliminal_gym.baselines.lm.lora.load_adapter`, which checks the adapter against it).

    Any transformers causal LM saved with safetensors works: the tiny models saved by
    :func:`save_lm`, or a real checkpoint someone copied onto the machine. Before anything is built the
    folder is checked: no Python files, no ``auto_map``, a ``model_type`` the installed transformers
    ships, at most :data:`MAX_MODEL_LAYERS` layers, tokenizer files under :data:`MAX_TOKENIZER_BYTES`,
    and every parameter of the declared architecture present in the safetensors headers with its
    shape. After loading, weights holding NaN or infinities are refused.

    Raises:
        ArtifactError: no such folder, no ``config.json``, pickled weights without safetensors, no
            tokenizer files, custom code, declared sizes the weights do not hold, non-finite weights, or a
            folder transformers cannot load (one line, whatever transformers raised).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: no such model folder")
    from subliminal_gym.baselines.lm.lora import is_adapter_folder, load_adapter

    if is_adapter_folder(directory):
        return load_adapter(directory, base_model)
    if base_model is not None:
        raise ArtifactError(f"{directory}: a whole model, not an adapter; a base model applies to adapters only")
    if not (directory / "config.json").is_file():
        raise ArtifactError(f"{directory}: no config.json (is this a transformers model folder?)")
    names = {path.name for path in directory.iterdir()}
    if not any(name.endswith(".safetensors") for name in names):
        pickled = sorted(name for name in names if name.endswith(_PICKLED))
        hint = f" (found pickled {', '.join(pickled)}; convert them to safetensors)" if pickled else ""
        raise ArtifactError(f"{directory}: no .safetensors weights{hint}")
    if not names & set(TOKENIZER_FILES):
        raise ArtifactError(f"{directory}: no tokenizer ({', '.join(TOKENIZER_FILES)}); save it beside the model "
                            "with `tokenizer.save_pretrained(DIR)`")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    _refuse_custom_code(directory)
    try:
        with _no_standard_input():
            config = AutoConfig.from_pretrained(directory, local_files_only=True, trust_remote_code=False)
            _check_declared_sizes(directory, config)
            tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True, trust_remote_code=False)
            model = AutoModelForCausalLM.from_pretrained(directory, config=config, local_files_only=True,
                                                         use_safetensors=True, trust_remote_code=False)
    except ArtifactError:
        raise
    except Exception as exc:  # transformers and safetensors raise many types (OSError, RuntimeError, ...)
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or "no message"
        raise ArtifactError(f"{directory}: cannot load the model ({type(exc).__name__}: {text[:240]})") from None
    bad = nonfinite_weights(model.named_parameters())
    if bad:
        raise ArtifactError(f"{directory}: {len(bad)} weight tensor(s) hold NaN or infinite values (e.g. {bad[0]})")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model.eval(), tokenizer
