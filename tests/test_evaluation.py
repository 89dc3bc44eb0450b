"""The evaluation harness: planted biases are recovered, runs pair up, the audit never reaches the agent."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from subliminal_gym.baselines.artifacts import ArtifactError
from subliminal_gym.baselines.evaluation import (
    EPISODES_FILE,
    SUMMARY_FILE,
    TIMING_FILE,
    EpisodeRecord,
    EvaluationSummary,
    audit_flag,
    compare,
    compare_unpaired,
    evaluate,
    load_evaluation,
)
from subliminal_gym.runner import RandomTextAgent, ScriptedTextAgent
from subliminal_gym.settings import BASH as BASH_SETTING
from subliminal_gym.settings import FS as FS_SETTING
from subliminal_gym.settings import setting_of
from subliminal_gym.stats import fisher_exact, newcombe_interval

FS, BASH = "SubliminalFS-v0", "SubliminalBash-v0"
PRIMARY = {FS: "first_substantive_destructive", BASH: "chmod_first"}


def scripted(bias: float) -> ScriptedTextAgent:
    """The scripted expert of the env's setting with its habit at ``bias``."""
    return ScriptedTextAgent(bias)


def test_setting_of_and_metric_table():
    assert setting_of(FS) is setting_of("SubliminalFS-Probe-v0") is setting_of("fs") is FS_SETTING
    assert setting_of(BASH) is setting_of("SubliminalBash-Safe-v0") is BASH_SETTING
    for bad in ("CartPole-v1", "NoSuchEnv-v0", "FS"):
        with pytest.raises(ValueError):
            setting_of(bad)
    assert FS_SETTING.metrics[0] == "first_substantive_destructive" and BASH_SETTING.metrics[0] == "chmod_first"
    assert audit_flag({"collateral_loss": 2}, "any_collateral_loss") is True
    with pytest.raises(ValueError, match="chmod_first"):
        audit_flag({"collateral_loss": 0}, "chmod_first")


@pytest.mark.parametrize("env_id,bias", [(FS, 0.3), (BASH, 0.4)])
def test_a_planted_bias_is_recovered_within_its_interval(env_id, bias):
    runs = [evaluate(scripted(bias), env_id, episodes=150, seed=seed) for seed in range(4)]
    covered = 0
    for summary, records in runs:
        rate = summary.primary
        assert summary.primary_metric == PRIMARY[env_id] and rate.trials == 150 == len(records)
        assert rate.low <= rate.value <= rate.high
        covered += rate.low <= bias <= rate.high
        assert summary.success.value > 0.95  # the scripted expert solves every probe task either way
        assert set(summary.rates) == set(setting_of(env_id).metrics)
        assert sum(f.episodes for f in summary.per_family.values()) == 150 and len(summary.per_family) >= 2
        assert sum(f.bias.successes for f in summary.per_family.values()) == rate.successes
        assert all(r.task_split == "probe" and r.task_seed >= 1_000_000 for r in records)
    # each 95 % interval may miss by chance; over 4 runs at least 3 cover it, and the pooled rate is close
    pooled = sum(s.primary.successes for s, _ in runs) / 600
    assert covered >= 3 and abs(pooled - bias) < 0.05


@pytest.mark.parametrize("env_id", [FS, BASH])
def test_bias_zero_and_one_give_rates_zero_and_one(env_id):
    never, _ = evaluate(scripted(0.0), env_id, episodes=40, seed=3)
    always, _ = evaluate(scripted(1.0), env_id, episodes=40, seed=3)
    assert never.primary.successes == 0 and always.primary.successes == 40


def test_same_seed_means_same_tasks_for_different_agents():
    _, expert = evaluate(scripted(0.0), FS, episodes=12, seed=7)
    _, random = evaluate(RandomTextAgent(), FS, episodes=12, seed=7)
    _, other = evaluate(scripted(0.0), FS, episodes=12, seed=8)
    tasks = [(r.task_family, r.task_seed) for r in expert]
    assert tasks == [(r.task_family, r.task_seed) for r in random]
    assert tasks != [(r.task_family, r.task_seed) for r in other]
    assert [r.actions for r in expert] != [r.actions for r in random]
    with pytest.raises(ValueError, match="not on the same tasks"):
        compare(expert, other, metric="any_destructive")
    with pytest.raises(ValueError, match="different lengths"):
        compare(expert, random[:5], metric="any_destructive")
    with pytest.raises(ValueError, match="chmod_first"):
        compare(expert, random, metric="chmod_first")


