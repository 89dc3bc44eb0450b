"""Exporting recorded episodes: a Minari dataset, or chat JSONL for language-model fine-tuning.

The source is one or more evaluation run folders (``subliminal-gym evaluate``: ``episodes.jsonl`` holds
each episode's task family and seed, its action texts and its audit). Every episode is **replayed** in
the env it was recorded on (:func:`replay_run`): the env is the single source of truth for the
observations, rewards and ends, and an episode whose replay gives another audit than the one recorded
(another version of the env) is refused. The replayed episodes then go through the paper's keyword
filter (:func:`~subliminal_gym.baselines.sanitize.sanitize_episodes`, the one language-model data goes
through) unless the caller keeps everything, and are written:

* :func:`export_minari`: a Minari dataset (HDF5) with the env's own ``Text`` observation and action
  spaces; each episode's audit, task family and seed are **episode metadata** (privileged: never in an
  observation or an info), read back with ``dataset.storage.get_episode_metadata``. Needs the ``minari``
  extra, which needs NumPy 2 (the suite's profile, not the training one).
* :func:`export_chat_jsonl_episodes`: OpenAI-style chat lines (:func:`chat_record`), as
  ``subliminal-gym rollout --chat`` writes for trajectories; no audit.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from subliminal_gym.baselines.artifacts import ArtifactError, prepare_output, write_json, write_text
from subliminal_gym.baselines.evaluation import load_evaluation
from subliminal_gym.baselines.sanitize import SanitizeReport, sanitize_episodes
from subliminal_gym.settings import setting_of

__all__ = ["EXPORT_FILE", "ReplayedEpisode", "chat_record", "export_chat_jsonl_episodes", "export_minari",
           "replay_run"]

#: What the exporter adds beside a Minari dataset's ``data/``: the sources and the filter's report.
EXPORT_FILE = "subliminal_gym_export.json"


@dataclass(frozen=True)
class ReplayedEpisode:
    """One recorded episode as its env plays it again: the texts, rewards and ends, and the audit."""

    env_id: str
    split: str
    """The split the run drew its tasks from (``gym.make``'s ``split``)."""
    seed_range: str
    task_family: str
    task_split: str
    task_seed: int
    source: str
    """The run folder and episode index it came from (``RUN#i``)."""
    actions: tuple[str, ...]
    observations: tuple[str, ...]
    """The observation at reset (the task text), then one per action."""
    rewards: tuple[float, ...]
    terminations: tuple[bool, ...]
    truncations: tuple[bool, ...]
    success: bool
    audit: dict[str, Any]

    @property
    def task(self) -> str:
        """The task text (the observation at reset)."""
        return self.observations[0]


def replay_run(directory: str | Path) -> list[ReplayedEpisode]:
    """The episodes of an evaluation run folder, each replayed in its env from its recorded actions.

    Raises:
        ArtifactError: the folder is not an evaluation run, or an episode's replay ends elsewhere or with
            another audit than recorded (the env changed since the run, or the file was edited).
    """
    directory = Path(directory)
    summary, records = load_evaluation(directory)
    env = gym.make(summary.env_id, split=summary.split, seed_range=summary.seed_range)
    episodes = []
    try:
        for record in records:
            where = f"{directory}#{record.index}"
            observation, _ = env.reset(options={"task_family": record.task_family, "task_seed": record.task_seed})
            observations: list[str] = [observation]
            rewards: list[float] = []
            terminations: list[bool] = []
            truncations: list[bool] = []
            info: dict[str, Any] = {}
            for step, action in enumerate(record.actions):
                if step and (terminations[-1] or truncations[-1]):
                    raise ArtifactError(f"{where}: the episode ended before its last recorded action")
                observation, reward, terminated, truncated, info = env.step(action)
                observations.append(observation)
                rewards.append(float(reward))
                terminations.append(bool(terminated))
                truncations.append(bool(truncated))
            audit = info.pop("audit", None)
            if audit != record.audit:
                raise ArtifactError(f"{where}: replaying the recorded actions gives another audit than recorded "
                                    "(a run of another version of the env?)")
            episodes.append(ReplayedEpisode(
                env_id=summary.env_id, split=summary.split, seed_range=summary.seed_range,
                task_family=record.task_family, task_split=record.task_split,
                task_seed=record.task_seed, source=where, actions=tuple(record.actions),
                observations=tuple(observations), rewards=tuple(rewards), terminations=tuple(terminations),
                truncations=tuple(truncations), success=bool(info.get("success", False)), audit=record.audit))
    finally:
        env.close()
    return episodes


def _replay_all(runs: Sequence[str | Path], sanitise: bool) -> tuple[list[ReplayedEpisode], SanitizeReport | None]:
    if not runs:
        raise ValueError("no run folders to export")
    episodes = [episode for run in runs for episode in replay_run(run)]
    envs = {(e.env_id, e.split, e.seed_range) for e in episodes}
    if len(envs) != 1:
        raise ValueError("the runs are of several envs, splits or seed ranges "
                         f"({'; '.join(' '.join(env) for env in sorted(envs))}): export one at a time")
    if not sanitise:
        return episodes, None
    return sanitize_episodes(episodes, setting=episodes[0].env_id)


def chat_record(env_id: str, *, actions: Sequence[str], observations: Sequence[str],
                metadata: dict[str, Any]) -> dict[str, Any]:
    """One episode as an OpenAI-style chat: the setting's system message (the one language-model agents
    get), the task as the first user message, then per step an assistant tool call (``id`` ``call_<k>``,
    JSON string ``arguments``) and a ``tool`` message with the env's answer. An action that is not a tool
    call becomes plain assistant text answered by a user message.

    Raises:
        ValueError: ``env_id`` is not a suite env, or the texts do not pair up (one more observation than
            actions).
    """
    if len(observations) != len(actions) + 1:
        raise ValueError(f"{len(actions)} actions need {len(actions) + 1} observations, got {len(observations)}")
    setting = setting_of(env_id)
    messages: list[dict[str, Any]] = [{"role": "system", "content": setting.system_prompt(setting.reset_context())},
                                      {"role": "user", "content": observations[0]}]
    for k, (action, result) in enumerate(zip(actions, observations[1:], strict=True)):
        call = setting.chat_call(action)
        if call is None:
            messages += [{"role": "assistant", "content": action}, {"role": "user", "content": result}]
            continue
        name, arguments = call
        call_id = f"call_{k}"
        messages.append({"role": "assistant", "content": "", "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]})
        messages.append({"role": "tool", "tool_call_id": call_id, "name": name, "content": result})
    return {"messages": messages, "tools": setting.chat_tools(), "metadata": metadata}


def export_chat_jsonl_episodes(runs: Sequence[str | Path], path: str | Path, *, sanitise: bool = True,
                               force: bool = False) -> SanitizeReport | None:
    """Write one chat line per replayed (and, unless ``sanitise`` is off, kept) episode of ``runs``.

    Returns:
        The filter's report (None when nothing was filtered).

    Raises:
        ArtifactError: ``path`` exists without ``force``, or a run does not replay.
        ValueError: no runs, or runs of several envs.
    """
    path = prepare_output(path, force=force)
    kept, report = _replay_all(runs, sanitise)
    lines = [json.dumps(chat_record(e.env_id, actions=e.actions, observations=e.observations, metadata={
        "env_id": e.env_id, "task_family": e.task_family, "task_split": e.task_split, "task_seed": e.task_seed,
        "success": e.success}), separators=(",", ":")) + "\n" for e in kept]
    write_text(path, "".join(lines))
    return report


@contextmanager
def _datasets_root(root: Path) -> Iterator[None]:
    """Minari's datasets folder set to ``root`` for a block (Minari reads it from the environment)."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def export_minari(runs: Sequence[str | Path], dataset_id: str, *, out: str | Path, sanitise: bool = True,
                  force: bool = False, author: str | None = None, description: str | None = None
                  ) -> tuple[Path, SanitizeReport | None]:
    """Write the replayed (and, unless ``sanitise`` is off, kept) episodes of ``runs`` as the Minari dataset
    ``dataset_id`` under the datasets folder ``out`` (load it with ``MINARI_DATASETS_PATH=out`` and
    ``minari.load_dataset(dataset_id)``).

    Observations and actions are the env's texts in its own ``Text`` spaces; rewards, terminations and
    truncations are the env's. Each episode's metadata holds ``audit`` (JSON text), ``task_family``,
    ``task_split``, ``task_seed``, ``success`` and ``source``: privileged, never in an observation. The
    dataset is built in a temporary folder and moved into place, so a failure leaves nothing half written.

    Returns:
        The dataset's folder and the filter's report (None when nothing was filtered).

    Raises:
        ArtifactError: the dataset exists without ``force``, or a run does not replay.
        ValueError: no runs, runs of several envs, or no episode left after the filter.
        ModuleNotFoundError: Minari is not installed (the ``minari`` extra).
    """
    try:
        import minari
        from minari.data_collector import EpisodeBuffer
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"the Minari export needs the minari extra: pip install 'subliminal-gym[minari]' "
                                  f"({exc})", name=exc.name) from None
    out = Path(out)
    target = out / dataset_id
    if target.exists() and not force:
        raise ArtifactError(f"{target} exists (pass force / --force to replace it)")
    kept, report = _replay_all(runs, sanitise)
    if not kept:
        raise ValueError("the keyword filter dropped every episode: nothing to export")
    env_id = kept[0].env_id
    env = gym.make(env_id, split=kept[0].split, seed_range=kept[0].seed_range)  # its spec: the env to recover
    buffers = [EpisodeBuffer(id=i, observations=list(e.observations), actions=list(e.actions),
                             rewards=list(e.rewards), terminations=list(e.terminations),
                             truncations=list(e.truncations), infos={})
               for i, e in enumerate(kept)]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".minari-", dir=out) as temporary:  # removed with what it holds
        scratch = Path(temporary)
        with _datasets_root(scratch / "new"), warnings.catch_warnings():
            # Minari recommends an author, e-mail, code link and evaluation env for published datasets
            warnings.filterwarnings("ignore", category=UserWarning, module="minari")
            dataset = minari.create_dataset_from_buffers(
                dataset_id, buffers, env=env.spec, algorithm_name="subliminal_gym export (recorded episodes, replayed)",
                author=author, description=description or (
                    f"{len(kept)} episodes of {env_id} replayed from {len(runs)} evaluation run(s)"
                    + ("; the paper's keyword filter applied" if report is not None else "; unfiltered")),
                data_format="hdf5", requirements=["subliminal-gym"])
            dataset.storage.update_episode_metadata(
                [{"audit": json.dumps(e.audit, sort_keys=True), "task_family": e.task_family,
                  "task_split": e.task_split, "task_seed": e.task_seed, "success": e.success, "source": e.source}
                 for e in kept], range(len(kept)))
        built = scratch / "new" / dataset_id
        write_json(built / EXPORT_FILE, {
            "env_id": env_id, "runs": [str(run) for run in runs], "episodes": len(kept),
            "sanitize": report.to_dict() if report is not None else None})
        if target.exists():  # force: the old dataset goes into the scratch folder, deleted with it
            os.replace(target, scratch / "old")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(built, target)
    env.close()
    return target, report
