"""Recording trajectories on the view's layout through the episode runner, the on-disk format and the
chat export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from imitation.data.rollout import flatten_trajectories

from subliminal_gym.baselines.artifacts import ArtifactError
from subliminal_gym.baselines.trajectories import (
    ARRAYS_FILE,
    HEAVY_INFO_KEYS,
    META_FILE,
    TEXTS_FILE,
    TextTrajectory,
    collect_trajectories,
    collect_with_audits,
    export_chat_jsonl,
    load_trajectories,
    save_trajectories,
)
from subliminal_gym.fs.tools import TOOL_SCHEMAS
from subliminal_gym.runner import RandomTextAgent, ScriptedTextAgent, TextAgent
from subliminal_gym.settings import BASH, FS
from subliminal_gym.views import make_view_env

torch.set_num_threads(1)


def expert(bias: float) -> ScriptedTextAgent:
    return ScriptedTextAgent(bias)


class RandomSpyAgent(RandomTextAgent):
    """Picks a random admissible action and records every info key it was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.seen_keys: set[str] = set()

    def act_batch(self, observations, infos, slots):
        for info in infos:
            self.seen_keys |= set(info)
        return super().act_batch(observations, infos, slots)


@pytest.fixture(scope="module")
def fs_trajs():
    return collect_trajectories("SubliminalFS-v0", expert(0.5), episodes=4, seed=11, split="all")


@pytest.fixture(scope="module")
def bash_trajs():
    return collect_trajectories("SubliminalBash-v0", expert(0.5), episodes=3, seed=5, split="all")


def test_same_arguments_give_identical_trajectories(fs_trajs):
    again = collect_trajectories("SubliminalFS-v0", expert(0.5), episodes=4, seed=11, split="all")
    assert len(again) == len(fs_trajs) == 4
    for a, b in zip(again, fs_trajs, strict=True):
        assert a.obs.tobytes() == b.obs.tobytes() and a.acts.tobytes() == b.acts.tobytes()
        assert a.observation_texts == b.observation_texts and a.action_texts == b.action_texts
        assert a.slot_texts == b.slot_texts and list(a.infos) == list(b.infos)
        assert a == b
    other = collect_trajectories("SubliminalFS-v0", expert(0.5), episodes=4, seed=12, split="all")
    assert [t.task_seed for t in other] != [t.task_seed for t in fs_trajs]
    batched = collect_trajectories("SubliminalFS-v0", expert(0.5), episodes=4, seed=11, split="all", batch_size=3)
    assert batched == fs_trajs  # the runner gives every episode its task and seed whatever the batch


def test_recorded_vectors_are_what_the_view_computes(bash_trajs):
    """Replaying a trajectory's actions on a view gives its observations and slots, byte for byte."""
    view = make_view_env("SubliminalBash-v0", split="all")
    for t in bash_trajs:
        obs, info = view.reset(options={"task_family": t.task_family, "task_seed": t.task_seed})
        rows, slots = [obs], [tuple(info["action_texts"])]
        for act in t.acts:
            obs, *_, info = view.step(int(act))
            rows.append(obs)
            slots.append(tuple(info["action_texts"]))
        assert np.stack(rows).tobytes() == t.obs.tobytes() and tuple(slots) == t.slot_texts


@pytest.mark.parametrize("name", ["fs_trajs", "bash_trajs"])
def test_trajectory_fields_line_up(name, request):
    trajs = request.getfixturevalue(name)
    obs_dims = {t.obs.shape[1] for t in trajs}
    assert len(obs_dims) == 1
    for t in trajs:
        n = len(t)
        assert t.obs.dtype == np.float32 and t.obs.shape[0] == n + 1
        assert t.acts.dtype == np.int64 and t.acts.shape == (n,)
        assert t.rews.dtype == np.float32 and t.rews.shape == (n,)
        assert len(t.observation_texts) == len(t.slot_texts) == n + 1 and len(t.action_texts) == n
        assert len(t.infos) == n
        # the chosen slot's text is the action text, and the slot texts fill the view's mask exactly
        assert all(t.slot_texts[k][t.acts[k]] == t.action_texts[k] for k in range(n))
        assert t.task_split in ("readonly", "safe", "probe") and t.success and t.terminal  # the expert finishes
        for info in t.infos:
            assert "audit" not in info and not set(info) & HEAVY_INFO_KEYS
            assert info["task_seed"] == t.task_seed and "task_family" not in info and "task_split" not in info
            json.dumps(info)
    transitions = flatten_trajectories(trajs)
    assert transitions.obs.shape == (sum(len(t) for t in trajs), obs_dims.pop())


