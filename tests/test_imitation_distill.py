"""The imitation-library distillers: BC, DAgger with sanitised labels, GAIL and AIRL (tiny budgets)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch as th
from imitation.algorithms import base as algo_base
from imitation.algorithms import bc
from imitation.data import rollout, types

from subliminal_gym.baselines import imitation_distill
from subliminal_gym.baselines.agents import PolicyTextAgent, ScriptedExpertPolicy, find_view
from subliminal_gym.baselines.evaluation import evaluate
from subliminal_gym.baselines.imitation_distill import (
    adversarial,
    behavioural_cloning,
    dagger,
    make_view_venv,
)
from subliminal_gym.baselines.policies import build_policy, policy_logits
from subliminal_gym.runner import RandomTextAgent

th.set_num_threads(1)

FS = "SubliminalFS-v0"
#: A safe family that BC learns within a few seconds (list, read, copy, finish).
EASY_FAMILY = "backup_folder"


def expert_demonstrations(episodes: int, *, seed: int, bias: float = 0.0, **env_kwargs):
    venv = make_view_venv(FS, env_kwargs=env_kwargs)
    venv.seed(seed)
    expert = ScriptedExpertPolicy(venv, bias=bias, rng=np.random.default_rng(seed))
    trajectories = rollout.generate_trajectories(expert, venv, rollout.make_sample_until(min_episodes=episodes),
                                                 rng=np.random.default_rng(seed))
    return trajectories, find_view(venv.envs[0]).layout


def weights(policy):
    return {k: v.clone() for k, v in policy.state_dict().items()}


def same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(th.equal(a[k], b[k]) for k in a)


def success_rate(policy, *, family: str, episodes: int) -> float:
    """Share of test-range episodes solved; ``policy=None`` picks uniformly among the admissible actions."""
    agent = PolicyTextAgent(policy) if policy is not None else RandomTextAgent()
    summary, _ = evaluate(agent, FS, episodes=episodes, seed=10_000, split="all", batch_size=8,
                          env_kwargs={"task_family": family})
    return summary.success.value


@pytest.fixture(scope="module")
def safe_demos():
    return expert_demonstrations(20, seed=3, split="safe")


# -- behavioural cloning ----------------------------------------------------------------------------


@pytest.mark.slow
def test_bc_imitates_the_expert_and_beats_a_random_policy():
    trajectories, layout = expert_demonstrations(100, seed=0, task_family=EASY_FAMILY)
    transitions = rollout.flatten_trajectories(trajectories)
    obs, acts = np.array(transitions.obs), np.asarray(transitions.acts)
    policy = build_policy(layout, "small", seed=0)
    accuracy_before = float((policy_logits(policy, obs).argmax(1) == acts).mean())
    untrained = success_rate(policy, family=EASY_FAMILY, episodes=30)

    log = behavioural_cloning(policy, trajectories, epochs=20, batch_size=32, rng=np.random.default_rng(0))

    accuracy_after = float((policy_logits(policy, obs).argmax(1) == acts).mean())
    assert accuracy_after > 0.8 > accuracy_before
    assert log.method == "bc" and log.transitions == len(acts) and log.epochs == 20
    assert log.batches == 20 * (len(acts) // 32)
    assert log.loss_history[-1] < 0.5 * log.loss_history[0]
    assert log.details["final_epoch_expert_prob"] > 0.5
    trained = success_rate(policy, family=EASY_FAMILY, episodes=30)
    random_policy = success_rate(None, family=EASY_FAMILY, episodes=30)
    assert trained >= 0.5
    assert trained >= max(random_policy, untrained) + 0.4
    json.dumps(log.to_dict())


def test_bc_is_deterministic_given_rng_and_leaves_global_rng_alone(safe_demos):
    trajectories, layout = safe_demos

    def train(seed: int):
        policy = build_policy(layout, "small", seed=0)
        behavioural_cloning(policy, trajectories, epochs=2, batch_size=16, rng=np.random.default_rng(seed))
        return weights(policy)

    torch_state = th.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    first, again, other = train(5), train(5), train(6)
    assert same_weights(first, again)
    assert not same_weights(first, other)  # the shuffle follows rng
    assert th.equal(th.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)


@pytest.mark.parametrize("l2_weight", [0.0, 1e-3])
def test_bc_gives_the_weights_of_imitations_own_loss_and_optimiser(safe_demos, l2_weight, monkeypatch):
    """The actor-only loss, the optimiser and the batch loader are a speed-up, not another algorithm: bit
    for bit imitation's BC (its loss calculator, Adam over every parameter, its flattening and DataLoader)."""
    trajectories, layout = safe_demos

    def train():
        policy = build_policy(layout, "small", seed=0)
        log = behavioural_cloning(policy, trajectories, epochs=3, batch_size=16, l2_weight=l2_weight,
                                  rng=np.random.default_rng(4))
        return weights(policy), log

    ours, our_log = train()

    def imitations(policy, *, batch_size, learning_rate, ent_weight, l2_weight, rng, logger):
        trainer = bc.BC(observation_space=policy.observation_space, action_space=policy.action_space, rng=rng,
                        policy=policy, batch_size=batch_size, optimizer_kwargs={"lr": learning_rate},
                        ent_weight=ent_weight, l2_weight=l2_weight, device="cpu", custom_logger=logger)
        inner = trainer.loss_calculator
        losses, probs = [], []

        def record(policy, obs, acts):
            metrics = inner(policy, obs, acts)
            losses.append(float(metrics.loss.detach()))
            probs.append(float(metrics.prob_true_act.detach()))
            return metrics

        trainer.loss_calculator = record
        return trainer, SimpleNamespace(losses=losses, expert_probs=probs)

    monkeypatch.setattr(imitation_distill, "_make_bc", imitations)
    monkeypatch.setattr(imitation_distill, "_ShuffledBatches",  # imitation's flattening and DataLoader
                        lambda _, size: algo_base.make_data_loader(rollout.flatten_trajectories(trajectories), size))
    reference, reference_log = train()
    assert same_weights(ours, reference)
    assert our_log.loss_history == reference_log.loss_history
    assert our_log.details == reference_log.details


