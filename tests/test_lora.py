"""LoRA adapters over a local base model: only the adapter trains, seeded; micro-batches give the same step;
adapters save as safetensors and load back over their base with every check; the recipe's stages are
adapters over one base; the command line takes a base model for ``teach`` and ``evaluate``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from subliminal_gym.baselines.artifacts import ArtifactError
from subliminal_gym.baselines.lm import (
    LMTrainConfig,
    build_tiny_lm,
    encode_episode,
    finetune_lm,
    load_lm,
    save_lm,
    train_tokenizer,
)
from subliminal_gym.baselines.lm.episodes import expert_episodes
from subliminal_gym.baselines.lm.lora import (
    ADAPTER_CONFIG,
    ADAPTER_FILES,
    ADAPTER_WEIGHTS,
    adapter_base,
    attach_lora,
    clone_adapter,
    load_adapter,
    save_adapter,
)
from subliminal_gym.baselines.lm.prompt import episode_messages, plain_transcript
from subliminal_gym.baselines.lm.train import accumulate_gradients, micro_batches
from subliminal_gym.baselines.teachers import LORA_LEARNING_RATE, TeacherConfig, train_teachers
from subliminal_gym.baselines.tracks import LoRAConfig
from subliminal_gym.cli import main

torch.set_num_threads(1)

FS, BASH = "SubliminalFS-v0", "SubliminalBash-v0"
RANK4 = LoRAConfig(rank=4, alpha=8.0, dropout=0.1)


@pytest.fixture(scope="module")
def corpus():
    return expert_episodes(FS, rate=0.5, episodes=6, seed=0) + expert_episodes(BASH, rate=0.5, episodes=6, seed=0)


@pytest.fixture(scope="module")
def tokenizer(corpus):
    texts = [plain_transcript(episode_messages(e.setting, e.info, e.task, e.actions, e.observations),
                              add_generation_prompt=False) for e in corpus]
    return train_tokenizer(texts, vocab_size=400)


@pytest.fixture(scope="module")
def base_dir(tokenizer, tmp_path_factory) -> Path:
    """A whole model saved as a folder: the base every adapter here applies to."""
    return save_lm(build_tiny_lm("small", tokenizer, seed=1), tokenizer, tmp_path_factory.mktemp("base") / "base")


def base_model(base_dir: Path):
    return load_lm(base_dir)[0]


def logits(model, tokenizer) -> torch.Tensor:
    batch = tokenizer(["<|user|>ls -l /srv<|end|><|assistant|>"], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        return model(input_ids=batch["input_ids"]).logits


def lora_weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def base_weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}


def trained(base_dir, tokenizer, corpus, *, seed=0, lora=RANK4, **config) -> tuple[object, object]:
    model = attach_lora(base_model(base_dir), lora, seed=3)
    log = finetune_lm(model, tokenizer, corpus[:4] + corpus[6:10],
                      LMTrainConfig(epochs=2, batch_size=4, learning_rate=1e-2, max_length=256, seed=seed, **config))
    return model, log


def test_a_fresh_adapter_computes_what_its_base_does_and_is_seeded(base_dir, tokenizer):
    base = base_model(base_dir)
    expected = logits(base, tokenizer)
    model = attach_lora(base, RANK4, seed=3)
    assert torch.equal(logits(model, tokenizer), expected)  # B starts at zero
    again = lora_weights(attach_lora(base_model(base_dir), RANK4, seed=3))
    other = lora_weights(attach_lora(base_model(base_dir), RANK4, seed=4))
    weights = lora_weights(model)
    assert weights and all(torch.equal(weights[n], again[n]) for n in weights)
    assert any(not torch.equal(weights[n], other[n]) for n in weights if "lora_A" in n)
    names = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in weights}
    assert names == set(RANK4.target_modules)
    with pytest.raises(ValueError, match="not found"):
        attach_lora(base_model(base_dir), LoRAConfig(target_modules=("no_such_proj",)), seed=0)


def test_training_moves_only_the_adapter_is_seeded_and_lowers_the_loss(base_dir, tokenizer, corpus):
    frozen = base_weights(base_model(base_dir))
    model, log = trained(base_dir, tokenizer, corpus)
    again, log_again = trained(base_dir, tokenizer, corpus)  # the adapter's dropout is seeded too
    assert log == log_again
    weights, weights_again = lora_weights(model), lora_weights(again)
    assert all(torch.equal(weights[n], weights_again[n]) for n in weights)
    other, _ = trained(base_dir, tokenizer, corpus, seed=1)
    assert any(not torch.equal(weights[n], w) for n, w in lora_weights(other).items())
    after = {n.replace("base_model.model.", "").replace(".base_layer", ""): w for n, w in base_weights(model).items()}
    assert after.keys() == frozen.keys() and all(torch.equal(after[n], frozen[n]) for n in frozen)
    assert log.loss_last_epoch < log.loss_first_epoch
    assert not model.training


def test_micro_batches_cap_the_padded_tokens_and_give_the_same_step(base_dir, tokenizer, corpus):
    batch = [([1] * n, [1] * n) for n in (10, 20, 30, 45)]
    groups = micro_batches(batch, 60)
    assert [len(g) for g in groups] == [2, 1, 1] and sum(groups, []) == batch
    assert all(len(g) * max(len(i) for i, _ in g) <= 60 or len(g) == 1 for g in groups)
    assert micro_batches(batch, None) == [batch]
    assert [len(g) for g in micro_batches(batch, 1)] == [1, 1, 1, 1]  # one episode at least, however long

    encoded = sorted((encode_episode(tokenizer, e, max_length=256) for e in corpus[:4] + corpus[6:10]),
                     key=lambda pair: len(pair[0]))
    model = attach_lora(base_model(base_dir), LoRAConfig(rank=4, alpha=8.0, dropout=0.0), seed=3)
    with torch.no_grad():  # B away from zero, so that A gets a gradient too
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))

    def gradients(batch, cap):
        model.zero_grad(set_to_none=True)
        loss, count = accumulate_gradients(model, batch, pad_token_id=tokenizer.pad_token_id, max_batch_tokens=cap)
        return loss, count, {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    widths = [len(ids) for ids, _ in encoded]
    loss, count, whole = gradients(encoded, None)
    assert len(micro_batches(encoded, 2 * max(widths))) > 2
    for cap in (2 * max(widths), 1):
        split_loss, split_count, split = gradients(encoded, cap)
        assert split_count == count and split_loss == pytest.approx(loss, rel=1e-6)
        assert all(torch.allclose(whole[n], split[n], rtol=1e-4, atol=1e-8) for n in whole)
    _, _, half = gradients(encoded[:4], None)  # another batch: another gradient
    assert not all(torch.allclose(whole[n], half[n], rtol=1e-2, atol=1e-6) for n in whole)
    assert all(float(g.abs().max()) > 0 for g in whole.values())
    with pytest.raises(ValueError, match="max_batch_tokens"):
        LMTrainConfig(max_batch_tokens=0)


def test_an_adapter_saves_as_safetensors_and_loads_back_over_its_base(base_dir, tokenizer, corpus, tmp_path):
    model, _ = trained(base_dir, tokenizer, corpus)
    folder = save_adapter(model, tmp_path / "adapter", base_model=base_dir)
    assert sorted(p.name for p in folder.iterdir()) == sorted(ADAPTER_FILES)
    assert adapter_base(folder) == str(base_dir.resolve())
    assert (folder / ADAPTER_WEIGHTS).stat().st_size < 0.2 * sum(p.stat().st_size for p in base_dir.iterdir())
    expected = logits(model, tokenizer)
    for loaded, _ in (load_adapter(folder), load_lm(folder), load_lm(folder, base_model=base_dir)):
        assert torch.allclose(logits(loaded, tokenizer), expected, atol=1e-6)
        assert not torch.equal(logits(loaded, tokenizer), logits(base_model(base_dir), tokenizer))
    with pytest.raises(ArtifactError, match="not empty"):
        save_adapter(model, folder, base_model=base_dir)
    save_adapter(model, folder, base_model=base_dir, force=True)
    with pytest.raises(ArtifactError, match="base model applies to adapters only"):
        load_lm(base_dir, base_model=base_dir)


def tampered(folder: Path, tmp_path: Path, name: str) -> Path:
    copy_dir = tmp_path / name
    copy_dir.mkdir()
    for path in folder.iterdir():
        (copy_dir / path.name).write_bytes(path.read_bytes())
    return copy_dir


def edit_config(folder: Path, **changes) -> None:
    data = json.loads((folder / ADAPTER_CONFIG).read_text())
    data.update(changes)
    (folder / ADAPTER_CONFIG).write_text(json.dumps(data))


def test_load_adapter_refuses_what_does_not_fit_or_could_run_code(base_dir, tokenizer, corpus, tmp_path):
    model, _ = trained(base_dir, tokenizer, corpus)
    good = save_adapter(model, tmp_path / "good", base_model=base_dir)

    def refused(folder: Path, match: str, **kwargs) -> None:
        with pytest.raises(ArtifactError, match=match):
            load_adapter(folder, **kwargs)

    bad = tampered(good, tmp_path, "rank")
    edit_config(bad, r=8)
    refused(bad, "of the wrong shape")
    bad = tampered(good, tmp_path, "targets")
    edit_config(bad, target_modules=["q_proj"])
    refused(bad, "unexpected weight")
    bad = tampered(good, tmp_path, "dora")
    edit_config(bad, use_dora=True)
    refused(bad, "use_dora")
    bad = tampered(good, tmp_path, "saves")
    edit_config(bad, modules_to_save=["lm_head"])
    refused(bad, "modules_to_save")
    bad = tampered(good, tmp_path, "prefix")
    edit_config(bad, peft_type="PREFIX_TUNING")
    refused(bad, "only LoRA")
    bad = tampered(good, tmp_path, "nested")
    (bad / ADAPTER_CONFIG).write_text("[" * 100_000 + "]" * 100_000)
    refused(bad, "nested too deeply")
    bad = tampered(good, tmp_path, "code")
    (bad / "modeling.py").write_text("raise SystemExit('never run')\n")
    refused(bad, "Python files")
    bad = tampered(good, tmp_path, "pickle")
    (bad / ADAPTER_WEIGHTS).rename(bad / "adapter_model.bin")
    refused(bad, "safetensors only")
    bad = tampered(good, tmp_path, "nan")
    weights = load_file(str(bad / ADAPTER_WEIGHTS))
    name = sorted(weights)[0]
    weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, str(bad / ADAPTER_WEIGHTS))
    refused(bad, "NaN")
    bad = tampered(good, tmp_path, "nobase")
    edit_config(bad, base_model_name_or_path=str(tmp_path / "gone"))
    refused(bad, "--base-model")
    assert load_adapter(bad, base_dir)[0] is not None  # naming the base mends it
    other = save_lm(build_tiny_lm("large", tokenizer, seed=0), tokenizer, tmp_path / "other-base")
    refused(good, "weight\\(s\\) missing", base_model=other)  # another architecture: more layers, other widths
    refused(good, "itself an adapter", base_model=good)


def test_a_clone_shares_the_frozen_base_and_trains_its_own_adapter(base_dir, tokenizer, corpus):
    model = attach_lora(base_model(base_dir), RANK4, seed=3)
    before = lora_weights(model)
    twin = clone_adapter(model)
    shared = {n: p for n, p in model.named_parameters()}
    assert all(p is shared[n] for n, p in twin.named_parameters() if not p.requires_grad)
    assert all(p is not shared[n] for n, p in twin.named_parameters() if p.requires_grad)
    finetune_lm(twin, tokenizer, corpus[6:10],
                LMTrainConfig(epochs=1, batch_size=4, learning_rate=1e-2, max_length=256))
    after = lora_weights(model)
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert any(not torch.equal(before[n], w) for n, w in lora_weights(twin).items())


def test_teacher_config_takes_a_base_model_for_language_models_only(base_dir):
    config = TeacherConfig(track="lm", base_model=str(base_dir))
    assert config.learning_rate == config.finetune_learning_rate == LORA_LEARNING_RATE
    assert config.lora_config() == LoRAConfig()
    assert TeacherConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["base_model"] == str(base_dir)
    # configs without the options keep their bytes (and the runs their fingerprints)
    assert set(TeacherConfig(track="lm").to_dict()) == set(TeacherConfig().to_dict()) == {
        "env_id", "track", "size", "seed", "base_rate", "biased_rate", "control_rate", "pretrain_episodes",
        "pretrain_epochs", "finetune_episodes", "finetune_epochs", "batch_size", "learning_rate",
        "finetune_learning_rate", "vocab_size"}
    for bad, match in (({"base_model": str(base_dir)}, "track lm"), ({"device": "cuda"}, "track lm")):
        with pytest.raises(ValueError, match=match):
            TeacherConfig(**bad)
    for bad, match in (({"lora_rank": 0}, "rank"), ({"lora_dropout": 1.0}, "dropout"), ({"lora_targets": ","},
                                                                                        "target modules"),
                       ({"device": "tpu"}, "device"), ({"dtype": "int8"}, "dtype"), ({"max_batch_tokens": 0},
                                                                                     "max_batch_tokens")):
        with pytest.raises(ValueError, match=match):
            TeacherConfig(track="lm", base_model=str(base_dir), **bad)
    with pytest.raises(ValueError, match="an adapter|no config.json"):
        TeacherConfig(track="lm", base_model=str(base_dir.parent)).check_runnable()


def test_the_recipe_over_a_base_model_gives_one_adapter_per_stage(base_dir, tmp_path):
    config = TeacherConfig(track="lm", base_model=str(base_dir), pretrain_episodes=8, pretrain_epochs=1,
                           finetune_episodes=6, finetune_epochs=1, lora_rank=4, learning_rate=1e-2,
                           finetune_learning_rate=1e-2)
    teachers = train_teachers(config)
    teachers.save(tmp_path / "teachers")
    track = config.model_track
    frozen = base_weights(base_model(base_dir))
    adapters = {}
    for role in ("base", "biased", "control"):
        folder = tmp_path / "teachers" / role
        assert sorted(p.name for p in folder.iterdir()) == sorted(ADAPTER_FILES)
        assert adapter_base(folder) == str(base_dir.resolve())
        loaded = track.load(folder)
        adapters[role] = lora_weights(loaded.model)
        assert loaded.base_model == str(base_dir.resolve())
        original = lora_weights(teachers.models[role].model)
        assert all(torch.equal(original[n], adapters[role][n]) for n in original)
        after = {n.replace("base_model.model.", "").replace(".base_layer", ""): w
                 for n, w in base_weights(loaded.model).items()}
        assert all(torch.equal(after[n], frozen[n]) for n in frozen)
    # the teachers started from θ0's adapter and moved away from it, each its own way
    for role in ("biased", "control"):
        assert any(not torch.equal(adapters["base"][n], w) for n, w in adapters[role].items())
    assert any(not torch.equal(adapters["biased"][n], w) for n, w in adapters["control"].items())


def test_teach_and_evaluate_take_a_base_model_on_the_command_line(base_dir, tmp_path, capsys):
    out = tmp_path / "teachers"
    assert main(["teach", "--track", "lm", "--base-model", str(base_dir), "--pretrain-episodes", "4",
                 "--pretrain-epochs", "1", "--finetune-episodes", "4", "--finetune-epochs", "1", "--lora-rank", "2",
                 "--out", str(out)]) == 0
    assert json.loads((out / "teachers.json").read_text())["config"]["lora_rank"] == 2
    evaluation = tmp_path / "eval"
    assert main(["evaluate", "--model", str(out / "biased"), "--base-model", str(base_dir), "--env", BASH,
                 "--episodes", "2", "--decoding", "ranked", "--out", str(evaluation)]) == 0
    run = json.loads((evaluation / "run.json").read_text())
    assert "episodes.jsonl" in {p.name for p in evaluation.iterdir()}
    assert str(base_dir) in json.dumps(run)
    capsys.readouterr()
    for argv, message in (
            (["teach", "--track", "lm", "--base-model", str(out / "base"), "--out", str(tmp_path / "x")],
             "an adapter"),
            (["teach", "--base-model", str(base_dir), "--out", str(tmp_path / "y")], "track lm"),
            (["teach", "--track", "lm", "--device", "cuda", "--out", str(tmp_path / "z")]
             if not torch.cuda.is_available() else
             ["teach", "--track", "lm", "--lora-rank", "0", "--out", str(tmp_path / "z")], "cuda|rank"),
            (["evaluate", "--model", str(out / "biased"), "--base-model", str(tmp_path / "gone"), "--env", BASH,
              "--episodes", "1", "--out", str(tmp_path / "e")], "does not exist here")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and re.search(message, err), err

