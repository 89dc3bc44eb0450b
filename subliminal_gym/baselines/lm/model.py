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

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch as th

from subliminal_gym.baselines.artifacts import ArtifactError
from subliminal_gym.baselines.lm.prompt import TINY_CHAT_TEMPLATE

__all__ = ["SPECIAL_TOKENS", "TINY_CONFIGS", "TOKENIZER_FILES", "build_tiny_lm", "load_lm", "save_lm",
           "train_tokenizer"]

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
#: A model folder needs one of these to have a tokenizer (fast, SentencePiece, BPE or WordPiece).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt")


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
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not force:
        raise ArtifactError(f"{directory} is not empty (pass force=True to overwrite)")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        for path in staging.iterdir():
            path.chmod(0o644)
        staging.chmod(0o755)
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
            os.replace(directory, old / "model")
            os.replace(staging, directory)
            _remove_tree(old)
        else:
            os.replace(staging, directory)
    except BaseException:
        _remove_tree(staging)
        raise
    return directory


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        child.rmdir() if child.is_dir() and not child.is_symlink() else child.unlink()
    path.rmdir()


def load_lm(directory: str | Path) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer from a local folder (never from a hub).

    Any transformers causal LM saved with safetensors works: the tiny models saved by
    :func:`save_lm`, or a real checkpoint someone copied onto the machine.

    Raises:
        ArtifactError: no such folder, no ``config.json``, pickled weights without safetensors, no
            tokenizer files, or a folder transformers cannot load (one line, whatever transformers raised).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: no such model folder")
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
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, use_safetensors=True)
    except Exception as exc:  # transformers and safetensors raise many types (OSError, RuntimeError, ...)
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or "no message"
        raise ArtifactError(f"{directory}: cannot load the model ({type(exc).__name__}: {text[:240]})") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model.eval(), tokenizer
