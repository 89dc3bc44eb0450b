"""Record what a committed run's code gives on this machine, so CI here compares byte for byte again.

A committed run's audits are reproducible byte for byte only on a machine with the float arithmetic
of the one that made it (``subliminal_gym.baselines.reproduce.checksums``); elsewhere
``tests/test_committed_results.py`` can only compare rates. This script takes the run's own code from
git (``git archive`` of the commit that made the run: never the working tree), runs one cell of the
run's stored config with it in a separate interpreter of this environment, and adds the audits' sha256
to the run's ``checksums.json`` under this machine's arithmetic, with the commit. From then on CI on
a machine like this one holds the code at HEAD to those bytes: a change that moves the numbers fails
here too.

    python baselines/record_arithmetic.py RUN_DIR [--commit SHA] [--cell KEY]

``--commit`` defaults to the run's ``config.json`` ``commit`` (runs made before it was recorded need
it given: the commit whose code made the cells). ``--cell`` defaults to the cell CI re-runs
(``subliminal_gym.baselines.reproduce.grid.reference_cell``: ``bash/seed0/teachers-large``, the LM
track's ``bash/seed0/lm-teachers-small``). On the machine that made the run there is nothing to record (its own
checksums are already the reference) and the script says so and exits 1; so it does when git, the
commit or the cell is missing. The file is replaced atomically.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run by a separate interpreter whose ``subliminal_gym`` is the commit's (first on PYTHONPATH). Only
# functions every version of the grid has: the stored config, the cell list, run_cell. It prints the
# package it ran; the audits it wrote are hashed by this side (checksums.cell_checksums).
_CHILD = """
import json, sys
from pathlib import Path
from subliminal_gym.baselines.reproduce.cells import run_cell
from subliminal_gym.baselines.reproduce.grid import ReproduceConfig, build_cells
stored, key, out = json.loads(Path(sys.argv[1]).read_text()), sys.argv[2], Path(sys.argv[3])
config = ReproduceConfig.from_dict(stored["config"])
cells = {cell.key: cell for cell in build_cells(config)}
if key not in cells:
    sys.exit(f"error: no cell {key!r} in this run's grid")
if cells[key].deps:
    sys.exit(f"error: cell {key!r} needs other cells first; choose one without inputs")
run_cell(cells[key], config, out)
import subliminal_gym
print(subliminal_gym.__file__)
"""


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def git(*args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, check=False)
    except FileNotFoundError:
        fail("git is not installed")
    if done.returncode != 0:
        fail(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def run_at_commit(commit: str, config_file: Path, key: str) -> dict[str, str]:
    """The audits' sha256 of cell ``key``, run by the package as it was at ``commit``."""
    from subliminal_gym.baselines.reproduce.checksums import cell_checksums

    archive = git("archive", "--format=tar", commit, "subliminal_gym")
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "source", Path(tmp) / "out"
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(source, filter="data")
        env = {**os.environ, "PYTHONPATH": str(source)}
        done = subprocess.run([sys.executable, "-c", _CHILD, str(config_file), key, str(out)],
                              capture_output=True, text=True, env=env, cwd=tmp, check=False)
        if done.returncode != 0:
            fail(f"the cell at {commit[:10]} failed:\n{done.stderr.strip()[-2000:]}")
        ran = done.stdout.strip().splitlines()[-1]
        if not ran.startswith(str(source)):  # the commit's package, not the installed one
            fail(f"the cell ran {ran}, not the commit's source")
        return cell_checksums(out, key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a committed run folder (config.json and checksums.json)")
    parser.add_argument("--commit", help="the commit whose code made the run (default: config.json's)")
    parser.add_argument("--cell", help="a cell without inputs (default: the one CI re-runs)")
    args = parser.parse_args()
    args.run = args.run.resolve()

    from subliminal_gym.baselines.artifacts import ArtifactError, read_json, write_text
    from subliminal_gym.baselines.reproduce.checksums import CHECKSUMS_FILE, float_arithmetic, read_checksums
    from subliminal_gym.baselines.reproduce.grid import ReproduceConfig, reference_cell

    try:
        stored = read_json(args.run / "config.json")
        checksums = read_checksums(args.run)
    except (ArtifactError, OSError) as error:
        fail(str(error))
    try:
        cell = args.cell or reference_cell(ReproduceConfig.from_dict(stored["config"]))
    except (KeyError, TypeError, ValueError) as error:
        fail(f"{args.run}/config.json: not a run's config ({error})")
    commit = args.commit or stored.get("commit")
    if not commit:
        fail(f"{args.run}/config.json records no commit: give --commit (the commit whose code made the run)")
    commit = git("rev-parse", "--verify", f"{commit}^{{commit}}").decode().strip()
    here = float_arithmetic()
    if checksums["float_arithmetic"] == here:
        fail(f"this machine's float arithmetic ({here}) is the run's own: its checksums are already the reference")
    print(f"running {cell} with the code at {commit[:10]} (this machine's arithmetic: {here}) ...", flush=True)
    sums = run_at_commit(commit, args.run / "config.json", cell)
    entry = checksums["arithmetics"].setdefault(here, {"commit": commit, "cells": {}})
    if entry["commit"] != commit:
        fail(f"{here} is already recorded from {entry['commit'][:10]}, not {commit[:10]}: remove that entry first")
    entry["cells"][cell] = sums
    write_text(args.run / CHECKSUMS_FILE, json.dumps(checksums, indent=1) + "\n")
    print(f"recorded {len(sums)} audits of {cell} for arithmetic {here} in {args.run / CHECKSUMS_FILE}")


if __name__ == "__main__":
    main()
