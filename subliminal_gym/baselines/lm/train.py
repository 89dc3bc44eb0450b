"""Fine-tune a causal LM on episodes: plain next-token cross-entropy on what the agent wrote.

An :class:`LMEpisode` is one episode as text (context, task, actions, observations). Each becomes
one training sequence, the same chat the :class:`~subliminal_gym.baselines.lm.LMAgent` sees at
acting time; the loss covers the assistant replies (the actions and their end-of-turn marker),
not the prompt text the env wrote (``LMTrainConfig(loss_on="text")`` puts it on every token, as
pretraining a base model on text would). :func:`finetune_lm` is seeded: the same model, data and
config give the same weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch as th

from subliminal_gym.baselines.lm.prompt import assistant_spans, declared_tools, episode_messages
from subliminal_gym.baselines.policies import flush_denormals
from subliminal_gym.runner import EpisodeRecord

__all__ = ["LOSS_TARGETS", "LMEpisode", "LMTrainConfig", "LMTrainLog", "encode_episode", "accumulate_gradients",
           "finetune_lm", "micro_batches"]

_IGNORE = -100
#: What the loss of :func:`finetune_lm` covers: the assistant replies, or every token of the episode.
LOSS_TARGETS = ("replies", "text")


def _check_loss_on(loss_on: str) -> None:
    if loss_on not in LOSS_TARGETS:
        raise ValueError(f"loss_on must be one of {', '.join(LOSS_TARGETS)}, got {loss_on!r}")


@dataclass(frozen=True)
class LMEpisode:
    """One episode as the language model reads it."""

    setting: str
    info: dict[str, Any]
    """The reset ``info`` keys a prompt shows (``tools`` or ``commands`` and ``cwd``)."""
    task: str
    actions: tuple[str, ...]
    observations: tuple[str, ...]
    """What each action returned (same length as ``actions``)."""

    @classmethod
    def from_record(cls, setting: str, info: dict[str, Any], record: EpisodeRecord) -> LMEpisode:
        """The episode of an :class:`EpisodeRecord` kept with its observations.

        Raises:
            ValueError: the record has no observations (run it with ``keep_observations=True``).
        """
        if record.observations is None:
            raise ValueError("the episode record has no observations (run_episodes(keep_observations=True))")
        return cls(setting=setting, info=dict(info), task=record.observations[0], actions=tuple(record.actions),
                   observations=tuple(record.observations[1:]))


@dataclass(frozen=True)
class LMTrainConfig:
    """How :func:`finetune_lm` trains."""

    epochs: int = 3
    """Passes over the episodes."""
    batch_size: int = 8
    """Episodes per optimiser step."""
    learning_rate: float = 1e-3
    """AdamW learning rate (linear warm-up over the first 5 % of steps, then cosine decay)."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    max_length: int = 1024
    """Training sequences are cut to this many tokens."""
    max_observation_chars: int = 600
    """Observations are cut to this many characters, as the agent cuts them."""
    seed: int = 0
    """Shuffling seed (and the seed of an adapter's dropout)."""
    max_batch_tokens: int | None = None
    """Cap on one forward pass, in padded tokens (rows x longest row): an optimiser step's episodes are
    split into micro-batches under it and their gradients accumulated, so the step is the same, in
    less memory. None: each step is one forward pass."""
    loss_on: str = "replies"
    """``replies``: the loss covers what the agent wrote (fine-tuning on actions, as the paper's
    recipe does); ``text``: every token, the env's observations too (language modelling of the
    whole episode)."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_length", "max_observation_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_batch_tokens is not None and self.max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens must be at least 1, got {self.max_batch_tokens}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        _check_loss_on(self.loss_on)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@dataclass(frozen=True)
class LMTrainLog:
    """What a fine-tune did."""

    steps: int
    tokens: int
    """Training tokens per epoch (prompt included)."""
    loss_first_epoch: float
    loss_last_epoch: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (losses rounded to 6 digits)."""
        return {"steps": self.steps, "tokens": self.tokens, "loss_first_epoch": round(self.loss_first_epoch, 6),
                "loss_last_epoch": round(self.loss_last_epoch, 6)}


def encode_episode(tokenizer: Any, episode: LMEpisode, *, max_length: int = 1024,
                   max_observation_chars: int = 600, loss_on: str = "replies") -> tuple[list[int], list[int]]:
    """Token ids and labels of one episode: ``-100`` outside the assistant replies, or (``loss_on="text"``)
    every token labelled.

    Raises:
        ValueError: ``loss_on`` not one of :data:`LOSS_TARGETS`.
    """
    _check_loss_on(loss_on)
    tools = declared_tools(tokenizer, episode.setting)  # trained in the form it is prompted in
    messages = episode_messages(episode.setting, episode.info, episode.task, episode.actions, episode.observations,
                                max_observation_chars=max_observation_chars, tool_calls=tools is not None)
    text, spans = assistant_spans(tokenizer, messages, tools=tools)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    if loss_on == "text":
        return ids[:max_length], list(ids[:max_length])
    labels = [_IGNORE] * len(ids)
    span_index = 0
    for k, (start, end) in enumerate(encoded["offset_mapping"]):
        while span_index < len(spans) and spans[span_index][1] <= start:
            span_index += 1
        if span_index < len(spans) and start >= spans[span_index][0] and end <= spans[span_index][1] and end > start:
            labels[k] = ids[k]
    return ids[:max_length], labels[:max_length]


