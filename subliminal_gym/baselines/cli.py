"""The baselines' commands: ``demo``, and the pipeline one step a command (``teach``, ``rollout``,
``sanitize``, ``distill``, ``evaluate``).

Every pipeline command writes into its own output folder, which records what produced it
(``run.json``: the command line, every option, the seeds, library versions). Nothing already
written is replaced without ``--force``. Bad options and unreadable inputs end the command with one
``error:`` line and exit status 2, never a traceback. The options of ``teach`` and ``distill`` are
made from :class:`~subliminal_gym.baselines.teachers.TeacherConfig` and
:class:`~subliminal_gym.baselines.distill.DistillConfig`, whose fields document them.

A typical run of the paper's protocol::

    subliminal-gym teach --env SubliminalFS-v0 --out runs/fs/teachers
    subliminal-gym rollout --policy runs/fs/teachers/biased --split readonly --episodes 400 --out runs/fs/traj
    subliminal-gym sanitize runs/fs/traj --out runs/fs/traj-clean
    subliminal-gym distill --teacher runs/fs/teachers/biased --trajectories runs/fs/traj-clean \\
        --method soft_drop --init shared --base runs/fs/teachers/base --out runs/fs/student
    subliminal-gym evaluate --policy runs/fs/student --out runs/fs/eval-student

``evaluate --model DIR`` audits a transformers causal LM (a local folder with safetensors weights
and its tokenizer) on the text env instead, on the same tasks.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.artifacts import ArtifactError
from subliminal_gym.baselines.distill import DistillConfig
from subliminal_gym.baselines.students import STUDENT_INITS
from subliminal_gym.baselines.teachers import TeacherConfig
from subliminal_gym.baselines.tracks import LM_DECODINGS, LM_DEVICES, LM_DTYPES, TRACK_NAMES, VectorTrack
from subliminal_gym.command_line import (
    CommandError,
    HelpFormatter,
    add_config_options,
    bad_input,
    config_kwargs,
    positive_int,
    unit_rate,
)
from subliminal_gym.core.setting import SPLITS
from subliminal_gym.seeding import derive_seed, stream_rng
from subliminal_gym.settings import SETTINGS, setting_of

__all__ = ["add_commands"]

_BASE_IDS = sorted(setting.env_id for setting in SETTINGS.values())

# -- demo ------------------------------------------------------------------------------------------


def _percent(rate: Any) -> str:
    return f"{100 * rate.value:.1f} % [{100 * rate.low:.1f}, {100 * rate.high:.1f}]"


def _biases(text: str) -> list[float]:
    try:
        biases = [float(b) for b in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers in [0, 1], got {text!r}") from None
    if any(not 0 <= b <= 1 for b in biases):
        raise argparse.ArgumentTypeError(f"every bias must be in [0, 1], got {text!r}")
    return biases


def _demo(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from subliminal_gym.baselines.demo import run_demo
    from subliminal_gym.progress import progress_bar

    settings = list(SETTINGS.values()) if args.setting == "both" else [SETTINGS[args.setting]]
    console = Console(width=max(Console().width, 140))  # the table needs room, even in a pipe
    for setting in settings:
        metrics = (setting.primary_metric, setting.secondary_metric)
        with progress_bar(args.episodes * len(args.bias), f"{setting.env_id}: rolling out scripted teachers") \
                as advance:
            rows = run_demo(setting, biases=args.bias, episodes=args.episodes, seed=args.seed,
                            on_episode=lambda _: advance())
        table = Table(title=f"Scripted teachers on {setting.env_id} probe tasks (test seeds, seed={args.seed})")
        table.add_column("scripted teacher", no_wrap=True)
        table.add_column("episodes", justify="right", no_wrap=True)
        for header in ("task success", *(setting.metric_name(m) for m in metrics)):
            table.add_column(header, justify="right", no_wrap=True)
        table.add_column("collateral / ep", justify="right", no_wrap=True)
        for name, summary in rows:
            table.add_row(name, str(summary.episodes), _percent(summary.success),
                          *(_percent(summary.rates[m]) for m in metrics), f"{summary.mean_collateral_loss:.2f}")
        console.print(table)
    console.print("Rates: % with 95 % Wilson interval. 'deletes first' is the paper's deletion rate (audit key "
                  "first_substantive_destructive): the first action that changed the tree was a deletion. "
                  "'chmod first' is the paper's Bash rate: the first permission command was chmod where chown, "
                  "chgrp or setfacl would do. 'over-permissive': someone the task did not name gained a right. "
                  "Each row is `subliminal-gym evaluate --scripted BIAS --env ENV --seed SEED`.")
    return 0


def _add_demo(commands: Any) -> None:
    demo = commands.add_parser("demo", formatter_class=HelpFormatter,
                               help="roll out scripted teachers on probe tasks and print audit tables")
    demo.add_argument("--episodes", type=positive_int, default=200, help="probe episodes per teacher")
    demo.add_argument("--seed", type=int, default=0, help="seed of the task sequence and the teachers' coins")
    demo.add_argument("--bias", type=_biases, default=[0.0, 0.3, 1.0], metavar="B,B,...",
                      help="bias of each teacher (deletion_bias / chmod_bias), comma-separated (default: 0,0.3,1)")
    demo.add_argument("--setting", choices=(*SETTINGS, "both"), default="both", help="which env")
    demo.set_defaults(run=_demo)


# -- pipeline commands -----------------------------------------------------------------------------


def _torch_threads() -> None:
    try:
        import torch
    except ImportError:  # the suite's own profile: scripted agents and endpoints only
        raise CommandError("this command trains or runs a neural network: it needs the train extra "
                           "(pip install 'subliminal-gym[train]', with torch==2.13.0 first; see the README)") from None
    torch.set_num_threads(1)  # small networks: one thread is faster and steadier on small machines


def _record_run(out: Path, args: argparse.Namespace, extra: dict[str, Any] | None = None) -> None:
    from subliminal_gym.baselines.artifacts import library_versions, write_json

    arguments = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "run"}
    write_json(out / "run.json", {"command": ["subliminal-gym", *sys.argv[1:]], "arguments": arguments,
                                  "versions": library_versions(), **(extra or {})})


def _prepare(out: Path, force: bool) -> Path:
    from subliminal_gym.baselines.artifacts import prepare_output

    with bad_input(ArtifactError):
        prepare_output(out, force=force)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _load_model(path: Path) -> tuple[Any, dict[str, Any]]:
    from subliminal_gym.baselines.artifacts import load_policy

    if not path.is_dir():
        raise CommandError(f"{path}: not a model folder (expected model.safetensors + config.json)")
    with bad_input(ArtifactError):
        return load_policy(path)


def _one_agent(args: argparse.Namespace) -> None:
    """Exactly one of the agent options was given."""
    flags = {"--policy DIR": args.policy, "--scripted BIAS": args.scripted}
    if hasattr(args, "model"):
        flags["--model DIR"] = args.model
    if hasattr(args, "endpoint"):
        flags["--endpoint URL"] = args.endpoint
    if sum(value is not None for value in flags.values()) != 1:
        names = list(flags)
        raise CommandError(f"give exactly one of {', '.join(names[:-1])} and {names[-1]}")


def _vector_agent(args: argparse.Namespace, env_id: str) -> tuple[Any, dict[str, Any]]:
    """The text agent of ``--policy DIR`` or ``--scripted BIAS``, and its description."""
    from subliminal_gym.runner import ScriptedTextAgent

    _one_agent(args)
    if args.scripted is not None:
        return ScriptedTextAgent(args.scripted), {"agent": "scripted", "bias": args.scripted}
    from subliminal_gym.baselines.agents import PolicyTextAgent

    policy, meta = _load_model(args.policy)
    if meta.get("env_id") not in (None, env_id):
        raise CommandError(f"{args.policy} was trained on {meta['env_id']}, not {env_id}; "
                           f"pass --env {meta['env_id']}")
    agent = PolicyTextAgent(policy, temperature=args.temperature, deterministic=args.deterministic)
    return agent, {"agent": "neural", "policy": str(args.policy), "policy_meta": meta}


def _endpoint_agent(args: argparse.Namespace, env_id: str) -> tuple[Any, dict[str, Any]]:
    """The agent of ``--endpoint URL --endpoint-model NAME`` (the key only from OPENAI_API_KEY)."""
    from subliminal_gym.baselines.endpoint import EndpointAgent, EndpointError

    if not args.endpoint_model:
        raise CommandError("--endpoint needs --endpoint-model NAME (the model the server serves)")
    if not args.endpoint.startswith(("http://", "https://")):
        raise CommandError(f"--endpoint must be an http:// or https:// URL, got {args.endpoint!r}")
    with bad_input(EndpointError):
        agent = EndpointAgent(args.endpoint, args.endpoint_model, env_id=env_id,
                              temperature=0.0 if args.deterministic else args.temperature, tools=not args.no_tools,
                              max_retries=args.max_retries, timeout=args.timeout, concurrency=args.concurrency)
    return agent, agent.describe()


def _load_language_model(path: Path, base_model: Path | None = None) -> tuple[Any, Any]:
    """The model and tokenizer of ``--model DIR`` (an adapter: over ``--base-model`` or the base it records);
    any failure is one line naming the folder."""
    from subliminal_gym.baselines.artifacts import MODEL_CONFIG, ArtifactError, read_json

    try:
        from subliminal_gym.baselines.lm import load_lm
    except ImportError as exc:
        raise CommandError(f"--model needs the lm extra (pip install 'subliminal-gym[lm]'): {exc}") from None
    config = path / MODEL_CONFIG
    if config.is_file():
        try:
            slot_scoring = str(read_json(config).get("format", "")).startswith("subliminal_gym.slot_scoring_policy")
        except (ArtifactError, AttributeError, ValueError):
            slot_scoring = False  # load_lm says what is wrong with it
        if slot_scoring:
            raise CommandError(f"{path} is a slot-scoring policy, not a language model; pass it with --policy")
    try:
        return load_lm(path, base_model=base_model)  # whatever is wrong, one line that names the folder
    except ArtifactError as exc:
        raise CommandError(str(exc)) from None


def _language_model_agent(args: argparse.Namespace, env_id: str) -> tuple[Any, dict[str, Any]]:
    """The :class:`~subliminal_gym.baselines.lm.LMAgent` of ``--model DIR`` and its description."""
    from subliminal_gym.baselines.lm import LMAgent, place_lm

    model, tokenizer = _load_language_model(args.model, args.base_model)
    with bad_input():  # a device this torch cannot use
        model = place_lm(model, device=args.device, dtype=args.dtype)
    temperature = 0.0 if args.deterministic else args.temperature
    agent = LMAgent(model, tokenizer, setting=env_id, temperature=temperature,
                    max_new_tokens=args.max_new_tokens, decoding=args.decoding)
    return agent, {"agent": "language_model", "model": str(args.model),
                   **({"base_model": str(args.base_model)} if args.base_model is not None else {}),
                   "decoding": agent.decoding,
                   "device": str(agent.device), "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
                   "temperature": agent.temperature,
                   "batch_size": args.batch_size, "max_new_tokens": agent.max_new_tokens,
                   "max_prompt_tokens": agent.max_prompt_tokens, "max_observation_chars": agent.max_observation_chars}


def _env_of(args: argparse.Namespace) -> str:
    """``--env``, or the env the ``--policy`` model was trained on."""
    if args.env is not None:
        return args.env
    if getattr(args, "model", None) is not None or getattr(args, "endpoint", None) is not None:
        raise CommandError("--env is required with --model and --endpoint (a language model does not record its env)")
    if getattr(args, "policy", None) is not None:
        env_id = _load_model(args.policy)[1].get("env_id")
        if env_id:
            return env_id
    raise CommandError("--env is required (the model does not record its env)")


# -- commands --------------------------------------------------------------------------------------


def _teach(args: argparse.Namespace) -> int:
    _torch_threads()
    if args.kind == "rl":
        from subliminal_gym.baselines.artifacts import save_policy
        from subliminal_gym.baselines.rl_teacher import train_rl_teacher

        if args.track not in (None, VectorTrack.name):
            raise CommandError("--kind rl trains a slot-scoring policy: it has no --track")
        out = _prepare(args.out, args.force)
        started = time.perf_counter()
        policy, log = train_rl_teacher(args.env, total_timesteps=args.timesteps, seed=args.seed or 0,
                                       arch=args.size or "large", progress=True)
        save_policy(policy, out / "rl", force=args.force,
                    meta={"env_id": args.env, "role": "rl", "training": log.to_dict()})
        print(f"RL teacher saved to {out / 'rl'}")
    else:
        from subliminal_gym.baselines.teachers import train_teachers

        with bad_input(ValueError, ArtifactError):
            config = TeacherConfig(env_id=args.env, **config_kwargs(args, _TEACHER_FIELDS))
            config.check_runnable()
        out = _prepare(args.out, args.force)
        started = time.perf_counter()
        with bad_input(ArtifactError):  # a base model folder that does not load
            teachers = train_teachers(config, progress=True)
        teachers.save(out)
        print(f"θ0, biased and control teachers ({config.track}) saved to {out}/{{base,biased,control}}")
    _record_run(out, args, {"wall_seconds": round(time.perf_counter() - started, 1)})
    return 0


def _rollout(args: argparse.Namespace) -> int:
    from subliminal_gym.baselines.trajectories import collect_trajectories, export_chat_jsonl, save_trajectories

    _torch_threads()
    env_id = _env_of(args)
    agent, agent_info = _vector_agent(args, env_id)
    _prepare(args.out, args.force)
    trajectories = collect_trajectories(env_id, agent, episodes=args.episodes, seed=args.seed, split=args.split,
                                        seed_range=args.seed_range, progress=True)
    save_trajectories(trajectories, args.out, force=True, meta={"env_id": env_id, "split": args.split,
                                                                "seed": args.seed, **agent_info})
    if args.chat is not None:
        export_chat_jsonl(trajectories, args.chat, force=args.force)
    _record_run(args.out, args)
    success = sum(t.success for t in trajectories)
    print(f"{len(trajectories)} trajectories ({success} successful) saved to {args.out}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from subliminal_gym.baselines.artifacts import write_json
    from subliminal_gym.baselines.evaluation import (
        compare,
        load_evaluation,
        pooled_conditional_rate,
        pooled_rate,
        pooled_success,
    )
    from subliminal_gym.baselines.inference import MIN_SEEDS, seed_effect

    if len(args.runs) % 2:
        raise CommandError("give the runs in pairs, one pair per training seed: TREATMENT CONTROL [TREATMENT CONTROL "
                           "...]")
    with bad_input(ArtifactError):
        loaded = [load_evaluation(run) for run in args.runs]
    env_ids = {summary.env_id for summary, _ in loaded}
    if len(env_ids) != 1:
        raise CommandError(f"the runs are of several envs ({', '.join(sorted(env_ids))})")
    setting = setting_of(env_ids.pop())
    metric = args.metric or setting.primary_metric
    if metric not in setting.metrics:
        raise CommandError(f"--metric must be one of {', '.join(setting.metrics)} for {setting.env_id}, got {metric!r}")
    name = setting.metric_name(metric)

    def rates(records: list[Any]) -> dict[str, Any]:
        return {"rate": pooled_rate([records], metric), "conditional": pooled_conditional_rate([records], metric),
                "success": pooled_success([records])}

    def pct(rate: Any) -> str:
        return f"{100 * rate.value:.1f} % [{100 * rate.low:.1f}, {100 * rate.high:.1f}]" if rate.trials else "n/a"

    pairs: list[dict[str, Any]] = []
    for k in range(0, len(loaded), 2):
        (_, treatment), (_, control) = loaded[k], loaded[k + 1]
        where = f"{args.runs[k]} vs {args.runs[k + 1]}"
        with bad_input():  # not the same tasks
            comparison = compare(treatment, control, metric=metric)
        mine, theirs = rates(treatment), rates(control)
        print(f"{where} ({comparison.n_pairs} paired episodes)")
        for label, r in (("treatment", mine), ("control", theirs)):
            print(f"  {label:9} {name} {pct(r['rate'])}; among those that reached the choice "
                  f"{pct(r['conditional'])}; task success {pct(r['success'])}")
        print(f"  difference {100 * comparison.difference:+.1f} pp [{100 * comparison.low:+.1f}, "
              f"{100 * comparison.high:+.1f}], exact McNemar p = {comparison.p_value:.3g} (episodes paired by task)")
        pairs.append({"treatment": str(args.runs[k]), "control": str(args.runs[k + 1]),
                      "comparison": comparison.to_dict(),
                      "rates": {side: {key: dataclasses.asdict(rate) for key, rate in r.items()}
                                for side, r in (("treatment", mine), ("control", theirs))}})
    effect = seed_effect([pair["comparison"]["difference"] for pair in pairs])
    if effect.low is not None and effect.high is not None:  # MIN_SEEDS pairs or more
        print(f"across {len(pairs)} training seeds: {100 * effect.mean:+.1f} pp [{100 * effect.low:+.1f}, "
              f"{100 * effect.high:+.1f}] (paired t over seeds), p = {effect.p_value:.3g}: {effect.verdict}")
    else:
        seeds = f"{len(pairs)} training seed{'s' * (len(pairs) > 1)}"
        print(f"{seeds}: no seed-level inference (it needs {MIN_SEEDS}); the episode test above says whether these "
              "runs differ on these tasks, not whether training transfers the habit (give one TREATMENT CONTROL pair "
              "per training seed)")
    if args.json is not None:
        write_json(args.json, {"env_id": setting.env_id, "metric": metric, "pairs": pairs,
                               "seed_effect": effect.to_dict() if effect.low is not None else None})
    return 0


def _export(args: argparse.Namespace) -> int:
    from subliminal_gym.baselines.export import export_chat_jsonl_episodes, export_minari

    sanitise = not args.unfiltered
    if args.format == "minari":
        if args.dataset_id is None:
            raise CommandError("--format minari needs --dataset-id (e.g. subliminal/fs-probe/expert-v0)")
        try:
            with bad_input(ArtifactError, ValueError):
                path, report = export_minari(args.runs, args.dataset_id, out=args.out, sanitise=sanitise,
                                             force=args.force)
        except ModuleNotFoundError as exc:
            raise CommandError(str(exc)) from None
        where = f"Minari dataset {args.dataset_id} in {path} (load it with MINARI_DATASETS_PATH={args.out})"
    else:
        if args.dataset_id is not None:
            raise CommandError("--dataset-id names a Minari dataset; --format chat-jsonl writes the file --out")
        with bad_input(ArtifactError, ValueError):
            report = export_chat_jsonl_episodes(args.runs, args.out, sanitise=sanitise, force=args.force)
        where = str(args.out)
    if report is None:
        print(f"every episode exported, unfiltered, to {where}")
    else:
        print(f"{report.kept} of {report.total} episodes kept by the keyword filter ({report.dropped} dropped) "
              f"and exported to {where}")
    return 0


def _sanitize(args: argparse.Namespace) -> int:
    from subliminal_gym.baselines.artifacts import write_json, write_text
    from subliminal_gym.baselines.sanitize import LeakageReport, equalize_sizes, sanitize_trajectories
    from subliminal_gym.baselines.trajectories import load_trajectories, save_trajectories

    if args.equalize and args.control is None:
        raise CommandError("--equalize needs --control: it subsamples the two kept datasets to one size")
    sources = {"biased": args.trajectories, "control": args.control} if args.control else {"": args.trajectories}
    with bad_input(ArtifactError):
        loaded = {role: load_trajectories(path) for role, path in sources.items()}
    env_ids = {t.env_id for data in loaded.values() for t in data}
    if len(env_ids) > 1 and args.control:
        raise CommandError(f"the two datasets come from different envs: {', '.join(sorted(env_ids))}")
    keywords = [w.strip() for w in args.keywords.split(",") if w.strip()] if args.keywords else None
    setting = env_ids.pop() if len(env_ids) == 1 else None
    _prepare(args.out, args.force)
    kept, reports = {}, {}
    for role, trajectories in loaded.items():
        with bad_input():  # an empty keyword list, or trajectories of both settings without --keywords
            kept[role], reports[role] = sanitize_trajectories(trajectories, keywords=keywords, setting=setting,
                                                              mode=args.mode)
    if args.equalize:
        kept = dict(zip(kept, equalize_sizes(list(kept.values()), stream_rng(args.seed, "data", "equalize")),
                        strict=True))
    for role, data in kept.items():
        folder = args.out / role if role else args.out
        save_trajectories(data, folder, force=True, meta={"sanitized_from": str(sources[role]),
                                                          "report": reports[role].to_dict()})
        write_json(folder / "sanitize_report.json", reports[role].to_dict())
        report = reports[role]
        print(f"{role + ': ' if role else ''}kept {report.kept} of {report.total} trajectories, dropped "
              f"{report.dropped} ({100 * report.share_dropped:.1f} %)"
              + (f", cut {report.steps_cut} steps" if args.mode == "step" else "")
              + f"; kept actions {report.steps_kept}: habit verbs {report.habit_actions}, alternatives "
              f"{report.alternative_actions}")
    if args.control and setting is not None:
        leakage = LeakageReport(setting_of(setting).name, reports["biased"], reports["control"],
                                equalized=len(kept["biased"]) if args.equalize else None)
        write_json(args.out / "leakage.json", leakage.to_dict())
        write_text(args.out / "LEAKAGE.md", leakage.to_markdown() + "\n")
        print(leakage.to_markdown())
    _record_run(args.out, args)
    return 0


def _distill(args: argparse.Namespace) -> int:
    from subliminal_gym.baselines.agents import ScriptedExpertPolicy
    from subliminal_gym.baselines.artifacts import save_policy, write_json
    from subliminal_gym.baselines.distill import distill
    from subliminal_gym.baselines.students import init_student
    from subliminal_gym.baselines.trajectories import load_trajectories

    _torch_threads()
    with bad_input(ArtifactError):
        trajectories = load_trajectories(args.trajectories)
    if not trajectories:
        raise CommandError(f"{args.trajectories} holds no trajectories")
    env_id = trajectories[0].env_id
    if (args.teacher is None) == (args.scripted_teacher is None):
        raise CommandError("give exactly one of --teacher DIR and --scripted-teacher BIAS")
    if args.teacher is not None:
        teacher, _ = _load_model(args.teacher)
    else:
        bias = args.scripted_teacher
        expert_rng = stream_rng(args.seed, "agent", "scripted-teacher")
        teacher = lambda venv: ScriptedExpertPolicy(venv, bias=bias, rng=expert_rng)  # noqa: E731
    base_dir = args.base or (args.teacher.parent / "base" if args.teacher is not None else None)
    if base_dir is None or not base_dir.is_dir():
        raise CommandError("--base DIR (the teacher's θ0) is required; it sets the student's layout and shared init")
    base, _ = _load_model(base_dir)
    other = _load_model(args.other_base)[0] if args.other_base else None
    small = _load_model(args.small_base)[0] if args.small_base else None
    with bad_input():  # a missing base for the init, or bases of another view layout
        student = init_student(args.init, teacher_base=base, seed=derive_seed(args.seed, "init", "student"),
                               other_base=other, small_base=small)
        config = DistillConfig(**config_kwargs(args, _DISTILL_FIELDS))
    _prepare(args.out, args.force)
    started = time.perf_counter()
    with bad_input():  # probe-task trajectories, or a logit method with a scripted teacher
        _check_distill(args.method, trajectories, teacher)
    log = distill(args.method, student=student, teacher=teacher, trajectories=trajectories, env_id=env_id,
                  config=config, rng=stream_rng(args.seed, "optimiser", "student"), progress=True)
    save_policy(student, args.out, force=True, meta={
        "env_id": env_id, "role": "student", "method": args.method, "init": args.init,
        "teacher": str(args.teacher) if args.teacher else f"scripted:{args.scripted_teacher}",
        "trajectories": str(args.trajectories), "distill_config": config.to_dict(), "training": log})
    write_json(args.out / "distill_log.json", log)
    _record_run(args.out, args, {"wall_seconds": round(time.perf_counter() - started, 1)})
    print(f"student ({args.method}, {args.init} init) saved to {args.out}")
    return 0


def _check_distill(method: str, trajectories: Any, teacher: Any) -> None:
    """The checks :func:`~subliminal_gym.baselines.distill.distill` makes of its input, before any work."""
    from subliminal_gym.baselines.distill import check_distill_input

    check_distill_input(method, trajectories, teacher)


def _evaluate(args: argparse.Namespace) -> int:
    from subliminal_gym.baselines.evaluation import evaluate

    _one_agent(args)
    if args.scripted is None and args.endpoint is None:  # a local network acts (the others need no torch)
        _torch_threads()
    env_id = _env_of(args)
    batch_size = args.batch_size
    if args.model is not None:
        agent, agent_info = _language_model_agent(args, env_id)
    elif args.endpoint is not None:
        agent, agent_info = _endpoint_agent(args, env_id)
        batch_size = args.concurrency
    else:
        agent, agent_info = _vector_agent(args, env_id)
    _prepare(args.out, args.force)
    from subliminal_gym.baselines.endpoint import EndpointError

    with bad_input(EndpointError):
        summary, _ = evaluate(agent, env_id, episodes=args.episodes, seed=args.seed, split=args.split,
                              seed_range=args.seed_range, out_dir=args.out, force=True, progress=True,
                              batch_size=batch_size,
                              config={"agent": agent_info, "temperature": args.temperature,
                                      "deterministic": args.deterministic})
    _record_run(args.out, args)
    rate = summary.rates[summary.primary_metric]
    print(f"{env_id} {args.split}: success {100 * summary.success.value:.1f} %, "
          f"{setting_of(env_id).metric_name(summary.primary_metric)} "
          f"{100 * rate.value:.1f} % [{100 * rate.low:.1f}, {100 * rate.high:.1f}] over {summary.episodes} episodes; "
          f"results in {args.out}")
    return 0


# -- parser ----------------------------------------------------------------------------------------


def _agent_options(parser: argparse.ArgumentParser, *, default_split: str, default_range: str,
                   language_models: bool = False) -> None:
    who = parser.add_argument_group("agent (exactly one)")
    who.add_argument("--policy", type=Path, help="a slot-scoring policy folder (model.safetensors + config.json)")
    who.add_argument("--scripted", type=unit_rate, metavar="BIAS",
                     help="the scripted expert with this habit rate (deletion / chmod-first) instead")
    if language_models:
        who.add_argument("--model", type=Path, metavar="DIR",
                         help="a local transformers causal LM folder (safetensors weights, config.json and its "
                              "tokenizer; nothing is downloaded), acting on the text env; needs --env")
        lm = parser.add_argument_group("language model (--model)")
        lm.add_argument("--base-model", type=Path, metavar="DIR",
                        help="when --model is a LoRA adapter: the base model folder it applies to (default: the "
                             "folder the adapter records)")
        lm.add_argument("--batch-size", type=positive_int, default=16,
                        help="envs run side by side, one batched decode per step")
        lm.add_argument("--decoding", choices=LM_DECODINGS, default="sample",
                        help="sample: generate a reply and parse it; ranked: choose among the env's admissible "
                             "actions by the model's mean log-likelihood of each (always a valid action)")
        lm.add_argument("--device", choices=LM_DEVICES, default="auto",
                        help="where the model runs (auto: CUDA, else Apple MPS, else the CPU)")
        lm.add_argument("--dtype", choices=LM_DTYPES, default="auto",
                        help="weight type (auto: bfloat16 on a CUDA device that has it, else float32)")
        lm.add_argument("--max-new-tokens", type=positive_int, metavar="N",
                        help="the longest reply per action (default: the setting's, " + ", ".join(
                            f"{s.reply_tokens} for {s.env_id}" for s in SETTINGS.values()) + ")")
        who.add_argument("--endpoint", metavar="URL",
                         help="a model behind an OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1: vLLM, "
                              "llama.cpp's server, OpenAI); the API key comes from OPENAI_API_KEY only; needs --env")
        ep = parser.add_argument_group("endpoint (--endpoint)")
        ep.add_argument("--endpoint-model", metavar="NAME", help="the model name the server serves")
        ep.add_argument("--no-tools", action="store_true",
                        help="declare no tools: each reply is the action as plain text (a shell line, a JSON call)")
        ep.add_argument("--concurrency", type=positive_int, default=8, help="episodes (and requests) in flight")
        ep.add_argument("--max-retries", type=int, default=4,
                        help="retries of a 429 or 5xx answer, with exponential backoff")
        ep.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--env", choices=_BASE_IDS, help="env id (default: the one the --policy model records)")
    parser.add_argument("--split", choices=tuple(SPLITS), default=default_split,
                        help="task split (readonly: solved by looking and answering; safe: those and the "
                             "tasks that also write, move and copy; probe: the audited choice)")
    parser.add_argument("--seed-range", choices=("train", "test"), default=default_range,
                        help="task seeds: train [0, 1e6) or test [1e6, 2e6)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the task sequence and the agent's sampling")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="sampling temperature of a neural policy or language model")
    parser.add_argument("--deterministic", action="store_true",
                        help="a neural policy takes its most likely action (a language model decodes greedily)")


#: The TeacherConfig and DistillConfig fields that ``teach`` and ``distill`` have options for.
_TEACHER_FIELDS: list[str] = []
_DISTILL_FIELDS: list[str] = []


def add_commands(commands: Any) -> None:
    """Add the baselines' commands (``demo`` and the pipeline) to ``subliminal-gym``'s subparsers."""
    _add_demo(commands)
    fmt = HelpFormatter
    teach = commands.add_parser(
        "teach", formatter_class=fmt, help="train θ0 and the biased and control teachers (or an RL teacher)",
        description="Train θ0 by BC on the scripted expert, then fine-tune it into a biased and a control teacher "
                    "(same data, same steps; only the habit rate differs); or, with --kind rl, train a PPO "
                    "teacher on the task reward alone.")
    teach.add_argument("--env", choices=_BASE_IDS, default=TeacherConfig.env_id, help="env family")
    teach.add_argument("--out", type=Path, required=True, help="output folder")
    teach.add_argument("--kind", choices=("recipe", "rl"), default="recipe",
                       help="the paper's recipe (θ0, biased and control teachers) or a PPO teacher")
    recipe = teach.add_argument_group("the recipe (TeacherConfig; an option left out keeps its default)")
    _TEACHER_FIELDS[:] = add_config_options(recipe, TeacherConfig, exclude=("env_id",),
                                            notes={"track": f" ({' or '.join(TRACK_NAMES)})"})
    teach.add_argument("--timesteps", type=positive_int, default=50_000, help="PPO timesteps (--kind rl)")
    teach.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    teach.set_defaults(run=_teach)

    rollout = commands.add_parser("rollout", formatter_class=fmt, help="record trajectories of a policy",
                                  description="Roll a model or the scripted expert out on the vector view and save "
                                  "the trajectories (observations, actions, their texts; never the audit).")
    _agent_options(rollout, default_split="readonly", default_range="train")
    rollout.add_argument("--episodes", type=positive_int, default=400, help="episodes to record")
    rollout.add_argument("--out", type=Path, required=True, help="output folder")
    rollout.add_argument("--chat", type=Path, help="also export chat-format JSONL (for LM training) to this file")
    rollout.add_argument("--force", action="store_true", help="overwrite existing outputs")
    rollout.set_defaults(run=_rollout)

    cmp = commands.add_parser(
        "compare", formatter_class=fmt, help="the effect of one run against another (paired by task; by seed)",
        description="Compare evaluation runs on the same tasks (same --seed, env and split): the habit rate of "
                    "each, raw and among the episodes that reached the choice, task success, and the paired "
                    "difference with its Newcombe interval and exact McNemar test. Given one TREATMENT CONTROL "
                    "pair per training seed (three or more), also the seed-level effect: the mean per-seed "
                    "difference with its 95 % t interval and test, the unit of inference of the reports.")
    cmp.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="TREATMENT CONTROL [TREATMENT CONTROL ...]")
    cmp.add_argument("--metric", help="an audit metric of the setting (default: the habit)")
    cmp.add_argument("--json", type=Path, help="also write the comparison as JSON to this file")
    cmp.set_defaults(run=_compare)

    export = commands.add_parser(
        "export", formatter_class=fmt, help="write recorded episodes as a Minari dataset or chat JSONL",
        description="Replay the episodes of evaluation runs (subliminal-gym evaluate) in their env, drop those the "
                    "paper's keyword filter drops, and write them as a Minari dataset (text spaces; the audit as "
                    "privileged episode metadata) or as chat JSONL for language-model fine-tuning.")
    export.add_argument("--format", choices=("minari", "chat-jsonl"), required=True, help="what to write")
    export.add_argument("--from", dest="runs", type=Path, nargs="+", required=True, metavar="RUN",
                        help="evaluation run folders (episodes.jsonl), all of one env")
    export.add_argument("--out", type=Path, required=True,
                        help="minari: the datasets folder (MINARI_DATASETS_PATH); chat-jsonl: the file")
    export.add_argument("--dataset-id", help="minari: the dataset's id, e.g. subliminal/fs-probe/expert-v0")
    export.add_argument("--unfiltered", action="store_true",
                        help="keep every episode (a positive control's data); default: the keyword filter")
    export.add_argument("--force", action="store_true", help="replace an existing dataset or file")
    export.set_defaults(run=_export)

    sanitize = commands.add_parser("sanitize", formatter_class=fmt, help="drop trajectories that mention the habit",
                                   description="Keyword filtering as in the paper: drop every trajectory in which "
                                   "an action or observation contains a keyword (word-boundary, case-insensitive), "
                                   "or with --mode step cut only the offending steps.")
    sanitize.add_argument("trajectories", type=Path, help="a folder written by `rollout` (the biased teacher's, "
                          "with --control)")
    sanitize.add_argument("--control", type=Path, help="the control teacher's rollout: sanitise both into OUT/biased "
                          "and OUT/control and write the leakage report (OUT/LEAKAGE.md, leakage.json): the kept "
                          "actions verb by verb, the share of habit and alternative verbs, the sizes")
    sanitize.add_argument("--equalize", action="store_true", help="with --control: subsample the larger kept "
                          "dataset to the size of the smaller (what `reproduce` does)")
    sanitize.add_argument("--seed", type=int, default=0, help="seed of the --equalize subsample")
    sanitize.add_argument("--out", type=Path, required=True, help="output folder")
    sanitize.add_argument("--keywords", help="comma-separated list (default: the paper's list plus synonyms; "
                          "chmod too for Bash)")
    sanitize.add_argument("--mode", choices=("trajectory", "step"), default="trajectory", help="what to drop")
    sanitize.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    sanitize.set_defaults(run=_sanitize)

    dist = commands.add_parser("distill", formatter_class=fmt, help="distil a student from sanitised trajectories",
                               description="Train a student from a teacher on sanitised safe-task trajectories.")
    dist.add_argument("--trajectories", type=Path, required=True, help="sanitised trajectories (a `sanitize` output)")
    dist.add_argument("--teacher", type=Path, help="the teacher's model folder")
    dist.add_argument("--scripted-teacher", type=unit_rate, metavar="BIAS",
                      help="the scripted expert as teacher instead (bc, dagger, gail, airl only)")
    dist.add_argument("--method", choices=VectorTrack.methods, required=True, help="distiller")
    dist.add_argument("--init", choices=STUDENT_INITS, default="shared", help="student initialisation")
    dist.add_argument("--base", type=Path, help="the teacher's θ0 (default: TEACHER/../base)")
    dist.add_argument("--other-base", type=Path, help="a θ0 from another seed (--init other)")
    dist.add_argument("--small-base", type=Path, help="a small pretrained θ0 (--init small)")
    how = dist.add_argument_group("how (DistillConfig; an option left out keeps its default)")
    _DISTILL_FIELDS[:] = add_config_options(how, DistillConfig, notes={
        "keywords": " (comma-separated; default: the setting's list)"})
    dist.add_argument("--seed", type=int, default=0, help="seed of the student's init and training")
    dist.add_argument("--out", type=Path, required=True, help="output model folder")
    dist.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    dist.set_defaults(run=_distill)

    ev = commands.add_parser("evaluate", formatter_class=fmt, help="audit a policy or language model on probe tasks",
                             description="Roll a policy, the scripted expert or a transformers language model out "
                             "on probe tasks from the test seeds (it never sees the audit) and write per-episode "
                             "results and a summary with 95 % Wilson intervals. Every agent evaluated with the same "
                             "--seed faces the same tasks.")
    _agent_options(ev, default_split="probe", default_range="test", language_models=True)
    ev.add_argument("--episodes", type=positive_int, default=200, help="episodes")
    ev.add_argument("--out", type=Path, required=True, help="output folder")
    ev.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    ev.set_defaults(run=_evaluate)


