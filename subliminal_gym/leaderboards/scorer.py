"""The scorer: re-runs a submission on its board's fixed protocol and records what it measured.

``score_submission(PATH)`` validates the submission, refuses duplicates, copies it into a staging
folder next to the board's entries, runs it there, writes ``summary.json`` (byte-identical for the
same submission) and ``provenance.json`` (when, with which code), and only then moves the staged
entry into ``<board>/entries/<name>/``. A failure at any point leaves the board as it was.

The agents board runs the submitted policies (per-episode results are the source of truth, in
``results/<env>/<split>/``). The defences board runs the submitted recipes through the reproduction
grid on seeds drawn when it scores (:func:`score_defences`; several recipes share one grid and
one draw of seeds; see :mod:`subliminal_gym.leaderboards.defences`).

Every entry plays through the project's one episode runner, :data:`BATCH_SIZE` envs side by side,
on the same tasks: vector policies (``slot_scoring``) as a
:class:`~subliminal_gym.baselines.agents.PolicyTextAgent`, ``transformers`` models loaded with
:func:`~subliminal_gym.baselines.lm.load_lm` as an :class:`~subliminal_gym.baselines.lm.LMAgent` (a LoRA
adapter over the base model it names, from the scorer's own ``--base-models`` folder; the
env's setting and its reply cap, :attr:`~subliminal_gym.core.setting.Setting.reply_tokens`), and the
scripted entries as a :class:`~subliminal_gym.runner.ScriptedTextAgent`; neural ones sample at
temperature 1, each episode from its own seed.
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.artifacts import ArtifactError, library_versions, load_policy, read_json, write_json
from subliminal_gym.baselines.evaluation import evaluate
from subliminal_gym.baselines.reproduce.grid import TrackBudget
from subliminal_gym.baselines.reproduce.ray_backend import RayBackend
from subliminal_gym.leaderboards.boards import (
    EVAL_SEED,
    PROBE_EPISODES,
    SAFE_EPISODES,
    TEMPERATURE,
    entries_dir,
)
from subliminal_gym.leaderboards.defences import BOARD_SEEDS, board_config, draw_first_seed, measure_defences
from subliminal_gym.leaderboards.submission import (
    SUBMISSION_FILE,
    Submission,
    SubmissionError,
    load_submission,
)
from subliminal_gym.runner import ScriptedTextAgent, TextAgent
from subliminal_gym.settings import setting_of

__all__ = ["BATCH_SIZE", "SUMMARY_FILE", "ScoredEntry", "protocol", "read_entry", "score_defences",
           "score_submission"]

SUMMARY_FILE = "summary.json"
PROVENANCE_FILE = "provenance.json"
#: Held in ``<board>/`` while an entry of that board is scored.
LOCK_FILE = ".scoring.lock"
#: Envs an entry runs side by side (one forward pass or one batched decode per step). Fixed, because
#: padding makes a language model's sampled reply depend (in the last floating-point bits) on what
#: else is in its batch.
BATCH_SIZE = 16


def protocol() -> dict[str, Any]:
    """The agents board's evaluation protocol, recorded in every summary."""
    return {"eval_seed": EVAL_SEED, "probe_episodes": PROBE_EPISODES, "safe_episodes": SAFE_EPISODES,
            "seed_range": "test", "temperature": TEMPERATURE}


class ScoredEntry(dict):
    """The ``summary.json`` of a scored entry (a dict), with the folder it was written to."""

    folder: Path


def _rate(rate: Any) -> dict[str, Any]:
    return {"successes": rate.successes, "trials": rate.trials, "value": rate.value, "low": rate.low,
            "high": rate.high}


def _agent_maker(spec: Any, env_id: str) -> Callable[[], TextAgent]:
    """A function that gives the agent of each run (every run seeds each episode from :data:`EVAL_SEED`).

    An artifact is loaded once per env, not once per run.
    """
    if spec.kind == "scripted":
        return lambda: ScriptedTextAgent(spec.bias)
    if spec.kind == "transformers":
        from subliminal_gym.baselines.lm import LMAgent, load_lm

        model, tokenizer = load_lm(spec.folder, base_model=spec.base_folder)  # an adapter: over the scorer's base
        # LMAgent seeds each episode's sampling from the episode's seed, so one agent serves every run
        agent = LMAgent(model, tokenizer, setting=setting_of(env_id), temperature=TEMPERATURE)
        return lambda: agent
    from subliminal_gym.baselines.agents import PolicyTextAgent

    policy, _ = load_policy(spec.folder)
    return lambda: PolicyTextAgent(policy, temperature=TEMPERATURE)


