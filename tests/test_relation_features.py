"""The vector views' relation features: what each action's arguments have to do with what the agent
has read. They are what lets a slot-scoring agent do the tasks (tests/test_competence.py); each one
here is checked on a situation where it must fire and one where it must not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from subliminal_gym.views import RELATION_FEATURES, SlotEncoder, ViewLayout, make_view_env


def _call(name: str, **arguments: object) -> str:
    return json.dumps({"name": name, "arguments": arguments})


def _features(layout: ViewLayout, obs: np.ndarray, slot: int) -> dict[str, float]:
    slots = layout.split(obs)[1]
    first = 1 + layout.n_verbs + layout.arg_buckets
    return dict(zip(RELATION_FEATURES, slots[slot, first:first + len(RELATION_FEATURES)].tolist(), strict=True))


@pytest.fixture
def layout() -> ViewLayout:
    return ViewLayout.of("fs")


def test_new_layouts_carry_relations_and_saved_ones_without_the_key_do_not(layout):
    assert layout.relations and layout.n_relations == len(RELATION_FEATURES)
    old = {k: v for k, v in layout.to_dict().items() if k != "relations"}
    plain = ViewLayout.from_dict(old)
    assert not plain.relations and plain.slot_dim == layout.slot_dim - len(RELATION_FEATURES)
    assert plain.state_dim == layout.state_dim - layout.n_verbs  # no verbs-used block either
    assert ViewLayout.from_dict(layout.to_dict()) == layout
    with pytest.raises(ValueError, match="relations"):
        ViewLayout.from_dict({**layout.to_dict(), "relations": "yes"})


def test_a_listing_ranks_files_by_size_and_marks_what_it_shows(layout):
    encoder = SlotEncoder(layout)
    encoder.begin_episode("Which file in /workspace/shared is the largest? Report its full path.")
    slots = [_call("finish", answer=f"/workspace/shared/{n}") for n in ("a.txt", "b.txt", "c.txt", "zz.txt")]
    listing = "/workspace/shared (3 items)\na.txt  120 bytes\nb.txt  9000 bytes\nc.txt  40 bytes\n"
    obs = encoder.observe(listing, {"admissible_actions": slots})
    a, b, c, z = (_features(layout, obs, i) for i in range(4))
    assert b["size_is_largest"] == 1.0 and b["size_rank"] == 1.0
    assert a["size_is_largest"] == 0.0 and 0.0 < a["size_rank"] < 1.0 and c["size_rank"] == 0.0
    assert a["in_last_observation"] == 1.0 and z["in_last_observation"] == 0.0 and z["size_rank"] == 0.0
    # the next observation says nothing of them: they were seen before, not now
    obs = encoder.observe("Archived something", {"admissible_actions": slots})
    a = _features(layout, obs, 0)
    assert a["in_last_observation"] == 0.0 and a["in_earlier_observation"] == 1.0


def test_paths_match_whole_and_numbers_as_numbers(layout):
    encoder = SlotEncoder(layout)
    encoder.begin_episode("Make a backup copy of /workspace/atlas at /workspace/backups/atlas-2026-02-05.")
    slots = [_call("copy", source="/workspace/atlas", destination="/workspace/backups/atlas-2026-02-05"),
             _call("copy", source="/workspace/atlas", destination="/workspace/backups"),
             _call("finish", answer="7"), _call("finish", answer="17")]
    obs = encoder.observe("3 files match under /workspace/x:\n/workspace/x/a_17.json\n", {"admissible_actions": slots})
    right, wrong, seven, seventeen = (_features(layout, obs, i) for i in range(4))
    assert right["in_task"] == 1.0 and wrong["in_task"] == 1.0  # both name /workspace/atlas, the source
    assert seven["in_last_observation"] == 0.0 and seventeen["in_last_observation"] == 1.0
    assert seven["first_number"] == 0.0
    obs = encoder.observe("7 files match under /workspace/x:", {"admissible_actions": slots})
    assert _features(layout, obs, 2)["first_number"] == 1.0 and _features(layout, obs, 3)["first_number"] == 0.0


def test_dates_quotes_extensions_and_what_was_taken(layout):
    encoder = SlotEncoder(layout)
    encoder.begin_episode("Only the logs from the last 10 days should stay (today is 2026-03-02). Copies have "
                          "' (1)' in their names. Count the .csv files.")
    slots = [_call("archive", path="/workspace/logs/s-2026-02-10.log"),
             _call("archive", path="/workspace/logs/s-2026-02-25.log"),
             _call("archive", path="/workspace/d/plan (1).pdf"), _call("archive", path="/workspace/d/plan.csv"),
             _call("move", source="/workspace/in/a.pdf", destination="/workspace/in/pdf/a.pdf"),
             _call("finish", answer="/workspace/d/plan.csv")]
    obs = encoder.observe("listing", {"admissible_actions": slots})
    old, recent, copy, csv, move, finish = (_features(layout, obs, i) for i in range(6))
    assert old["older_than_task_days"] == 1.0 and old["date_age"] == pytest.approx(20 / 60)
    assert recent["older_than_task_days"] == 0.0 and recent["date_age"] == pytest.approx(5 / 60)
    assert copy["has_task_quote"] == 1.0 and csv["has_task_quote"] == 0.0
    assert csv["extension_in_task"] == 1.0 and copy["extension_in_task"] == 0.0
    assert move["extension_is_folder"] == 1.0 and csv["extension_is_folder"] == 0.0
    assert finish["shares_taken_value"] == 0.0
    encoder.record_action(_call("read_file", path="/workspace/d/plan.csv"))
    obs = encoder.observe("plan", {"admissible_actions": slots})
    assert _features(layout, obs, 5)["shares_taken_value"] == 1.0
    verbs_used = layout.split(obs)[0][layout.error_index + 1:]
    assert verbs_used[layout.verb_index("read_file")] == 1.0 and verbs_used.sum() == 1.0


def test_an_edit_that_writes_the_value_the_task_asked_for_stands_out(layout):
    encoder = SlotEncoder(layout)
    encoder.begin_episode("In /workspace/a/app.ini, set level in the [logging] section to debug (it is info now).")
    config = "[logging]\nlevel = info\nretention_days = 7\n"
    slots = [_call("write_file", path="/workspace/a/app.ini", content=config.replace("info", v))
             for v in ("debug", "warning")]
    obs = encoder.observe(config, {"admissible_actions": slots})
    assert _features(layout, obs, 0)["new_words_from_task"] == 1.0
    assert _features(layout, obs, 1)["new_words_from_task"] == 0.0


def test_separators_tell_names_that_split_into_the_same_words_apart(layout):
    encoder = SlotEncoder(layout)
    encoder.begin_episode("Rename to lower case with underscores.")
    slots = [_call("move", source="/r/A B.MP3", destination="/r/a_b.mp3"),
             _call("move", source="/r/A B.MP3", destination="/r/a-b.mp3")]
    obs = encoder.observe("x", {"admissible_actions": slots})
    rows = layout.split(obs)[1]
    assert not np.array_equal(rows[0], rows[1])


@pytest.mark.parametrize("env_id", ["SubliminalFS-v0", "SubliminalBash-v0"])
def test_the_features_stay_in_the_unit_interval_over_real_episodes(env_id):
    view = make_view_env(env_id)
    rng = np.random.default_rng(0)
    for seed in range(30):
        obs, info = view.reset(seed=seed)
        for _ in range(6):
            assert obs.min() >= 0.0 and obs.max() <= 1.0
            valid = np.flatnonzero(info["action_mask"])
            obs, _, terminated, truncated, info = view.step(int(rng.choice(valid)))
            if terminated or truncated:
                break
