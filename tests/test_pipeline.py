"""The distill dispatcher and the pipeline CLI (teach → rollout → sanitize → distill → evaluate)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch as th

from subliminal_gym.baselines.artifacts import load_policy
from subliminal_gym.baselines.distill import DISTILL_METHODS, DistillConfig, distill
from subliminal_gym.baselines.policies import build_policy
from subliminal_gym.baselines.students import STUDENT_INITS
from subliminal_gym.baselines.trajectories import collect_trajectories, load_trajectories
from subliminal_gym.cli import main
from subliminal_gym.runner import ScriptedTextAgent
from subliminal_gym.settings import setting_of


def _scripted(bias):
    return ScriptedTextAgent(bias)


@pytest.fixture(scope="module")
def safe_trajectories():
    return collect_trajectories("SubliminalFS-v0", _scripted(0.0), episodes=12, seed=0, split="safe")


def test_cli_options_come_from_the_configs(capsys):
    """``teach`` and ``distill`` have one option per config field, documented by the field, with its default."""
    from subliminal_gym.baselines.distill import DistillConfig
    from subliminal_gym.baselines.teachers import TeacherConfig
    from subliminal_gym.command_line import config_options, field_docs

    for command, config in (("teach", TeacherConfig), ("distill", DistillConfig)):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for name, option in config_options(config).items():
            if name == "env_id":
                continue
            assert option in text, option
            assert " ".join(field_docs(config)[name].split()[:4]) in text, name
    with pytest.raises(SystemExit):
        main(["teach", "--help"])
    teach = " ".join(capsys.readouterr().out.split())
    assert f"(default: {TeacherConfig.base_rate})" in teach and "track default: 600 vector" in teach
    with pytest.raises(SystemExit):
        main(["distill", "--help"])
    assert f"(default: {DistillConfig.epochs})" in " ".join(capsys.readouterr().out.split())
    assert DISTILL_METHODS == ("bc", "dagger", "soft_zero", "soft_drop", "logit", "gail", "airl")
    assert STUDENT_INITS == ("shared", "fresh", "other", "small")


def test_distill_refuses_probe_data_and_scripted_teachers_for_logit_methods(safe_trajectories):
    probe = collect_trajectories("SubliminalFS-v0", _scripted(0.0), episodes=2, seed=0, split="probe")
    student = build_policy(_layout(), "small", seed=0)
    teacher = build_policy(_layout(), "small", seed=1)
    with pytest.raises(ValueError, match="only on safe tasks"):
        distill("bc", student=student, teacher=teacher, trajectories=probe, env_id="SubliminalFS-v0",
                rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="teacher's logits"):
        distill("soft_drop", student=student, teacher=lambda venv: None, trajectories=safe_trajectories,
                env_id="SubliminalFS-v0", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown method"):
        distill("telepathy", student=student, teacher=teacher, trajectories=safe_trajectories,
                env_id="SubliminalFS-v0", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="no trajectories"):
        distill("bc", student=student, teacher=teacher, trajectories=[], env_id="SubliminalFS-v0",
                rng=np.random.default_rng(0))


def _layout():
    from subliminal_gym.views import make_view_env

    return make_view_env("SubliminalFS-v0").layout


@pytest.mark.parametrize("method", [m for m in DISTILL_METHODS if m not in ("gail", "airl")])
def test_every_method_trains_the_student_deterministically(safe_trajectories, method):
    th.set_num_threads(1)
    teacher = build_policy(_layout(), "small", seed=1)
    config = DistillConfig(epochs=2, batch_size=16, dagger_rounds=1, dagger_episodes=3)
    weights = []
    for _ in range(2):
        student = build_policy(_layout(), "small", seed=0)
        before = [p.detach().clone() for p in student.action_net.parameters()]
        log = distill(method, student=student, teacher=teacher, trajectories=safe_trajectories,
                      env_id="SubliminalFS-v0", config=config, rng=np.random.default_rng(5))
        assert log["method"] == method and "delete" in log["keywords"]
        after = list(student.action_net.parameters())
        assert any(not th.equal(a, b) for a, b in zip(before, after, strict=True))
        weights.append([p.detach().clone() for p in after])
    assert all(th.equal(a, b) for a, b in zip(*weights, strict=True))


def _run(*args: str) -> int:
    return main(list(args))


@pytest.mark.slow
def test_cli_pipeline_end_to_end(tmp_path, capsys):
    th.set_num_threads(1)
    t = tmp_path
    assert _run("teach", "--env", "SubliminalBash-v0", "--size", "small", "--out", str(t / "teachers"),
                "--pretrain-episodes", "20", "--pretrain-epochs", "1", "--finetune-episodes", "10",
                "--finetune-epochs", "1", "--batch-size", "16") == 0
    run = json.loads((t / "teachers" / "run.json").read_text())
    assert run["arguments"]["size"] == "small" and "torch" in run["versions"]
    saved = json.loads((t / "teachers" / "teachers.json").read_text())["config"]
    assert saved["pretrain_episodes"] == 20 and saved["biased_rate"] == 1.0 and saved["learning_rate"] == 3e-3
    assert _run("rollout", "--policy", str(t / "teachers" / "biased"), "--episodes", "12", "--out",
                str(t / "traj"), "--chat", str(t / "chat.jsonl")) == 0
    assert len(load_trajectories(t / "traj")) == 12
    assert len((t / "chat.jsonl").read_text().splitlines()) == 12
    assert _run("sanitize", str(t / "traj"), "--out", str(t / "clean")) == 0
    report = json.loads((t / "clean" / "sanitize_report.json").read_text())
    assert report["kept"] + report["dropped"] == 12
    kept = load_trajectories(t / "clean")
    assert all("chmod" not in " ".join(k.action_texts) for k in kept)
    if report["kept"]:
        assert _run("distill", "--teacher", str(t / "teachers" / "biased"), "--trajectories", str(t / "clean"),
                    "--method", "soft_drop", "--epochs", "1", "--out", str(t / "student")) == 0
        _, meta = load_policy(t / "student")
        assert meta["method"] == "soft_drop" and meta["init"] == "shared"
        policy_dir = t / "student"
    else:  # everything was sanitised: evaluate the teacher instead
        policy_dir = t / "teachers" / "biased"
    assert _run("evaluate", "--policy", str(policy_dir), "--episodes", "10", "--out", str(t / "eval")) == 0
    summary = json.loads((t / "eval" / "summary.json").read_text())
    assert summary["episodes"] == 10 and summary["split"] == "probe" and summary["seed_range"] == "test"
    out = capsys.readouterr().out
    assert "chmod first" in out  # the habit by its display name, as the tables say


def test_cli_errors_are_one_line_and_nothing_is_overwritten(tmp_path, capsys):
    assert _run("evaluate", "--scripted", "0.5", "--env", "SubliminalFS-v0", "--episodes", "3",
                "--out", str(tmp_path / "ev")) == 0
    before = (tmp_path / "ev" / "summary.json").read_bytes()
    capsys.readouterr()
    assert _run("evaluate", "--scripted", "0.0", "--env", "SubliminalFS-v0", "--episodes", "3",
                "--out", str(tmp_path / "ev")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--force" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "ev" / "summary.json").read_bytes() == before
    assert _run("evaluate", "--scripted", "0.0", "--env", "SubliminalFS-v0", "--episodes", "3",
                "--out", str(tmp_path / "ev"), "--force") == 0
    assert (tmp_path / "ev" / "summary.json").read_bytes() != before
    for args in (["sanitize", str(tmp_path / "missing"), "--out", str(tmp_path / "x")],
                 ["evaluate", "--policy", str(tmp_path / "missing"), "--out", str(tmp_path / "y")],
                 ["evaluate", "--env", "SubliminalFS-v0", "--out", str(tmp_path / "z")],
                 ["distill", "--trajectories", str(tmp_path / "missing"), "--method", "bc", "--out", str(tmp_path)]):
        capsys.readouterr()
        assert _run(*args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "Traceback" not in err, args


def test_cli_help_explains_every_option(capsys):
    for command in ("teach", "rollout", "sanitize", "distill", "evaluate"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "--out" in text and "--force" in text
        if command == "evaluate":
            assert "--model DIR" in text and "--batch-size" in text and "--max-new-tokens" in text
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--scripted", "2", "--out", "x"])
    assert exit_info.value.code == 2


# -- evaluate --model: a transformers language model -------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """An untrained tiny LM with a tokenizer trained on a few scripted Bash episodes (the plumbing, not the skill)."""

    from subliminal_gym.baselines.lm import build_tiny_lm, save_lm
    from subliminal_gym.baselines.lm.episodes import episode_tokenizer, expert_episodes

    th.set_num_threads(1)
    tokenizer = episode_tokenizer(expert_episodes("SubliminalBash-v0", rate=0.5, episodes=24, seed=1))
    return save_lm(build_tiny_lm("small", tokenizer, seed=0), tokenizer, tmp_path_factory.mktemp("lm") / "model")


@pytest.mark.slow
def test_cli_evaluates_a_language_model_on_the_same_tasks(tmp_path, tiny_lm, capsys):
    # an untrained model never submits: each episode runs its 40 steps, so two episodes of one-token replies
    lm_args = ["evaluate", "--model", str(tiny_lm), "--env", "SubliminalBash-v0", "--episodes", "2",
               "--max-new-tokens", "1", "--batch-size", "2"]
    assert _run(*lm_args, "--out", str(tmp_path / "lm")) == 0
    assert "SubliminalBash-v0 probe: success" in capsys.readouterr().out
    summary = json.loads((tmp_path / "lm" / "summary.json").read_text())
    agent = summary["config"]["agent"]["agent"]
    assert summary["episodes"] == 2 and summary["split"] == "probe" and summary["seed_range"] == "test"
    assert agent["agent"] == "language_model" and agent["model"] == str(tiny_lm)
    assert agent["max_new_tokens"] == 1 and agent["batch_size"] == 2 and agent["temperature"] == 1.0
    assert agent["dtype"] == "float32" and agent["device"] in ("cpu", "cuda:0", "mps:0")  # --device auto
    lm_records = [json.loads(line) for line in (tmp_path / "lm" / "episodes.jsonl").read_text().splitlines()]
    assert len(lm_records) == 2 and all(len(r["actions"]) == r["steps"] for r in lm_records)
    assert json.loads((tmp_path / "lm" / "run.json").read_text())["arguments"]["model"] == str(tiny_lm)
    # the same seed gives the same episodes, and the same tasks as any other agent
    assert _run(*lm_args, "--out", str(tmp_path / "again")) == 0
    assert (tmp_path / "again" / "episodes.jsonl").read_bytes() == (tmp_path / "lm" / "episodes.jsonl").read_bytes()
    assert _run("evaluate", "--scripted", "0.5", "--env", "SubliminalBash-v0", "--episodes", "2",
                "--out", str(tmp_path / "scripted")) == 0
    scripted = [json.loads(line) for line in (tmp_path / "scripted" / "episodes.jsonl").read_text().splitlines()]
    assert [(r["task_family"], r["task_seed"]) for r in lm_records] == \
        [(r["task_family"], r["task_seed"]) for r in scripted]
    # ranked decoding: every action one of the state's admissible ones, recorded in the summary
    assert _run("evaluate", "--model", str(tiny_lm), "--env", "SubliminalBash-v0", "--episodes", "2",
                "--decoding", "ranked", "--device", "cpu", "--dtype", "bfloat16",
                "--out", str(tmp_path / "ranked")) == 0
    ranked = json.loads((tmp_path / "ranked" / "summary.json").read_text())["config"]["agent"]["agent"]
    assert ranked["decoding"] == "ranked" and agent["decoding"] == "sample"
    assert (ranked["device"], ranked["dtype"]) == ("cpu", "bfloat16")
    records = [json.loads(line) for line in (tmp_path / "ranked" / "episodes.jsonl").read_text().splitlines()]
    actions = [a for r in records for a in r["actions"]]  # whole commands, where sampling wrote one token each
    assert all(setting_of("bash").parse_action(a) == a for a in actions) and any(" " in a for a in actions)


def test_cli_language_model_errors_are_one_line(tmp_path, tiny_lm, capsys):
    policy = tmp_path / "policy"
    from subliminal_gym.baselines.artifacts import save_policy

    save_policy(build_policy(_layout(), "small", seed=0), policy)
    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    for name in ("config.json", "model.safetensors"):
        (no_tokenizer / name).write_bytes((tiny_lm / name).read_bytes())
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_bytes((tiny_lm / "config.json").read_bytes())
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    cases = {
        "no such model folder": ["--model", str(tmp_path / "missing"), "--env", "SubliminalFS-v0"],
        "no config.json": ["--model", str(tmp_path), "--env", "SubliminalFS-v0"],
        "pass it with --policy": ["--model", str(policy), "--env", "SubliminalFS-v0"],
        "no tokenizer": ["--model", str(no_tokenizer), "--env", "SubliminalFS-v0"],
        "convert them to safetensors": ["--model", str(pickled), "--env", "SubliminalFS-v0"],
        "--env is required with --model": ["--model", str(tiny_lm)],
        "exactly one of": ["--model", str(tiny_lm), "--policy", str(policy), "--env", "SubliminalFS-v0"],
    }
    import torch

    if not torch.cuda.is_available():  # a CPU build of torch: asking for CUDA is one clear line
        cases["sees no CUDA device"] = ["--model", str(tiny_lm), "--env", "SubliminalFS-v0", "--device", "cuda"]
    for expected, args in cases.items():
        capsys.readouterr()
        assert _run("evaluate", *args, "--out", str(tmp_path / "out")) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error:") and expected in err and len(err.strip().splitlines()) == 1, (args, err)
        assert not (tmp_path / "out").exists()