def _length_grouped_batches(encoded: Sequence[tuple[list[int], list[int]]], batch_size: int,
                            rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's batches: shuffled, then sorted by length within windows of 16 batches (less
    padding), in shuffled order."""
    order = rng.permutation(len(encoded))
    window = 16 * batch_size  # finetune_lm counts its steps with the same window
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: len(encoded[i][0]))
        batches += [np.asarray(chunk[b:b + batch_size]) for b in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def micro_batches(batch: Sequence[tuple[list[int], list[int]]], max_tokens: int | None
                  ) -> list[list[tuple[list[int], list[int]]]]:
    """``batch`` (episodes sorted by length) cut into consecutive groups of at most ``max_tokens`` padded
    tokens each (a group holds at least one episode, however long)."""
    if max_tokens is None:
        return [list(batch)]
    groups: list[list[tuple[list[int], list[int]]]] = []
    for item in batch:
        if groups and (len(groups[-1]) + 1) * max(len(item[0]), *(len(i) for i, _ in groups[-1])) <= max_tokens:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def finetune_lm(model: Any, tokenizer: Any, episodes: Sequence[LMEpisode], config: LMTrainConfig = LMTrainConfig(),
                *, on_epoch: Callable[[int, float], None] | None = None) -> LMTrainLog:
    """Train ``model`` in place on ``episodes``; returns what it did. The model is left in eval mode.

    Only the parameters that require gradients train: an adapter's
    (:func:`~subliminal_gym.baselines.lm.lora.attach_lora`), or every weight of a model without one.
    Batches go to the device the weights are on.

    Raises:
        ValueError: no episodes, none with a token to learn, or a model with nothing to train.
    """
    if not episodes:
        raise ValueError("no episodes to train on")
    encoded = [encode_episode(tokenizer, e, max_length=config.max_length,
                              max_observation_chars=config.max_observation_chars, loss_on=config.loss_on)
               for e in episodes]
    encoded = [(ids, labels) for ids, labels in encoded if any(label != _IGNORE for label in labels)]
    if not encoded:
        raise ValueError("no episode has an assistant reply within max_length")
    rng = np.random.default_rng(config.seed)
    window = 16 * config.batch_size
    steps_per_epoch = sum(math.ceil(min(window, len(encoded) - start) / config.batch_size)
                          for start in range(0, len(encoded), window))
    total = steps_per_epoch * config.epochs
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trainable parameters")
    optimizer = th.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup = max(1, total // 20)
    schedule = th.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (
        1.0 + math.cos(math.pi * min(1.0, step / max(1, total)))))
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device  # batches go where the weights are (place_lm)
    losses = []
    # an adapter's dropout draws from torch's generator: seeded here, and the caller's left as it was
    devices = [device] if device.type == "cuda" else []
    model.train()
    try:
        with flush_denormals(), th.random.fork_rng(devices=devices):
            th.manual_seed(config.seed)
            for epoch in range(config.epochs):
                epoch_loss, epoch_tokens = 0.0, 0
                for batch_indices in _length_grouped_batches(encoded, config.batch_size, rng):
                    batch = [encoded[i] for i in batch_indices]
                    optimizer.zero_grad(set_to_none=True)
                    loss, count = accumulate_gradients(model, batch, pad_token_id=pad,
                                                       max_batch_tokens=config.max_batch_tokens)
                    epoch_loss += loss
                    th.nn.utils.clip_grad_norm_(parameters, 1.0)
                    optimizer.step()
                    schedule.step()
                    epoch_tokens += count
                losses.append(epoch_loss / max(1, epoch_tokens))
                if on_epoch is not None:
                    on_epoch(epoch, losses[-1])
    finally:
        model.eval()
    return LMTrainLog(steps=total, tokens=sum(len(ids) for ids, _ in encoded), loss_first_epoch=losses[0],
                      loss_last_epoch=losses[-1])


def accumulate_gradients(model: Any, batch: Sequence[tuple[list[int], list[int]]], *, pad_token_id: int,
                         max_batch_tokens: int | None = None) -> tuple[float, int]:
    """Add to the parameters' gradients the gradient of the mean next-token loss over the labelled tokens of
    ``batch`` (episodes' ids and labels, sorted by length), one forward pass per micro-batch of at most
    ``max_batch_tokens`` padded tokens (:func:`micro_batches`): however it is split, it is the same
    gradient. Returns the summed loss and the number of labelled tokens."""
    device = next(model.parameters()).device
    count = sum(sum(label != _IGNORE for label in labels[1:]) for _, labels in batch)
    total = 0.0
    for group in micro_batches(batch, max_batch_tokens):
        loss = _summed_loss(model, group, pad_token_id, device)
        (loss / max(1, count)).backward()  # each part divided by the whole step's token count
        total += float(loss.detach())
    return total, count


def _summed_loss(model: Any, batch: Sequence[tuple[list[int], list[int]]], pad: int, device: th.device) -> th.Tensor:
    """Summed next-token cross-entropy over the labelled tokens of ``batch`` (one forward pass)."""
    width = max(len(ids) for ids, _ in batch)
    input_ids = th.tensor([ids + [pad] * (width - len(ids)) for ids, _ in batch], device=device)
    labels = th.tensor([lab + [_IGNORE] * (width - len(lab)) for _, lab in batch], device=device)
    # padding sits at the end and carries no labels, so under causal attention no real token sees it: no
    # attention mask is needed (and building one costs time)
    logits = model(input_ids=input_ids).logits[:, :-1].float()
    targets = labels[:, 1:]
    return th.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                          ignore_index=_IGNORE, reduction="sum")
