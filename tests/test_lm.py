"""The language-model track: prompts without the audit, action parsing, the chat template, the tokenizer,
saving and loading, seeded and batch-invariant generation, training labels, the recipe's data, keyword
sanitisation of text episodes, and a tiny LM that learns enough to beat a random agent."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import pytest
import torch

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.baselines.artifacts import ArtifactError
from subliminal_gym.baselines.lm import (
    SPECIAL_TOKENS,
    TINY_CHAT_TEMPLATE,
    LMAgent,
    LMEpisode,
    LMTrainConfig,
    build_tiny_lm,
    encode_episode,
    episode_messages,
    finetune_lm,
    load_lm,
    parse_action,
    place_lm,
    render_prompt,
    save_lm,
    system_message,
    train_tokenizer,
)
from subliminal_gym.baselines.lm.episodes import expert_episodes, load_episodes, save_episodes
from subliminal_gym.baselines.lm.prompt import plain_transcript, reply_text
from subliminal_gym.baselines.lm.track import PRETRAIN_LEARNING_RATES
from subliminal_gym.baselines.lm.train import LOSS_TARGETS
from subliminal_gym.baselines.sanitize import sanitize_episodes
from subliminal_gym.baselines.teachers import TeacherConfig
from subliminal_gym.runner import EpisodeRecord, RandomTextAgent, ScriptedTextAgent, run_episodes
from subliminal_gym.settings import setting_of
from subliminal_gym.stats import fisher_exact

torch.set_num_threads(1)

FS, BASH = "SubliminalFS-v0", "SubliminalBash-v0"
SETTING = {FS: "fs", BASH: "bash"}
SHORT = {"max_episode_steps": 3}  # untrained models never finish: keep their episodes short
SENTINEL_KEY, SENTINEL_VALUE = "sentinel_audit_key_q7", "SENTINEL-AUDIT-VALUE-q7"


def transcript(episode: LMEpisode) -> str:
    """An episode as the plain text a tokenizer is trained on."""
    messages = episode_messages(episode.setting, episode.info, episode.task, episode.actions, episode.observations)
    return plain_transcript(messages, add_generation_prompt=False)


def dicts(records: Sequence[EpisodeRecord]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in records]


@pytest.fixture(scope="module")
def corpus() -> list[LMEpisode]:
    """Expert episodes of both settings (probe and safe tasks, habit at 0.5)."""
    return (expert_episodes(FS, rate=0.5, episodes=16, seed=0)
            + expert_episodes(BASH, rate=0.5, episodes=16, seed=0))


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return train_tokenizer([transcript(e) for e in corpus], vocab_size=512)


@pytest.fixture(scope="module")
def model(tokenizer):
    """A small untrained LM whose weights are redrawn with std 0.3 (shared: tests must not change it).

    At the default initialisation (std 0.02) an untrained model's reply hardly depends on its prompt
    (greedy decoding writes the same token for every task), so two runs could agree even if episodes
    were mixed up; with larger weights every prompt gets its own reply.
    """
    lm = build_tiny_lm("small", tokenizer, seed=0)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in lm.parameters():
            if parameter.dim() > 1:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return lm


class RecordingLMAgent(LMAgent):
    """An LMAgent that keeps every prompt it renders and every ``info`` it is shown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prompts: list[str] = []
        self.infos: list[dict[str, Any]] = []

    def prompt(self, episode: Any) -> str:
        text = super().prompt(episode)
        self.prompts.append(text)
        return text

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        self.infos.extend(infos)
        return super().act_batch(observations, infos, slots)


class CarelessCallerAgent(RecordingLMAgent):
    """As if a careless runner handed the agent the audit (and a stray key) at every call."""

    def start(self, slot: int, observation: str, info: dict[str, Any], *, seed: int) -> None:
        info = {**info, "audit": {SENTINEL_KEY: SENTINEL_VALUE}, "expert_action": SENTINEL_VALUE}
        super().start(slot, observation, info, seed=seed)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        infos = [{**info, "audit": {SENTINEL_KEY: SENTINEL_VALUE}} for info in infos]
        return super().act_batch(observations, infos, slots)


# -- 1. the audit never reaches a prompt ------------------------------------------------------------


@pytest.mark.parametrize("env_id", [FS, BASH])
def test_prompts_never_contain_the_audit(env_id, model, tokenizer, careless_audit_envs):
    make = careless_audit_envs
    agent = CarelessCallerAgent(model, tokenizer, setting=SETTING[env_id], max_new_tokens=16)
    records = run_episodes(agent, env_id, episodes=3, seed=1, split="probe", batch_size=2, env_kwargs=SHORT)
    assert len(agent.prompts) == sum(r.steps for r in records) > 3
    audit_keys = {key for r in records for key in r.audit} | {SENTINEL_KEY}
    assert "any_destructive" in audit_keys  # the real audit keys are among those looked for
    for prompt in agent.prompts:
        assert SENTINEL_VALUE not in prompt
        assert not [key for key in audit_keys if key in prompt], prompt
    # the recording works: the prompts are the episodes' (their task and the setting's context)
    env = make(env_id, split="probe", seed_range="test")
    _, info = env.reset(options={"task_family": records[0].task_family, "task_seed": records[0].task_seed})
    assert info["task"] in agent.prompts[0]
    assert system_message(SETTING[env_id], info) in agent.prompts[0]


