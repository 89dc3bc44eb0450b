"""Leaderboards: the schema, every kind of bad submission, deterministic scoring, duplicates, rendering."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from subliminal_gym.baselines.agents import PolicyTextAgent
from subliminal_gym.baselines.artifacts import load_policy, save_policy
from subliminal_gym.baselines.distill import DistillConfig
from subliminal_gym.baselines.policies import build_policy
from subliminal_gym.baselines.reproduce import conditions
from subliminal_gym.baselines.reproduce.grid import TrackBudget
from subliminal_gym.baselines.reproduce.ray_backend import RayBackend
from subliminal_gym.baselines.tracks import VectorTrack
from subliminal_gym.cli import main
from subliminal_gym.leaderboards import scorer as scorer_module
from subliminal_gym.leaderboards import submission as submission_module
from subliminal_gym.leaderboards.defences import MIN_FIRST_SEED, defence_score
from subliminal_gym.leaderboards.render import render_boards
from subliminal_gym.leaderboards.schema import DEFENCE_DISTILLERS, DEFENCE_INITS, SUBMISSION_SCHEMA
from subliminal_gym.leaderboards.scorer import score_defences, score_submission
from subliminal_gym.leaderboards.submission import SubmissionError, load_submission
from subliminal_gym.runner import run_episodes
from subliminal_gym.views import make_view_env

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def few_episodes(monkeypatch):
    """The board's 200 + 200 episodes per env are the protocol; tests check the machinery on fewer."""
    monkeypatch.setattr(scorer_module, "PROBE_EPISODES", 12)
    monkeypatch.setattr(scorer_module, "SAFE_EPISODES", 8)


def _write(folder: Path, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "submission.json").write_text(json.dumps(data))
    return folder


def _base(name: str = "my-agent", board: str = "agents", **policies) -> dict:
    policies = policies or {"SubliminalFS-v0": {"kind": "scripted", "bias": 0.0}}
    return {"schema_version": 1, "name": name, "authors": ["Ada"], "board": board, "env_ids": sorted(policies),
            "method": "a test", "link": "", "date": "2026-11-23", "policies": policies}


def _neural(folder: Path, env_id: str = "SubliminalFS-v0", seed: int = 0, name: str = "net",
            layout_env: str | None = None, board: str = "agents") -> Path:
    layout = make_view_env(layout_env or env_id).layout
    save_policy(build_policy(layout, "small", seed=seed), folder / "policy")
    return _write(folder, _base(name, board, **{env_id: {"kind": "slot_scoring", "path": "policy"}}))


def _problems(folder: Path) -> list[str]:
    with pytest.raises(SubmissionError) as info:
        load_submission(folder)
    return info.value.problems


def test_the_committed_tables_and_page_are_what_the_entries_render_to(tmp_path):
    import shutil

    copy = tmp_path / "leaderboards"
    shutil.copytree(ROOT / "leaderboards", copy)
    render_boards(copy)
    for name in ("agents/table.md", "defences/table.md", "index.html"):
        assert (copy / name).read_bytes() == (ROOT / "leaderboards" / name).read_bytes(), (
            f"leaderboards/{name} is stale: run `subliminal-gym leaderboard render`")


def test_the_published_schema_file_is_the_schema():
    published = json.loads((ROOT / "leaderboards" / "submission.schema.json").read_text())
    assert published == SUBMISSION_SCHEMA


def test_a_valid_submission_validates(tmp_path, capsys):
    folder = _neural(tmp_path / "sub")
    submission = load_submission(folder)
    assert submission.board == "agents" and submission.env_ids == ["SubliminalFS-v0"]
    assert len(submission.artifact_sha256()) == 64
    assert main(["leaderboard", "validate", str(folder)]) == 0
    assert "valid agents submission" in capsys.readouterr().out


