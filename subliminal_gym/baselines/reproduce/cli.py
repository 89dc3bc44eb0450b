"""``subliminal-gym reproduce``: the paper's experiment, both settings, with controls and statistics.

The grid, its cells and the report live in :mod:`subliminal_gym.baselines.reproduce`; this command
only turns options into a :class:`~subliminal_gym.baselines.reproduce.grid.ReproduceConfig`, runs it
and prints the paper's table beside ours. Expected failures (a run folder holding another
configuration, a failed cell, unreadable files) end with one ``error:`` line and exit status 2;
an interrupted run exits 130 and resumes when the same command is given again.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.reproduce.ray_backend import RayUnavailable, add_backend_options, backend_of
from subliminal_gym.baselines.tracks import LM_DECODINGS, LM_DEVICES, LM_DTYPES, TRACK_NAMES
from subliminal_gym.command_line import CommandError, HelpFormatter, bad_input, positive_int
from subliminal_gym.settings import SETTINGS

__all__ = ["add_commands", "run_reproduce"]

_SETTINGS = {**{name: (name,) for name in SETTINGS}, "both": tuple(SETTINGS)}
_TRACKS = {**{name: (name,) for name in TRACK_NAMES}, "all": TRACK_NAMES}


def add_commands(commands: Any) -> None:
    """Add ``reproduce`` to the ``subliminal-gym`` subcommands."""
    reproduce = commands.add_parser(
        "reproduce", formatter_class=HelpFormatter,
        help="rerun the paper's experiment (both settings, controls, intervals) and write the report",
        description="Rerun the whole study: for each setting and seed, θ0s and biased/control teachers in a large "
                    "and a small size, sanitised safe-task rollouts, students distilled from each teacher in the "
                    "paper's conditions and by every distiller, and audits on probe tasks. Writes REPORT.md, "
                    "results.csv and figure.{png,svg} into --out. Interrupted runs resume from the finished cells "
                    "when the same command is given again.")
    reproduce.add_argument("--quick", action="store_true",
                           help="the instrument's rows only (the default attack, its null and positive control, "
                                "the cross-init row and the scripted sanity check), 1 seed, 100 probe episodes, "
                                "smaller training budgets: about 1.5 minutes on 2 idle cores; one seed gives no "
                                "seed-level interval or verdict")
    reproduce.add_argument("--sweep", action="store_true",
                           help="the sensitivity sweep instead of the grid: the default attack and its null with "
                                "each knob (distillation epochs, kept data, teacher temperature, teacher bias, "
                                "student init) moved alone, 3 seeds, vector track; writes sweep.png beside the "
                                "report")
    reproduce.add_argument("--track", choices=sorted(_TRACKS), default="vector",
                           help="vector (slot-scoring policies on the vector views), lm (tiny language models "
                                "on the text envs; needs the lm extra) or all (both, in one report)")
    reproduce.add_argument("--setting", choices=sorted(_SETTINGS), default="both",
                           help="fs (deletion, SubliminalFS-v0), bash (chmod-first, SubliminalBash-v0) or both")
    reproduce.add_argument("--seeds", type=positive_int, default=None,
                           help="seeds (training runs) of the main conditions (default: 10; 3 with --sweep; 1 "
                                "with --quick)")
    reproduce.add_argument("--table-seeds", type=positive_int, default=None,
                           help="seeds of the other rows (default: 5; with --quick, all)")
    reproduce.add_argument("--episodes", type=positive_int, default=None,
                           help="probe episodes per audited model, every track (default: the track's budget: "
                                "200, or 100 with --quick; LM track 32 with --quick)")
    reproduce.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1),
                           help="cells run in parallel in this many processes")
    reproduce.add_argument("--out", type=Path, default=None,
                           help="run folder (default: runs/reproduce, runs/reproduce-lm or runs/reproduce-all "
                                "by --track, with -quick added for --quick)")
    reproduce.add_argument("--force", action="store_true",
                           help="start the run folder over instead of resuming it")
    reproduce.add_argument("--report-only", action="store_true",
                           help="only rewrite the report from the finished cells in --out")
    reproduce.add_argument("--no-progress", action="store_true", help="no progress bar")
    lm = reproduce.add_argument_group("language models (--track lm or all)")
    lm.add_argument("--lm-base-model", type=Path, metavar="DIR",
                    help="a local transformers causal-LM folder: θ0, the teachers and the students become LoRA "
                         "adapters over it (default: tiny models built from a config); the size rows then compare "
                         "two adapters over the same base")
    lm.add_argument("--lm-decoding", choices=LM_DECODINGS,
                    help="how language models act in rollouts and audits (default: sample; ranked: the admissible "
                         "action they find likeliest); their competence is measured in both")
    lm.add_argument("--lm-lora-rank", type=positive_int, metavar="N", help="the adapters' rank (default: 16)")
    lm.add_argument("--lm-device", choices=LM_DEVICES, help="where LM cells train and act (default: cpu)")
    lm.add_argument("--lm-dtype", choices=LM_DTYPES, help="the base weights' type (default: float32)")
    lm.add_argument("--lm-max-batch-tokens", type=positive_int, metavar="N",
                    help="the most padded tokens in one training forward pass; larger steps accumulate gradients")
    add_backend_options(reproduce)
    reproduce.set_defaults(run=run_reproduce)


#: ``reproduce``'s language-model options and the TeacherConfig fields they set in the LM budget.
_LM_OPTIONS = {"lm_base_model": "base_model", "lm_lora_rank": "lora_rank", "lm_device": "device",
               "lm_dtype": "dtype", "lm_max_batch_tokens": "max_batch_tokens"}


def _config(args: argparse.Namespace) -> Any:
    from subliminal_gym.baselines.reproduce.grid import ReproduceConfig, quick_config, sweep_config
    from subliminal_gym.baselines.tracks import track_of

    tracks = _TRACKS[args.track]
    if args.sweep and (args.quick or args.track != "vector"):
        raise CommandError("--sweep runs the vector track's full budgets: leave out --quick and --track")
    with bad_input():
        for track in tracks:
            track_of(track)  # the LM track needs the lm extra
        config = quick_config() if args.quick else sweep_config() if args.sweep else ReproduceConfig()
        overrides: dict[str, Any] = {"settings": _SETTINGS[args.setting], "tracks": tracks}
        if args.seeds is not None:
            overrides["seeds"] = args.seeds
        if args.table_seeds is not None:
            overrides["table_seeds"] = args.table_seeds
        if args.episodes is not None:
            for track in TRACK_NAMES:
                overrides[track] = dataclasses.replace(config.budget(track), episodes=args.episodes)
        teacher = {field: (str(value) if isinstance(value, Path) else value) for option, field in _LM_OPTIONS.items()
                   if (value := getattr(args, option, None)) is not None}
        decoding = getattr(args, "lm_decoding", None)
        if (teacher or decoding) and "lm" not in tracks:
            given = next(o for o in (*_LM_OPTIONS, "lm_decoding") if getattr(args, o, None) is not None)
            raise CommandError(f"--{given.replace('_', '-')} sets the LM track's recipe: add --track lm or all")
        if teacher or decoding:
            lm = overrides.get("lm", config.lm)
            overrides["lm"] = dataclasses.replace(lm, teacher={**lm.teacher, **teacher},
                                                  decoding=decoding or lm.decoding)
        config = dataclasses.replace(config, **overrides)
        if teacher:  # the values, the lm extra, the device and the base folder, before any cell runs
            config.teacher_config(config.settings[0], config.first_seed, "large", track="lm").check_runnable()
    return config


def _default_out(args: argparse.Namespace) -> Path:
    name = {"vector": "reproduce", "lm": "reproduce-lm", "all": "reproduce-all"}[args.track]
    return Path("runs") / (f"{name}-quick" if args.quick else "sweep" if args.sweep else name)


def run_reproduce(args: argparse.Namespace) -> int:
    """Run ``subliminal-gym reproduce``; returns the exit status."""
    from subliminal_gym.baselines.artifacts import ArtifactError, read_json, source_commit
    from subliminal_gym.baselines.reproduce.grid import ReproduceConfig
    from subliminal_gym.baselines.reproduce.report import main_table, write_report
    from subliminal_gym.baselines.reproduce.results import load_results
    from subliminal_gym.baselines.reproduce.runner import CONFIG_FILE, CellFailed, run_grid

    out = args.out or _default_out(args)
    try:
        if args.report_only:
            with bad_input(ArtifactError):
                stored = read_json(out / CONFIG_FILE)
            try:
                config = ReproduceConfig.from_dict(stored["config"])
            except (KeyError, TypeError, ValueError) as exc:
                raise CommandError(f"{out / CONFIG_FILE}: not a reproduction config of this version ({exc})") from None
            with bad_input(ArtifactError):
                write_report(out, config)
        else:
            config = _config(args)
            with bad_input():
                ray = backend_of(args)
            with bad_input(ArtifactError, RayUnavailable):  # a run folder holding another config; no cluster
                run = run_grid(config, out, workers=args.workers, ray=ray, force=args.force,
                               progress=not args.no_progress, commit=source_commit())
            where = (f"{args.workers} worker(s)" if ray is None else
                     f"Ray ({ray.address or f'a local cluster of {args.workers} CPUs'}, {ray.storage} storage)")
            print(f"{run.cells} cells ({run.ran} run now, {run.resumed} from an earlier call) in "
                  f"{run.wall_seconds / 60:.1f} min on {where}")
        results = load_results(out, config)
        for setting in config.settings:
            print(f"\n{setting}: the default attack, its null and the positive control (rates in % with 95 % "
                  f"intervals; effects across seeds)\n")
            print(main_table(results, setting))
        print(f"\nreport: {out / 'REPORT.md'}  summary: {out / 'summary.json'}  table per seed: "
              f"{out / 'results.csv'}  figure: {out / 'figure.png'}")
        return 0
    except CellFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("the finished cells are kept; rerun the same command to resume", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; the finished cells are kept in {out}: rerun the same command to resume",
              file=sys.stderr)
        return 130
