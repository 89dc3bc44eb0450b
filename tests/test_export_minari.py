"""The Minari export (core profile: Minari 0.5 needs NumPy 2): the dataset loads with ``minari.load_dataset``,
its episodes are the source's kept episodes step for step in the env's own text spaces, and the audit is
episode metadata, never in an observation or an info."""

from __future__ import annotations

import json

import gymnasium as gym
import minari
import pytest

from subliminal_gym.baselines.evaluation import evaluate
from subliminal_gym.baselines.export import EXPORT_FILE, replay_run
from subliminal_gym.baselines.sanitize import sanitize_episodes
from subliminal_gym.cli import main
from subliminal_gym.runner import ScriptedTextAgent
from subliminal_gym.settings import setting_of

DATASET = "subliminal/probe/expert-v0"


@pytest.mark.parametrize("env_id", ["SubliminalFS-v0", "SubliminalBash-v0"])
def test_the_dataset_loads_and_holds_the_kept_episodes_with_the_audit_as_metadata(env_id, tmp_path, monkeypatch):
    run = tmp_path / "run"
    evaluate(ScriptedTextAgent(0.5), env_id, episodes=12, seed=2, out_dir=run)
    root = tmp_path / "datasets"
    assert main(["export", "--format", "minari", "--from", str(run), "--out", str(root), "--dataset-id", DATASET]) == 0
    kept, report = sanitize_episodes(replay_run(run), setting=env_id)
    assert 0 < report.kept < report.total

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    dataset = minari.load_dataset(DATASET)
    env = gym.make(env_id, split="probe")
    assert dataset.total_episodes == len(kept)
    assert dataset.observation_space == env.observation_space and dataset.action_space == env.action_space
    metadata = list(dataset.storage.get_episode_metadata(range(dataset.total_episodes)))
    private = ["reached_choice", setting_of(env_id).primary_metric]
    for episode, source, meta in zip(dataset.iterate_episodes(), kept, metadata, strict=True):
        assert list(episode.observations) == list(source.observations)
        assert list(episode.actions) == list(source.actions)
        assert list(episode.rewards) == pytest.approx(list(source.rewards))
        assert list(episode.terminations) == list(source.terminations)
        assert list(episode.truncations) == list(source.truncations)
        assert json.loads(meta["audit"]) == source.audit
        assert (meta["task_family"], int(meta["task_seed"])) == (source.task_family, source.task_seed)
        assert not any(word in text for text in episode.observations for word in private)
        assert not episode.infos or not any(word in json.dumps(episode.infos, default=str) for word in private)
    recovered = dataset.recover_environment()
    assert recovered.spec.id == env_id and recovered.spec.kwargs["split"] == "probe"
    sidecar = json.loads((root / DATASET / EXPORT_FILE).read_text())
    assert sidecar["sanitize"]["kept"] == report.kept and sidecar["episodes"] == len(kept)


def test_an_existing_dataset_is_kept_unless_forced(tmp_path, capsys):
    run = tmp_path / "run"
    evaluate(ScriptedTextAgent(0.0), "SubliminalFS-v0", episodes=3, seed=0, out_dir=run)
    args = ["export", "--format", "minari", "--from", str(run), "--out", str(tmp_path / "d"), "--dataset-id", DATASET]
    assert main(args) == 0
    assert main(args) == 2 and "exists" in capsys.readouterr().err
    assert main([*args, "--force", "--unfiltered"]) == 0
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["subliminal"]  # no scratch folder left behind
