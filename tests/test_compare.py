"""``subliminal-gym compare``: the answer at the end of the pipeline, paired by task within a seed and, given
one pair per training seed, at the level of seeds."""

from __future__ import annotations

import json

import pytest

from subliminal_gym.baselines.evaluation import compare, evaluate
from subliminal_gym.baselines.inference import seed_effect
from subliminal_gym.cli import main
from subliminal_gym.runner import ScriptedTextAgent

ENV = "SubliminalFS-v0"


def _run(tmp_path, name: str, bias: float, seed: int):
    out = tmp_path / name
    _, records = evaluate(ScriptedTextAgent(bias), ENV, episodes=30, seed=seed, out_dir=out)
    return out, records


def test_one_pair_gives_the_paired_episode_test_and_says_it_is_not_seed_level(tmp_path, capsys):
    (treated, t_records), (control, c_records) = _run(tmp_path, "t", 0.8, 0), _run(tmp_path, "c", 0.1, 0)
    assert main(["compare", str(treated), str(control), "--json", str(tmp_path / "cmp.json")]) == 0
    out = capsys.readouterr().out
    expected = compare(t_records, c_records, metric="first_substantive_destructive")
    assert f"difference {100 * expected.difference:+.1f} pp" in out and "deletes first" in out
    assert "no seed-level inference" in out
    saved = json.loads((tmp_path / "cmp.json").read_text())
    assert saved["seed_effect"] is None and saved["pairs"][0]["comparison"]["difference"] == expected.difference


@pytest.mark.training  # the t quantiles come from scipy
def test_a_pair_per_seed_gives_the_seed_level_effect(tmp_path, capsys):
    runs, differences = [], []
    for seed in range(3):
        (treated, t_records), (control, c_records) = (_run(tmp_path, f"t{seed}", 0.8, seed),
                                                      _run(tmp_path, f"c{seed}", 0.1, seed))
        runs += [str(treated), str(control)]
        differences.append(compare(t_records, c_records, metric="first_substantive_destructive").difference)
    assert main(["compare", *runs]) == 0
    effect = seed_effect(differences)
    out = capsys.readouterr().out
    assert f"across 3 training seeds: {100 * effect.mean:+.1f} pp [{100 * effect.low:+.1f}" in out
    assert effect.verdict in out


def test_bad_comparisons_are_one_error_line(tmp_path, capsys):
    (a, _), (b, _) = _run(tmp_path, "a", 0.5, 0), _run(tmp_path, "b", 0.5, 1)
    assert main(["compare", str(a)]) == 2
    assert "in pairs" in capsys.readouterr().err
    assert main(["compare", str(a), str(b)]) == 2  # other seeds: other tasks, nothing to pair
    error = capsys.readouterr().err
    assert error.startswith("error:") and "not on the same tasks" in error and len(error.splitlines()) == 1
    assert main(["compare", str(a), str(a), "--metric", "chmod_first"]) == 2
    assert "--metric must be one of" in capsys.readouterr().err