def test_malformed_json_is_one_clear_message(tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "submission.json").write_text('{"name": "x",')
    assert main(["leaderboard", "validate", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: submission.json is not valid JSON") and "line 1" in err[0]


def test_missing_fields_give_one_message_each(tmp_path):
    data = _base()
    del data["authors"], data["date"]
    problems = _problems(_write(tmp_path / "s", data))
    assert len(problems) == 2 and any("'authors'" in p for p in problems) and any("'date'" in p for p in problems)


def test_wrong_types_and_unknown_board(tmp_path):
    data = _base()
    data.update(authors="Ada", date=20261123, board="speedrun")
    problems = _problems(_write(tmp_path / "s", data))
    assert any(p.startswith("submission.json authors:") and "array" in p for p in problems)
    assert any(p.startswith("submission.json date:") for p in problems)
    assert any(p.startswith("submission.json board:") and "speedrun" in p for p in problems)


def test_a_missing_artifact_is_refused(tmp_path):
    folder = _write(tmp_path / "s", _base(**{"SubliminalFS-v0": {"kind": "slot_scoring", "path": "weights"}}))
    assert _problems(folder) == ["policies.SubliminalFS-v0.path 'weights': no such folder in the submission"]
    (folder / "weights").mkdir()
    assert "lacks model.safetensors and config.json" in _problems(folder)[0]


def test_paths_may_not_leave_the_submission(tmp_path):
    folder = _write(tmp_path / "s", _base(**{"SubliminalFS-v0": {"kind": "slot_scoring", "path": "../elsewhere"}}))
    assert "must be a folder inside the submission" in _problems(folder)[0]


@pytest.mark.parametrize("suffix", [".pkl", ".pt", ".zip"])
def test_pickles_are_refused_with_a_way_to_convert(tmp_path, suffix):
    folder = _neural(tmp_path / "s")
    (folder / "policy" / f"model{suffix}").write_bytes(b"\x80\x04K\x01.")
    problems = _problems(folder)
    assert len(problems) == 1 and "pickles" in problems[0] and "save_policy" in problems[0]


def test_an_oversized_artifact_is_refused(tmp_path, monkeypatch):
    folder = _neural(tmp_path / "s")
    monkeypatch.setattr(submission_module, "MAX_ARTIFACT_BYTES", 1000)
    problems = _problems(folder)
    assert len(problems) == 1 and "the limit is" in problems[0]


def test_mismatched_architecture_shapes_are_refused(tmp_path):
    folder = _neural(tmp_path / "s", env_id="SubliminalBash-v0", layout_env="SubliminalFS-v0")
    problems = _problems(folder)
    assert len(problems) == 1 and "mismatched architecture shapes" in problems[0]


def test_a_model_saved_before_the_relation_features_is_still_accepted_and_runs(tmp_path):
    layout = dataclasses.replace(make_view_env("SubliminalFS-v0").layout, relations=False)
    folder = tmp_path / "old"
    save_policy(build_policy(layout, "small", seed=0), folder / "policy")
    _write(folder, _base("old", "agents", **{"SubliminalFS-v0": {"kind": "slot_scoring", "path": "policy"}}))
    loaded = load_submission(folder)
    agent = PolicyTextAgent(load_policy(folder / "policy")[0])
    records = run_episodes(agent, "SubliminalFS-v0", episodes=2, seed=0)
    assert loaded and len(records) == 2


def _defence(name: str = "my-defence", env_ids: tuple[str, ...] = ("SubliminalBash-v0",), **recipe) -> dict:
    data = _base(name, "defences")
    del data["policies"]
    return {**data, "env_ids": list(env_ids), "defence": recipe or {"distiller": "bc"}}


def test_a_defence_is_a_recipe_not_a_policy(tmp_path):
    # a trained student is one training run: the defences board refuses policies and wants a recipe
    data = {**_base("dd", "defences"), "defence": {"distiller": "bc"}}
    assert any("not trained policies" in p for p in _problems(_write(tmp_path / "p", data)))
    no_recipe = {k: v for k, v in _base("dd", "defences").items() if k != "policies"}
    assert any("'defence' is a required property" in p for p in _problems(_write(tmp_path / "n", no_recipe)))
    assert any("'distiller' is a required property" in p
               for p in _problems(_write(tmp_path / "e", _defence(epochs=5))))
    assert any("200" in p for p in _problems(_write(tmp_path / "x", _defence(distiller="logit", epochs=10_000))))
    assert any("learns from the FS env's task reward" in p
               for p in _problems(_write(tmp_path / "g", _defence(distiller="gail"))))
    # the agents board takes no recipe
    agents = {**_base("aa"), "defence": {"distiller": "bc"}}
    assert any("only the defences board takes a recipe" in p for p in _problems(_write(tmp_path / "a", agents)))
    # the same recipe with its defaults spelled out is the same defence
    short = load_submission(_write(tmp_path / "s", _defence(distiller="logit")))
    spelled = load_submission(_write(tmp_path / "l", _defence("other", distiller="logit", epochs=60, init="shared",
                                                              temperature=1.0)))
    assert short.artifact_sha256() == spelled.artifact_sha256()
    assert short.defence.condition("x", short.settings).kind == "defence" and short.settings == ["bash"]


def test_the_recipe_vocabulary_is_the_grids():
    assert DEFENCE_DISTILLERS == VectorTrack.methods
    assert DEFENCE_INITS == tuple(conditions.DEFENCE_INITS)


def _board_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_scoring_is_deterministic_and_duplicates_leave_the_board_untouched(tmp_path, capsys):
    boards = tmp_path / "boards"
    first = score_submission(_neural(tmp_path / "a", name="net-a"), root=boards, scored_on="2026-11-23")
    entry = boards / "agents" / "entries" / "net-a"
    summary = (entry / "summary.json").read_bytes()
    assert first["envs"]["SubliminalFS-v0"]["episodes"] == {"safe": 8, "probe": 12}
    assert (entry / "results" / "SubliminalFS-v0" / "probe" / "episodes.jsonl").is_file()
    # re-scoring the entry in place gives the same bytes
    assert main(["leaderboard", "score", str(entry), "--boards", str(boards)]) == 0
    assert (entry / "summary.json").read_bytes() == summary
    before = _board_files(boards)
    # same name, different policy; and same policy, different name
    assert main(["leaderboard", "score", str(_neural(tmp_path / "b", name="net-a", seed=5)),
                 "--boards", str(boards)]) == 2
    assert "already on the agents board" in capsys.readouterr().err
    assert main(["leaderboard", "score", str(_neural(tmp_path / "c", name="net-c")), "--boards", str(boards)]) == 2
    assert "identical" in capsys.readouterr().err
    assert _board_files(boards) == before
    assert not [p for p in (boards / "agents" / "entries").iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_a_failing_score_leaves_no_partial_entry(tmp_path, monkeypatch):
    boards = tmp_path / "boards"

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash mid-evaluation")

    monkeypatch.setattr(scorer_module, "_score_agents", crash)
    with pytest.raises(RuntimeError):
        score_submission(_neural(tmp_path / "a", name="net-a"), root=boards)
    assert list((boards / "agents" / "entries").iterdir()) == []


@pytest.mark.slow
def test_render_uses_the_stored_summaries_only(tmp_path):
    boards = tmp_path / "boards"
    score_submission(_write(tmp_path / "u", _base("scripted-zero", **{"SubliminalFS-v0": {"kind": "scripted",
                                                                                          "bias": 0.0}})),
                     root=boards, scored_on="2026-11-23")
    score_submission(_write(tmp_path / "b", _base("scripted-one", **{"SubliminalFS-v0": {"kind": "scripted",
                                                                                         "bias": 1.0}})),
                     root=boards, scored_on="2026-11-23")
    # a number written into a submission is ignored
    sub = boards / "agents" / "entries" / "scripted-one" / "submission.json"
    sub.write_text(json.dumps({**json.loads(sub.read_text()), "results": {"deletes_first": 0.0}}))
    render_boards(boards)
    table = (boards / "agents" / "table.md").read_text()
    assert "| scripted-one | Ada | SubliminalFS-v0 | 100.0 [" in table and "deletes first 100.0 [" in table
    assert "deletes first 0.0 [" in table and "(defences" not in table
    page = (boards / "index.html").read_text()
    assert "<table class=\"board\">" in page and "addEventListener(\"click\"" in page and "scripted-zero" in page
    (boards / "agents" / "entries" / "scripted-one" / "summary.json").write_text("{")
    with pytest.raises(Exception, match="scripted-one"):
        render_boards(boards)


def test_the_defence_score_rewards_skill_and_punishes_the_habit():
    assert defence_score(1.0, 0.0) == 1.0 and defence_score(1.3, -0.1) == 1.0
    assert defence_score(0.5, 0.0) == 0.5 and defence_score(1.0, 0.25) == 0.75
    assert defence_score(0.8, 0.5) == pytest.approx(0.4)


#: A grid small enough for a test: the machinery of the defences board, not its numbers.
TINY_GRID = TrackBudget(teacher={"pretrain_episodes": 40, "pretrain_epochs": 2, "finetune_episodes": 20,
                                 "finetune_epochs": 1},
                        distill=DistillConfig(epochs=1), attack_method="logit", attack_epochs=2, episodes=12,
                        competence_episodes=8, rollout_episodes=16)


@pytest.mark.slow
def test_defences_are_scored_beside_the_attack_on_seeds_drawn_when_scoring(tmp_path):
    boards = tmp_path / "boards"
    fresh = _write(tmp_path / "f", _defence("fresh-bc", distiller="bc", init="fresh", epochs=2))
    early = _write(tmp_path / "e", _defence("early-logit", distiller="logit", epochs=1))
    scored = score_defences([fresh, early], root=boards, seeds=3, workers=1, vector=TINY_GRID,
                            scored_on="2026-12-06")
    first_seed = {s["protocol"]["first_seed"] for s in scored}
    assert len(first_seed) == 1 and min(first_seed) >= MIN_FIRST_SEED  # one draw, away from published seeds
    for summary in scored:
        bash = summary["settings"]["bash"]
        assert list(summary["settings"]) == ["bash"] and bash["reduction"]["seeds"] == 3
        residual, attack = bash["residual_transfer"], bash["no_defence_transfer"]
        assert bash["reduction"]["seed_effects_pp"] == pytest.approx(
            [a - r for a, r in zip(attack["seed_effects_pp"], residual["seed_effects_pp"], strict=True)], abs=1e-3)
        assert bash["score"] == pytest.approx(defence_score(bash["capability_kept"], residual["effect_pp"] / 100))
        assert bash["separates"] == (bash["reduction"]["ci_low_pp"] > 0)
        assert len(bash["audit_sha256"]) == 6
    # both saw the same attack: its per-seed effects are one set of numbers
    assert scored[0]["settings"]["bash"]["no_defence_transfer"] == scored[1]["settings"]["bash"]["no_defence_transfer"]
    # re-scoring one entry alone uses its recorded seeds and gives the same summary, byte for byte, also
    # when its grid runs on Ray (a local cluster of 2 CPUs the scorer starts and stops)
    entry = boards / "defences" / "entries" / "early-logit"
    before = (entry / "summary.json").read_bytes()
    score_defences([entry], root=boards, seeds=3, vector=TINY_GRID, scored_on="2026-12-06", workers=2,
                   ray=RayBackend())
    assert (entry / "summary.json").read_bytes() == before
    # the same recipe under another name is a duplicate; the board is left as it was
    with pytest.raises(SubmissionError, match="recipe is identical"):
        score_defences([_write(tmp_path / "d", _defence("again", distiller="logit", epochs=1))], root=boards,
                       seeds=3, vector=TINY_GRID)
    render_boards(boards)
    table = (boards / "defences" / "table.md").read_text()
    assert "| fresh-bc | Ada | SubliminalBash-v0 |" in table and "| early-logit | Ada | SubliminalBash-v0 |" in table
    assert f"3 from {first_seed.pop()}" in table


# -- transformers (language-model) entries ------------------------------------------------------------


def _save_tiny_lm(folder: Path) -> Path:
    """An untrained tiny LM and a tokenizer trained on a few scripted Bash episodes: the plumbing, not the skill."""
    import torch

    from subliminal_gym.baselines.lm import build_tiny_lm, save_lm
    from subliminal_gym.baselines.lm.episodes import episode_tokenizer, expert_episodes

    torch.set_num_threads(1)
    tokenizer = episode_tokenizer(expert_episodes("SubliminalBash-v0", rate=0.5, episodes=24, seed=1))
    return save_lm(build_tiny_lm("small", tokenizer, seed=0), tokenizer, folder)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    return _save_tiny_lm(tmp_path_factory.mktemp("lm") / "model")


def _lm_submission(folder: Path, model: Path, name: str = "tiny-lm", env_id: str = "SubliminalBash-v0") -> Path:
    import shutil

    shutil.copytree(model, folder / "lm")
    return _write(folder, _base(name, **{env_id: {"kind": "transformers", "path": "lm"}}))


@pytest.mark.slow
def test_a_language_model_entry_is_scored_deterministically_on_the_same_tasks(tmp_path, tiny_lm, monkeypatch):
    # an untrained model never submits: every episode runs its 40 steps, so few episodes and one-token replies
    monkeypatch.setattr(scorer_module, "PROBE_EPISODES", 3)
    monkeypatch.setattr(scorer_module, "SAFE_EPISODES", 2)
    import dataclasses

    from subliminal_gym.settings import SETTINGS

    for name, setting in SETTINGS.items():  # the settings' reply caps, for this test only
        monkeypatch.setitem(SETTINGS, name, dataclasses.replace(setting, reply_tokens=1))
    boards = tmp_path / "boards"
    summary = score_submission(_lm_submission(tmp_path / "lm", tiny_lm), root=boards, scored_on="2026-11-23")
    env = summary["envs"]["SubliminalBash-v0"]
    assert env["episodes"] == {"safe": 2, "probe": 3} and env["primary_metric"] == "chmod_first"
    assert env["generation"]["max_new_tokens"] == 1 and env["generation"]["batch_size"] == scorer_module.BATCH_SIZE
    entry = boards / "agents" / "entries" / "tiny-lm"
    results = entry / "results" / "SubliminalBash-v0" / "probe" / "episodes.jsonl"
    lm_records = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lm_records) == 3 and all(r["actions"] for r in lm_records)
    # re-scoring the entry in place gives the same bytes
    before = (entry / "summary.json").read_bytes()
    score_submission(entry, root=boards, scored_on="2026-11-23")
    assert (entry / "summary.json").read_bytes() == before
    assert [json.loads(line) for line in results.read_text().splitlines()] == lm_records
    # the same tasks as every other entry, so entries compare episode by episode
    score_submission(_write(tmp_path / "s", _base("scripted-half", **{"SubliminalBash-v0": {"kind": "scripted",
                                                                                            "bias": 0.5}})),
                     root=boards, scored_on="2026-11-23")
    scripted = boards / "agents" / "entries" / "scripted-half" / "results" / "SubliminalBash-v0" / "probe"
    scripted_records = [json.loads(line) for line in (scripted / "episodes.jsonl").read_text().splitlines()]
    assert [(r["task_family"], r["task_seed"]) for r in lm_records] == \
        [(r["task_family"], r["task_seed"]) for r in scripted_records]


def _adapter_submission(folder: Path, base: Path, name: str = "tiny-lora", base_name: str | None = "tiny-base"
                        ) -> Path:
    """A LoRA adapter (rank 2, its B moved off zero) over ``base``, as a submission naming ``base_name``."""
    import torch

    from subliminal_gym.baselines.lm import load_lm
    from subliminal_gym.baselines.lm.lora import attach_lora, save_adapter
    from subliminal_gym.baselines.tracks import LoRAConfig

    model = attach_lora(load_lm(base)[0], LoRAConfig(rank=2, alpha=4.0), seed=0)
    with torch.no_grad():
        for parameter_name, parameter in model.named_parameters():
            if "lora_B" in parameter_name:
                parameter.fill_(0.01)
    save_adapter(model, folder / "lm", base_model=base)
    policy = {"kind": "transformers", "path": "lm", **({"base_model": base_name} if base_name else {})}
    return _write(folder, _base(name, **{"SubliminalBash-v0": policy}))


@pytest.fixture(scope="module")
def base_models(tiny_lm, tmp_path_factory) -> Path:
    """The scorer's folder of base models: the tiny LM as ``tiny-base``."""
    import shutil

    folder = tmp_path_factory.mktemp("bases")
    shutil.copytree(tiny_lm, folder / "tiny-base")
    return folder


def test_an_adapter_entry_is_checked_against_the_scorers_own_base_model(tmp_path, tiny_lm, base_models, capsys):
    folder = _adapter_submission(tmp_path / "s", base_models / "tiny-base")
    submission = load_submission(folder, base_models=base_models)
    spec = submission.policies["SubliminalBash-v0"]
    assert spec.base_model == "tiny-base" and spec.base_folder == base_models / "tiny-base"
    assert sorted(p.name for p in submission.artifact_files()) == ["adapter_config.json", "adapter_model.safetensors"]
    adapter_bytes = sum(p.stat().st_size for p in submission.artifact_files())
    assert adapter_bytes < sum(p.stat().st_size for p in (base_models / "tiny-base").iterdir())
    assert main(["leaderboard", "validate", str(folder), "--base-models", str(base_models)]) == 0
    assert "valid agents submission 'tiny-lora'" in capsys.readouterr().out
    # the entry's identity covers its base's bytes: the same adapter over another base is another entry
    other = tmp_path / "other-bases"
    import shutil

    shutil.copytree(base_models / "tiny-base", other / "tiny-base")
    weights = other / "tiny-base" / "model.safetensors"
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights))
    first = sorted(tensors)[0]
    tensors[first] = tensors[first] + 1.0
    save_file(tensors, str(weights))
    assert load_submission(folder, base_models=other).artifact_sha256() != submission.artifact_sha256()

    unnamed = _adapter_submission(tmp_path / "unnamed", base_models / "tiny-base", base_name=None)
    whole = _lm_submission(tmp_path / "whole", tiny_lm)
    data = json.loads((whole / "submission.json").read_text())
    data["policies"]["SubliminalBash-v0"]["base_model"] = "tiny-base"
    (whole / "submission.json").write_text(json.dumps(data))
    for path, kwargs, message in (
            (folder, {}, "--base-models DIR"),
            (folder, {"base_models": tmp_path / "empty"}, "no base model 'tiny-base' here"),
            (unnamed, {"base_models": base_models}, "holds a LoRA adapter; name the base model"),
            (whole, {"base_models": base_models}, "holds no adapter"),
            (_adapter_submission(tmp_path / "bad-name", base_models / "tiny-base", base_name="../tiny-base"), {},
             "base_model")):
        with pytest.raises(SubmissionError) as info:
            load_submission(path, **kwargs)
        assert len(info.value.problems) == 1 and message in info.value.problems[0], info.value.problems
    assert main(["leaderboard", "validate", str(folder)]) == 2
    assert capsys.readouterr().err.strip().startswith("error: policies.SubliminalBash-v0.base_model:")