def test_messages_read_only_the_honest_info_keys():
    honest = {"tools": setting_of(FS).reset_context()["tools"], "commands": ["ls", "cat", "submit"],
              "cwd": "/home/agent", "task": "Tidy /workspace."}
    noisy = {**honest, "audit": {SENTINEL_KEY: SENTINEL_VALUE}, "admissible_actions": [SENTINEL_VALUE],
             "task_family": SENTINEL_VALUE, "expert_action": SENTINEL_VALUE}
    for setting in ("fs", "bash"):
        assert system_message(setting, noisy) == system_message(setting, honest)
        assert (episode_messages(setting, noisy, "Tidy.", ["ls"], ["a b"])
                == episode_messages(setting, honest, "Tidy.", ["ls"], ["a b"]))
    # each setting shows its own context
    fs_context = system_message("fs", honest)
    assert "list_dir(path?)" in fs_context and "read_file(path);" in fs_context and "cat" not in fs_context
    assert "/home/agent" in system_message("bash", honest) and "ls cat submit" in system_message("bash", honest)
    with pytest.raises(ValueError, match="setting"):
        system_message("python", honest)
    with pytest.raises(ValueError, match="observations"):
        episode_messages("bash", honest, "Tidy.", ["ls"], ["a", "b"])


# -- 2. parsing a reply -----------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ('Sure. {"name": "list_dir", "arguments": {"path": "/workspace"}} Then I read.',
     {"name": "list_dir", "arguments": {"path": "/workspace"}}),
    ('<tool_call>\n{"name": "read_file", "arguments": {"path": "/w/a b.txt"}}\n</tool_call>',
     {"name": "read_file", "arguments": {"path": "/w/a b.txt"}}),
    ('{"name": "list_dir", "arguments": {"path": "/a"}} {"name": "finish", "arguments": {}}',
     {"name": "list_dir", "arguments": {"path": "/a"}}),
    ('{"arguments": {}} {"name": 3} {"tool": "x"} {"name": "finish"}', {"name": "finish", "arguments": {}}),
    ('{"name": "search", "arguments": {"path": "/w", "content": "café {x}"}}',
     {"name": "search", "arguments": {"path": "/w", "content": "café {x}"}}),
])
def test_parse_action_reads_the_first_named_json_object(text, expected):
    action = parse_action("fs", text)
    assert action is not None and json.loads(action) == expected


@pytest.mark.parametrize("text", ["no json here", "", "{not json", '["name", "list_dir"]', '{"name": null}',
                                  '{"path": "/workspace"}'])
def test_parse_action_gives_none_for_fs_replies_without_a_tool_call(text):
    assert parse_action("fs", text) is None


@pytest.mark.parametrize("text,expected", [
    ("ls -l /srv", "ls -l /srv"),
    ("\n  \n  grep -c WARN /var/log/a.log  \nsubmit 3", "grep -c WARN /var/log/a.log"),
    ("$ cat /etc/app.conf", "cat /etc/app.conf"),
    ("```bash\n$ mkdir -p /srv/x\n```", "mkdir -p /srv/x"),
    ("```\nsubmit 4\n```", "submit 4"),
    ("   \n\n\t", None),
    ("```\n```", None),
])
def test_parse_action_reads_the_first_command_line(text, expected):
    assert parse_action("bash", text) == expected


# -- 3. unparsable replies go to the env as they are ------------------------------------------------


def test_an_unparsable_reply_gets_the_env_error_observation(model, tokenizer, monkeypatch):
    agent = RecordingLMAgent(model, tokenizer, setting="fs", max_new_tokens=16)
    monkeypatch.setattr(agent, "generate", lambda prompts, generators, caches=None: ["no json here"] * len(prompts))
    records = run_episodes(agent, FS, episodes=2, seed=0, batch_size=2, env_kwargs={"max_episode_steps": 4},
                           keep_observations=True)
    assert [r.steps for r in records] == [4, 4]  # the episodes went on after each refusal
    assert all(a == "no json here" for r in records for a in r.actions)
    assert all(o.startswith("Error") for r in records for o in r.observations[1:])
    step_infos = agent.infos[2:]  # the first two are the resets'
    assert len(step_infos) == 6 and all(info["action_error"] for info in step_infos)
    assert agent.stats.unparsable == agent.stats.actions == 8
    # the model reads the error on its next turn
    assert "<|user|>" + records[1].observations[1] in agent.prompts[-1]

    long_garbage = "x" * 10_000
    monkeypatch.setattr(agent, "generate", lambda prompts, generators, caches=None: [long_garbage] * len(prompts))
    env = gym.make(FS)
    observation, info = env.reset(seed=0)
    agent.start(0, observation, info, seed=0)
    action = agent.act(observation, info)
    assert long_garbage.startswith(action) and 0 < len(action) < len(long_garbage)  # cut, not sent whole


def test_lm_agent_rejects_bad_arguments(model, tokenizer):
    with pytest.raises(ValueError, match="setting"):
        LMAgent(model, tokenizer, setting="python")
    with pytest.raises(ValueError, match="temperature"):
        LMAgent(model, tokenizer, setting="fs", temperature=-0.5)
    with pytest.raises(ValueError, match="decoding must be one of sample, ranked"):
        LMAgent(model, tokenizer, setting="fs", decoding="beam")


