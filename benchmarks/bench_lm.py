"""Speed of language-model rollouts: episodes/s, env steps/s and generated tokens/s, batched against unbatched.

A tiny LM (:data:`~subliminal_gym.baselines.lm.TINY_CONFIGS`) is first trained briefly on
scripted-expert episodes over every task family, with its own BPE tokenizer, so that it writes
action-sized replies that end with the end-of-turn token (an untrained model would generate
``max_new_tokens`` of noise at every step, and the figures would measure nothing useful). The
setup time is printed apart. ``--model PATH`` benchmarks a saved model folder instead.

The model then runs as an :class:`~subliminal_gym.baselines.lm.LMAgent` through
:func:`~subliminal_gym.baselines.rollout.run_episodes` on the same episodes (same seed, so the same
test-range tasks and the same per-episode sampling seeds) once per batch size: 1 is the unbatched
baseline, larger sizes decode every running env's reply in one batched forward pass. The whole
rollout is timed (env steps, prompt rendering, tokenising, prefill and decoding; ``model %`` is the
share spent in ``LMAgent.generate``), and a short run is repeated until ``--min-seconds`` have
passed, keeping the fastest. Episodes are cut at ``--max-steps`` so that a weak model wandering to
the env's 40-step limit cannot dominate the time. Sampled replies can differ a little between
batch sizes (padding changes the floating point), so compare the rates, not the totals; the
columns ``steps/ep`` and ``tok/step`` show whether the work was the same. ``unparsable`` is the
share of replies that did not parse as an action (they are sent to the env as they are, and it
answers with an error). Machines are shared and noisy: compare the ratios, and run it twice.

    python benchmarks/bench_lm.py [--env fs|bash|both] [--size small|large|both] [--batch-sizes 1 8 32]
                                  [--episodes 32] [--model PATH] [--decoding sample|ranked] [--quick]

With ``--decoding ranked`` the agent scores the admissible actions instead of generating; the tokens
counted are those of the candidate replies scored, and the batch size changes only how many envs
step together (each episode's candidates are scored in one forward pass of their own).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.baselines.lm import (
    LMAgent,
    LMTrainConfig,
    build_tiny_lm,
    finetune_lm,
    load_lm,
)
from subliminal_gym.baselines.lm.episodes import episode_tokenizer, expert_episodes
from subliminal_gym.baselines.lm.track import PRETRAIN_LEARNING_RATES
from subliminal_gym.baselines.tracks import LM_DECODINGS
from subliminal_gym.runner import run_episodes
from subliminal_gym.settings import SETTINGS

ENV_IDS = {name: setting.env_id for name, setting in SETTINGS.items()}
# Peak learning rates that get each size to short, mostly parsable replies within a few epochs: θ0's.
LEARNING_RATES = PRETRAIN_LEARNING_RATES


@dataclass(frozen=True)
class Measurement:
    """One timed rollout of a model at one batch size (the fastest of its repeats)."""

    batch_size: int
    seconds: float
    model_seconds: float
    """Time inside ``LMAgent.generate`` or ``LMAgent.scores`` (tokenising, prefill, decoding or scoring); the
    rest is env and prompt work."""
    episodes: int
    steps: int
    actions: int
    generated_tokens: int
    unparsable: int
    tasks: tuple[tuple[str, int], ...]


class TimedLMAgent(LMAgent):
    """An :class:`LMAgent` that adds up the time spent generating."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generate_seconds = 0.0

    def generate(self, prompts: Sequence[str], generators: Sequence[torch.Generator | None],
                 caches: Sequence[Any] | None = None) -> list[str]:
        start = time.perf_counter()
        try:
            return super().generate(prompts, generators, caches)
        finally:
            self.generate_seconds += time.perf_counter() - start

    def scores(self, prompt: str, candidates: Sequence[str]) -> torch.Tensor:
        start = time.perf_counter()
        try:
            return super().scores(prompt, candidates)
        finally:
            self.generate_seconds += time.perf_counter() - start