def _generation(agent: Any) -> dict[str, Any]:
    """How a language-model agent generated (recorded with its scores: the defaults depend on the model)."""
    return {"batch_size": BATCH_SIZE, "max_new_tokens": agent.max_new_tokens,
            "max_prompt_tokens": agent.max_prompt_tokens, "max_observation_chars": agent.max_observation_chars}


def _run(spec: Any, env_id: str, split: str, episodes: int, out: Path, agent: Any,
         progress: bool) -> tuple[Any, list[Any]]:
    config = {"policy": spec.kind, **(_generation(agent) if spec.kind == "transformers" else {})}
    return evaluate(agent, env_id, episodes=episodes, seed=EVAL_SEED, split=split, seed_range="test",
                    out_dir=out / "results" / env_id / split, force=True, config=config, progress=progress,
                    batch_size=BATCH_SIZE)


def _score_agents(submission: Submission, staged: Path, progress: bool) -> dict[str, Any]:
    envs = {}
    for env_id in sorted(submission.policies):
        spec = submission.policies[env_id]
        make_agent = _agent_maker(spec, env_id)
        safe, _ = _run(spec, env_id, "safe", SAFE_EPISODES, staged, make_agent(), progress)
        probe_agent = make_agent()
        probe, _ = _run(spec, env_id, "probe", PROBE_EPISODES, staged, probe_agent, progress)
        setting = setting_of(env_id)
        envs[env_id] = {"safe_success": _rate(safe.success), "probe_success": _rate(probe.success),
                        "primary_metric": setting.primary_metric,
                        "habits": {m: _rate(probe.rates[m]) for m in setting.metrics},
                        "episodes": {"safe": safe.episodes, "probe": probe.episodes}}
        if spec.kind == "transformers":
            envs[env_id]["generation"] = _generation(probe_agent)
        if spec.base_folder is not None:
            envs[env_id]["base_model"] = {"name": spec.base_model, "sha256": spec.base_sha256}
    return {"envs": envs}


def _scorer_commit() -> str:
    """The git commit of the scoring code, read from ``.git`` (no subprocess); "" outside a checkout."""
    for parent in Path(__file__).resolve().parents:
        head = parent / ".git" / "HEAD"
        if head.is_file():
            text = head.read_text().strip()
            if not text.startswith("ref: "):
                return text[:12]
            ref = text[5:]
            loose = parent / ".git" / ref
            if loose.is_file():
                return loose.read_text().strip()[:12]
            packed = parent / ".git" / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0][:12]
            return ""
    return ""


def _stage(submission: Submission, destination: Path) -> None:
    """Copy ``submission.json`` and the files the policies are loaded from, nothing else: a stray file in
    a submission (a renamed pickle, a README) never reaches the board."""
    for path in [submission.root / SUBMISSION_FILE, *submission.artifact_files()]:
        target = destination / path.relative_to(submission.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())


@contextmanager
def _board_lock(root: Path, board: str) -> Iterator[None]:
    """Hold the board's lock for one scoring: a second scoring of the same board started meanwhile is
    refused at once instead of racing the first to the entries folder. The operating system drops the
    lock when the process ends, however it ends."""
    folder = Path(root) / board
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            _lock(descriptor)
        except OSError:
            raise SubmissionError([f"the {board} board is being scored by another process (it holds "
                                   f"{folder / LOCK_FILE}); try again when that scoring has finished"]) from None
        yield
    finally:
        os.close(descriptor)


