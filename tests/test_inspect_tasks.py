"""The Inspect AI tasks wrap the envs and never reimplement them: a model that plays the scripted expert's
actions through Inspect's tools gets exactly the audits, successes and tasks the project's own runner
records, and nothing privileged reaches the model. Run with Inspect's mock model (core profile)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ChatMessageAssistant, ModelOutput, ModelUsage, get_model

from subliminal_gym.inspect_tasks import env_dataset
from subliminal_gym.runner import ScriptedTextAgent, run_episodes
from subliminal_gym.settings import setting_of

pytestmark = pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning")
MODULE = Path(__file__).resolve().parents[1] / "subliminal_gym" / "inspect_tasks.py"
EPISODES = 6


def _output(message: str | None = None, *, tool: str | None = None, arguments: dict[str, Any] | None = None
            ) -> ModelOutput:
    if tool is None:
        output = ModelOutput.from_content(model="mockllm/model", content=message or "")
    else:
        output = ModelOutput.for_tool_call(model="mockllm/model", tool_name=tool, tool_arguments=arguments or {})
    output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # no tokenizer download
    return output


def _replaying(env_id: str, episodes: list[Any], *, plain_text: bool = False):
    """A mock model that plays each episode's recorded actions in order, found by the sample's task text."""
    by_task = {record.observations[0]: record.actions for record in episodes}
    seen: list[list[Any]] = []

    def generate(messages, tools, tool_choice, config) -> ModelOutput:
        seen.append(list(messages))
        actions = by_task[messages[1].text]
        action = actions[sum(isinstance(m, ChatMessageAssistant) for m in messages)]
        if plain_text:
            return _output(action)
        if setting_of(env_id).json_actions:
            call = json.loads(action)
            return _output(tool=call["name"], arguments=call.get("arguments", {}))
        return _output(tool="bash", arguments={"command": action})

    return get_model("mockllm/model", custom_outputs=generate, memoize=False), seen


def _expert_episodes(env_id: str, split: str = "probe") -> list[Any]:
    return run_episodes(ScriptedTextAgent(0.5), env_id, episodes=EPISODES, seed=3, split=split,
                        keep_observations=True)


def _run(task: str, model: Any, tmp_path: Path, **task_args: Any) -> Any:
    [log] = inspect_eval(task, model=model, task_args={"episodes": EPISODES, "seed": 3, **task_args},
                         log_dir=str(tmp_path), display="none")
    assert log.status == "success", log.error
    return log


@pytest.mark.parametrize("env_id,task", [("SubliminalFS-v0", "fs_probe"), ("SubliminalBash-v0", "bash_probe")])
def test_a_model_playing_the_experts_actions_gets_the_runners_audits(env_id, task, tmp_path):
    setting = setting_of(env_id)
    episodes = _expert_episodes(env_id)
    assert len({bool(r.audit[setting.primary_metric]) for r in episodes}) == 2  # both outcomes occur
    model, seen = _replaying(env_id, episodes)
    log = _run(f"{MODULE}@{task}", model, tmp_path)
    samples = sorted(log.samples, key=lambda s: s.id)
    assert [s.input for s in samples] == [r.observations[0] for r in episodes]  # evaluate's tasks, in order
    for sample, record in zip(samples, episodes, strict=True):
        score = sample.scores["audit_scorer"]
        assert score.value == {"habit": float(bool(record.audit[setting.primary_metric])),
                               "reached_choice": float(bool(record.audit["reached_choice"])),
                               "success": float(record.success)}
        assert score.metadata["audit"] == record.audit
        tool_results = [m.text for m in sample.messages if m.role == "tool"]
        assert tool_results == record.observations[1:]  # every observation, as the tools' results
    metrics = {s.name: s.metrics for s in log.results.scores}
    habit = [float(bool(r.audit[setting.primary_metric])) for r in episodes]
    assert metrics["habit"]["mean"].value == pytest.approx(sum(habit) / EPISODES)
    reached = [h for h, r in zip(habit, episodes, strict=True) if r.audit["reached_choice"]]
    assert metrics["audit_scorer"]["conditional_habit"].value == pytest.approx(sum(reached) / len(reached))
    # nothing privileged reaches the model: no audit field, no task family
    private = {"reached_choice", setting.primary_metric, *(r.task_family for r in episodes)}
    for messages in seen:
        text = "\n".join(m.text for m in messages)
        assert not any(word in text for word in private)


def test_a_reply_without_a_tool_call_is_the_action(tmp_path):
    """Plain text is a shell line (or an FS call written as JSON): the same episodes as through the tools."""
    episodes = _expert_episodes("SubliminalBash-v0")
    model, _ = _replaying("SubliminalBash-v0", episodes, plain_text=True)
    log = _run(f"{MODULE}@bash_probe", model, tmp_path)
    for sample, record in zip(sorted(log.samples, key=lambda s: s.id), episodes, strict=True):
        assert sample.scores["audit_scorer"].metadata["audit"] == record.audit


def test_a_model_that_never_finishes_is_stopped_by_the_step_limit(tmp_path):
    def generate(messages, tools, tool_choice, config) -> ModelOutput:
        return _output(tool="list_dir", arguments={"path": "/workspace"})

    model = get_model("mockllm/model", custom_outputs=generate, memoize=False)
    [log] = inspect_eval(f"{MODULE}@fs_safe", model=model, task_args={"episodes": 2}, log_dir=str(tmp_path),
                         display="none")
    assert log.status == "success", log.error
    for sample in log.samples:
        score = sample.scores["audit_scorer"]
        assert score.value["success"] == 0.0 and score.metadata["ended"]
        assert sum(m.role == "tool" for m in sample.messages) == setting_of("SubliminalFS-v0").max_episode_steps


def test_the_tasks_are_found_by_their_registry_names_too(tmp_path):
    """``inspect eval subliminal_gym/fs_readonly`` (the package's entry point), in a process of its own: a
    task file loaded by path earlier in this one shadows the registry."""
    script = f"""
import json
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

def finish(messages, tools, tool_choice, config):
    output = ModelOutput.for_tool_call(model="mockllm/model", tool_name="finish", tool_arguments={{}})
    output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    return output

[log] = inspect_eval("subliminal_gym/fs_readonly", model=get_model("mockllm/model", custom_outputs=finish),
                     task_args={{"episodes": 3, "seed": 3}}, log_dir={str(tmp_path)!r}, display="none")
print(json.dumps([log.status, [s.input for s in sorted(log.samples, key=lambda s: s.id)]]))
"""
    (tmp_path / "run.py").write_text(script)
    result = subprocess.run([sys.executable, str(tmp_path / "run.py")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    status, inputs = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == "success"
    assert inputs == [s.input for s in env_dataset("SubliminalFS-v0", "readonly", episodes=3, seed=3)]


def test_bad_task_arguments_are_one_clear_error():
    with pytest.raises(ValueError, match="split must be one of"):
        env_dataset("SubliminalFS-v0", "everything", episodes=2)
    with pytest.raises(ValueError, match="episodes must be"):
        env_dataset("SubliminalFS-v0", "probe", episodes=0)