def train_model(setting: str, size: str, args: argparse.Namespace) -> tuple[Any, Any]:
    """A tiny LM and its tokenizer, trained on scripted-expert episodes; prints what it took."""
    env_id = ENV_IDS[setting]
    start = time.perf_counter()
    # train seed range and seed 1: disjoint from the test-range tasks the rollouts use
    # bench_lm_decoding's --family: that family's tasks only
    family = getattr(args, "family", None)
    episodes = expert_episodes(env_id, rate=0.05, episodes=args.train_episodes, seed=1, task_family=family)
    tokenizer = episode_tokenizer(episodes)
    model = build_tiny_lm(size, tokenizer, seed=0)
    learning_rate = args.learning_rate or LEARNING_RATES[size]
    # bench_lm_decoding's --observation-chars and --context: the agent cuts observations and drops old
    # turns as training did (rotary positions have no weights, so a longer context changes none)
    options: dict[str, int] = {}
    if chars := getattr(args, "observation_chars", None):
        options["max_observation_chars"] = chars
    if context := getattr(args, "context", None):
        model.config.max_position_embeddings = options["max_length"] = context
    loss_on = getattr(args, "loss_on", "replies")  # bench_lm_decoding's --loss-on
    log = finetune_lm(model, tokenizer, episodes, LMTrainConfig(epochs=args.epochs, batch_size=args.train_batch_size,
                                                                learning_rate=learning_rate, loss_on=loss_on,
                                                                **options))
    parameters = sum(p.numel() for p in model.parameters())
    print(f"setup {time.perf_counter() - start:.1f} s: {args.train_episodes} expert episodes"
          f"{f' of {family}' if family else ''}, tokenizer "
          f"({len(tokenizer)} tokens), {size} LM ({parameters / 1e6:.2f} M parameters) trained {args.epochs} epochs "
          f"at lr {learning_rate:g}{', loss on every token' if loss_on == 'text' else ''} "
          f"(loss {log.loss_first_epoch:.2f} -> {log.loss_last_epoch:.2f})", flush=True)
    return model, tokenizer


def measure(model: Any, tokenizer: Any, setting: str, batch_size: int, args: argparse.Namespace) -> Measurement:
    """Run ``args.episodes`` episodes at ``batch_size``, again until ``args.min_seconds`` have passed; the fastest run.

    Raises:
        RuntimeError: two repeats did different work (they are seeded, so they should not).
    """
    best: Measurement | None = None
    total = 0.0
    while best is None or total < args.min_seconds:
        agent = TimedLMAgent(model, tokenizer, setting=setting, temperature=args.temperature,
                             reuse_cache=not args.no_cache_reuse, decoding=args.decoding)
        start = time.perf_counter()
        records = run_episodes(agent, ENV_IDS[setting], episodes=args.episodes, seed=args.seed, split="all",
                               seed_range="test", batch_size=batch_size,
                               env_kwargs={"max_episode_steps": args.max_steps})
        seconds = time.perf_counter() - start
        total += seconds
        stats = agent.stats
        run = Measurement(batch_size=batch_size, seconds=seconds, model_seconds=agent.generate_seconds,
                          episodes=len(records), steps=sum(r.steps for r in records), actions=stats.actions,
                          generated_tokens=stats.generated_tokens + stats.scored_tokens, unparsable=stats.unparsable,
                          tasks=tuple((r.task_family, r.task_seed) for r in records))
        if best is not None and (run.steps, run.generated_tokens) != (best.steps, best.generated_tokens):
            raise RuntimeError(f"batch {batch_size}: a repeat did different work ({run.steps} steps, "
                               f"{run.generated_tokens} tokens, against {best.steps} and {best.generated_tokens})")
        if best is None or run.seconds < best.seconds:
            best = run
    return best


def warm_up(model: Any, tokenizer: Any, setting: str) -> None:
    """One short untimed episode, so first-call costs (allocations, lazy imports) stay out of the figures."""
    agent = LMAgent(model, tokenizer, setting=setting, temperature=1.0)
    run_episodes(agent, ENV_IDS[setting], episodes=1, seed=0, split="all", seed_range="test",
                 env_kwargs={"max_episode_steps": 2})