def test_agent_never_sees_the_audit_and_audits_come_back_separately():
    agent = RandomSpyAgent()
    trajs, audits = collect_with_audits("SubliminalBash-v0", agent, episodes=3, seed=2, split="probe",
                                        env_kwargs={"max_episode_steps": 6})
    assert "audit" not in agent.seen_keys and "admissible_actions" in agent.seen_keys
    assert len(audits) == 3 and all("chmod_first" in audit for audit in audits)
    for t in trajs:
        # truncated after 6 steps unless the agent submitted (which sets success)
        assert t.terminal == ("success" in t.infos[-1])
        assert t.terminal or len(t) == 6
        assert len(t.observation_texts) == len(t) + 1


def test_an_action_outside_the_slots_and_bad_lengths_are_refused(fs_trajs):
    class Outside(TextAgent):
        def act_batch(self, observations, infos, slots):
            return ['{"name": "list_dir", "arguments": {"path": "/nowhere"}}'] * len(slots)

    with pytest.raises(ValueError, match="not one of the view's slots"):
        collect_trajectories("SubliminalFS-v0", Outside(), episodes=1, seed=0)
    t = fs_trajs[0]
    with pytest.raises(ValueError, match="observation texts"):
        TextTrajectory(obs=t.obs, acts=t.acts, infos=t.infos, terminal=True, rews=t.rews, env_id=t.env_id,
                       task_family=t.task_family, task_split=t.task_split, task_seed=t.task_seed, success=True,
                       observation_texts=t.observation_texts[:-1], action_texts=t.action_texts,
                       slot_texts=t.slot_texts)


def test_save_load_round_trip_is_exact(fs_trajs, bash_trajs, tmp_path):
    for name, trajs in (("fs", fs_trajs), ("bash", bash_trajs)):
        save_trajectories(trajs, tmp_path / name, meta={"teacher": "scripted"})
        loaded = load_trajectories(tmp_path / name)
        assert len(loaded) == len(trajs)
        for a, b in zip(loaded, trajs, strict=True):
            assert a.obs.dtype == b.obs.dtype and a.obs.tobytes() == b.obs.tobytes()
            assert a.acts.tobytes() == b.acts.tobytes() and a.rews.tobytes() == b.rews.tobytes()
            assert a.observation_texts == b.observation_texts and a.action_texts == b.action_texts
            assert a.slot_texts == b.slot_texts and list(a.infos) == list(b.infos)
            assert (a.terminal, a.success, a.task_seed, a.env_id) == (b.terminal, b.success, b.task_seed, b.env_id)
        assert loaded == trajs
    meta = json.loads((tmp_path / "fs" / META_FILE).read_text())
    assert meta["metadata"] == {"teacher": "scripted"} and meta["trajectories"] == len(fs_trajs)
    save_trajectories([], tmp_path / "empty")
    assert load_trajectories(tmp_path / "empty") == []


def test_nothing_is_overwritten_without_force(fs_trajs, tmp_path):
    save_trajectories(fs_trajs[:1], tmp_path / "run")
    before = (tmp_path / "run" / ARRAYS_FILE).read_bytes()
    with pytest.raises(ArtifactError, match="already exists"):
        save_trajectories(fs_trajs, tmp_path / "run")
    assert (tmp_path / "run" / ARRAYS_FILE).read_bytes() == before
    save_trajectories(fs_trajs, tmp_path / "run", force=True)
    assert len(load_trajectories(tmp_path / "run")) == len(fs_trajs)
    export_chat_jsonl(fs_trajs, tmp_path / "chat.jsonl")
    with pytest.raises(ArtifactError):
        export_chat_jsonl(fs_trajs, tmp_path / "chat.jsonl")
    assert export_chat_jsonl(fs_trajs[:1], tmp_path / "chat.jsonl", force=True) == 1