def _lock(descriptor: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
    else:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _remove_tree(folder: Path) -> None:
    if not folder.exists():
        return
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
    folder.rmdir()


def _duplicates(submission: Submission, entries: Path, own: Path | None) -> list[str]:
    problems: list[str] = []
    sha = submission.artifact_sha256()
    if not entries.is_dir():
        return problems
    for entry in sorted(p for p in entries.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if own is not None and entry.resolve() == own.resolve():
            continue
        if entry.name == submission.name:
            problems.append(f"an entry named {submission.name!r} is already on the {submission.board} board "
                            f"({entry}); choose another name")
            continue
        summary = entry / SUMMARY_FILE
        if summary.is_file() and read_json(summary).get("artifact_sha256") == sha:
            what = "recipe is" if submission.defence is not None else "policies are"
            problems.append(f"the {what} identical (SHA-256 {sha[:12]}) to entry {entry.name!r}")
    return problems


def score_submission(path: str | Path, *, root: str | Path, scored_on: str | None = None,
                     progress: bool | None = None, first_seed: int | None = None, workers: int = 1,
                     work: str | Path | None = None, ray: RayBackend | None = None,
                     base_models: str | Path | None = None) -> ScoredEntry:
    """Validate and score the submission folder ``path`` into its board under ``root``.

    Scoring an entry already on the board (``path`` is its folder) re-scores it in place (a defence on
    the seeds it was scored on).

    Args:
        path: the submission folder.
        root: the boards folder (the repository's ``leaderboards/``; see
            :func:`~subliminal_gym.leaderboards.boards.default_boards_root`).
        scored_on: the date recorded in ``provenance.json`` (default: today, UTC).
        progress: show progress on stderr (default: when stderr is a terminal).
        first_seed: a defence's first seed (:func:`score_defences`).
        workers: a defence's worker processes (:func:`score_defences`).
        work: a defence's grid folder (:func:`score_defences`).
        ray: run a defence's grid on Ray (:func:`score_defences`).
        base_models: the folder of base models (``NAME/`` each) that adapter entries name.

    Raises:
        SubmissionError: the submission is invalid, a duplicate, or cannot be scored.
    """
    root = Path(root)
    submission = load_submission(path, base_models=base_models)
    if submission.board == "defences":
        return score_defences([path], root=root, scored_on=scored_on, progress=progress, first_seed=first_seed,
                              workers=workers, work=work, ray=ray)[0]
    if progress is None:
        progress = sys.stderr.isatty()
    with _board_lock(root, submission.board):
        final, rescoring = _destination(submission, Path(path), root)
        with _staged(submission, final) as staged:
            measured = _score_agents(load_submission(staged, base_models=base_models), staged, progress)
            return _finish(submission, staged, final, measured, scored_on)


def score_defences(paths: list[str | Path], *, root: str | Path, first_seed: int | None = None,
                   seeds: int = BOARD_SEEDS, workers: int = 1, work: str | Path | None = None,
                   scored_on: str | None = None, progress: bool | None = None,
                   vector: TrackBudget | None = None, ray: RayBackend | None = None) -> list[ScoredEntry]:
    """Score defence recipes together: one grid, one draw of seeds, the default attack beside them all.

    Args:
        paths: defences-board submission folders (or entries' folders, to re-score them).
        root: the boards folder.
        first_seed: the first of the ``seeds`` seeds (default: the one an entry re-scored alone was
            scored on, else drawn now from the operating system's randomness: no submitter can know it).
        seeds: training runs per recipe (at least 3, for a seed-level interval).
        workers: processes running the grid's cells (with ``ray`` and no address: the local cluster's CPUs).
        work: the grid's folder (kept; an interrupted scoring resumes from it); default: a temporary one.
        scored_on: as for :func:`score_submission`.
        progress: as for :func:`score_submission`.
        vector: the grid's budgets (default: the full grid's; tests pass smaller ones, and the entry's
            ``protocol.config_fingerprint`` tells them apart).
        ray: run the grid's cells as Ray tasks
            (:class:`~subliminal_gym.baselines.reproduce.ray_backend.RayBackend`); the scores are the same.

    Raises:
        SubmissionError: a submission is invalid, a duplicate, for another board, or cannot be scored.
    """
    from subliminal_gym.baselines.reproduce.runner import run_grid

    root = Path(root)
    submissions = [load_submission(path) for path in paths]
    problems = [f"{path}: a {s.board} submission; score_defences takes the defences board's"
                for path, s in zip(paths, submissions, strict=True) if s.board != "defences"]
    names = [s.name for s in submissions]
    problems += [f"{name}: given twice" for name in sorted({n for n in names if names.count(n) > 1})]
    hashes = [s.artifact_sha256() for s in submissions]
    problems += [f"{s.name}: the same recipe as {submissions[hashes.index(h)].name}"
                 for i, (s, h) in enumerate(zip(submissions, hashes, strict=True)) if hashes.index(h) < i]
    if seeds < 3:
        problems.append(f"seeds must be at least 3 (a seed-level interval), got {seeds}")
    if problems:
        raise SubmissionError(problems)
    if progress is None:
        progress = sys.stderr.isatty()
    with _board_lock(root, "defences"):
        places = [_destination(s, Path(p), root) for s, p in zip(submissions, paths, strict=True)]
        if first_seed is None:
            recorded = read_json(places[0][0] / SUMMARY_FILE).get("protocol", {}).get("first_seed") \
                if len(places) == 1 and places[0][1] else None
            first_seed = recorded if recorded is not None else draw_first_seed()
        config = board_config({s.name: (s.defence, s.settings) for s in submissions}, first_seed=first_seed,
                              seeds=seeds, vector=vector)
        with tempfile.TemporaryDirectory(prefix="subliminal-defences-") as scratch:
            grid = Path(work) if work is not None else Path(scratch)
            try:
                run_grid(config, grid, workers=workers, ray=ray, progress=progress, report=False)
                measured = measure_defences(grid, config)
            except (ArtifactError, RuntimeError) as exc:  # RuntimeError: CellFailed, RayUnavailable
                raise SubmissionError([f"the defences grid in {grid} failed: {exc}"]) from None
        rules = {"first_seed": first_seed, "seeds": seeds, "probe_episodes": config.vector.episodes,
                 "safe_episodes": config.vector.competence_episodes, "seed_range": "test",
                 "attack": {"method": config.vector.attack_method, "epochs": config.vector.attack_epochs}}
        scored = []
        for submission, (final, _) in zip(submissions, places, strict=True):
            # the fingerprint of the entry's own grid (the attack and this recipe), whatever it was scored beside
            own = board_config({submission.name: (submission.defence, submission.settings)}, first_seed=first_seed,
                               seeds=seeds, vector=vector)
            rules = {**rules, "config_fingerprint": own.fingerprint()}
            with _staged(submission, final) as staged:
                scored.append(_finish(submission, staged, final, {
                    "recipe": submission.defence.to_dict(), "settings": measured[submission.name]},
                    scored_on, rules=rules))
        return scored


def _destination(submission: Submission, path: Path, root: Path) -> tuple[Path, bool]:
    """The entry folder of ``submission`` and whether ``path`` is it (a re-scoring); refuses duplicates.

    Raises:
        SubmissionError: a duplicate of another entry.
    """
    entries = entries_dir(root, submission.board)
    final = entries / submission.name
    rescoring = final.exists() and path.resolve() == final.resolve()
    problems = _duplicates(submission, entries, final if rescoring else None)
    if problems:
        raise SubmissionError(problems)
    return final, rescoring


@contextmanager
def _staged(submission: Submission, final: Path) -> Iterator[Path]:
    """A staging folder beside the entries holding a copy of the submission; removed afterwards."""
    staged = final.parent / f".{submission.name}.staging-{os.getpid()}"
    _remove_tree(staged)
    staged.mkdir(parents=True)
    try:
        _stage(submission, staged)
        yield staged
    finally:
        _remove_tree(staged)


def _finish(submission: Submission, staged: Path, final: Path, measured: dict[str, Any], scored_on: str | None,
            *, rules: dict[str, Any] | None = None) -> ScoredEntry:
    """Write the staged entry's summary (with the board's protocol ``rules``, default :func:`protocol`) and
    provenance, then move it onto the board."""
    summary = {"board": submission.board, "name": submission.name, "artifact_sha256": submission.artifact_sha256(),
               "protocol": rules if rules is not None else protocol(), **measured}
    write_json(staged / SUMMARY_FILE, summary)
    write_json(staged / PROVENANCE_FILE, {
        "scored_on": scored_on or datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "scorer_commit": _scorer_commit(), "versions": library_versions()})
    if final.exists():
        old = final.parent / f".{submission.name}.old-{os.getpid()}"
        os.replace(final, old)
        os.replace(staged, final)
        _remove_tree(old)
    else:
        os.replace(staged, final)
    result = ScoredEntry(summary)
    result.folder = final
    return result


def read_entry(folder: Path) -> dict[str, Any]:
    """An entry's stored summary, provenance and submission (what the boards are rendered from)."""
    return {"summary": read_json(folder / SUMMARY_FILE), "provenance": read_json(folder / PROVENANCE_FILE),
            "submission": read_json(folder / SUBMISSION_FILE)}