@pytest.mark.slow
def test_an_adapter_entry_is_scored_over_the_base_and_records_it(tmp_path, base_models, monkeypatch):
    monkeypatch.setattr(scorer_module, "PROBE_EPISODES", 3)
    monkeypatch.setattr(scorer_module, "SAFE_EPISODES", 2)
    from subliminal_gym.leaderboards.submission import base_model_sha256
    from subliminal_gym.settings import SETTINGS

    for name, setting in SETTINGS.items():
        monkeypatch.setitem(SETTINGS, name, dataclasses.replace(setting, reply_tokens=1))
    boards = tmp_path / "boards"
    summary = score_submission(_adapter_submission(tmp_path / "s", base_models / "tiny-base"), root=boards,
                               scored_on="2026-12-07", base_models=base_models)
    env = summary["envs"]["SubliminalBash-v0"]
    assert env["base_model"] == {"name": "tiny-base", "sha256": base_model_sha256(base_models / "tiny-base")}
    entry = boards / "agents" / "entries" / "tiny-lora"
    assert sorted(p.name for p in (entry / "lm").iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    before = (entry / "summary.json").read_bytes()
    score_submission(entry, root=boards, scored_on="2026-12-07", base_models=base_models)
    assert (entry / "summary.json").read_bytes() == before
    render_boards(boards)
    sha = base_model_sha256(base_models / "tiny-base")[:7]
    table = (boards / "agents" / "table.md").read_text()
    assert f"| tiny-lora (LoRA over tiny-base, {sha}) | Ada | SubliminalBash-v0 |" in table


def _remove_tokenizer(folder: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)


def _corrupt_weights(folder: Path) -> None:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])


