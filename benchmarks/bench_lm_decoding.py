"""Competence of a tiny LM by decoding mode: free generation against ranking the admissible actions.

Trains the small tiny LM with ``bench_lm.py``'s ``train_model`` (scripted-expert episodes, habit rate 0.05,
train seed range, its own BPE tokenizer), then runs it as an
:class:`~subliminal_gym.baselines.lm.LMAgent` on the same test-range probe and safe tasks in each
decoding mode (``sample``: generate and parse; ``ranked``: choose among ``info["admissible_actions"]``)
at temperature 1 and greedily, and prints the success rate (with its 95 % Wilson interval), the
habit rate, the mean episode length and the wall time of each. One model, one training seed: this
compares decodings of the same weights, it is not a seed-level result.

With ``--by-family`` it also prints each task family's successes, to see which tasks a mode solves;
``--observation-chars`` changes how much of each observation training and the agent keep (the
default, 600, is the LM track's), ``--context`` the model's context (training cuts episodes there,
the agent drops older turns past it; the tiny models' is 1024 tokens). ``--family NAME`` trains on that
task family's expert episodes only and tests on it only: whether the model can learn the family at
all when every training episode is one of it (FS's duplicate_downloads and rotate_old_logs are never
solved in the mixed runs). ``--loss-on text`` trains on every token of the episodes (the listings the
env printed too), not only the replies: whether modelling the observations teaches what the choice needs.

    python benchmarks/bench_lm_decoding.py [--env fs|bash|both] [--train-episodes 150] [--epochs 4]
                                           [--episodes 30] [--size small|large] [--decodings sample ranked]
                                           [--by-family] [--observation-chars 600] [--context 1024]
                                           [--family NAME] [--loss-on replies|text]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import torch
from bench_lm import LEARNING_RATES, train_model  # the same model, trained the same way

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.baselines.lm import LMAgent
from subliminal_gym.baselines.lm.train import LOSS_TARGETS
from subliminal_gym.baselines.tracks import LM_DECODINGS
from subliminal_gym.command_line import positive_int
from subliminal_gym.runner import run_episodes
from subliminal_gym.settings import SETTINGS
from subliminal_gym.stats import wilson_interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=("fs", "bash", "both"), default="both")
    parser.add_argument("--size", choices=tuple(LEARNING_RATES), default="small")
    parser.add_argument("--train-episodes", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=30, help="test-range episodes per split and mode")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--decodings", nargs="+", choices=LM_DECODINGS, default=list(LM_DECODINGS))
    parser.add_argument("--by-family", action="store_true", help="also print successes per task family")
    parser.add_argument("--observation-chars", type=positive_int, default=600,
                        help="observations are cut to this many characters, in training and in the prompt")
    parser.add_argument("--context", type=int, default=None,
                        help="the model's context in tokens: training cuts episodes there and the agent drops "
                             "older turns past it (default: the tiny models' 1024)")
    parser.add_argument("--family", default=None,
                        help="train on this task family's expert episodes only and test on it only")
    parser.add_argument("--loss-on", choices=LOSS_TARGETS, default="replies",
                        help="train on the replies only (the track's way) or on every token of the episodes")
    args = parser.parse_args()
    if args.family and args.env == "both":
        parser.error("--family needs --env fs or --env bash (families are per env)")
    if args.family and args.family not in SETTINGS[args.env].families:
        parser.error(f"unknown --family {args.family!r} for {args.env}; known: "
                     f"{', '.join(SETTINGS[args.env].families)}")
    if args.context is not None and args.context < 64:
        parser.error("--context must be at least 64 tokens")
    torch.set_num_threads(1)
    for name in (("fs", "bash") if args.env == "both" else (args.env,)):
        setting = SETTINGS[name]
        model, tokenizer = train_model(name, args.size, argparse.Namespace(
            train_episodes=args.train_episodes, epochs=args.epochs, train_batch_size=4, learning_rate=None,
            observation_chars=args.observation_chars, context=args.context, family=args.family,
            loss_on=args.loss_on))
        print(f"{args.episodes} test-range episodes per row\n")
        habit_name = setting.metric_name(setting.primary_metric)
        print(f"{'decoding':8} {'temp':>4} {'split':5} {'success %':>22} {habit_name:>14} {'steps/ep':>8} "
              f"{'seconds':>7}")
        for decoding in args.decodings:
            for temperature in (1.0, 0.0):
                for split in ((setting.families[args.family].split,) if args.family else ("probe", "safe")):
                    started = time.perf_counter()
                    agent = LMAgent(model, tokenizer, setting=name, temperature=temperature, decoding=decoding,
                                    max_observation_chars=args.observation_chars)
                    records = run_episodes(agent, setting.env_id, episodes=args.episodes, seed=0, split=split,
                                           seed_range="test", batch_size=args.batch_size,
                                           env_kwargs={"task_family": args.family} if args.family else None)
                    wins = sum(r.success for r in records)
                    rate = wilson_interval(wins, len(records))
                    low, high = rate.low, rate.high
                    habit = sum(bool(r.audit.get(setting.primary_metric)) for r in records) / len(records)
                    print(f"{decoding:8} {temperature:>4g} {split:5} "
                          f"{100 * wins / len(records):>6.1f} [{100 * low:4.1f}, {100 * high:5.1f}] "
                          f"{100 * habit:>13.1f}% {sum(r.steps for r in records) / len(records):>8.1f} "
                          f"{time.perf_counter() - started:>7.1f}", flush=True)
                    if args.by_family:
                        tried, solved = Counter(r.task_family for r in records), Counter(
                            r.task_family for r in records if r.success)
                        print("    " + ", ".join(f"{family} {solved[family]}/{n}"
                                                  for family, n in sorted(tried.items())))


if __name__ == "__main__":
    main()