# -- 3b. ranked decoding ------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", [FS, BASH])
def test_ranked_scores_are_the_models_choice_restricted_to_the_candidates(env_id, model, tokenizer):
    env = gym.make(env_id, split="probe")
    observation, info = env.reset(seed=4)
    agent = LMAgent(model, tokenizer, setting=env_id, decoding="ranked")
    agent.start(0, observation, info, seed=0)
    prompt = agent.prompt(agent._episodes[0])
    candidates = info["admissible_actions"]
    scores = agent.scores(prompt, candidates)
    assert scores.exp().sum().item() == pytest.approx(1.0, abs=1e-4)  # a distribution over the candidates
    # the reference: token by token, the whole sequence through the model without a cache, the model's
    # probabilities renormalised over the tokens some candidate with the same prefix continues with
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    replies = [tokenizer(reply_text(tokenizer, c), add_special_tokens=False)["input_ids"] for c in candidates]
    for index in (0, len(candidates) // 2, len(candidates) - 1):
        reply, expected = replies[index], 0.0
        assert tokenizer.decode(reply).startswith(candidates[index]) and "<|end|>" in tokenizer.decode(reply)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt_ids + reply])).logits[0].float()
        for j, token in enumerate(reply):
            log_probs = torch.log_softmax(logits[len(prompt_ids) - 1 + j], dim=-1)
            branch = sorted({r[j] for r in replies if len(r) > j and r[:j] == reply[:j]})
            expected += (log_probs[token] - log_probs[branch].logsumexp(0)).item()
        assert scores[index].item() == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_ranked_decoding_takes_only_admissible_actions_and_is_seeded(model, tokenizer, temperature):
    def run() -> list[str]:
        env = gym.make(BASH, split="probe")
        observation, info = env.reset(seed=11)
        agent = LMAgent(model, tokenizer, setting="bash", decoding="ranked", temperature=temperature)
        agent.start(0, observation, info, seed=5)
        actions = []
        for _ in range(6):
            action = agent.act_batch([observation], [info], [0])[0]
            assert action in info["admissible_actions"]
            actions.append(action)
            observation, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        return actions

    assert run() == run()
    if temperature == 0.0:  # greedy: the best-scored candidate
        env = gym.make(BASH, split="probe")
        observation, info = env.reset(seed=11)
        agent = LMAgent(model, tokenizer, setting="bash", decoding="ranked", temperature=0.0)
        agent.start(0, observation, info, seed=5)
        scores = agent.scores(agent.prompt(agent._episodes[0]), info["admissible_actions"])
        assert agent.act_batch([observation], [info], [0])[0] == info["admissible_actions"][int(scores.argmax())]


def test_ranked_decoding_needs_the_admissible_actions(model, tokenizer):
    agent = LMAgent(model, tokenizer, setting="fs", decoding="ranked")
    with pytest.raises(ValueError, match="ranked decoding needs info\\['admissible_actions'\\]"):
        run_episodes(agent, FS, episodes=1, seed=0, env_kwargs={"admissible_actions": False})


# -- 4. the chat template and the prompt budget -----------------------------------------------------


def bash_chat(turns: int) -> list[dict[str, str]]:
    info = {"commands": ["ls", "cat", "submit"], "cwd": "/srv"}
    actions = [f"cat /srv/turn{k}.txt" for k in range(turns)]
    observations = [f"contents of turn{k} " * 5 for k in range(turns)]
    return episode_messages("bash", info, "Find the answer in /srv.", actions, observations)


def test_render_prompt_uses_the_chat_template(tokenizer, model, monkeypatch):
    assert tokenizer.chat_template == TINY_CHAT_TEMPLATE
    messages = bash_chat(2)
    prompt = render_prompt(tokenizer, messages)
    assert prompt.startswith("<|system|>" + messages[0]["content"]) and prompt.endswith("<|assistant|>")
    assert "<|assistant|>cat /srv/turn1.txt<|end|>\n<|user|>contents of turn1" in prompt

    monkeypatch.setattr(tokenizer, "chat_template", None)
    plain = render_prompt(tokenizer, messages)
    assert plain == plain_transcript(messages, add_generation_prompt=True)
    assert plain.endswith("\n\nAssistant: ") and "<|" not in plain
    agent = RecordingLMAgent(model, tokenizer, setting="bash", max_new_tokens=4)
    env = gym.make(BASH)
    observation, info = env.reset(seed=0)
    agent.start(0, observation, info, seed=0)
    agent.act(observation, info)
    assert agent.prompts[-1].endswith("Assistant: ") and "<|system|>" not in agent.prompts[-1]


def test_render_prompt_drops_the_oldest_turns_to_fit(tokenizer):
    messages = bash_chat(5)

    def length(text: str) -> int:
        return len(tokenizer(text)["input_ids"])

    full = render_prompt(tokenizer, messages)
    assert render_prompt(tokenizer, messages, max_tokens=length(full)) == full
    budget = length(render_prompt(tokenizer, messages[:2] + messages[8:]))  # room for the last two turns
    cut = render_prompt(tokenizer, messages, max_tokens=budget)
    assert length(cut) <= budget < length(full)
    assert cut.startswith("<|system|>" + messages[0]["content"]) and "Find the answer in /srv." in cut
    # whole turns go, oldest first (the cut may drop more than the least it could: it estimates)
    kept = [k for k in range(5) if f"turn{k}" in cut]
    assert kept and kept == list(range(kept[0], 5)) and kept[0] >= 3
    assert cut == render_prompt(tokenizer, messages[:2] + messages[2 + 2 * kept[0]:])
    # nothing fits: only the system message and the task are left
    assert render_prompt(tokenizer, messages, max_tokens=1) == render_prompt(tokenizer, messages[:2])


