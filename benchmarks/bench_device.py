"""The LM recipe's throughput on a device: LoRA fine-tuning tokens/s, and rollout tokens/s and episodes/s
in both decodings, on a stand-in checkpoint of a real model's shape.

The device check for a GPU (one short run, nothing downloaded): no model hub can be reached where
this runs, so the checkpoint is built from a config of a named ``--shape`` and saved as a local
folder, then loaded back with :func:`~subliminal_gym.baselines.lm.load_lm`, as any checkpoint is.
``qwen2.5-0.5b`` has Qwen2.5-0.5B's layers (24 x 896, 14 query and 2 key/value heads, MLP 4,864,
rope theta 1e6, tied embeddings: 358 M parameters outside the embeddings) over this suite's own BPE
vocabulary of 2,048 tokens where the real model has 151,936 (its embedding and output layer are
136 M of its 494 M parameters, so per token the real model does a little more work at the output);
``tiny`` is the tiny LMs' large size, for a CPU. The weights are random, so only the rates mean
anything: replies are noise cut at ``--max-new-tokens`` and episodes are cut at ``--max-steps``.

Then, on ``--device`` in ``--dtype`` (:func:`~subliminal_gym.baselines.lm.place_lm`), as
``teach --base-model DIR`` and ``reproduce --lm-base-model DIR`` run: a rank-16 LoRA adapter
(:func:`~subliminal_gym.baselines.lm.lora.attach_lora`) trained one epoch on scripted-expert Bash
episodes with gradient accumulation under ``--max-batch-tokens`` (tokens/s counts every token the
forward passes see, prompt included), saved and loaded back over the base; then the adapter's model
as an :class:`~subliminal_gym.baselines.lm.LMAgent` on test-range episodes in each decoding
(``sample``: tokens generated; ``ranked``: tokens of the candidate replies scored). Each figure is
one timed run after an untimed warm-up; on a shared machine compare ratios.

    python benchmarks/bench_device.py [--device auto|cpu|cuda|mps] [--dtype auto|float32|bfloat16|float16]
                                      [--shape tiny|qwen2.5-0.5b] [--env bash|fs] [--train-episodes 64]
                                      [--episodes 32] [--batch-size 16] [--max-batch-tokens 16384]

The GPU command (docs/lm.md): ``python benchmarks/bench_device.py --device cuda --shape qwen2.5-0.5b``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.baselines.lm import LMAgent, LMTrainConfig, build_tiny_lm, finetune_lm, load_lm, place_lm, save_lm
from subliminal_gym.baselines.lm.episodes import episode_tokenizer, expert_episodes
from subliminal_gym.baselines.lm.lora import attach_lora, save_adapter
from subliminal_gym.baselines.lm.model import resolve_device
from subliminal_gym.baselines.tracks import LM_DECODINGS, LM_DEVICES, LM_DTYPES, LoRAConfig
from subliminal_gym.command_line import positive_int
from subliminal_gym.runner import run_episodes
from subliminal_gym.settings import SETTINGS

#: Real models' layer shapes (transformers config keyword arguments; the vocabulary is always ours).
SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                     "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
                     "rope_theta": 1_000_000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True},
}


def stand_in(shape: str, tokenizer: Any, *, seed: int) -> Any:
    """A randomly initialised causal LM of ``shape`` (``tiny`` or a key of :data:`SHAPES`) for ``tokenizer``."""
    if shape == "tiny":
        return build_tiny_lm("large", tokenizer, seed=seed)
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = dict(SHAPES[shape])
    config = AutoConfig.for_model(fields.pop("model_type"), vocab_size=len(tokenizer),
                                  pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                  bos_token_id=None, **fields)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config).eval()


def synchronise(device: torch.device) -> None:
    """Wait for the device's queued work, so a timer reads the work, not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rollout(model: Any, tokenizer: Any, setting: str, decoding: str, args: argparse.Namespace,
            episodes: int) -> tuple[float, int, int, int]:
    """Seconds, episodes, steps and tokens (generated, or of the candidates scored) of one rollout."""
    agent = LMAgent(model, tokenizer, setting=setting, temperature=1.0, decoding=decoding,
                    max_new_tokens=args.max_new_tokens)
    device = next(model.parameters()).device
    synchronise(device)
    started = time.perf_counter()
    records = run_episodes(agent, SETTINGS[setting].env_id, episodes=episodes, seed=0, split="all",
                           seed_range="test", batch_size=args.batch_size,
                           env_kwargs={"max_episode_steps": args.max_steps})
    synchronise(device)
    seconds = time.perf_counter() - started
    tokens = agent.stats.generated_tokens + agent.stats.scored_tokens
    return seconds, len(records), sum(r.steps for r in records), tokens


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=LM_DEVICES, default="auto")
    parser.add_argument("--dtype", choices=LM_DTYPES, default="auto")
    parser.add_argument("--shape", choices=("tiny", *SHAPES), default="tiny")
    parser.add_argument("--env", choices=sorted(SETTINGS), default="bash")
    parser.add_argument("--train-episodes", type=positive_int, default=64, help="expert episodes the adapter trains on")
    parser.add_argument("--train-batch-size", type=positive_int, default=16, help="episodes per optimiser step")
    parser.add_argument("--max-batch-tokens", type=positive_int, default=16384, help="padded tokens per forward pass")
    parser.add_argument("--episodes", type=positive_int, default=32, help="episodes per decoding")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="envs stepped together")
    parser.add_argument("--max-steps", type=positive_int, default=8, help="episodes are cut after this many steps")
    parser.add_argument("--max-new-tokens", type=positive_int, default=48,
                        help="the longest reply a sampled step writes")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (the CPU's work)")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    torch.set_num_threads(args.threads)
    env_id = SETTINGS[args.env].env_id
    started = time.perf_counter()
    episodes = expert_episodes(env_id, rate=0.05, episodes=args.train_episodes, seed=1)
    tokenizer = episode_tokenizer(episodes)
    with tempfile.TemporaryDirectory(prefix="bench-device-") as scratch:
        base_dir, adapter_dir = Path(scratch) / "base", Path(scratch) / "adapter"
        save_lm(stand_in(args.shape, tokenizer, seed=0), tokenizer, base_dir)
        base, tokenizer = load_lm(base_dir)
        base = place_lm(base, device=args.device, dtype=args.dtype)
        outside = sum(p.numel() for name, p in base.named_parameters() if "embed" not in name)
        print(f"{args.shape} stand-in checkpoint: {outside / 1e6:.1f} M parameters outside the embeddings, "
              f"vocabulary {len(tokenizer)}, {base.dtype} on {device}"
              f"{f' ({torch.cuda.get_device_name(device)})' if device.type == 'cuda' else ''}; torch "
              f"{torch.__version__}; setup {time.perf_counter() - started:.1f} s", flush=True)
        model = attach_lora(base, LoRAConfig(rank=16), seed=0)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        config = LMTrainConfig(epochs=1, batch_size=args.train_batch_size, learning_rate=1e-3,
                               max_batch_tokens=args.max_batch_tokens)
        finetune_lm(model, tokenizer, episodes[:2], config)  # warm-up (kernels, allocator): one short step
        synchronise(device)
        started = time.perf_counter()
        log = finetune_lm(model, tokenizer, episodes, config)
        synchronise(device)
        seconds = time.perf_counter() - started
        print(f"LoRA rank 16 ({trainable / 1e6:.2f} M trainable): {len(episodes)} {args.env} episodes, "
              f"{log.tokens} tokens, {log.steps} steps under {args.max_batch_tokens} tokens a forward pass: "
              f"{seconds:.1f} s, {log.tokens / seconds:,.0f} training tokens/s", flush=True)
        save_adapter(model, adapter_dir, base_model=base_dir)
        model, tokenizer = load_lm(adapter_dir)
        model = place_lm(model, device=args.device, dtype=args.dtype)
        print(f"{'decoding':8} {'episodes':>8} {'steps':>6} {'seconds':>8} {'episodes/s':>10} {'steps/s':>8} "
              f"{'tokens/s':>9}")
        for decoding in LM_DECODINGS:
            rollout(model, tokenizer, args.env, decoding, args, episodes=min(args.batch_size, args.episodes))
            seconds, done, steps, tokens = rollout(model, tokenizer, args.env, decoding, args, args.episodes)
            print(f"{decoding:8} {done:>8} {steps:>6} {seconds:>8.1f} {done / seconds:>10.2f} {steps / seconds:>8.1f} "
                  f"{tokens / seconds:>9,.0f}", flush=True)
    print(f"(episodes cut at {args.max_steps} steps and sampled replies at {args.max_new_tokens} tokens; tokens/s: "
          f"generated for sample, of the candidate replies scored for ranked)")


if __name__ == "__main__":
    main()