def report(results: list[Measurement]) -> None:
    """The table of rates, then the batched / unbatched ratios."""
    print(f"{'batch':>5} {'time s':>7} {'episodes/s':>10} {'steps/s':>8} {'tokens/s':>8} {'model %':>7} "
          f"{'steps/ep':>8} {'tok/step':>8} {'unparsable':>10}")
    for m in results:
        print(f"{m.batch_size:>5} {m.seconds:>7.1f} {m.episodes / m.seconds:>10.2f} {m.steps / m.seconds:>8.1f} "
              f"{m.generated_tokens / m.seconds:>8.0f} {m.model_seconds / m.seconds:>7.0%} "
              f"{m.steps / m.episodes:>8.1f} {m.generated_tokens / max(1, m.actions):>8.1f} "
              f"{m.unparsable / max(1, m.actions):>10.0%}")
    base = results[0]
    for m in results[1:]:
        print(f"batch {m.batch_size} / batch {base.batch_size}: "
              f"episodes/s x{(m.episodes / m.seconds) / (base.episodes / base.seconds):.2f}, "
              f"steps/s x{(m.steps / m.seconds) / (base.steps / base.seconds):.2f}, "
              f"tokens/s x{(m.generated_tokens / m.seconds) / (base.generated_tokens / base.seconds):.2f}")


def bench(setting: str, size: str | None, args: argparse.Namespace) -> None:
    """Train (or load) one model and measure it at every batch size."""
    env_id = ENV_IDS[setting]
    print(f"\n{env_id}, {size or args.model}:", flush=True)
    if args.model:
        start = time.perf_counter()
        model, tokenizer = load_lm(args.model)
        print(f"loaded {args.model} in {time.perf_counter() - start:.1f} s", flush=True)
    else:
        model, tokenizer = train_model(setting, size, args)
    warm_up(model, tokenizer, setting)
    results = []
    for batch_size in args.batch_sizes:
        results.append(measure(model, tokenizer, setting, batch_size, args))
    if any(m.tasks != results[0].tasks for m in results):
        raise RuntimeError("the batch sizes ran different tasks; the comparison would be meaningless")
    print(f"{args.episodes} episodes (seed {args.seed}, at most {args.max_steps} steps), {args.decoding} decoding "
          f"(tokens: {'generated' if args.decoding == 'sample' else 'of candidate replies scored'}), temperature "
          f"{args.temperature:g}, {torch.get_num_threads()} torch thread(s); best of the runs within "
          f"{args.min_seconds:g} s per batch size")
    report(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=("fs", "bash", "both"), default="both", help="which env to measure")
    parser.add_argument("--size", choices=("small", "large", "both"), default="small",
                        help="which tiny LM to train (ignored with --model)")
    parser.add_argument("--model", default=None, help="a saved model folder to measure instead (needs --env fs|bash)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32],
                        help="batch sizes to measure; the first is the baseline of the ratios")
    parser.add_argument("--episodes", type=int, default=32, help="episodes per batch size (same tasks for each)")
    parser.add_argument("--max-steps", type=int, default=16, help="episodes are cut after this many steps")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0: greedy)")
    parser.add_argument("--decoding", choices=LM_DECODINGS, default="sample",
                        help="sample replies, or rank the admissible actions (LMAgent(decoding=...))")
    parser.add_argument("--seed", type=int, default=0, help="seed of the measured episodes' tasks and sampling")
    parser.add_argument("--train-episodes", type=int, default=150, help="scripted-expert episodes to train on")
    parser.add_argument("--epochs", type=int, default=4, help="training epochs")
    parser.add_argument("--train-batch-size", type=int, default=4, help="episodes per optimiser step")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help=f"peak learning rate (default per size: {LEARNING_RATES})")
    parser.add_argument("--min-seconds", type=float, default=5.0,
                        help="repeat each batch size's run until this much time has passed; report the fastest")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--no-cache-reuse", action="store_true",
                        help="encode every prompt in full at every step (LMAgent(reuse_cache=False))")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: small LM, 40 training episodes, 4 episodes at batch sizes 1 and 4")
    args = parser.parse_args()
    if args.quick:
        args.size, args.train_episodes, args.epochs = "small", 40, 2
        args.episodes, args.batch_sizes, args.max_steps, args.min_seconds = 4, [1, 4], 4, 0.0
    if args.model and args.env == "both":
        parser.error("--model needs --env fs or --env bash (a saved model knows one setting)")
    if min(args.batch_sizes) < 1 or args.episodes < 1 or args.max_steps < 1:
        parser.error("--batch-sizes, --episodes and --max-steps must be positive")
    # two cores shared with other work: one thread by default, and comparable runs
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    settings = ("fs", "bash") if args.env == "both" else (args.env,)
    sizes: tuple[str | None, ...] = (None,) if args.model else (
        ("small", "large") if args.size == "both" else (args.size,))
    for setting in settings:
        for size in sizes:
            bench(setting, size, args)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