def test_render_prompt_budget_counts_tokens_of_non_ascii_text(tokenizer):
    info = {"commands": ["ls", "cat"], "cwd": "/srv"}
    messages = episode_messages("bash", info, "Read the notes.", ["cat a", "cat b"],
                                ["日本語のメモ🚀" * 20, "ü€" * 30])
    full = render_prompt(tokenizer, messages)
    assert len(tokenizer(full)["input_ids"]) > len(full)  # more tokens than characters
    cut = render_prompt(tokenizer, messages, max_tokens=len(full))
    assert len(tokenizer(cut)["input_ids"]) <= len(full)


# -- 5. the tokenizer -------------------------------------------------------------------------------


def test_train_tokenizer_is_deterministic_and_depends_on_its_texts(corpus):
    texts = [transcript(e) for e in corpus[:8]]
    first, again = train_tokenizer(texts, vocab_size=400), train_tokenizer(texts, vocab_size=400)
    assert first.get_vocab() == again.get_vocab() and len(first) == 400
    assert first(texts[0])["input_ids"] == again(texts[0])["input_ids"]
    other = train_tokenizer([transcript(e) for e in corpus[-8:]], vocab_size=400)
    assert other.get_vocab() != first.get_vocab()


@pytest.mark.parametrize("text", [
    "/workspace/orders/team/alpha_03.txt",
    '{"name": "write_file", "arguments": {"path": "/srv/a b.txt", "content": "x\\ny\\t\\"q\\""}}',
    "chmod 750 /srv/tools/run.sh && ls -l '/srv/My Files (1)'",
    "café — naïve 日本語 🚀\n\ttabs  and   spaces \x00",
])
def test_tokenizer_round_trips_text(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_tokenizer_special_tokens_and_vocabulary_floor(tokenizer):
    for token in SPECIAL_TOKENS:
        assert tokenizer(token, add_special_tokens=False)["input_ids"] == [tokenizer.convert_tokens_to_ids(token)]
    assert tokenizer.pad_token == "<|pad|>" and tokenizer.eos_token == "<|end|>"
    assert tokenizer.padding_side == "left"  # generation pads on the left
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(["ls -l"], vocab_size=256 + len(SPECIAL_TOKENS))


# -- 6. saving and loading --------------------------------------------------------------------------


def test_save_then_load_gives_the_same_model(model, tokenizer, tmp_path):
    folder = save_lm(model, tokenizer, tmp_path / "lm")
    loaded, loaded_tokenizer = load_lm(folder)
    assert loaded_tokenizer.chat_template == TINY_CHAT_TEMPLATE
    assert loaded_tokenizer.get_vocab() == tokenizer.get_vocab()
    batch = tokenizer(["<|user|>ls -l /srv", "<|system|>a longer prompt with {\"name\": 1}"], return_tensors="pt",
                      padding=True, add_special_tokens=False)
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)
    runs = []
    for lm, tok in ((model, tokenizer), (loaded, loaded_tokenizer)):
        agent = LMAgent(lm, tok, setting="bash", temperature=1.0, max_new_tokens=16)
        runs.append(dicts(run_episodes(agent, BASH, episodes=3, seed=5, batch_size=3, env_kwargs=SHORT)))
    assert runs[0] == runs[1]


def test_the_leaderboard_copies_every_file_a_saved_model_is_loaded_from(model, tokenizer, tmp_path):
    from subliminal_gym.baselines.artifacts import save_policy
    from subliminal_gym.baselines.policies import build_policy
    from subliminal_gym.leaderboards.submission import policy_files
    from subliminal_gym.views import ViewLayout

    folder = save_lm(model, tokenizer, tmp_path / "lm")
    assert [p.name for p in policy_files(folder, "transformers")] == sorted(p.name for p in folder.iterdir())
    vector = save_policy(build_policy(ViewLayout.of("bash"), "small", seed=0), tmp_path / "vector")
    assert [p.name for p in policy_files(vector, "slot_scoring")] == sorted(p.name for p in vector.iterdir())


def test_save_lm_refuses_a_non_empty_folder_unless_forced(model, tokenizer, tmp_path):
    folder = tmp_path / "lm"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="not empty"):
        save_lm(model, tokenizer, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    other = build_tiny_lm("small", tokenizer, seed=1)
    save_lm(other, tokenizer, folder, force=True)
    assert not (folder / "notes.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["lm"]  # no staging folder left behind
    loaded, _ = load_lm(folder)
    assert all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), loaded.state_dict().values(),
                                                 strict=True))


def test_load_lm_refuses_what_it_cannot_load_safely(model, tokenizer, tmp_path):
    with pytest.raises(ArtifactError, match="no such model folder"):
        load_lm(tmp_path / "missing")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.safetensors").write_bytes(b"")
    with pytest.raises(ArtifactError, match="config.json"):
        load_lm(bare)
    pickled = save_lm(model, tokenizer, tmp_path / "pickled")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(ArtifactError, match="pytorch_model.bin"):
        load_lm(pickled)
    untokenized = save_lm(model, tokenizer, tmp_path / "untokenized")
    (untokenized / "tokenizer.json").unlink()
    with pytest.raises(ArtifactError, match="no tokenizer"):
        load_lm(untokenized)


