"""A transformers causal LM as a text agent: prompt, then sample a reply or rank the admissible actions.

:class:`LMAgent` keeps each slot's episode (its context, task, actions and observations), renders
the prompt (:mod:`~subliminal_gym.baselines.lm.prompt`), and chooses an action in one of two
decoding modes (:data:`~subliminal_gym.baselines.tracks.LM_DECODINGS`):

- ``sample`` (free generation): every running slot's reply is generated in one batched decode with
  a key/value cache, then parsed; a reply that does not parse is sent as it is (the env answers
  with an error).
- ``ranked``: the env's ``info["admissible_actions"]`` are ranked by the likelihood the model gives
  each one's reply (:func:`~subliminal_gym.baselines.lm.prompt.reply_text`: the action and the
  end-of-turn text) after the prompt, as text-game agents rank admissible commands, with the model
  restricted to the candidates (renormalised at every token where candidates branch;
  :meth:`LMAgent.scores`). The prompt is encoded once and every candidate continues from its keys
  and values. ``temperature=0`` takes the most likely candidate; temperature 1 samples the model's
  own choice among them. Every action is valid by construction, so ranking measures what the model
  prefers among the moves the state allows.

Sampling uses one ``torch.Generator`` per slot seeded from the episode's seed, so a run is
deterministic, and an episode's samples do not depend on what else is in its batch except through
the floating-point effect of padding. ``temperature=0`` is greedy decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch as th

from subliminal_gym.baselines.lm.prompt import declared_tools, episode_messages, render_prompt, reply_text
from subliminal_gym.baselines.tracks import LM_DECODINGS
from subliminal_gym.core.setting import Setting
from subliminal_gym.runner import TextAgent
from subliminal_gym.settings import setting_of

__all__ = ["GenerationStats", "LMAgent"]


_MAX_RAW_ACTION = 2_000
#: Replies of candidate actions kept tokenised between steps (paths repeat within and across episodes).
_REPLY_CACHE = 4096


@dataclass
class GenerationStats:
    """Counters over an agent's life (for throughput benchmarks)."""

    calls: int = 0
    actions: int = 0
    prompt_tokens: int = 0
    """Prompt tokens encoded (those found in an episode's key/value cache are not counted)."""
    generated_tokens: int = 0
    scored_tokens: int = 0
    """Tokens of candidate replies scored (ranked decoding)."""
    unparsable: int = 0


@dataclass
class _KVCache:
    """The token ids an episode's model state holds, and its keys and values per layer."""

    ids: list[int] = field(default_factory=list)
    layers: list[tuple[th.Tensor, th.Tensor]] = field(default_factory=list)


@dataclass
class _Episode:
    info: dict[str, Any]
    task: str
    actions: list[str] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    generator: th.Generator | None = None
    cache: _KVCache | None = None


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for k in range(n):
        if a[k] != b[k]:
            return k
    return n


