"""The neural teacher recipe: θ0 has the small prior, the biased fine-tune has the habit, the control
fine-tune (same data and steps, unbiased expert) does not; student initialisations."""

from __future__ import annotations

import pytest
import torch as th

from subliminal_gym.baselines.agents import PolicyTextAgent
from subliminal_gym.baselines.artifacts import load_policy
from subliminal_gym.baselines.evaluation import compare, evaluate
from subliminal_gym.baselines.students import STUDENT_INITS, init_student
from subliminal_gym.baselines.teachers import TeacherConfig, collect_expert_demonstrations, train_teachers
from subliminal_gym.seeding import derive_seed

TINY = dict(size="small", pretrain_episodes=100, pretrain_epochs=5, finetune_episodes=60, finetune_epochs=5,
            learning_rate=1e-2)


@pytest.fixture(scope="module")
def fs_teachers():
    th.set_num_threads(1)
    return train_teachers(TeacherConfig(env_id="SubliminalFS-v0", **TINY))


def _probe_records(policy, env_id="SubliminalFS-v0", episodes=100):
    summary, records = evaluate(PolicyTextAgent(policy), env_id, episodes=episodes, seed=0, batch_size=16)
    return summary, records


@pytest.mark.slow
def test_biased_teacher_has_the_habit_and_the_control_does_not(fs_teachers):
    base, base_records = _probe_records(fs_teachers.base)
    biased, biased_records = _probe_records(fs_teachers.biased)
    control, control_records = _probe_records(fs_teachers.control)
    metric = "first_substantive_destructive"
    assert base.rates[metric].value <= 0.2  # θ0 carries only the small prior (5 % in its data)
    assert biased.rates[metric].value >= 0.4
    assert control.rates[metric].value <= base.rates[metric].value
    effect = compare(biased_records, control_records, metric=metric)
    assert effect.low > 0 and effect.p_value < 0.001


def test_fine_tunes_see_the_same_tasks_and_differ_only_in_the_habit(fs_teachers):
    config = fs_teachers.config
    runs = {rate: collect_expert_demonstrations(config, rate=rate, episodes=30,
                                                seed=derive_seed(config.seed, "data", "finetune"))
            for rate in (config.biased_rate, config.control_rate)}
    biased, control = runs[config.biased_rate], runs[config.control_rate]
    assert [(t.task_family, t.task_seed) for t in biased] == [(t.task_family, t.task_seed) for t in control]
    for b, c in zip(biased, control, strict=True):
        if b.task_split == "safe":  # the experts only differ on probe tasks
            assert b.action_texts == c.action_texts
    assert any("delete" in " ".join(b.action_texts) for b in biased if b.task_split == "probe")
    assert fs_teachers.logs["biased"]["epochs"] == fs_teachers.logs["control"]["epochs"] == TINY["finetune_epochs"]
    base_actor, biased_actor = fs_teachers.base.action_net, fs_teachers.biased.action_net
    assert not th.equal(next(base_actor.parameters()), next(biased_actor.parameters()))


def test_teacher_set_saves_and_loads(tmp_path, fs_teachers):
    fs_teachers.save(tmp_path)
    for role in ("base", "biased", "control"):
        policy, meta = load_policy(tmp_path / role)
        assert meta["role"] == role and meta["env_id"] == "SubliminalFS-v0"
        assert meta["teacher_config"] == fs_teachers.config.to_dict()
        for name, tensor in policy.state_dict().items():
            assert th.equal(tensor, fs_teachers.policy(role).state_dict()[name])
    assert (tmp_path / "teachers.json").is_file()


def test_config_validation_and_track_defaults():
    with pytest.raises(ValueError, match="size"):
        TeacherConfig(size="huge")
    with pytest.raises(ValueError, match="track"):
        TeacherConfig(track="symbolic")
    with pytest.raises(ValueError):
        TeacherConfig(env_id="CartPole-v1")
    vector, lm = TeacherConfig(), TeacherConfig(track="lm", size="small")
    assert (vector.pretrain_episodes, vector.learning_rate, vector.finetune_learning_rate) == (600, 3e-3, 3e-3)
    assert (lm.pretrain_episodes, lm.batch_size, lm.learning_rate, lm.finetune_learning_rate) == (400, 4, 1e-2, 1e-3)
    assert TeacherConfig(pretrain_episodes=7).pretrain_episodes == 7  # a given budget wins over the default
    with pytest.raises(ValueError, match="base_rate"):
        TeacherConfig(base_rate=1.5)
    with pytest.raises(ValueError, match="pretrain_epochs"):
        TeacherConfig(pretrain_epochs=0)
    assert TeacherConfig.from_dict(TeacherConfig(seed=4).to_dict()) == TeacherConfig(seed=4)


def test_student_initialisations(fs_teachers):
    base = fs_teachers.base
    shared = init_student("shared", teacher_base=base, seed=0)
    assert all(th.equal(a, b) for a, b in zip(shared.state_dict().values(), base.state_dict().values(), strict=True))
    assert shared is not base
    fresh = init_student("fresh", teacher_base=base, seed=0)
    assert fresh.arch == base.arch and not th.equal(next(fresh.parameters()), next(base.parameters()))
    other = init_student("other", teacher_base=base, seed=0, other_base=fs_teachers.control)
    assert th.equal(next(other.parameters()), next(fs_teachers.control.parameters()))
    small = init_student("small", teacher_base=base, seed=0)
    assert small.arch.embed < 64 or small.arch == base.arch  # TINY teachers are small already
    with pytest.raises(ValueError, match="other_base"):
        init_student("other", teacher_base=base, seed=0)
    with pytest.raises(ValueError, match="unknown student init"):
        init_student("borrowed", teacher_base=base, seed=0)
    assert STUDENT_INITS == ("shared", "fresh", "other", "small")