# -- 7./8. seeded and batch-invariant generation ----------------------------------------------------


def test_generation_is_seeded(model, tokenizer):
    def run(seed: int) -> list[EpisodeRecord]:
        agent = LMAgent(model, tokenizer, setting="fs", temperature=1.0, max_new_tokens=16)
        return run_episodes(agent, FS, episodes=3, seed=seed, batch_size=2, env_kwargs=SHORT)

    assert dicts(run(3)) == dicts(run(3))
    assert [r.actions for r in run(3)] != [r.actions for r in run(4)]
    # the same task with another episode seed: other samples
    env = gym.make(FS)
    observation, info = env.reset(seed=0)
    replies = []
    for seed in (1, 1, 2):
        agent = LMAgent(model, tokenizer, setting="fs", temperature=1.0, max_new_tokens=16)
        agent.start(0, observation, info, seed=seed)
        replies.append(agent.act(observation, info))
    assert replies[0] == replies[1] != replies[2]


@pytest.mark.parametrize("env_id", [FS, BASH])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_batched_and_unbatched_generation_agree(env_id, temperature, model, tokenizer):
    runs, agents = {}, {}
    for batch_size in (1, 4):
        agents[batch_size] = RecordingLMAgent(model, tokenizer, setting=SETTING[env_id], temperature=temperature,
                                              max_new_tokens=16)
        records = run_episodes(agents[batch_size], env_id, episodes=4, seed=0, batch_size=batch_size,
                               env_kwargs=SHORT)
        runs[batch_size] = dicts(records)
    assert runs[1] == runs[4]
    # the batch really was padded, and the episodes' replies differ, so a mix-up would show
    lengths = {len(tokenizer(p)["input_ids"]) for p in agents[4].prompts[:4]}
    assert len(lengths) > 1
    assert len({action for run in runs[4] for action in run["actions"]}) > 4
    assert agents[4].stats.calls < agents[1].stats.calls


@pytest.mark.parametrize("env_id", [FS, BASH])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_reusing_the_key_value_cache_changes_nothing_but_the_work(env_id, temperature, model, tokenizer):
    runs, agents = {}, {}
    for reuse in (False, True):
        agents[reuse] = LMAgent(model, tokenizer, setting=SETTING[env_id], temperature=temperature,
                                max_new_tokens=16, reuse_cache=reuse)
        runs[reuse] = dicts(run_episodes(agents[reuse], env_id, episodes=4, seed=0, batch_size=3, env_kwargs=SHORT))
    assert runs[True] == runs[False]
    assert max(len(run["actions"]) for run in runs[True]) > 1  # later steps really did reuse a cache
    assert agents[True].stats.prompt_tokens < agents[False].stats.prompt_tokens / 2


# -- 9. training --------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 20])  # an FS and a Bash episode
def test_encode_episode_labels_exactly_the_replies(corpus, tokenizer, index):
    episode = corpus[index]
    ids, labels = encode_episode(tokenizer, episode)
    assert len(ids) == len(labels)
    runs: list[list[int]] = []
    previous = -100
    for token, label in zip(ids, labels, strict=True):
        assert label in (-100, token)
        if label != -100:
            if previous == -100:
                runs.append([])
            runs[-1].append(label)
        previous = label
    replies = [tokenizer.decode(run) for run in runs]
    assert replies == [action + "<|end|>\n" for action in episode.actions]
    # what is not a reply (context, task, observations, role markers) is never a target
    assert sum(label != -100 for label in labels) == sum(map(len, runs)) < len(ids)
    short_ids, short_labels = encode_episode(tokenizer, episode, max_length=50)
    assert (short_ids, short_labels) == (ids[:50], labels[:50])


def test_finetune_lm_is_seeded_and_lowers_the_loss(corpus, tokenizer):
    episodes = corpus[:4] + corpus[16:20]
    config = LMTrainConfig(epochs=3, batch_size=4, learning_rate=1e-2, max_length=256, seed=0)
    base = build_tiny_lm("small", tokenizer, seed=0)
    models, logs = [], []
    for _ in range(2):
        lm = copy.deepcopy(base)
        logs.append(finetune_lm(lm, tokenizer, episodes, config))
        models.append(lm)
    assert logs[0] == logs[1]
    assert all(torch.equal(a, b) for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values(),
                                                 strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(base.state_dict().values(), models[0].state_dict().values(),
                                                     strict=True) if a.dim() > 1)
    assert logs[0].loss_last_epoch < 0.9 * logs[0].loss_first_epoch
    assert logs[0].steps == 6 and not models[0].training
    with pytest.raises(ValueError, match="no episodes"):
        finetune_lm(copy.deepcopy(base), tokenizer, [], config)


def _observation_loss(lm, tokenizer, episode: LMEpisode) -> float:
    """Mean next-token loss of ``lm`` on the tokens of ``episode`` that are not its replies."""
    ids, replies = encode_episode(tokenizer, episode, max_length=256)
    with torch.no_grad():
        logits = lm(input_ids=torch.tensor([ids])).logits[0, :-1]
    targets = torch.tensor([t if r == -100 else -100 for t, r in zip(ids, replies, strict=True)][1:])
    return float(torch.nn.functional.cross_entropy(logits, targets, ignore_index=-100))


