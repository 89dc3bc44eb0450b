"""Models save as safetensors + JSON, load back bit-identical, and bad files give clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch as th

from subliminal_gym.baselines.artifacts import (
    ArtifactError,
    clone_policy,
    load_policy,
    prepare_output,
    save_policy,
    write_json,
)
from subliminal_gym.baselines.policies import ARCHITECTURES, build_policy, policy_logits
from subliminal_gym.views import make_view_env


@pytest.fixture(scope="module")
def fs_view():
    return make_view_env("SubliminalFS-v0")


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_save_load_is_bit_identical(tmp_path, fs_view, arch):
    policy = build_policy(fs_view.layout, arch, seed=3)
    save_policy(policy, tmp_path / "m", meta={"env_id": "SubliminalFS-v0", "role": "test"})
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    loaded, meta = load_policy(tmp_path / "m")
    assert meta == {"env_id": "SubliminalFS-v0", "role": "test"}
    original = policy.state_dict()
    for name, tensor in loaded.state_dict().items():
        assert th.equal(tensor, original[name]), name
    obs, _ = fs_view.reset(seed=0)
    assert np.array_equal(policy_logits(policy, obs[None]), policy_logits(loaded, obs[None]))


def test_same_seed_same_weights_and_clone_is_independent(fs_view):
    a, b = build_policy(fs_view.layout, "small", seed=1), build_policy(fs_view.layout, "small", seed=1)
    assert all(th.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    c = build_policy(fs_view.layout, "small", seed=2)
    assert not all(th.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values(), strict=True))
    clone = clone_policy(a)
    with th.no_grad():
        next(clone.parameters()).add_(1.0)
    assert not th.equal(next(clone.parameters()), next(a.parameters()))


def test_refuses_to_overwrite_without_force(tmp_path, fs_view):
    policy = build_policy(fs_view.layout, "small", seed=0)
    save_policy(policy, tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(ArtifactError, match="--force"):
        save_policy(build_policy(fs_view.layout, "small", seed=9), tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    save_policy(build_policy(fs_view.layout, "small", seed=9), tmp_path, force=True)
    assert (tmp_path / "model.safetensors").read_bytes() != before
    with pytest.raises(ArtifactError, match="already exists"):
        prepare_output(tmp_path)


def test_bad_model_folders(tmp_path, fs_view):
    with pytest.raises(ArtifactError, match="no such file"):
        load_policy(tmp_path)
    save_policy(build_policy(fs_view.layout, "small", seed=0), tmp_path / "ok")
    (tmp_path / "ok" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ArtifactError, match="safetensors"):
        load_policy(tmp_path / "ok")
    save_policy(build_policy(fs_view.layout, "small", seed=0), tmp_path / "mismatch")
    config = json.loads((tmp_path / "mismatch" / "config.json").read_text())
    config["arch"] = ARCHITECTURES["large"].to_dict()
    write_json(tmp_path / "mismatch" / "config.json", config)
    with pytest.raises(ArtifactError, match="do not match"):
        load_policy(tmp_path / "mismatch")
    write_json(tmp_path / "mismatch" / "config.json", {"format": "pickle"})
    with pytest.raises(ArtifactError, match="not a"):
        load_policy(tmp_path / "mismatch")
    (tmp_path / "mismatch" / "config.json").write_text("{broken")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_policy(tmp_path / "mismatch")


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert (tmp_path / "a.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'


def test_atomic_writes_get_ordinary_file_permissions(tmp_path):
    import os

    previous = os.umask(0o022)
    try:
        path = write_json(tmp_path / "shared.json", {"a": 1})
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600


def test_source_commit_reads_the_checkout_without_running_git(tmp_path):
    from subliminal_gym.baselines.artifacts import source_commit

    digest = "0123456789abcdef0123456789abcdef01234567"
    git = tmp_path / "repo" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(digest + "\n")
    inside = tmp_path / "repo" / "pkg" / "module.py"
    inside.parent.mkdir()
    inside.write_text("")
    assert source_commit(inside) == digest
    (git / "refs" / "heads" / "main").unlink()  # after `git gc`: the ref lives in packed-refs
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{digest} refs/heads/main\n")
    assert source_commit(inside) == digest
    (git / "HEAD").write_text(digest[::-1] + "\n")  # detached
    assert source_commit(inside) == digest[::-1]
    assert source_commit(tmp_path / "elsewhere") is None