class LMAgent(TextAgent):
    """A causal LM acting on SubliminalFS or SubliminalBash.

    Args:
        model: a transformers causal LM (e.g. from :func:`~subliminal_gym.baselines.lm.load_lm`).
        tokenizer: its tokenizer.
        setting: the env family's setting, its name or an env id (which context to show, how to parse
            replies, the default reply cap).
        temperature: sampling temperature; 0 decodes greedily.
        max_new_tokens: the longest reply generated per action (default: the setting's ``reply_tokens``).
        max_prompt_tokens: prompts longer than this drop their oldest turns (default: the model's
            context length minus ``max_new_tokens``).
        max_observation_chars: observations are cut to this many characters in the prompt.
        reuse_cache: keep each episode's keys and values between its steps, so that only the new
            turns are encoded (the prompt of step k+1 extends the prompt of step k). Needs a model
            whose cache has the usual per-layer (batch, heads, positions, dim) layout.
        decoding: ``sample`` (generate a reply and parse it) or ``ranked`` (choose among
            ``info["admissible_actions"]`` by the model's likelihood; the env must compute them, as
            it does by default).
        tools: declare the setting's tools through the chat template and write the episode as tool
            calls (default: when the template takes tools,
            :func:`~subliminal_gym.baselines.lm.prompt.declared_tools`); a reply is then read as a
            tool call. ``False`` keeps the plain form (tools described in the system message).

    Raises:
        ValueError: an unknown setting or decoding, or a negative temperature.
    """

    def __init__(self, model: Any, tokenizer: Any, *, setting: Setting | str, temperature: float = 1.0,
                 max_new_tokens: int | None = None, max_prompt_tokens: int | None = None,
                 max_observation_chars: int = 600, reuse_cache: bool = True, decoding: str = "sample",
                 tools: bool | None = None) -> None:
        setting = setting_of(setting)
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if decoding not in LM_DECODINGS:
            raise ValueError(f"decoding must be one of {', '.join(LM_DECODINGS)}, got {decoding!r}")
        self.decoding = decoding
        self.tools = declared_tools(tokenizer, setting) if tools is not False else None
        if tools and self.tools is None:
            raise ValueError("tools=True needs a chat template that takes tools (this tokenizer's does not)")
        self._replies: dict[str, list[int]] = {}
        self.model = model.eval()
        #: Where the model's weights are (its inputs go there; sampling stays on the CPU, seeded).
        self.device = next(model.parameters()).device
        self.tokenizer = tokenizer
        self.setting = setting
        self.temperature = float(temperature)
        self.max_new_tokens = max_new_tokens or setting.reply_tokens
        context = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
        context = 1024 if context is None else context
        self.max_prompt_tokens = max_prompt_tokens or max(16, int(context) - self.max_new_tokens)
        self.max_observation_chars = max_observation_chars
        self.reuse_cache = reuse_cache
        self.stop_ids = _stop_ids(model, tokenizer)
        self._newline, self._content, self._braces = _token_shapes(tokenizer)
        self.stats = GenerationStats()
        self._episodes: dict[int, _Episode] = {}

    # -- the text-agent interface ---------------------------------------------------------------

    def start(self, slot: int, observation: str, info: dict[str, Any], *, seed: int) -> None:
        generator = th.Generator().manual_seed(int(seed))
        self._episodes[slot] = _Episode(info=_honest(self.setting, info), task=info.get("task", observation),
                                        generator=generator, cache=_KVCache() if self.reuse_cache else None)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        episodes = [self._episodes[slot] for slot in slots]
        for episode, observation in zip(episodes, observations, strict=True):
            if episode.actions:  # the observation answers the previous action
                episode.observations.append(observation)
        prompts = [self.prompt(episode) for episode in episodes]
        if self.decoding == "ranked":
            actions = [self.rank(prompt, _admissible(info), episode.generator)
                       for prompt, info, episode in zip(prompts, infos, episodes, strict=True)]
        else:
            replies = self.generate(prompts, [episode.generator for episode in episodes],
                                    [episode.cache for episode in episodes])
            actions = [self._parsed(reply) for reply in replies]
        for episode, action in zip(episodes, actions, strict=True):
            episode.actions.append(action)
        self.stats.actions += len(actions)
        return actions

    def _parsed(self, reply: str) -> str:
        action = self.setting.parse_action(reply) if self.tools is None else self.setting.parse_tool_reply(reply)
        if action is None:
            self.stats.unparsable += 1
            return reply[:_MAX_RAW_ACTION]  # the env answers with its error observation
        return action

    # -- pieces, public for tests and benchmarks ---------------------------------------------------

    def prompt(self, episode: _Episode) -> str:
        """The model input for ``episode``'s next action."""
        messages = episode_messages(self.setting, episode.info, episode.task, episode.actions, episode.observations,
                                    max_observation_chars=self.max_observation_chars,
                                    tool_calls=self.tools is not None)
        return render_prompt(self.tokenizer, messages, max_tokens=self.max_prompt_tokens, tools=self.tools)

    @th.no_grad()
    def generate(self, prompts: Sequence[str], generators: Sequence[th.Generator | None],
                 caches: Sequence[_KVCache | None] | None = None) -> list[str]:
        """Decode one reply per prompt, all in one batch with a key/value cache.

        With ``caches`` (one per prompt, updated in place), the tokens a prompt shares with the
        cached sequence of its episode are not encoded again: only the new turns are. Rows are
        left-padded to a common cached length and a common new length, and a ready-made 4-D mask
        hides the padding.
        """
        tokenizer = self.tokenizer
        n = len(prompts)
        caches = list(caches) if caches is not None else [None] * n
        prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] or [tokenizer.eos_token_id] for p in prompts]
        # reuse the longest cached prefix of each prompt, keeping at least one token to encode
        reuse = [0 if c is None else min(_common_prefix(c.ids, ids), len(ids) - 1) for c, ids in zip(caches, prompt_ids,
                                                                                                     strict=True)]
        width_cached, width_new = max(reuse), max(len(ids) - r for ids, r in zip(prompt_ids, reuse, strict=True))
        total = width_cached + width_new
        ids_grid = th.full((n, total), tokenizer.pad_token_id, dtype=th.long)
        valid = th.zeros(n, total, dtype=th.bool)
        positions = th.zeros(n, width_new, dtype=th.long)
        for i, (ids, r) in enumerate(zip(prompt_ids, reuse, strict=True)):
            new = ids[r:]
            ids_grid[i, width_cached - r:width_cached] = th.tensor(ids[:r], dtype=th.long)
            ids_grid[i, total - len(new):] = th.tensor(new, dtype=th.long)
            valid[i, width_cached - r:width_cached] = True
            valid[i, total - len(new):] = True
            positions[i, width_new - len(new):] = th.arange(r, r + len(new))
        past = self._stack_cache(caches, reuse, width_cached) if width_cached else None
        step_ids = ids_grid[:, width_cached:]
        causal = th.ones(width_new, total, dtype=th.bool).tril(diagonal=width_cached)
        # padded query rows attend to themselves only (an all-masked row would give NaNs)
        own = th.zeros(width_new, total, dtype=th.bool)
        own[:, width_cached:] = th.eye(width_new, dtype=th.bool)
        step_mask = (causal[None] & valid[:, None, :]) | own[None]
        step_positions = positions
        done = th.zeros(n, dtype=th.bool)
        out: list[list[int]] = [[] for _ in range(n)]
        depth = [0] * n  # FS: open braces; a reply ends when its first JSON object closes
        started = [False] * n  # Bash: whether the line has content; a reply ends at the end of that line
        dtype = next(self.model.parameters()).dtype
        for _ in range(self.max_new_tokens):
            # a ready-made 4D mask: transformers skips building its own, which costs more than the
            # forward pass itself for models this small
            additive = th.zeros(step_mask.shape, dtype=dtype).masked_fill_(~step_mask, th.finfo(dtype).min)
            device = self.device
            result = self.model(input_ids=step_ids.to(device), attention_mask=additive[:, None].to(device),
                                position_ids=step_positions.to(device), past_key_values=past, use_cache=True)
            past = result.past_key_values
            next_ids = self._choose(result.logits[:, -1, :].float().cpu(), generators, done)
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
            # the chosen tokens go in; for finished rows they are filler the mask hides from now on
            step_ids = next_ids[:, None]
            step_positions = step_positions[:, -1:] + 1
            ids_grid = th.cat([ids_grid, step_ids], dim=1)
            valid = th.cat([valid, ~done[:, None]], dim=1)
            step_mask = valid[:, None, :] | (th.arange(valid.shape[1]) == valid.shape[1] - 1)[None, None, :]
        if past is not None and any(c is not None for c in caches):
            self._store_cache(caches, past, ids_grid, valid)
        self.stats.calls += 1
        self.stats.prompt_tokens += sum(len(ids) - r for ids, r in zip(prompt_ids, reuse, strict=True))
        self.stats.generated_tokens += sum(len(ids) for ids in out)
        return [tokenizer.decode(ids, skip_special_tokens=True) for ids in out]

    @th.no_grad()
    def scores(self, prompt: str, candidates: Sequence[str]) -> th.Tensor:
        """The log-probability of each candidate action under the model restricted to the candidates.

        Each candidate's reply is scored token by token, and at every token the model's probabilities
        are renormalised over the tokens that continue some candidate with the same prefix (decoding
        constrained to the candidates). A token that no other candidate branches at contributes
        nothing, so a long reply is not penalised for its length, and the exponentials of the scores
        of distinct candidates sum to 1: temperature 1 samples the model's own choice among them.

        The prompt is encoded once; the candidates' replies (cut at ``max_new_tokens`` tokens) go
        through the model together, each continuing from the prompt's keys and values.
        """
        tokenizer = self.tokenizer
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] or [tokenizer.eos_token_id]
        replies = [self._reply_ids(action) for action in candidates]
        result = self.model(input_ids=th.tensor([prompt_ids], device=self.device), use_cache=True)
        n, width = len(replies), max(len(ids) for ids in replies)
        grid = th.full((n, width), tokenizer.pad_token_id, dtype=th.long)
        valid = th.zeros(n, width, dtype=th.bool)
        for i, ids in enumerate(replies):
            grid[i, :len(ids)] = th.tensor(ids, dtype=th.long)
            valid[i, :len(ids)] = True
        log_probs = th.log_softmax(result.logits[0, -1].float().cpu(), dim=-1).expand(n, 1, -1)
        if width > 1:
            # right padding: a candidate's tokens never attend to the padding after them, so no mask is needed
            legacy = result.past_key_values
            legacy = legacy.to_legacy_cache() if hasattr(legacy, "to_legacy_cache") else legacy
            from transformers import DynamicCache

            past = DynamicCache.from_legacy_cache(tuple(  # type: ignore[arg-type]  # one pair per layer
                (k.expand(n, *k.shape[1:]), v.expand(n, *v.shape[1:])) for k, v in legacy))
            positions = th.arange(len(prompt_ids), len(prompt_ids) + width - 1)[None].expand(n, -1)
            logits = self.model(input_ids=grid[:, :-1].to(self.device), past_key_values=past,
                                position_ids=positions.to(self.device), use_cache=False).logits.float().cpu()
            log_probs = th.cat([log_probs, th.log_softmax(logits, dim=-1)], dim=1)
        # which tokens continue some candidate at each (candidate, position): the children of its prefix
        children: dict[tuple[int, ...], set[int]] = {}
        for ids in replies:
            for j, token in enumerate(ids):
                children.setdefault(tuple(ids[:j]), set()).add(token)
        rows: list[int] = []
        columns: list[int] = []
        tokens: list[int] = []
        for i, ids in enumerate(replies):
            for j in range(len(ids)):
                branch = children[tuple(ids[:j])]
                rows += [i] * len(branch)
                columns += [j] * len(branch)
                tokens += branch
        allowed = th.zeros(log_probs.shape, dtype=th.bool)
        allowed[rows, columns, tokens] = True
        chosen = log_probs.gather(2, grid[..., None])[..., 0]
        total = log_probs.masked_fill(~allowed, float("-inf")).logsumexp(dim=-1)
        score = th.where(valid, chosen - total, th.zeros(())).sum(dim=1)
        self.stats.calls += 1
        self.stats.prompt_tokens += len(prompt_ids)
        self.stats.scored_tokens += int(valid.sum())
        return score

    def rank(self, prompt: str, candidates: Sequence[str], generator: th.Generator | None) -> str:
        """The action ranked decoding takes among ``candidates`` (duplicates count once): the best of
        :meth:`scores` at temperature 0, else a sample with probabilities proportional to
        ``exp(score / temperature)``."""
        unique = list(dict.fromkeys(candidates))
        scores = self.scores(prompt, unique)
        if self.temperature == 0.0:
            return unique[int(scores.argmax())]
        probs = th.softmax(scores / self.temperature, dim=0)
        return unique[int(th.multinomial(probs, 1, generator=generator)[0])]

    def _reply_ids(self, action: str) -> list[int]:
        ids = self._replies.get(action)
        if ids is None:
            text = reply_text(self.tokenizer, action, setting=self.setting, tools=self.tools)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids = ids[:self.max_new_tokens] or [self.tokenizer.eos_token_id]
            if len(self._replies) >= _REPLY_CACHE:
                self._replies.clear()
            self._replies[action] = ids
        return ids

    def _stack_cache(self, caches: Sequence[_KVCache | None], reuse: Sequence[int], width: int) -> Any:
        """The batch's past keys and values: each row's reused prefix, left-padded to ``width``."""
        from transformers import DynamicCache

        layers = []
        template = next(c for c in caches if c is not None).layers
        for layer, (key0, value0) in enumerate(template):
            keys = key0.new_zeros((len(caches), key0.shape[0], width, key0.shape[2]))
            values = value0.new_zeros((len(caches), value0.shape[0], width, value0.shape[2]))
            for i, (cache, r) in enumerate(zip(caches, reuse, strict=True)):
                if cache is not None and r:
                    keys[i, :, width - r:] = cache.layers[layer][0][:, :r]
                    values[i, :, width - r:] = cache.layers[layer][1][:, :r]
            layers.append((keys, values))
        return DynamicCache.from_legacy_cache(tuple(layers))  # type: ignore[arg-type]  # one pair per layer

    @staticmethod
    def _store_cache(caches: Sequence[_KVCache | None], past: Any, ids_grid: th.Tensor, valid: th.Tensor) -> None:
        """Keep each row's real positions (not padding, not filler) for the next step of its episode."""
        legacy = past.to_legacy_cache() if hasattr(past, "to_legacy_cache") else past
        # the last chosen token never went through the model: the cache is one position shorter
        length = legacy[0][0].shape[2]
        for i, cache in enumerate(caches):
            if cache is None:
                continue
            keep = valid[i, :length].nonzero().squeeze(1)
            cache.ids = ids_grid[i, keep].tolist()
            on = keep.to(legacy[0][0].device)
            cache.layers = [(k[i][:, on].clone(), v[i][:, on].clone()) for k, v in legacy]

    def _reply_complete(self, row: int, token: int, depth: list[int], started: list[bool]) -> bool:
        """Whether ``token`` ends the reply: it closes the first JSON object (JSON actions, FS) or ends
        the first non-blank line (command lines, Bash). Stops garbage early; a well-trained model emits
        its end marker first."""
        if token >= len(self._braces):
            return False
        if self.setting.json_actions or self.tools is not None:  # a JSON action or a tool call
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


def _admissible(info: dict[str, Any]) -> list[str]:
    """The candidates of ranked decoding.

    Raises:
        ValueError: the env did not compute ``admissible_actions``.
    """
    candidates = info.get("admissible_actions")
    if not candidates:
        raise ValueError("ranked decoding needs info['admissible_actions'] at every step (make the env with "
                         "admissible_actions=True, its default)")
    return [str(action) for action in candidates]


def _honest(setting: Setting, info: dict[str, Any]) -> dict[str, Any]:
    """The reset ``info`` keys a prompt may use (never the audit, whatever the caller passes)."""
    return {key: info[key] for key in ("task", *setting.context_keys) if key in info}


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