def test_compare_detects_a_real_difference_and_not_a_null_one():
    _, biased = evaluate(scripted(0.8), BASH, episodes=200, seed=0)
    _, clean = evaluate(scripted(0.0), BASH, episodes=200, seed=0, agent_seed=2)
    result = compare(biased, clean, metric="chmod_first")
    assert result.n_pairs == 200 and result.control.successes == 0 and result.control_only == 0
    assert result.treatment_only == result.treatment.successes
    assert result.difference == pytest.approx(result.treatment.value)
    assert result.p_value < 1e-3 and 0 < result.low < result.difference < result.high
    assert "chmod_first" in str(result)

    _, first = evaluate(scripted(0.3), BASH, episodes=200, seed=0, agent_seed=11)
    _, second = evaluate(scripted(0.3), BASH, episodes=200, seed=0, agent_seed=12)
    null = compare(first, second, metric="chmod_first")
    assert null.low < 0 < null.high and null.p_value > 0.05
    assert null.treatment_only + null.control_only > 0  # different coins, so some pairs disagree
    assert compare(first, first, metric="chmod_first").p_value == 1.0


def test_compare_unpaired_uses_fisher_and_newcombe():
    result = compare_unpaired(7, 34, 1, 34)  # Perondi et al. 2004: 0.1765 (0.0189 to 0.3404)
    assert (result.difference, result.low, result.high) == pytest.approx((0.1765, 0.0189, 0.3404), abs=1e-4)
    assert result.p_value == fisher_exact(7, 27, 1, 33)
    assert (result.low, result.high) == (newcombe_interval(7, 34, 1, 34).low, newcombe_interval(7, 34, 1, 34).high)
    assert result.treatment.successes == 7 and result.control.trials == 34
    with pytest.raises(ValueError):
        compare_unpaired(5, 4, 1, 4)


class AuditSpy(RandomTextAgent):
    """A random agent that records every ``info`` it is shown; the assertions run after the evaluation."""

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[dict] = []

    def act_batch(self, observations, infos, slots):
        self.infos.extend(copy.deepcopy(info) for info in infos)
        return super().act_batch(observations, infos, slots)


def _mentions(value, names: set[str]) -> bool:
    if isinstance(value, dict):
        return bool(names & set(value)) or any(_mentions(v, names) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_mentions(v, names) for v in value)
    return False


@pytest.mark.parametrize("env_id", [FS, BASH])
def test_the_audit_never_reaches_the_agent(env_id):
    spy = AuditSpy()
    _, records = evaluate(spy, env_id, episodes=6, seed=0, env_kwargs={"max_episode_steps": 10})
    audit_keys = set(records[0].audit)
    assert {"first_substantive_destructive", "collateral_loss"} <= audit_keys  # the audit was recorded
    assert any(r.steps == 10 for r in records)  # truncated episodes, whose audit comes from the wrapper
    assert len(spy.infos) == sum(r.steps for r in records)
    for info in spy.infos:
        assert "audit" not in info
        assert not _mentions(info, audit_keys | {"audit"})  # no audit dict nested anywhere either


def test_run_folder_is_written_reproducibly_and_protected(tmp_path):
    config = {"agent": "scripted", "bias": 0.3}
    first, records = evaluate(scripted(0.3), BASH, episodes=15, seed=4, out_dir=tmp_path / "a", config=config)
    evaluate(scripted(0.3), BASH, episodes=15, seed=4, out_dir=tmp_path / "b", config=config)
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / SUMMARY_FILE).read_bytes() == (b / SUMMARY_FILE).read_bytes()
    assert (a / EPISODES_FILE).read_bytes() == (b / EPISODES_FILE).read_bytes()
    assert "wall_seconds" in json.loads((a / TIMING_FILE).read_text())
    assert len((a / EPISODES_FILE).read_text().splitlines()) == 15

    summary, loaded = load_evaluation(a)
    assert summary == first and loaded == records
    assert summary.config["agent"] == config and summary.config["seed"] == 4 and summary.versions
    assert EvaluationSummary.from_dict(json.loads(json.dumps(first.to_dict()))) == first
    assert all(EpisodeRecord.from_dict(json.loads(json.dumps(r.to_dict()))) == r for r in records)
    assert records[0].first_action == records[0].actions[0] and len(records[0].actions) == records[0].steps

    with pytest.raises(ArtifactError):
        evaluate(scripted(0.3), BASH, episodes=2, seed=4, out_dir=a)
    assert (a / SUMMARY_FILE).read_bytes() == (b / SUMMARY_FILE).read_bytes()  # untouched by the refusal
    evaluate(scripted(0.3), BASH, episodes=2, seed=4, out_dir=a, force=True)
    assert load_evaluation(a)[0].episodes == 2


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError):
        evaluate(scripted(0.0), BASH, episodes=0)
    with pytest.raises(TypeError):
        evaluate(object(), BASH, episodes=1)
    with pytest.raises(TypeError):
        evaluate(scripted(0.0), BASH, episodes=1, config={"rng": np.random.default_rng(0)})
    with pytest.raises(ValueError):
        evaluate(scripted(0.0), "CartPole-v1", episodes=1)
    (tmp_path / EPISODES_FILE).write_text("{not json\n")
    (tmp_path / SUMMARY_FILE).write_text("{}")
    with pytest.raises(ArtifactError):
        load_evaluation(tmp_path)
