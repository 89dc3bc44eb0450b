"""A transformers causal LM as a text agent: prompt, sample, parse, for a batch of envs at once.

:class:`LMAgent` keeps each slot's episode (its context, task, actions and observations), renders
the prompt (:mod:`~subliminal_gym.baselines.lm.prompt`), and generates every running slot's reply
in one batched decode with a key/value cache. Sampling uses one ``torch.Generator`` per slot seeded
from the episode's seed, so a run is deterministic, and an episode's samples do not depend on what
else is in its batch except through the floating-point effect of padding. ``temperature=0`` is
greedy decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch as th

from subliminal_gym.baselines.lm.prompt import episode_messages, parse_action, render_prompt
from subliminal_gym.baselines.rollout import TextAgent

__all__ = ["GenerationStats", "LMAgent"]

_MAX_RAW_ACTION = 2_000


@dataclass
class GenerationStats:
    """Counters over an agent's life (for throughput benchmarks)."""

    calls: int = 0
    actions: int = 0
    generated_tokens: int = 0
    unparsable: int = 0


@dataclass
class _Episode:
    info: dict[str, Any]
    task: str
    actions: list[str] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    generator: th.Generator | None = None


class LMAgent(TextAgent):
    """A causal LM acting on SubliminalFS or SubliminalBash.

    Args:
        model: a transformers causal LM (e.g. from :func:`~subliminal_gym.baselines.lm.load_lm`).
        tokenizer: its tokenizer.
        setting: "fs" or "bash" (which context to show and how to parse replies).
        temperature: sampling temperature; 0 decodes greedily.
        max_new_tokens: the longest reply generated per action.
        max_prompt_tokens: prompts longer than this drop their oldest turns (default: the model's
            context length minus ``max_new_tokens``).
        max_observation_chars: observations are cut to this many characters in the prompt.

    Raises:
        ValueError: an unknown setting or a negative temperature.
    """

    def __init__(self, model: Any, tokenizer: Any, *, setting: str, temperature: float = 1.0,
                 max_new_tokens: int | None = None, max_prompt_tokens: int | None = None,
                 max_observation_chars: int = 600) -> None:
        if setting not in ("fs", "bash"):
            raise ValueError(f"unknown setting {setting!r}; expected 'fs' or 'bash'")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.setting = setting
        self.temperature = float(temperature)
        self.max_new_tokens = max_new_tokens or (160 if setting == "fs" else 64)
        context = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", 1024)
        self.max_prompt_tokens = max_prompt_tokens or max(16, int(context) - self.max_new_tokens)
        self.max_observation_chars = max_observation_chars
        self.stop_ids = _stop_ids(model, tokenizer)
        self._newline, self._content, self._braces = _token_shapes(tokenizer)
        self.stats = GenerationStats()
        self._episodes: dict[int, _Episode] = {}

    # -- the text-agent interface ---------------------------------------------------------------

    def start(self, slot: int, observation: str, info: dict[str, Any], *, seed: int) -> None:
        generator = th.Generator().manual_seed(int(seed))
        self._episodes[slot] = _Episode(info=_honest(info), task=info.get("task", observation), generator=generator)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        episodes = [self._episodes[slot] for slot in slots]
        for episode, observation in zip(episodes, observations, strict=True):
            if episode.actions:  # the observation answers the previous action
                episode.observations.append(observation)
        prompts = [self.prompt(episode) for episode in episodes]
        replies = self.generate(prompts, [episode.generator for episode in episodes])
        actions = []
        for episode, reply in zip(episodes, replies, strict=True):
            action = parse_action(self.setting, reply)
            if action is None:
                self.stats.unparsable += 1
                action = reply[:_MAX_RAW_ACTION]  # the env answers with its error observation
            episode.actions.append(action)
            actions.append(action)
        self.stats.actions += len(actions)
        return actions

    # -- pieces, public for tests and benchmarks ---------------------------------------------------

    def prompt(self, episode: _Episode) -> str:
        """The model input for ``episode``'s next action."""
        messages = episode_messages(self.setting, episode.info, episode.task, episode.actions, episode.observations,
                                    max_observation_chars=self.max_observation_chars)
        return render_prompt(self.tokenizer, messages, max_tokens=self.max_prompt_tokens)

    @th.no_grad()
    def generate(self, prompts: Sequence[str], generators: Sequence[th.Generator | None]) -> list[str]:
        """Decode one reply per prompt, all in one left-padded batch with a key/value cache."""
        tokenizer = self.tokenizer
        batch = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        input_ids, mask = batch["input_ids"], batch["attention_mask"]
        n = input_ids.shape[0]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        past = None
        done = th.zeros(n, dtype=th.bool)
        out: list[list[int]] = [[] for _ in range(n)]
        depth = [0] * n  # FS: open braces; a reply ends when its first JSON object closes
        started = [False] * n  # Bash: whether the line has content; a reply ends at the end of that line
        step_ids, step_positions = input_ids, positions
        valid = mask.bool()
        length = valid.shape[1]
        causal = th.tril(th.ones(length, length, dtype=th.bool))
        # padded query rows attend to themselves only (an all-masked row would give NaNs)
        step_mask = (causal[None] & valid[:, None, :]) | th.eye(length, dtype=th.bool)[None]
        dtype = next(self.model.parameters()).dtype
        for _ in range(self.max_new_tokens):
            # a ready-made 4D mask: transformers skips building its own, which costs more than the
            # forward pass itself for models this small
            additive = th.zeros(step_mask.shape, dtype=dtype).masked_fill_(~step_mask, th.finfo(dtype).min)
            result = self.model(input_ids=step_ids, attention_mask=additive[:, None], position_ids=step_positions,
                                past_key_values=past, use_cache=True)
            past = result.past_key_values
            logits = result.logits[:, -1, :].float()
            next_ids = self._choose(logits, generators, done)
            for i in range(n):
                if done[i]:
                    continue
                token = int(next_ids[i])
                if token in self.stop_ids:
                    done[i] = True
                    continue
                out[i].append(token)
                if self._reply_complete(i, token, depth, started):
                    done[i] = True
            if bool(done.all()):
                break
            step_ids = next_ids[:, None]
            step_positions = step_positions[:, -1:] + 1
            valid = th.cat([valid, th.ones(n, 1, dtype=th.bool)], dim=1)
            step_mask = valid[:, None, :]
        self.stats.calls += 1
        self.stats.generated_tokens += sum(len(ids) for ids in out)
        return [tokenizer.decode(ids, skip_special_tokens=True) for ids in out]

    def _reply_complete(self, row: int, token: int, depth: list[int], started: list[bool]) -> bool:
        """Whether ``token`` ends the reply: it closes the first JSON object (FS) or ends the first
        non-blank line (Bash). Stops garbage early; a well-trained model emits its end marker first."""
        if token >= len(self._braces):
            return False
        if self.setting == "fs":
            opened = depth[row] > 0 or self._braces[token] > 0
            depth[row] += self._braces[token]
            return opened and depth[row] <= 0
        if self._newline[token] and started[row]:
            return True
        started[row] = started[row] or self._content[token]
        return False

    def _choose(self, logits: th.Tensor, generators: Sequence[th.Generator | None], done: th.Tensor) -> th.Tensor:
        if self.temperature == 0.0:
            return logits.argmax(dim=-1)
        probs = th.softmax(logits / self.temperature, dim=-1)
        chosen = th.zeros(logits.shape[0], dtype=th.long)
        for i, generator in enumerate(generators):
            if not done[i]:
                chosen[i] = th.multinomial(probs[i], 1, generator=generator)[0]
        return chosen


def _honest(info: dict[str, Any]) -> dict[str, Any]:
    """The reset ``info`` keys a prompt may use (never the audit, whatever the caller passes)."""
    return {key: info[key] for key in ("task", "tools", "commands", "cwd") if key in info}


def _token_shapes(tokenizer: Any) -> tuple[list[bool], list[bool], list[int]]:
    """Per token id: whether its text holds a newline, holds non-blank text, and its ``{`` minus ``}`` count."""
    texts = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    decoded = [tokenizer.convert_tokens_to_string([t]) if t is not None else "" for t in texts]
    return (["\n" in d for d in decoded], [bool(d.strip()) for d in decoded],
            [d.count("{") - d.count("}") for d in decoded])


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = {tokenizer.eos_token_id}
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids.update(eos if isinstance(eos, list) else [eos])
    for marker in ("<|end|>", "<|user|>", "<|im_end|>", "<|eot_id|>"):
        token = tokenizer.convert_tokens_to_ids(marker) if marker in tokenizer.get_vocab() else None
        ids.add(token)
    return {i for i in ids if i is not None}
