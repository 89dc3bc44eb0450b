"""Hostile leaderboard submissions: custom code, sizes a config declares but its weights do not hold,
weights that are missing or not finite, oversized tokenizers, deep JSON, links that are not URLs,
stray files, and two scorings of one board at once. Each is refused with one line (exit code 2), in
bounded time, before anything is built, and the boards stay as they were."""

from __future__ import annotations

import fcntl
import json
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from test_leaderboards import _base, _board_files, _lm_submission, _neural, _problems, _save_tiny_lm, _write

from subliminal_gym.cli import main
from subliminal_gym.leaderboards import scorer as scorer_module
from subliminal_gym.leaderboards.render import render_boards
from subliminal_gym.leaderboards.scorer import LOCK_FILE, score_submission
from subliminal_gym.leaderboards.submission import SubmissionError, load_submission


@pytest.fixture(autouse=True)
def few_episodes(monkeypatch):
    monkeypatch.setattr(scorer_module, "PROBE_EPISODES", 6)
    monkeypatch.setattr(scorer_module, "SAFE_EPISODES", 4)


class _NoInput:
    """Standard input that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("standard input was read")

    readline = read

    def fileno(self):
        raise AssertionError("standard input was read")


@pytest.fixture
def no_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", _NoInput())


def _one_error(folder: Path, capsys) -> str:
    assert main(["leaderboard", "validate", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    return _save_tiny_lm(tmp_path_factory.mktemp("lm") / "model")


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


# -- code that comes with a submission never runs -------------------------------------------------------


@pytest.mark.parametrize("where", ["config", "tokenizer_config", "python-file-only"])
def test_custom_code_is_refused_before_transformers_sees_it(tmp_path, tiny_lm, where, capsys, no_stdin):
    folder = _lm_submission(tmp_path / "s", tiny_lm)
    marker = tmp_path / "ran"
    (folder / "lm" / "my_model.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    if where == "config":  # the red team's case: an unknown model type whose auto_map points at the .py file
        _edit_json(folder / "lm" / "config.json", model_type="my_own_model",
                   auto_map={"AutoConfig": "my_model.MyConfig", "AutoModelForCausalLM": "my_model.MyModel"})
    elif where == "tokenizer_config":
        _edit_json(folder / "lm" / "tokenizer_config.json", auto_map={"AutoTokenizer": ["my_model.MyTokenizer", None]})
    message = _one_error(folder, capsys)
    assert ("Python files" in message) if where == "python-file-only" else ("Python files" in message or
                                                                             "auto_map" in message)
    assert not marker.exists()
    (folder / "lm" / "my_model.py").unlink()
    if where != "python-file-only":  # without the .py file the auto_map alone is refused
        assert "auto_map" in _one_error(folder, capsys)
    else:
        assert main(["leaderboard", "validate", str(folder)]) == 0


def test_an_unknown_model_type_is_refused(tmp_path, tiny_lm, capsys, no_stdin):
    folder = _lm_submission(tmp_path / "s", tiny_lm)
    _edit_json(folder / "lm" / "config.json", model_type="my_own_model")
    assert "is not an architecture the installed transformers ships" in _one_error(folder, capsys)


# -- declared sizes are checked against the weights before anything is allocated ------------------------


def test_a_language_model_declaring_100000_layers_is_refused_at_once(tmp_path, tiny_lm, capsys, no_stdin):
    folder = _lm_submission(tmp_path / "s", tiny_lm)
    _edit_json(folder / "lm" / "config.json", num_hidden_layers=100_000)
    start = time.perf_counter()
    assert "declares 100000 layers" in _one_error(folder, capsys)
    assert time.perf_counter() - start < 10


def test_a_language_model_missing_a_layer_is_refused(tmp_path, tiny_lm, capsys, no_stdin):
    folder = _lm_submission(tmp_path / "s", tiny_lm)
    _edit_json(folder / "lm" / "config.json", num_hidden_layers=3)  # the weights hold 2
    assert "lack model.layers.2" in _one_error(folder, capsys)


def test_an_oversized_tokenizer_is_refused_before_it_is_parsed(tmp_path, tiny_lm, capsys, monkeypatch, no_stdin):
    from subliminal_gym.baselines.lm import model as lm_model

    folder = _lm_submission(tmp_path / "s", tiny_lm)
    monkeypatch.setattr(lm_model, "MAX_TOKENIZER_BYTES", 1000)
    assert "the tokenizer files hold" in _one_error(folder, capsys)


@pytest.mark.parametrize("arch", [
    {"embed": 8000, "state_hidden": [8000], "slot_hidden": [16], "score_hidden": [16], "value_hidden": [16]},
    {"embed": 16, "state_hidden": [64] * 3, "slot_hidden": [16], "score_hidden": [16], "value_hidden": [16]},
], ids=["huge-layers", "more-layers-than-the-weights"])
def test_a_vector_policy_declaring_what_its_weights_lack_is_refused_at_once(tmp_path, arch, capsys):
    folder = _neural(tmp_path / "s")
    _edit_json(folder / "policy" / "config.json", arch=arch)
    start = time.perf_counter()
    message = _one_error(folder, capsys)
    assert "weights do not match the config" in message and ("wrong shape" in message or "missing" in message)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("embed", 1e300, "embed must be a whole number"),
    ("embed", -4, "embed must be a whole number"),
    ("state_hidden", [True], "state_hidden must be a whole number"),
    ("value_hidden", [8] * 100, "value_hidden must be a list of at most"),
])
def test_malformed_vector_sizes_are_one_line(tmp_path, field, value, expected, capsys):
    folder = _neural(tmp_path / "s")
    config = json.loads((folder / "policy" / "config.json").read_text())
    config["arch"][field] = value
    (folder / "policy" / "config.json").write_text(json.dumps(config))
    assert expected in _one_error(folder, capsys)


def test_a_layout_of_a_billion_buckets_is_refused_before_the_view_is_built(tmp_path, capsys):
    folder = _neural(tmp_path / "s")
    config = json.loads((folder / "policy" / "config.json").read_text())
    config["layout"]["text_buckets"] = 10**9
    (folder / "policy" / "config.json").write_text(json.dumps(config))
    start = time.perf_counter()
    assert "text_buckets must be a whole number" in _one_error(folder, capsys)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("name", ["submission.json", "policy/config.json"])
def test_deeply_nested_json_is_one_line(tmp_path, name, capsys):
    folder = _neural(tmp_path / "s")
    (folder / name).write_text("[" * 40_000 + "]" * 40_000)
    assert "nested too deeply" in _one_error(folder, capsys)


# -- every parameter present, every weight finite ------------------------------------------------------


def test_weights_holding_none_of_the_models_parameters_are_refused(tmp_path, tiny_lm, capsys, no_stdin):
    folder = _neural(tmp_path / "vector")
    save_file({"unrelated": np.zeros(3, dtype=np.float32)}, str(folder / "policy" / "model.safetensors"))
    assert "weight(s) missing" in _one_error(folder, capsys)
    lm = _lm_submission(tmp_path / "lm", tiny_lm)
    save_file({"unrelated": np.zeros(3, dtype=np.float32)}, str(lm / "lm" / "model.safetensors"))
    assert "the weights lack" in _one_error(lm, capsys)


def test_nan_weights_fail_validation(tmp_path, tiny_lm, capsys, no_stdin):
    for folder, weights in ((_neural(tmp_path / "vector"), "policy/model.safetensors"),
                            (_lm_submission(tmp_path / "lm", tiny_lm), "lm/model.safetensors")):
        tensors = load_file(str(folder / weights))
        name = sorted(tensors)[0]
        tensors[name] = np.full_like(tensors[name], np.nan)
        save_file(tensors, str(folder / weights))
        assert "hold NaN or infinite values" in _one_error(folder, capsys)


# -- what reaches the board ----------------------------------------------------------------------------


def test_links_must_be_http_urls(tmp_path, capsys):
    for link in ("javascript:alert(1)", "https://example.org/paper\n| fake | row |", "https://a.b/x y",
                 "https://example.org/paper\n"):
        data = _base()
        data["link"] = link
        assert "link" in _one_error(_write(tmp_path / "s", data), capsys)
    data = _base()
    data["link"] = "https://arxiv.org/abs/2604.15559"
    assert main(["leaderboard", "validate", str(_write(tmp_path / "s", data))]) == 0


def test_render_escapes_a_hand_edited_entry(tmp_path):
    boards = tmp_path / "boards"
    score_submission(_write(tmp_path / "u", _base("scripted-zero")), root=boards, scored_on="2026-11-23")
    submission = boards / "agents" / "entries" / "scripted-zero" / "submission.json"
    _edit_json(submission, link="javascript:alert(1)\n| fake | row |")
    render_boards(boards)
    table = (boards / "agents" / "table.md").read_text()
    assert "javascript" not in table and "fake" not in table
    assert len([line for line in table.splitlines() if line.startswith("| scripted-zero")]) == 1
    assert "javascript" not in (boards / "index.html").read_text()


def test_a_linked_submission_json_is_refused(tmp_path):
    real = _write(tmp_path / "real", _base())
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "submission.json").symlink_to(real / "submission.json")
    assert "submission.json is a link" in _problems(folder)[0]


def test_only_what_is_loaded_is_hashed_and_copied(tmp_path, capsys):
    boards = tmp_path / "boards"
    first = _neural(tmp_path / "a", name="net-a")
    (first / "policy" / "model.dat").write_bytes(b"\x80\x04K\x01.")  # a pickle by another name
    score_submission(first, root=boards, scored_on="2026-11-23")
    entry = boards / "agents" / "entries" / "net-a"
    assert sorted(p.name for p in (entry / "policy").iterdir()) == ["config.json", "model.safetensors"]
    # the same weights with a README beside them, in a folder of another name, are the same policy
    second = _neural(tmp_path / "b", name="net-b")
    (second / "policy" / "README.md").write_text("my model\n")
    (second / "policy").rename(second / "weights")
    _edit_json(second / "submission.json", policies={"SubliminalFS-v0": {"kind": "slot_scoring", "path": "weights"}})
    assert load_submission(second).artifact_sha256() == load_submission(entry).artifact_sha256()
    before = _board_files(boards)
    assert main(["leaderboard", "score", str(second), "--boards", str(boards)]) == 2
    assert "identical" in capsys.readouterr().err
    assert _board_files(boards) == before


def test_a_board_being_scored_refuses_a_second_scoring(tmp_path):
    boards = tmp_path / "boards"
    score_submission(_write(tmp_path / "u", _base("scripted-zero")), root=boards, scored_on="2026-11-23")
    before = _board_files(boards)
    with open(boards / "agents" / LOCK_FILE, "a+b") as held:  # another process scoring this board
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(SubmissionError, match="being scored by another process"):
            score_submission(_write(tmp_path / "v", _base("scripted-half", **{
                "SubliminalFS-v0": {"kind": "scripted", "bias": 0.5}})), root=boards)
    assert _board_files(boards) == before
    # once the other scoring has ended, the board takes entries again
    score_submission(_write(tmp_path / "v", _base("scripted-half", **{
        "SubliminalFS-v0": {"kind": "scripted", "bias": 0.5}})), root=boards, scored_on="2026-11-23")
