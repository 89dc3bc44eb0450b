"""Running the grid: cells in dependency order on local worker processes or Ray, resumable, with progress.

``run_grid(config, out, workers=2)`` writes ``out/config.json``, runs every cell that has no
``result.json`` yet (a cell's inputs are always finished before it starts), and then writes the
report (:func:`~subliminal_gym.baselines.reproduce.report.write_report`). Run it again after an
interruption and it continues from the finished cells; run it with a different config on the same
folder and it refuses (``force=True`` starts the folder over).

Local workers are ``spawn``-ed processes (no inherited torch or pyfakefs state); with
``ray=RayBackend(...)`` the cells are Ray tasks instead
(:mod:`~subliminal_gym.baselines.reproduce.ray_backend`). Each cell seeds itself from its own
identity, so results do not depend on the backend, on which worker ran what, or in which order.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from subliminal_gym.baselines.artifacts import ArtifactError, library_versions, read_json, write_json
from subliminal_gym.baselines.reproduce.cells import RESULT_FILE, cell_dir, is_done, run_cell
from subliminal_gym.baselines.reproduce.grid import Cell, ReproduceConfig, build_cells
from subliminal_gym.baselines.reproduce.ray_backend import CellWork, RayBackend, run_cells_on_ray

__all__ = ["CONFIG_FILE", "CellFailed", "GridRun", "prepare_run", "run_cells", "run_grid"]

CONFIG_FILE = "config.json"


class CellFailed(RuntimeError):
    """A cell raised; the cells finished before it are kept (rerun to resume)."""


@dataclass(frozen=True)
class GridRun:
    """What one :func:`run_grid` call did."""

    cells: int
    """Cells in the grid."""
    ran: int
    """Cells run by this call."""
    resumed: int
    """Cells already finished by an earlier call."""
    wall_seconds: float
    """Time this call took (cells and report)."""


def prepare_run(config: ReproduceConfig, out: str | Path, *, force: bool = False, commit: str | None = None) -> Path:
    """Create or check the run folder ``out`` and write its ``config.json`` (with the source ``commit`` the
    run started at; a resumed run keeps the one it started at).

    Raises:
        ArtifactError: ``out`` holds a run with another config (and ``force`` is not set), or
            its ``config.json`` is unreadable.
    """
    out = Path(out)
    config_path = out / CONFIG_FILE
    if config_path.exists():
        stored = read_json(config_path)
        if not force and isinstance(stored, dict):
            commit = stored.get("commit", commit)
        same = isinstance(stored, dict) and stored.get("fingerprint") == config.fingerprint()
        if not same and not force:
            raise ArtifactError(f"{out} holds a run with a different configuration; use another --out, the same "
                                f"options as that run to resume it, or --force to start it over")
    if force:
        for marker in sorted((out / "cells").rglob(RESULT_FILE)) if (out / "cells").is_dir() else []:
            os.remove(marker)
    elif not config_path.exists() and out.is_dir() and any(out.iterdir()):
        raise ArtifactError(f"{out} is not empty and holds no reproduction run; choose another --out")
    write_json(config_path, {"fingerprint": config.fingerprint(), "config": config.to_dict(),
                             "commit": commit, "versions": library_versions()})
    return out


def _work(cell: Cell, config: ReproduceConfig, out: str) -> tuple[str, float]:
    """Worker entry point (top level, so ``spawn`` can pickle it)."""
    result = run_cell(cell, config, out)
    return cell.key, result["wall_seconds"]


def run_cells(cells: Sequence[Cell], config: ReproduceConfig, out: Path, *, workers: int = 1,
              ray: RayBackend | None = None, on_start: Callable[[Cell], None] | None = None,
              on_done: Callable[[Cell, float], None] | None = None, work: CellWork = _work) -> int:
    """Run the unfinished ``cells``, each after its dependencies; returns how many ran.

    Args:
        cells: the cells (finished ones are skipped).
        config: the grid they belong to.
        out: the run folder.
        workers: local processes (1: in this process); with ``ray`` and no address, the CPUs of the
            local Ray cluster it starts.
        ray: run the cells as tasks on this Ray backend instead of local processes.
        on_start: called as a cell starts (local backend; Ray's scheduler does not say).
        on_done: called with a cell and its wall time as it finishes.
        work: the function that runs one cell in a worker (tests substitute failing ones).

    Raises:
        CellFailed: a cell raised (local: the others already running finish first; Ray: after its
            retries, and every cell that does not need it finishes first).
        RayUnavailable: Ray is missing or its cluster cannot be joined.
        ValueError: ``workers < 1`` or a dependency that is neither in ``cells`` nor finished.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    done = {c.key for c in cells if is_done(out, c.key)}
    pending = [c for c in cells if c.key not in done]
    known = {c.key for c in cells}
    for cell in pending:
        missing = [d for d in cell.deps if d not in known and not is_done(out, d)]
        if missing:
            raise ValueError(f"cell {cell.key} depends on unknown cells {missing}")
    ran = 0
    if ray is not None:
        ran, failures = run_cells_on_ray(cells, config, out, backend=ray, workers=workers, work=work,
                                         on_done=on_done)
        if failures:
            raise CellFailed("; ".join(failures))
        return ran
    if workers == 1:
        for cell in pending:
            if on_start:
                on_start(cell)
            try:
                _, wall = work(cell, config, str(out))
            except Exception as error:
                raise CellFailed(f"cell {cell.key} failed: {type(error).__name__}: {error}") from error
            ran += 1
            if on_done:
                on_done(cell, wall)
        return ran

    failure: BaseException | None = None
    failed_key = ""
    running: dict[Future[tuple[str, float]], Cell] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            while pending or running:
                if failure is None:
                    for cell in [c for c in pending if all(d in done for d in c.deps)]:
                        if len(running) >= workers:
                            break
                        pending.remove(cell)
                        running[pool.submit(work, cell, config, str(out))] = cell
                        if on_start:
                            on_start(cell)
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    cell = running.pop(future)
                    try:
                        _, wall = future.result()
                    except Exception as error:
                        if failure is None:
                            failure, failed_key = error, cell.key
                        continue
                    done.add(cell.key)
                    ran += 1
                    if on_done:
                        on_done(cell, wall)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    if failure is not None:
        raise CellFailed(f"cell {failed_key} failed: {type(failure).__name__}: {failure}") from failure
    return ran


def run_grid(config: ReproduceConfig, out: str | Path, *, workers: int = 1, ray: RayBackend | None = None,
             force: bool = False, progress: bool = True, report: bool = True, console: Console | None = None,
             commit: str | None = None) -> GridRun:
    """Run (or resume) the grid of ``config`` in ``out`` and write its report.

    Args:
        config: the grid.
        out: the run folder.
        workers: processes running cells in parallel (1: in this process); with ``ray`` and no
            address, the CPUs of the local Ray cluster it starts.
        ray: run the cells on Ray (:class:`~subliminal_gym.baselines.reproduce.ray_backend.RayBackend`)
            instead of local processes; the run folder gets the same files.
        force: start the folder over instead of resuming.
        progress: show a progress bar (cells done, cells running, time left) on stderr.
        report: write ``REPORT.md``, ``results.csv`` and the figure at the end.
        console: where progress goes (default: a rich console on stderr).
        commit: the source commit the run starts at (``config.json``, then ``summary.json``).

    Raises:
        ArtifactError: see :func:`prepare_run`.
        CellFailed: a cell raised.
        RayUnavailable: ``ray`` is given, and Ray is missing or its cluster cannot be joined.
    """
    started = time.perf_counter()
    out = prepare_run(config, out, force=force, commit=commit)
    cells = build_cells(config)
    resumed = sum(is_done(out, c.key) for c in cells)
    total_cost = sum(c.cost for c in cells)
    done_cost = sum(c.cost for c in cells if is_done(out, c.key))
    running: list[str] = []
    console = console or Console(stderr=True)
    bar = Progress(TextColumn("[bold]{task.fields[cells]}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                   TextColumn("{task.description}"), console=console, disable=not progress, transient=False)
    count = {"done": resumed}

    def label() -> str:
        return f"cells {count['done']}/{len(cells)}"

    with bar:
        task = bar.add_task("", total=total_cost, completed=int(done_cost), cells=label())

        def on_start(cell: Cell) -> None:
            running.append(cell.key)
            bar.update(task, description="running " + ", ".join(running[-2:]))

        def on_done(cell: Cell, wall: float) -> None:
            if cell.key in running:
                running.remove(cell.key)
            count["done"] += 1
            bar.update(task, advance=cell.cost, cells=label(),
                       description=("running " + ", ".join(running[-2:])) if running else
                       f"on Ray ({ray.storage} storage)" if ray is not None else "")

        if ray is not None:
            bar.update(task, description=f"on Ray ({ray.storage} storage)")
        ran = run_cells(cells, config, out, workers=workers, ray=ray, on_start=on_start, on_done=on_done)
    timing = {c.key: read_json(cell_dir(out, c.key) / "timing.json").get("wall_seconds")
              for c in cells if (cell_dir(out, c.key) / "timing.json").is_file()}
    if report:
        from subliminal_gym.baselines.reproduce.report import write_report

        write_report(out, config)
    wall = time.perf_counter() - started
    write_json(out / "timing.json", {"last_call_wall_seconds": round(wall, 1), "workers": workers,
                                     "backend": "local" if ray is None else f"ray ({ray.storage})",
                                     "cells_run": ran, "cells_resumed": resumed, "cell_wall_seconds": timing})
    return GridRun(cells=len(cells), ran=ran, resumed=resumed, wall_seconds=wall)

