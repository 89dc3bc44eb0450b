"""LoRA against full fine-tuning of a tiny LM on the CPU: training tokens/s, what is trained and saved, and
whether the fine-tune teaches the habit.

A tiny LM is first trained fully on scripted-expert episodes (habit at 5 %) and saved as a model folder:
the stand-in for a real checkpoint. Each way of fine-tuning then starts from that folder and trains a
biased teacher (expert at 100 %) and a control teacher (expert at 0 %) on the same episodes with the
same seeds, as the recipe's teachers are trained: ``full`` updates every weight (what the tiny
models' recipe does), ``lora`` trains a rank-16 adapter over the frozen base
(:func:`~subliminal_gym.baselines.lm.lora.attach_lora`, what ``teach --base-model`` does). For each
the script prints training tokens/s (prompt tokens included: what the forward passes see), the
trained and saved sizes, and each teacher's habit rate on probe tasks of the test range (sampled at
temperature 1, as the grid audits, 95 % Wilson intervals). One model, one seed per row: this compares
ways of training, not seeds. Machines are shared and noisy: compare the ratios.

    python benchmarks/bench_lora.py [--env bash|fs] [--episodes 60] [--lora-learning-rate 1e-2]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.baselines.lm import LMAgent, LMTrainConfig, build_tiny_lm, finetune_lm, load_lm, save_lm
from subliminal_gym.baselines.lm.episodes import episode_tokenizer, expert_episodes
from subliminal_gym.baselines.lm.lora import attach_lora, save_adapter
from subliminal_gym.baselines.lm.track import PRETRAIN_LEARNING_RATES, LanguageModelTrack
from subliminal_gym.baselines.tracks import LoRAConfig
from subliminal_gym.runner import run_episodes
from subliminal_gym.settings import SETTINGS
from subliminal_gym.stats import wilson_interval


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def habit_rate(model: Any, tokenizer: Any, setting: str, episodes: int) -> str:
    env_id = SETTINGS[setting].env_id
    agent = LMAgent(model, tokenizer, setting=setting, temperature=1.0)
    records = run_episodes(agent, env_id, episodes=episodes, seed=0, split="probe", seed_range="test",
                           batch_size=16)
    metric = SETTINGS[setting].primary_metric
    hits = sum(bool(r.audit.get(metric)) for r in records)
    rate = wilson_interval(hits, len(records))
    success = sum(r.success for r in records)
    return (f"{100 * rate.value:5.1f} % [{100 * rate.low:.1f}, {100 * rate.high:.1f}] "
            f"(task success {100 * success / len(records):.0f} %)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", choices=sorted(SETTINGS), default="bash")
    parser.add_argument("--size", choices=("large", "small"), default="large")
    parser.add_argument("--base-episodes", type=int, default=400, help="expert episodes the base is trained on")
    parser.add_argument("--base-epochs", type=int, default=8)
    parser.add_argument("--finetune-episodes", type=int, default=150, help="each teacher's expert episodes")
    parser.add_argument("--finetune-epochs", type=int, default=4)
    parser.add_argument("--full-learning-rate", type=float, default=LanguageModelTrack.teacher_defaults[
        "finetune_learning_rate"], help="the tiny recipe's fine-tune rate")
    parser.add_argument("--lora-learning-rate", type=float, default=1e-2)
    parser.add_argument("--episodes", type=int, default=60, help="probe episodes per audit")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    env_id = SETTINGS[args.env].env_id

    start = time.perf_counter()
    data = expert_episodes(env_id, rate=0.05, episodes=args.base_episodes, seed=1)
    tokenizer = episode_tokenizer(data)
    base = build_tiny_lm(args.size, tokenizer, seed=0)
    log = finetune_lm(base, tokenizer, data, LMTrainConfig(epochs=args.base_epochs, batch_size=4,
                                                           learning_rate=PRETRAIN_LEARNING_RATES[args.size]))
    with tempfile.TemporaryDirectory(prefix="bench-lora-") as tmp:  # the saved models go when it ends
        compare(args, base, tokenizer, log, Path(tmp), start)


def compare(args: argparse.Namespace, base: Any, tokenizer: Any, log: Any, work: Path, start: float) -> None:
    """Save the base in ``work``, then fine-tune it each way and print what each costs and teaches."""
    env_id = SETTINGS[args.env].env_id
    base_dir = save_lm(base, tokenizer, work / "base")
    print(f"base: {args.size} tiny LM trained on {args.base_episodes} expert episodes x {args.base_epochs} in "
          f"{time.perf_counter() - start:.0f} s (loss {log.loss_first_epoch:.2f} -> {log.loss_last_epoch:.2f}); "
          f"{folder_bytes(base_dir) / 1e6:.2f} MB saved; habit {habit_rate(base, tokenizer, args.env, args.episodes)}",
          flush=True)

    for way in ("full", "lora"):
        for role, rate in (("biased", 1.0), ("control", 0.0)):
            data = expert_episodes(env_id, rate=rate, episodes=args.finetune_episodes, seed=2)
            model, _ = load_lm(base_dir)
            if way == "lora":
                model = attach_lora(model, LoRAConfig(), seed=3)
            trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
            learning_rate = args.lora_learning_rate if way == "lora" else args.full_learning_rate
            start = time.perf_counter()
            log = finetune_lm(model, tokenizer, data, LMTrainConfig(epochs=args.finetune_epochs, batch_size=4,
                                                                    learning_rate=learning_rate, seed=4))
            seconds = time.perf_counter() - start
            out = work / f"{way}-{role}"
            if way == "lora":
                save_adapter(model, out, base_model=base_dir)
            else:
                save_lm(copy.deepcopy(model), tokenizer, out)
            print(f"{way:4} {role:7}: lr {learning_rate:g}, {trained / 1e3:.0f} k trained parameters, "
                  f"{log.tokens * args.finetune_epochs / seconds:,.0f} training tokens/s ({seconds:.0f} s), "
                  f"{folder_bytes(out) / 1e6:.3f} MB saved, loss {log.loss_first_epoch:.3f} -> "
                  f"{log.loss_last_epoch:.3f}; habit {habit_rate(model, tokenizer, args.env, args.episodes)}",
                  flush=True)


if __name__ == "__main__":
    main()