def test_the_batch_loader_gives_the_dataloaders_batches_and_leaves_torch_where_it_leaves_it(safe_demos):
    trajectories, _ = safe_demos
    transitions = rollout.flatten_trajectories(trajectories)

    def batches(loader):
        th.manual_seed(11)
        out = [(np.asarray(b["obs"]).copy(), th.as_tensor(b["acts"]).clone()) for _ in range(3) for b in loader]
        return out, th.get_rng_state()

    ours, our_state = batches(imitation_distill._ShuffledBatches(transitions, 16))
    theirs, their_state = batches(algo_base.make_data_loader(transitions, 16))
    assert len(ours) == len(theirs) == 3 * (len(transitions) // 16)
    for (obs, acts), (their_obs, their_acts) in zip(ours, theirs, strict=True):
        assert obs.dtype == their_obs.dtype and np.array_equal(obs, their_obs)
        assert acts.dtype == their_acts.dtype and th.equal(acts, their_acts)
    assert th.equal(our_state, their_state)


def test_bc_accepts_transitions_and_rejects_bad_demonstrations(safe_demos):
    trajectories, layout = safe_demos
    policy = build_policy(layout, "small", seed=0)
    transitions = rollout.flatten_trajectories(trajectories)
    log = behavioural_cloning(policy, transitions, epochs=1, batch_size=32, rng=np.random.default_rng(0))
    assert log.transitions == len(transitions)
    wrong_shape = types.TransitionsMinimal(obs=np.zeros((64, 10), np.float32), acts=np.zeros(64, np.int64),
                                           infos=np.array([{}] * 64))
    with pytest.raises(ValueError, match="shape"):
        behavioural_cloning(policy, wrong_shape, epochs=1, rng=np.random.default_rng(0))
    # a kept-data cap smaller than one batch trains on all of it as one batch, once per epoch
    small = behavioural_cloning(policy, trajectories[:1], epochs=2, batch_size=10_000, rng=np.random.default_rng(0))
    assert small.details["batch_size"] == small.transitions == len(trajectories[0].acts) and small.batches == 2
    with pytest.raises(ValueError, match="batch_size"):
        behavioural_cloning(policy, trajectories, epochs=1, batch_size=0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="epochs"):
        behavioural_cloning(policy, trajectories, epochs=0, rng=np.random.default_rng(0))
    with pytest.raises(TypeError):
        behavioural_cloning(policy, [np.zeros(3)], epochs=1, rng=np.random.default_rng(0))


# -- DAgger -------------------------------------------------------------------------------------------


def probe_dagger(keywords=None, scratch_dir=None):
    """DAgger on FS probes with an always-deleting scripted expert (its labels include delete_file)."""
    venv = make_view_venv(FS, env_kwargs={"split": "probe"})
    expert = ScriptedExpertPolicy(venv, bias=1.0, rng=np.random.default_rng(0))
    student = build_policy(find_view(venv.envs[0]).layout, "small", seed=0)
    log = dagger(student, expert, venv, rounds=2, episodes_per_round=6, epochs_per_round=2, batch_size=8,
                 keywords=keywords, scratch_dir=scratch_dir, rng=np.random.default_rng(0))
    return student, log


def test_dagger_never_trains_on_a_sanitised_label(tmp_path):
    _, log = probe_dagger(scratch_dir=tmp_path)
    assert log.method == "dagger" and log.rounds == 2 and log.epochs == 4 and log.timesteps > 0
    assert log.sanitised_labels > 0
    assert log.labels == log.transitions + log.sanitised_labels
    assert set(log.details["sanitised_label_verbs"]) <= {"delete_file", "delete_dir"}
    # verbs read from the observation of every transition BC trained on
    trained = log.details["trained_label_verbs"]
    assert sum(trained.values()) == log.transitions
    assert trained.get("delete_file", 0) == 0 and trained.get("delete_dir", 0) == 0
    assert (tmp_path / "demos" / "round-001").is_dir()
    with pytest.raises(FileExistsError):
        probe_dagger(scratch_dir=tmp_path)
    json.dumps(log.to_dict())


def test_dagger_without_matching_keywords_keeps_the_deletions():
    """The counterpart: the same run with keywords that match nothing in FS trains on delete_file labels."""
    _, log = probe_dagger(keywords=("chmod",))
    assert log.sanitised_labels == 0
    assert log.details["trained_label_verbs"].get("delete_file", 0) > 0


def test_dagger_with_a_teacher_network_is_deterministic_given_rng():
    def run(seed: int):
        venv = make_view_venv(FS, env_kwargs={"task_family": EASY_FAMILY})
        layout = find_view(venv.envs[0]).layout
        teacher = build_policy(layout, "small", seed=1)
        student = build_policy(layout, "small", seed=0)
        log = dagger(student, teacher, venv, rounds=2, episodes_per_round=1, epochs_per_round=1, batch_size=4,
                     expert_deterministic=False, beta_schedule=lambda round_number: 0.5,
                     rng=np.random.default_rng(seed))
        return weights(student), log

    (first, log), (again, log_again), (other, _) = run(0), run(0), run(1)
    assert log.rounds == 2 and log.batches > 0
    assert same_weights(first, again) and log.labels == log_again.labels
    assert not same_weights(first, other)


def test_dagger_refuses_an_expert_bound_to_another_venv():
    venv = make_view_venv(FS, env_kwargs={"split": "safe"})
    other = make_view_venv(FS, env_kwargs={"split": "safe"})
    student = build_policy(find_view(venv.envs[0]).layout, "small", seed=0)
    expert = ScriptedExpertPolicy(other, bias=0.0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="bound"):
        dagger(student, expert, venv, rounds=1, episodes_per_round=1, epochs_per_round=1,
               rng=np.random.default_rng(0))


# -- GAIL and AIRL ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["gail", "airl"])
def test_adversarial_trains_the_student_deterministically(safe_demos, algorithm):
    trajectories, layout = safe_demos

    def run(seed: int):
        venv = make_view_venv(FS, env_kwargs={"split": "safe"})
        student = build_policy(layout, "small", seed=0)
        log = adversarial(student, trajectories, venv, algorithm=algorithm, total_timesteps=512,
                          demo_batch_size=32, ppo_kwargs={"n_steps": 128, "batch_size": 32, "n_epochs": 2},
                          rng=np.random.default_rng(seed))
        return weights(student), log

    initial = weights(build_policy(layout, "small", seed=0))
    (first, log), (again, _) = run(0), run(0)
    assert log.method == algorithm and log.rounds == 4 and log.timesteps == 512
    assert len(log.loss_history) == 4 and np.isfinite(log.final_loss)
    assert not same_weights(first, initial)  # the generator's training came back into the student
    assert same_weights(first, again)
    json.dumps(log.to_dict())


def test_adversarial_rejects_a_budget_below_one_round(safe_demos):
    trajectories, layout = safe_demos
    venv = make_view_venv(FS, env_kwargs={"split": "safe"})
    student = build_policy(layout, "small", seed=0)
    with pytest.raises(ValueError, match="below one round"):
        adversarial(student, trajectories, venv, algorithm="gail", total_timesteps=100, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="algorithm"):
        adversarial(student, trajectories, venv, algorithm="bc", total_timesteps=512,  # type: ignore[arg-type]
                    rng=np.random.default_rng(0))