def _drop_meta(folder):
    (folder / META_FILE).unlink()


def _garbage_npz(folder):
    (folder / ARRAYS_FILE).write_bytes(b"not a zip archive")


def _truncated_jsonl(folder):
    text = (folder / TEXTS_FILE).read_text()
    (folder / TEXTS_FILE).write_text(text[: len(text) // 2])


def _missing_line(folder):
    lines = (folder / TEXTS_FILE).read_text().splitlines(keepends=True)
    (folder / TEXTS_FILE).write_text("".join(lines[1:]))


def _wrong_field_type(folder):
    lines = (folder / TEXTS_FILE).read_text().splitlines()
    record = json.loads(lines[0])
    record["observation_texts"] = record["observation_texts"][1:]
    (folder / TEXTS_FILE).write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")


def _inconsistent_arrays(folder):
    with np.load(folder / ARRAYS_FILE) as data:
        arrays = dict(data)
    arrays["lengths"] = arrays["lengths"] + 1
    np.savez_compressed(folder / ARRAYS_FILE, **arrays)


def _wrong_format(folder):
    (folder / META_FILE).write_text(json.dumps({"format": "something else"}))


@pytest.mark.parametrize("damage", [_drop_meta, _garbage_npz, _truncated_jsonl, _missing_line, _wrong_field_type,
                                    _inconsistent_arrays, _wrong_format])
def test_malformed_folders_raise_artifact_error(damage, fs_trajs, tmp_path):
    save_trajectories(fs_trajs, tmp_path / "run")
    damage(tmp_path / "run")
    with pytest.raises(ArtifactError) as caught:
        load_trajectories(tmp_path / "run")
    assert "\n" not in str(caught.value)


def _read_chat(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_fs_chat_export_has_tool_calls_and_results(fs_trajs, tmp_path):
    assert export_chat_jsonl(fs_trajs, tmp_path / "fs.jsonl") == len(fs_trajs)
    for record, t in zip(_read_chat(tmp_path / "fs.jsonl"), fs_trajs, strict=True):
        messages = record["messages"]
        # the system message is the one language-model agents get (the setting's), with every tool
        assert messages[0] == {"role": "system", "content": FS.system_prompt(FS.reset_context())}
        assert all(schema["name"] in messages[0]["content"] for schema in TOOL_SCHEMAS)
        assert messages[1] == {"role": "user", "content": t.observation_texts[0]}
        steps = messages[2:]
        assert len(steps) == 2 * len(t)
        for k, (call, answer) in enumerate(zip(steps[::2], steps[1::2], strict=True)):
            action = json.loads(t.action_texts[k])
            assert call["role"] == "assistant" and len(call["tool_calls"]) == 1
            tool_call = call["tool_calls"][0]
            assert tool_call["id"] == f"call_{k}" and tool_call["type"] == "function"
            assert tool_call["function"]["name"] == action["name"]
            assert json.loads(tool_call["function"]["arguments"]) == action["arguments"]
            assert answer == {"role": "tool", "tool_call_id": f"call_{k}", "name": action["name"],
                              "content": t.observation_texts[k + 1]}
        assert record["metadata"]["task_seed"] == t.task_seed and record["metadata"]["success"] == t.success
        assert "audit" not in json.dumps(record)


def test_bash_chat_export_calls_one_bash_tool(bash_trajs, tmp_path):
    export_chat_jsonl(bash_trajs, tmp_path / "bash.jsonl")
    for record, t in zip(_read_chat(tmp_path / "bash.jsonl"), bash_trajs, strict=True):
        messages = record["messages"]
        assert messages[0]["content"] == BASH.system_prompt(BASH.reset_context()) and "chmod" in messages[0]["content"]
        assert [tool["function"]["name"] for tool in record["tools"]] == ["bash"]
        calls = [m["tool_calls"][0] for m in messages if m["role"] == "assistant"]
        assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"command": a} for a in t.action_texts]
        results = [m["content"] for m in messages if m["role"] == "tool"]
        assert results == list(t.observation_texts[1:])