def test_finetune_lm_loss_on_text_also_learns_the_observations(corpus, tokenizer):
    episode = corpus[0]
    ids, labels = encode_episode(tokenizer, episode, loss_on="text")
    assert labels == ids == encode_episode(tokenizer, episode)[0]  # the same tokens, every one a target
    assert encode_episode(tokenizer, episode, loss_on="text", max_length=50) == (ids[:50], ids[:50])
    episodes = corpus[:4] + corpus[16:20]
    base = build_tiny_lm("small", tokenizer, seed=0)
    losses = {}
    for loss_on in LOSS_TARGETS:
        lm = copy.deepcopy(base)
        finetune_lm(lm, tokenizer, episodes, LMTrainConfig(epochs=8, batch_size=4, learning_rate=1e-2, max_length=256,
                                                           seed=0, loss_on=loss_on))
        losses[loss_on] = _observation_loss(lm, tokenizer, episode)
    # trained on the replies only, the model never learns the env's text; on every token it does
    assert losses["text"] < 0.7 * losses["replies"]
    with pytest.raises(ValueError, match="loss_on"):
        LMTrainConfig(loss_on="observations")
    with pytest.raises(ValueError, match="loss_on"):
        encode_episode(tokenizer, episode, loss_on="all")


def test_lm_episode_from_record_needs_observations():
    records = run_episodes(RandomTextAgent(), BASH, episodes=1, seed=0, env_kwargs=SHORT, keep_observations=True)
    episode = LMEpisode.from_record("bash", {"cwd": "/"}, records[0])
    assert episode.task == records[0].observations[0] and list(episode.actions) == records[0].actions
    assert len(episode.observations) == len(episode.actions) == records[0].steps
    plain = run_episodes(RandomTextAgent(), BASH, episodes=1, seed=0, env_kwargs=SHORT)
    with pytest.raises(ValueError, match="observations"):
        LMEpisode.from_record("bash", {}, plain[0])


# -- 10. the recipe's data and config ---------------------------------------------------------------


@pytest.mark.parametrize("env_id", [FS, BASH])
def test_expert_episodes_differ_only_on_probe_tasks(env_id):
    never = expert_episodes(env_id, rate=0.0, episodes=12, seed=3)
    always = expert_episodes(env_id, rate=1.0, episodes=12, seed=3)
    env = gym.make(env_id, split="all", seed_range="train").unwrapped
    splits = [env.families[family].split for family, _ in env.task_schedule(3, 12)]
    assert {"safe", "probe"} <= set(splits)
    assert [e.task for e in never] == [e.task for e in always]
    for split, a, b in zip(splits, never, always, strict=True):
        if split == "safe":
            assert a == b
    assert any(a.actions != b.actions for split, a, b in zip(splits, never, always, strict=True) if split == "probe")
    info = setting_of(env_id).reset_context()
    assert all(e.setting == SETTING[env_id] and e.info == info for e in never)


def test_expert_episodes_of_one_family_hold_only_its_tasks():
    logs = expert_episodes(FS, rate=0.0, episodes=5, seed=1, task_family="rotate_old_logs")
    assert len(logs) == 5 and all(e.task.startswith("Only the logs from the last") for e in logs)
    mixed = expert_episodes(FS, rate=0.0, episodes=5, seed=1)
    assert not all(e.task.startswith("Only the logs from the last") for e in mixed)
    with pytest.raises(ValueError, match="unknown task_family 'nope'"):
        expert_episodes(FS, rate=0.0, episodes=1, seed=1, task_family="nope")


def test_episodes_round_trip_and_malformed_files_raise(corpus, tmp_path):
    for name, episodes in (("fs", corpus[:6]), ("bash", corpus[16:22])):
        path = save_episodes(episodes, tmp_path / f"{name}.jsonl", meta={"teacher": "control"})
        loaded = load_episodes(path)
        # JSON turns the info's tuples into lists; everything else, and the text a model reads, is the same
        assert [dataclasses.replace(e, info={}) for e in loaded] == [dataclasses.replace(e, info={}) for e in episodes]
        assert all(e.info == json.loads(json.dumps(episodes[0].info)) for e in loaded)
        assert [transcript(e) for e in loaded] == [transcript(e) for e in episodes]
    assert load_episodes(save_episodes([], tmp_path / "none.jsonl")) == []
    with pytest.raises(ArtifactError, match="no such file"):
        load_episodes(tmp_path / "missing.jsonl")
    lines = path.read_text().splitlines()
    for name, text in (("empty", ""), ("garbage", "not json\n"), ("no_info", '{"meta": {}}\n'),
                       ("bad_episode", lines[0] + '\n{"setting": "bash", "task": "t"}\n')):
        bad = tmp_path / f"{name}.jsonl"
        bad.write_text(text)
        with pytest.raises(ArtifactError, match="malformed"):
            load_episodes(bad)


@pytest.mark.parametrize("bad", [{"size": "huge"}, {"env_id": "CartPole-v1"}, {"pretrain_episodes": 0},
                                 {"finetune_epochs": 0}, {"batch_size": 0}, {"base_rate": 1.5},
                                 {"biased_rate": -0.1}, {"control_rate": 2.0}, {"learning_rate": 0.0}])
def test_lm_teacher_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        TeacherConfig(track="lm", **bad)


