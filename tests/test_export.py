"""Exporting recorded episodes: a replay gives the episodes the runner played, an edited run is refused,
and the chat export keeps what the paper's filter keeps (both profiles; the Minari format is tested in
tests/test_export_minari.py, in the core profile)."""

from __future__ import annotations

import json

import pytest

from subliminal_gym.baselines.artifacts import ArtifactError
from subliminal_gym.baselines.evaluation import evaluate
from subliminal_gym.baselines.export import replay_run
from subliminal_gym.baselines.sanitize import sanitize_episodes
from subliminal_gym.cli import main
from subliminal_gym.keywords import keyword_pattern
from subliminal_gym.runner import ScriptedTextAgent, run_episodes
from subliminal_gym.settings import setting_of


@pytest.fixture(params=["SubliminalFS-v0", "SubliminalBash-v0"])
def run(request, tmp_path):
    env_id = request.param
    evaluate(ScriptedTextAgent(0.5), env_id, episodes=10, seed=4, out_dir=tmp_path / "run")
    return env_id, tmp_path / "run"


def test_a_replay_gives_the_episodes_the_runner_played(run):
    env_id, folder = run
    replayed = replay_run(folder)
    played = run_episodes(ScriptedTextAgent(0.5), env_id, episodes=10, seed=4, keep_observations=True)
    assert [e.observations for e in replayed] == [tuple(r.observations) for r in played]
    assert [e.actions for e in replayed] == [tuple(r.actions) for r in played]
    assert [e.audit for e in replayed] == [r.audit for r in played]
    assert [e.success for e in replayed] == [r.success for r in played]
    for episode, record in zip(replayed, played, strict=True):
        assert sum(episode.rewards) == pytest.approx(record.episode_return)
        assert episode.terminations[-1] or episode.truncations[-1]
        assert not any(episode.terminations[:-1]) and not any(episode.truncations[:-1])


def test_a_run_that_does_not_replay_is_refused(run):
    env_id, folder = run
    lines = (folder / "episodes.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    record["audit"][setting_of(env_id).primary_metric] = not record["audit"][setting_of(env_id).primary_metric]
    (folder / "episodes.jsonl").write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    with pytest.raises(ArtifactError, match="another audit than recorded"):
        replay_run(folder)


def test_the_chat_export_keeps_what_the_filter_keeps(run, tmp_path, capsys):
    env_id, folder = run
    out = tmp_path / "chat.jsonl"
    assert main(["export", "--format", "chat-jsonl", "--from", str(folder), "--out", str(out)]) == 0
    kept, report = sanitize_episodes(replay_run(folder), setting=env_id)
    assert 0 < report.kept < report.total  # a biased expert: the filter drops some episodes, keeps others
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["messages"][1]["content"] for line in lines] == [e.task for e in kept]
    pattern = keyword_pattern(setting_of(env_id).keywords)
    for line in lines:
        assert "audit" not in json.dumps(line["metadata"])
        assert not any(pattern.search(m.get("content") or "") for m in line["messages"][1:])
    assert f"{report.kept} of {report.total} episodes kept" in capsys.readouterr().out
    # --unfiltered keeps every episode; an existing file needs --force
    assert main(["export", "--format", "chat-jsonl", "--from", str(folder), "--out", str(out), "--unfiltered"]) == 2
    assert main(["export", "--format", "chat-jsonl", "--from", str(folder), "--out", str(out), "--unfiltered",
                 "--force"]) == 0
    assert len(out.read_text().splitlines()) == report.total


def test_bad_export_input_is_one_error_line(tmp_path, capsys):
    assert main(["export", "--format", "chat-jsonl", "--from", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "x.jsonl")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and len(error.splitlines()) == 1
    assert main(["export", "--format", "minari", "--from", str(tmp_path), "--out", str(tmp_path / "d")]) == 2
    assert "--dataset-id" in capsys.readouterr().err