def _wrong_shapes(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_size": 2 * config["hidden_size"]}))


def _unknown_architecture(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "my_own_model",
                                                    "auto_map": {"AutoModelForCausalLM": "my_model.MyModel"}}))


@pytest.mark.parametrize(("breakage", "message"), [
    (lambda f: (f / "config.json").unlink(), "lacks config.json"),
    (lambda f: (f / "model.safetensors").rename(f / "pytorch_model.bin"), ".bin files are pickles"),
    (_remove_tokenizer, "has no tokenizer"),
    (_corrupt_weights, "does not load as a transformers causal LM"),
    (_wrong_shapes, "config.json declares"),
    (_unknown_architecture, "auto_map"),
], ids=["no-config", "pickled-weights-only", "no-tokenizer", "corrupt-weights", "wrong-shapes", "remote-code"])
def test_a_broken_language_model_is_one_clear_error(tmp_path, tiny_lm, breakage, message, capsys):
    folder = _lm_submission(tmp_path / "s", tiny_lm)
    assert load_submission(folder).policies["SubliminalBash-v0"].kind == "transformers"
    breakage(folder / "lm")
    problems = _problems(folder)
    assert len(problems) == 1 and message in problems[0] and "\n" not in problems[0], problems
    assert main(["leaderboard", "validate", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {problems[0]}"]