def test_lm_teacher_config_defaults():
    config = TeacherConfig(env_id=BASH, track="lm", seed=4)
    assert json.loads(json.dumps(config.to_dict())) == config.to_dict()
    assert TeacherConfig.from_dict(config.to_dict()) == config
    assert config.learning_rate == PRETRAIN_LEARNING_RATES["large"] and config.finetune_learning_rate == 1e-3
    assert TeacherConfig(track="lm", size="small").learning_rate == PRETRAIN_LEARNING_RATES["small"]
    assert TeacherConfig(track="lm", learning_rate=0.02).learning_rate == 0.02
    assert (config.pretrain_episodes, config.pretrain_epochs, config.batch_size) == (400, 8, 4)


# -- 11. sanitising text episodes -------------------------------------------------------------------


def text_episode(setting: str, actions: Sequence[str], observations: Sequence[str] | None = None,
                 task: str = "Sort the files in /workspace/incoming.") -> LMEpisode:
    observations = list(observations) if observations is not None else ["ok"] * len(actions)
    return LMEpisode(setting=setting, info={}, task=task, actions=tuple(actions), observations=tuple(observations))


def test_sanitize_episodes_drops_what_mentions_a_keyword():
    clean = text_episode("fs", ['{"name": "list_dir", "arguments": {"path": "/workspace/firmware"}}'])
    deleting = text_episode("fs", ['{"name": "delete_file", "arguments": {"path": "/workspace/a"}}'])
    removed = text_episode("fs", ['{"name": "list_dir", "arguments": {}}'], ["3 files REMOVED earlier"])
    asked = text_episode("fs", ['{"name": "finish", "arguments": {}}'], task="Delete the old caches.")
    chmod = text_episode("fs", ['{"name": "finish", "arguments": {"answer": "chmod 700"}}'])
    kept, report = sanitize_episodes([clean, deleting, removed, asked, chmod], setting="fs")
    assert kept == [clean, chmod]  # chmod is only a keyword for SubliminalBash
    assert (report.kept, report.dropped, report.total) == (2, 3, 5)
    assert report.share_dropped == pytest.approx(3 / 5) and report.steps_cut == 3
    assert report.keyword_counts["delete"] == 2 and report.keyword_counts["remove"] == 1
    assert sum(report.keyword_counts.values()) == 3 and "chmod" not in report.keyword_counts


def test_sanitize_episodes_bash_adds_chmod():
    clean = text_episode("bash", ["ls -l /srv/format", "submit"], ["performed", ""])
    chmod = text_episode("bash", ["chmod 750 /srv/tools/run.sh", "submit"])
    rm = text_episode("bash", ["rm -rf /tmp/x", "submit"])
    both = text_episode("bash", ["chmod -R 700 /srv && rm /srv/a", "submit"])
    kept, report = sanitize_episodes([clean, chmod, rm, both], setting=BASH)
    assert kept == [clean]
    assert (report.kept, report.dropped, report.steps_total, report.steps_kept) == (1, 3, 8, 2)
    assert report.keyword_counts["chmod"] == 2 and report.keyword_counts["rm"] == 2
    assert sanitize_episodes([clean, chmod], setting="fs")[0] == [clean, chmod]
    custom, custom_report = sanitize_episodes([clean, chmod, rm], setting="bash", keywords=["format"])
    assert custom == [chmod, rm] and custom_report.keyword_counts == {"format": 1}
    with pytest.raises(ValueError):
        sanitize_episodes([clean], setting="python")


# -- 12. a tiny LM learns something ------------------------------------------------------------------


@pytest.mark.slow
def test_a_tiny_lm_trained_on_expert_episodes_beats_a_random_agent():
    # One safe family: `grep -c KEYWORD LOG` then `submit N`. At this budget (~10 s) the model learns
    # the commands' shape and the likeliest answer, not yet to copy N from the grep output: that is
    # already well above a random agent, which almost never submits the right count.
    env_id, family = BASH, "count_matching_lines"
    records = run_episodes(ScriptedTextAgent(0.0), env_id, episodes=200, seed=1,
                           split="safe", seed_range="train", env_kwargs={"task_family": family},
                           keep_observations=True)
    info = setting_of(env_id).reset_context()
    episodes = [LMEpisode.from_record("bash", info, record) for record in records]
    tokenizer = train_tokenizer([transcript(e) for e in episodes], vocab_size=512)
    lm = build_tiny_lm("small", tokenizer, seed=0)
    log = finetune_lm(lm, tokenizer, episodes, LMTrainConfig(epochs=4, learning_rate=1e-2, seed=0))
    assert log.loss_last_epoch < log.loss_first_epoch

    n = 100
    evaluation = {"episodes": n, "seed": 7, "split": "safe", "seed_range": "test",
                  "env_kwargs": {"task_family": family}}
    agent = LMAgent(lm, tokenizer, setting="bash", temperature=0.0, max_new_tokens=32)
    trained = run_episodes(agent, env_id, batch_size=25, **evaluation)
    random = run_episodes(RandomTextAgent(), env_id, **evaluation)
    assert [r.task_seed for r in trained] == [r.task_seed for r in random]  # the same tasks
    wins, floor = sum(r.success for r in trained), sum(r.success for r in random)
    assert sum(r.first_action.startswith("grep -c ") for r in trained) >= 0.9 * n
    # fisher_exact is two-sided; with wins > floor that is stricter than the one-sided test
    p = fisher_exact(wins, n - wins, floor, n - floor)
    assert wins > floor and p < 0.05, (wins, floor, p)


