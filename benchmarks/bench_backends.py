"""Ray's overhead on one machine: the quick grid under ``--backend local`` and ``--backend ray``.

Runs the quick grid (``subliminal-gym reproduce --quick``'s config) from scratch in fresh folders,
alternating the backends ``--rounds`` times (the machines are shared and noisy: read the ratio, not
the seconds), with the same number of workers: local spawn processes, or a local Ray cluster of that
many CPUs that the run starts and stops (its start and stop are counted). Checks that both write the
same REPORT.md, results.csv and summary.json, and prints the wall times, their ratio and the load.

    python benchmarks/bench_backends.py [--workers 2] [--rounds 2] [--storage shared|gather]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from subliminal_gym.baselines.reproduce import quick_config, run_grid
from subliminal_gym.baselines.reproduce.ray_backend import STORAGES, RayBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--storage", choices=STORAGES, default="shared")
    args = parser.parse_args()
    config = quick_config()
    walls: dict[str, list[float]] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as scratch:
        for round_ in range(args.rounds):
            for name in ("local", "ray") if round_ % 2 == 0 else ("ray", "local"):
                out = Path(scratch) / f"{name}{round_}"
                load = os.getloadavg()[0]
                started = time.perf_counter()
                ray = RayBackend(storage=args.storage) if name == "ray" else None
                run_grid(config, out, workers=args.workers, ray=ray, progress=False)
                walls[name].append(time.perf_counter() - started)
                print(f"round {round_} {name:5s}: {walls[name][-1]:6.1f} s (load before {load:.2f}, after "
                      f"{os.getloadavg()[0]:.2f})", flush=True)
        first = Path(scratch) / "local0"
        for name in ("REPORT.md", "results.csv", "summary.json"):
            for run in Path(scratch).iterdir():
                if (run / name).read_bytes() != (first / name).read_bytes():
                    raise SystemExit(f"{run.name}/{name} differs from local0/{name}")
    local, ray = statistics.median(walls["local"]), statistics.median(walls["ray"])
    print(f"\nquick grid, {args.workers} workers, median of {args.rounds}: local {local:.1f} s, ray "
          f"({args.storage}) {ray:.1f} s: ray/local = {ray / local:.2f}; reports byte-identical")


if __name__ == "__main__":
    main()
