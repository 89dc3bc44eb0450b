"""How far the grid scales out: its cell graph and measured cell times, scheduled on more CPUs.

For each run folder, rebuilds the grid's cells from its ``config.json`` (keys and dependencies) and
takes every cell's measured wall time from its ``timing.json``; then simulates the run on N CPUs
the way both backends run it: one CPU per cell, and whenever a CPU is free the first ready cell in
the grid's order starts (the order the local runner picks and Ray receives its tasks in). Prints the
total cell time, the critical path (the wall time with unlimited CPUs) and the simulated wall time
and speed-up for each CPU count, with the measured wall time beside the simulation of the CPUs it
ran on. Cell times were measured with 2 cells sharing a 2-core machine; on dedicated CPUs they are
shorter, so the figures are conservative. Scheduling and transfer overheads are not modelled (see
``bench_backends.py`` for Ray's on one machine).

    python benchmarks/scaleout.py [RUN ...] [--cpus 2 8 32 128] [--seeds N] [--table-seeds N]

``--seeds`` and ``--table-seeds`` reshape each run's grid (fewer seeds for the main rows, or for the
other rows) and schedule the cells that grid keeps, with their measured times: what a smaller grid
would take on the same machine. They cannot ask for more seeds than a run measured.

Default runs: the committed full grid and sensitivity sweep (docs/results/reproduce, docs/results/sweep).
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
from collections.abc import Sequence
from pathlib import Path

from subliminal_gym.baselines.artifacts import read_json
from subliminal_gym.baselines.reproduce.grid import Cell, ReproduceConfig, build_cells

ROOT = Path(__file__).resolve().parent.parent
RUNS = (ROOT / "docs/results/reproduce", ROOT / "docs/results/sweep")


def critical_path(cells: Sequence[Cell], seconds: dict[str, float]) -> float:
    """The longest chain of dependent cells, in seconds."""
    finish: dict[str, float] = {}
    for cell in cells:  # the grid lists every cell after its dependencies
        finish[cell.key] = seconds[cell.key] + max((finish[d] for d in cell.deps), default=0.0)
    return max(finish.values())


def simulate(cells: Sequence[Cell], seconds: dict[str, float], cpus: int) -> float:
    """The wall time of ``cells`` on ``cpus`` CPUs, each free CPU taking the first ready cell in grid order."""
    order = {cell.key: i for i, cell in enumerate(cells)}
    waiting = {cell.key: set(cell.deps) for cell in cells}
    dependents: dict[str, list[str]] = {cell.key: [] for cell in cells}
    for cell in cells:
        for dep in cell.deps:
            dependents[dep].append(cell.key)
    ready = [order[key] for key, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    keys = [cell.key for cell in cells]
    now = 0.0
    while ready or running:
        while ready and len(running) < cpus:
            key = keys[heapq.heappop(ready)]
            heapq.heappush(running, (now + seconds[key], key))
        now, key = heapq.heappop(running)
        for dependent in dependents[key]:
            waiting[dependent].discard(key)
            if not waiting[dependent]:
                heapq.heappush(ready, order[dependent])
    return now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, default=list(RUNS))
    parser.add_argument("--cpus", nargs="+", type=int, default=[2, 8, 32, 128])
    parser.add_argument("--seeds", type=int, help="seeds of the main rows (default: the run's)")
    parser.add_argument("--table-seeds", type=int, help="seeds of the other rows (default: the run's)")
    args = parser.parse_args()
    for run in args.runs:
        config = ReproduceConfig.from_dict(read_json(run / "config.json")["config"])
        shape = {name: value for name in ("seeds", "table_seeds") if (value := getattr(args, name)) is not None}
        for name, value in shape.items():
            measured = getattr(config, name) or config.seeds  # table_seeds None: every row on all seeds
            if not 1 <= value <= measured:
                parser.error(f"--{name.replace('_', '-')} {value}: {run} measured 1 to {measured}")
        config = dataclasses.replace(config, **shape)
        timing = read_json(run / "timing.json")
        cells = build_cells(config)
        seconds = {key: float(value) for key, value in timing["cell_wall_seconds"].items() if value is not None}
        missing = [cell.key for cell in cells if cell.key not in seconds]
        if missing:
            raise SystemExit(f"{run}: no measured time for {len(missing)} cells (e.g. {missing[0]}): the run was "
                             f"resumed; its timing.json holds only the last call's cells")
        total, path = sum(seconds[c.key] for c in cells), critical_path(cells, seconds)
        others = config.table_seeds or config.seeds
        shaped = f" (reshaped: {config.seeds} seeds, {others} for the other rows)" if shape else ""
        print(f"{run.relative_to(ROOT) if run.is_relative_to(ROOT) else run}{shaped}: {len(cells)} cells, "
              f"{total / 60:.1f} CPU-min of cells, critical path {path / 60:.1f} min; measured "
              f"{timing['last_call_wall_seconds'] / 60:.1f} min on {timing['workers']} workers")
        print("  CPUs  simulated wall  speed-up vs 2")
        base = simulate(cells, seconds, 2)
        for cpus in args.cpus:
            wall = simulate(cells, seconds, cpus)
            print(f"  {cpus:4d}  {wall / 60:9.1f} min  {base / wall:8.1f}x")


if __name__ == "__main__":
    main()
