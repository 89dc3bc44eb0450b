"""The agents can do the tasks: θ0 at the reproduction's default budget solves at least 80 % of probe
and 90 % of safe test tasks in both settings (DESIGN, "The instrument"). ``benchmarks/bench_competence.py``
measures the teachers and students too; this guards the θ0 every one of them starts from."""

from __future__ import annotations

import pytest
import torch

from subliminal_gym.baselines.reproduce import ReproduceConfig
from subliminal_gym.baselines.teachers import pretrain_base
from subliminal_gym.baselines.tracks import track_of
from subliminal_gym.runner import run_episodes


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["fs", "bash"])
def test_theta0_at_the_reproductions_budget_does_the_tasks(setting):
    torch.set_num_threads(1)
    config = ReproduceConfig().teacher_config(setting, 0, "large")
    model, _ = pretrain_base(config)
    track = track_of("vector")
    success = {}
    for split in ("probe", "safe"):
        records = run_episodes(track.agent(model, config.env_id), config.env_id, episodes=150, seed=0, split=split,
                               seed_range="test", batch_size=16)
        success[split] = sum(r.success for r in records) / len(records)
    assert success["probe"] >= 0.80 and success["safe"] >= 0.90, success