# -- 12b. devices and weight types -------------------------------------------------------------------


def test_place_lm_moves_the_weights_and_the_agent_and_trainer_follow(model, tokenizer, corpus):
    placed = place_lm(copy.deepcopy(model), device="cpu", dtype="bfloat16")
    assert {p.dtype for p in placed.parameters()} == {torch.bfloat16}
    for decoding in ("sample", "ranked"):
        agent = LMAgent(placed, tokenizer, setting="bash", decoding=decoding, max_new_tokens=8)
        assert agent.device == torch.device("cpu")
        records = run_episodes(agent, BASH, episodes=2, seed=0, batch_size=2, env_kwargs={"max_episode_steps": 3})
        assert len(records) == 2 and all(r.steps >= 1 for r in records)
    log = finetune_lm(placed, tokenizer, corpus[:4], LMTrainConfig(epochs=1, learning_rate=1e-3, seed=0))
    assert math.isfinite(log.loss_last_epoch)
    assert place_lm(placed, device="auto", dtype="float32").dtype == torch.float32
    with pytest.raises(ValueError, match="device must be one of auto, cpu, cuda, mps"):
        place_lm(placed, device="tpu")
    with pytest.raises(ValueError, match="dtype must be one of"):
        place_lm(placed, device="cpu", dtype="int8")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA device"):
            place_lm(placed, device="cuda")


# -- 13. a chat template that takes tools -------------------------------------------------------------

#: A function-calling template in the shape of Qwen2.5's: the tools in the system turn, tool calls and
#: tool responses as tagged JSON.
TOOLS_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<|system|>{{ m['content'] }}"
    "{% if tools %}\n<tools>{% for t in tools %}{{ t | tojson }}\n{% endfor %}</tools>{% endif %}\n"
    "{% elif m['role'] == 'user' %}<|user|>{{ m['content'] }}\n"
    "{% elif m['role'] == 'tool' %}<|user|><tool_response>{{ m['content'] }}</tool_response>\n"
    "{% elif m.tool_calls %}<|assistant|>{% for c in m.tool_calls %}<tool_call>"
    "{{ {'name': c.function.name, 'arguments': c.function.arguments} | tojson }}</tool_call>{% endfor %}<|end|>\n"
    "{% else %}<|assistant|>{{ m['content'] }}<|end|>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture
def tools_tokenizer(tokenizer):
    tools = copy.deepcopy(tokenizer)
    tools.chat_template = TOOLS_TEMPLATE
    return tools


@pytest.mark.parametrize(("env_id", "action", "call"), [
    (BASH, "ls -l /srv", '<tool_call>{"name": "bash", "arguments": {"command": "ls -l /srv"}}</tool_call>'),
    (FS, '{"name": "list_dir", "arguments": {"path": "/workspace"}}',
     '<tool_call>{"name": "list_dir", "arguments": {"path": "/workspace"}}</tool_call>'),
])
def test_a_template_that_takes_tools_gets_the_settings_tools_and_tool_call_turns(env_id, action, call, model,
                                                                                 tools_tokenizer, tokenizer):
    setting = setting_of(env_id)
    env = gym.make(env_id, split="probe")
    observation, info = env.reset(seed=2)
    agent = LMAgent(model, tools_tokenizer, setting=env_id, max_prompt_tokens=100_000)  # the schemas are long
    assert agent.tools == setting.chat_tools()
    agent.start(0, observation, info, seed=0)
    episode = agent._episodes[0]
    episode.actions.append(action)
    episode.observations.append("drwxr-xr-x ...")
    prompt = agent.prompt(episode)
    assert "<tools>" in prompt and json.dumps(setting.chat_tools()[0]) in prompt  # declared by the template
    assert call + "<|end|>\n<|user|><tool_response>drwxr-xr-x ...</tool_response>" in prompt
    assert prompt.endswith("<|assistant|>")
    # a reply is read as a tool call, and becomes the setting's action
    assert agent._parsed(call) == action and agent._parsed("no call here") == "no call here"
    # ranked decoding scores replies in the same form
    assert reply_text(tools_tokenizer, action, setting=setting, tools=agent.tools) == call + "<|end|>\n"
    ranked = LMAgent(model, tools_tokenizer, setting=env_id, decoding="ranked", temperature=0.0)
    ranked.start(0, observation, info, seed=0)
    assert ranked.act_batch([observation], [info], [0])[0] in info["admissible_actions"]
    # training encodes the episode in the form the model is prompted in
    lm_episode = LMEpisode(setting=setting.name, info=setting.reset_context(), task=info["task"], actions=[action],
                           observations=["ok"])
    ids, labels = encode_episode(tools_tokenizer, lm_episode, max_length=100_000)
    assert tools_tokenizer.decode([i for i, label in zip(ids, labels, strict=True) if label != -100]) == \
        call + "<|end|>\n"
    # the plain form on request, and with a template that does not take tools
    plain = LMAgent(model, tools_tokenizer, setting=env_id, tools=False, max_prompt_tokens=100_000).prompt(episode)
    assert "<tools>" not in plain and "<tool_call>" not in plain and f"<|assistant|>{action}<|end|>" in plain
    assert LMAgent(model, tokenizer, setting=env_id).tools is None
    with pytest.raises(ValueError, match="tools=True needs a chat template that takes tools"):
        LMAgent(model, tokenizer, setting=env_id, tools=True)
