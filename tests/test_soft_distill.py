"""Soft-label distillation and logit regression: they fit the teacher, and sanitised actions get the
treatment each mode promises (zero: pushed to 0; drop: no gradient at all)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch as th

from subliminal_gym.baselines.policies import MASKED_LOGIT, build_policy, policy_logits
from subliminal_gym.baselines.soft_distill import (
    DistillLog,
    logit_regression,
    logit_regression_loss,
    soft_label_distill,
    soft_label_loss,
)
from subliminal_gym.settings import setting_of
from subliminal_gym.views import make_view_env

th.set_num_threads(1)

FAST = {"epochs": 10, "batch_size": 32, "learning_rate": 1e-2}


def _collect(env_id: str, n: int, sanitized_verbs: tuple[str, ...]):
    """``n`` view observations of the unbiased scripted expert on safe tasks, and the sanitised slots."""
    env = make_view_env(env_id, split="safe")
    expert = setting_of(env_id).make_expert(bias=0.0, rng=np.random.default_rng(0))
    observations = []
    episode = 0
    while len(observations) < n:
        obs, info = env.reset(seed=episode)
        episode += 1
        done = False
        while not done and len(observations) < n:
            observations.append(obs)
            obs, _, terminated, truncated, info = env.step(env.index_of(expert.act(env)))
            done = terminated or truncated
    observations = np.stack(observations)
    layout = env.layout
    sanitized = np.isin(layout.slot_verbs(observations), [layout.verb_index(v) for v in sanitized_verbs])
    return layout, observations, sanitized


def _sharp_teacher(layout, seed: int = 1):
    """A random small policy with its scores scaled up, so its distributions are far from uniform."""
    teacher = build_policy(layout, "small", seed=seed)
    with th.no_grad():
        teacher.action_net.scorer[-1].weight.mul_(300.0)
    return teacher


def _probabilities(policy, observations):
    logits = policy_logits(policy, observations).astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def fs():
    layout, observations, sanitized = _collect("SubliminalFS-v0", 200, ("delete_file", "delete_dir"))
    return layout, observations, sanitized, _sharp_teacher(layout)


def test_the_fixture_has_sanitised_slots_in_most_states(fs):
    layout, observations, sanitized, _ = fs
    assert sanitized.any(axis=1).mean() > 0.5
    assert not (sanitized & ~layout.slot_mask(observations)).any()


@pytest.mark.parametrize("mode", ["zero", "drop", "none"])
def test_soft_label_distillation_fits_the_teacher(fs, mode):
    layout, observations, sanitized, teacher = fs
    student = build_policy(layout, "small", seed=2)
    log = soft_label_distill(student, teacher, observations, sanitized=sanitized, mode=mode,
                             rng=np.random.default_rng(0), **FAST)
    assert isinstance(log, DistillLog) and (log.method, log.mode, log.epochs) == ("soft_label", mode, 10)
    assert log.steps == 10 * math.ceil(200 / 32)
    assert (log.states_used, log.states_skipped) == (200, 0)
    assert log.final_loss < 0.2 * log.initial_loss
    assert log.losses[-1] < log.losses[0]
    assert log.final_agreement > log.initial_agreement + 0.3
    assert not student.training
    json.dumps(log.to_dict())


def test_zero_mode_pushes_sanitised_mass_to_zero_and_drop_mode_does_not(fs):
    layout, observations, sanitized, teacher = fs
    mass = {}
    for mode in ("zero", "drop"):
        student = build_policy(layout, "small", seed=2)
        soft_label_distill(student, teacher, observations, sanitized=sanitized, mode=mode,
                           rng=np.random.default_rng(0), **FAST)
        mass[mode] = (_probabilities(student, observations) * sanitized).sum(axis=1).mean()
    assert mass["zero"] < 0.02
    assert mass["drop"] > 0.05  # drop gives no signal there, so the mass stays near where it started


def _batch(fs, n: int = 16):
    layout, observations, sanitized, teacher = fs
    student = build_policy(layout, "small", seed=2)
    student_logits = student.action_logits(th.from_numpy(observations[:n])).detach().requires_grad_(True)
    teacher_logits = th.from_numpy(policy_logits(teacher, observations[:n]))
    valid = th.from_numpy(layout.slot_mask(observations[:n]))
    return student_logits, teacher_logits, valid, th.from_numpy(sanitized[:n])


def test_drop_mode_loss_has_exactly_zero_gradient_at_sanitised_and_empty_slots(fs):
    student_logits, teacher_logits, valid, sanitized = _batch(fs)
    assert sanitized.any()
    soft_label_loss(student_logits, teacher_logits, valid, sanitized, "drop", 2.0).backward()
    grad = student_logits.grad
    assert (grad[sanitized] == 0).all()
    assert (grad[~valid] == 0).all()
    assert (grad[valid & ~sanitized] != 0).any()


def test_zero_mode_loss_pushes_down_every_sanitised_logit(fs):
    student_logits, teacher_logits, valid, sanitized = _batch(fs)
    soft_label_loss(student_logits, teacher_logits, valid, sanitized, "zero", 1.0).backward()
    assert (student_logits.grad[sanitized] > 0).all()  # gradient descent lowers them
    assert (student_logits.grad[~valid] == 0).all()


def _hinton(student, teacher, student_support, teacher_support, temperature):
    def log_softmax(x, support):
        x = np.where(support, x / temperature, -np.inf)
        return x - np.log(np.exp(x - x.max()).sum()) - x.max()

    log_t, log_s = log_softmax(teacher, teacher_support), log_softmax(student, student_support)
    return temperature**2 * sum(np.exp(log_t[i]) * (log_t[i] - log_s[i]) for i in np.flatnonzero(teacher_support))


def test_soft_label_loss_is_hintons_kl_on_each_mode():
    rng = np.random.default_rng(0)
    student, teacher = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    valid = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]], dtype=bool)
    sanitized = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [1, 1, 0, 0, 0]], dtype=bool)  # row 2: all sanitised
    student[~valid] = MASKED_LOGIT
    kept = valid & ~sanitized
    expected = {
        "none": np.mean([_hinton(student[i], teacher[i], valid[i], valid[i], 2.0) for i in range(3)]),
        "zero": np.mean([_hinton(student[i], teacher[i], valid[i], kept[i], 2.0) for i in range(2)]),
        "drop": np.mean([_hinton(student[i], teacher[i], kept[i], kept[i], 2.0) for i in range(2)]),
    }
    tensors = [th.tensor(a) for a in (student, teacher, valid, sanitized)]
    for mode, value in expected.items():
        assert float(soft_label_loss(*tensors, mode, 2.0)) == pytest.approx(value, rel=1e-9)
    assert len(set(expected.values())) == 3
    assert float(soft_label_loss(*tensors[:3], None, "none", 2.0)) == pytest.approx(expected["none"], rel=1e-9)


def test_logit_regression_loss_ignores_excluded_slots_and_per_state_constants(fs):
    student_logits, teacher_logits, valid, sanitized = _batch(fs)
    loss = logit_regression_loss(student_logits, teacher_logits, valid, sanitized)
    loss.backward()
    loss = loss.detach()
    grad = student_logits.grad
    assert (grad[sanitized] == 0).all() and (grad[~valid] == 0).all()
    assert (grad[valid & ~sanitized] != 0).any()
    shift = th.linspace(-50.0, 50.0, len(teacher_logits)).unsqueeze(1)
    with th.no_grad():
        shifted = logit_regression_loss(student_logits, teacher_logits + shift, valid, sanitized)
        # changing only sanitised slots of the teacher changes nothing either
        poked = logit_regression_loss(student_logits, teacher_logits + 100.0 * sanitized, valid, sanitized)
        fitted = logit_regression_loss(teacher_logits - shift, teacher_logits, valid, sanitized)
    assert float(shifted) == pytest.approx(float(loss), rel=1e-4)
    assert float(poked) == float(loss)
    assert float(fitted) == pytest.approx(0.0, abs=1e-8)
    assert float(loss) > 0.1


def test_logit_regression_fits_the_teacher(fs):
    layout, observations, sanitized, teacher = fs
    student = build_policy(layout, "small", seed=2)
    log = logit_regression(student, teacher, observations, sanitized=sanitized, rng=np.random.default_rng(0), **FAST)
    assert (log.method, log.mode, log.temperature) == ("logit_regression", "drop", None)
    assert log.final_loss < 0.2 * log.initial_loss
    assert log.final_agreement > log.initial_agreement + 0.3
    assert not student.training


def test_same_seed_same_student_and_the_teacher_is_untouched(fs):
    layout, observations, sanitized, teacher = fs
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    weights, logs = [], []
    for seed in (7, 7, 8):
        student = build_policy(layout, "small", seed=2)
        logs.append(soft_label_distill(student, teacher, observations[:64], sanitized=sanitized[:64], mode="zero",
                                       epochs=2, batch_size=16, rng=np.random.default_rng(seed)))
        weights.append(student.state_dict())
    assert logs[0] == logs[1]
    assert all(th.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(th.equal(weights[0][k], weights[2][k]) for k in weights[0])
    assert all(th.equal(before[k], v) for k, v in teacher.state_dict().items())


def test_states_with_only_sanitised_actions_are_skipped(fs):
    layout, observations, sanitized, teacher = fs
    sanitized = sanitized[:40].copy()
    sanitized[:10] = layout.slot_mask(observations[:10])
    student = build_policy(layout, "small", seed=2)
    log = soft_label_distill(student, teacher, observations[:40], sanitized=sanitized, mode="drop", epochs=1,
                             batch_size=64, rng=np.random.default_rng(0))
    assert (log.states_used, log.states_skipped, log.steps) == (30, 10, 1)
    log = soft_label_distill(student, teacher, observations[:40], sanitized=sanitized, mode="none", epochs=1,
                             rng=np.random.default_rng(0))
    assert (log.states_used, log.states_skipped) == (40, 0)
    with pytest.raises(ValueError, match="no usable state"):
        logit_regression(student, teacher, observations[:10], sanitized=sanitized[:10], epochs=1,
                         batch_size=8, learning_rate=1e-3, rng=np.random.default_rng(0), progress=False)


def test_bash_zero_mode_on_rm_and_chmod():
    layout, observations, sanitized = _collect("SubliminalBash-v0", 100, ("rm", "chmod"))
    assert sanitized.any(axis=1).mean() > 0.5
    student = build_policy(layout, "small", seed=2)
    log = soft_label_distill(student, _sharp_teacher(layout), observations, sanitized=sanitized, mode="zero",
                             rng=np.random.default_rng(0), **FAST)
    assert log.final_loss < log.initial_loss
    assert (_probabilities(student, observations) * sanitized).sum(axis=1).mean() < 0.02


def test_progress_bar(fs, capsys):
    layout, observations, sanitized, teacher = fs
    soft_label_distill(build_policy(layout, "small", seed=2), teacher, observations[:8], sanitized=sanitized[:8],
                       epochs=1, rng=np.random.default_rng(0), progress=True)
    assert "distill" in capsys.readouterr().err


def test_misuse_raises(fs):
    layout, observations, sanitized, teacher = fs
    obs, san = observations[:8], sanitized[:8]
    student = build_policy(layout, "small", seed=2)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown mode"):
        soft_label_distill(student, teacher, obs, sanitized=san, mode="soft", rng=rng)
    for mode in ("zero", "drop"):
        with pytest.raises(ValueError, match="needs a `sanitized`"):
            soft_label_distill(student, teacher, obs, sanitized=None, mode=mode, rng=rng)
    with pytest.raises(ValueError, match="sanitized must have shape"):
        soft_label_distill(student, teacher, obs, sanitized=san[:, :10], rng=rng)
    with pytest.raises(ValueError, match="sanitized must have shape"):
        logit_regression(student, teacher, obs, sanitized=sanitized[:7], rng=rng)
    with pytest.raises(TypeError, match="boolean"):
        soft_label_distill(student, teacher, obs, sanitized=san.astype(np.int64), rng=rng)
    with pytest.raises(ValueError, match="observations must have shape"):
        soft_label_distill(student, teacher, obs[:, :-1], sanitized=san, rng=rng)
    with pytest.raises(ValueError, match="temperature"):
        soft_label_distill(student, teacher, obs, sanitized=san, temperature=0.0, rng=rng)
    with pytest.raises(ValueError, match="epochs"):
        soft_label_distill(student, teacher, obs, sanitized=san, epochs=0, rng=rng)
    with pytest.raises(ValueError, match="batch_size"):
        logit_regression(student, teacher, obs, sanitized=san, batch_size=0, rng=rng)
    bash = make_view_env("SubliminalBash-v0").layout
    with pytest.raises(ValueError, match="different view layouts"):
        soft_label_distill(build_policy(bash, "small", seed=0), teacher, obs, sanitized=san, rng=rng)
    logits = th.zeros(2, 4)
    with pytest.raises(ValueError, match="shapes"):
        soft_label_loss(logits, th.zeros(2, 5), th.ones(2, 4, dtype=th.bool), None, "none")
    with pytest.raises(ValueError, match="shapes"):
        logit_regression_loss(logits, logits, th.ones(2, 4, dtype=th.bool), th.ones(3, 4, dtype=th.bool))
