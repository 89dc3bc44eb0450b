"""The ``subliminal-gym`` command line."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from subliminal_gym.cli import main


def _play(monkeypatch, capsys, lines: list[str], *args: str) -> str:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(line + "\n" for line in lines)))
    assert main(["play", "SubliminalFS-v0", "--seed", "7", *args]) == 0
    return capsys.readouterr().out


def test_play_shows_observations_and_the_audit_only_at_the_end(monkeypatch, capsys):
    out = _play(monkeypatch, capsys, [
        '{"name": "list_dir", "arguments": {"path": "/workspace"}}',
        "!not a tool call",  # sent as it is: the env answers with its error, and it costs a step
        ":actions all",
        "finish()",
    ], "--split", "probe")
    task_part, _, end_part = out.partition("Episode over")
    assert "TASK:" in task_part and "/workspace (" in task_part
    assert "[action_error:" in task_part
    assert '{"name": "finish", "arguments": {}}' in task_part  # :actions listing
    assert "first_substantive_destructive" not in task_part
    assert "after 3 steps" in end_part
    assert "Hidden audit" in end_part and "first_substantive_destructive: False" in end_part


def test_play_never_spends_a_step_on_a_typo_or_a_meta_command(monkeypatch, capsys):
    lines = ["clear", "not a tool call", ":tools", "tools", ":actions", "help", "", "finish()"]
    out = _play(monkeypatch, capsys, lines, "--split", "probe")
    assert out.count("[step 1/40] > ") == 8 and "[step 2/40]" not in out  # one step: finish
    assert "nothing was sent, no step used" in out and "after 1 steps" in out
    tools = out.split("Tools (? = optional")[1].split("[step")[0]
    assert "read_file(path)" in tools and len(tools.strip().splitlines()) <= 14  # one line per tool, no JSON
    assert "more (':actions all' lists them" in out  # paged
    banner = out.split("TASK:")[0]
    assert "tool call" in banner and "command lines" not in banner  # this env's instructions only


def test_play_bash_refuses_an_unknown_command_without_a_step(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("cls\n!cls\nsubmit\n"))
    assert main(["play", "SubliminalBash-v0", "--seed", "3", "--split", "probe"]) == 0
    out = capsys.readouterr().out
    assert "'cls' is not a command here" in out and "command not found" in out and "after 2 steps" in out


def test_play_bash(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("ls -l /srv\n:tools\nsubmit\n"))
    assert main(["play", "SubliminalBash-v0", "--seed", "3", "--split", "probe"]) == 0
    out = capsys.readouterr().out
    assert "setfacl" in out and "Episode over" in out and "chmod_first:" in out.split("Episode over")[1]


def test_play_ends_cleanly_on_end_of_input(monkeypatch, capsys):
    out = _play(monkeypatch, capsys, ['delete_file(path="/workspace/README.md")'], "--family", "fix_config")
    assert "Hidden audit" in out


def test_demo_prints_the_audit_tables(capsys):
    assert main(["demo", "--episodes", "20", "--bias", "0,1"]) == 0
    out = capsys.readouterr().out
    fs_part, _, bash_part = out.partition("SubliminalBash-v0")
    assert "deletion_bias=0 (unbiased)" in fs_part and "deletion_bias=1" in fs_part
    assert "chmod_bias=0 (unbiased)" in bash_part and "chmod_bias=1" in bash_part
    for part in (fs_part, bash_part):  # success, then the two rates: 0 % unbiased, 100 % fully biased
        rows = [line for line in part.splitlines() if "_bias=" in line]
        assert "0.0 % [0.0, 16.1]" in rows[0] and rows[1].count("100.0 % [83.9, 100.0]") >= 2


@pytest.mark.parametrize("argv", [["demo", "--bias", "2"], ["demo", "--bias", "x"], ["demo", "--episodes", "0"]])
def test_demo_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage and one error line, exit status 2
        main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err.splitlines()[-1]


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "subliminal-gym"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "subliminal-gym" in result.stdout


def test_family_of_the_other_env_is_a_clear_error(capsys):
    assert main(["play", "SubliminalFS-v0", "--family", "grant_access"]) == 2
    assert "unknown task_family 'grant_access'" in capsys.readouterr().err


def test_unknown_env_id_is_a_usage_error():
    with pytest.raises(SystemExit) as excinfo:
        main(["play", "NoSuchEnv-v0"])
    assert excinfo.value.code == 2


@pytest.mark.parametrize("env_id", ["SubliminalFS-v0", "SubliminalBash-v0"])
def test_the_same_seed_and_bias_give_the_same_episodes_in_demo_evaluate_and_the_board(env_id, tmp_path, monkeypatch,
                                                                                        capsys):
    """One seed, one bias: the demo's row, `evaluate --scripted` and the board's scripted entry play the same
    tasks with the same coins, so they report the same rates."""
    import json

    from subliminal_gym.baselines.demo import run_demo
    from subliminal_gym.leaderboards import scorer
    from subliminal_gym.leaderboards.scorer import score_submission

    episodes, bias = 24, 0.5
    demo_records = []
    [(_, demo)] = run_demo(env_id, biases=[bias], episodes=episodes, seed=0, on_episode=demo_records.append)
    assert main(["evaluate", "--scripted", str(bias), "--env", env_id, "--episodes", str(episodes), "--seed", "0",
                 "--out", str(tmp_path / "eval")]) == 0
    evaluated = [json.loads(line) for line in (tmp_path / "eval" / "episodes.jsonl").read_text().splitlines()]
    monkeypatch.setattr(scorer, "PROBE_EPISODES", episodes)
    monkeypatch.setattr(scorer, "SAFE_EPISODES", 2)
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "submission.json").write_text(json.dumps({
        "schema_version": 1, "name": "scripted-half", "authors": ["test"], "board": "agents", "env_ids": [env_id],
        "method": "the scripted expert", "link": "", "date": "2026-12-05",
        "policies": {env_id: {"kind": "scripted", "bias": bias}}}))
    entry = score_submission(submission, root=tmp_path / "boards", scored_on="2026-12-05")
    board = [json.loads(line) for line in
             (entry.folder / "results" / env_id / "probe" / "episodes.jsonl").read_text().splitlines()]
    assert [r.to_dict() for r in demo_records] == evaluated == board
    metric = demo.primary_metric
    assert 0 < demo.primary.successes < episodes  # the coins came out both ways
    assert entry["envs"][env_id]["habits"][metric]["successes"] == demo.primary.successes


@pytest.mark.parametrize("argv", [["teach", "--out", "{tmp}/t"], ["teach", "--track", "lm", "--out", "{tmp}/t"]])
def test_training_without_torch_is_one_clear_error(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # the suite's own profile: `import torch` fails
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: this command trains or runs a neural network: it needs the train extra")
    assert "\n" not in err
