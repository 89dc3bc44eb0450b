"""A committed run's fingerprint: the sha256 of every audit, and of the machine's float arithmetic.

``checksums.json`` beside a report holds ``{"float_arithmetic": ..., "cells": {cell key: {eval name:
sha256 of its episodes.jsonl}}}``. CI re-runs one cheap cell of every committed run and compares
(``tests/test_committed_results.py``).

It may also hold ``"arithmetics": {hash: {"commit": sha, "cells": {cell key: {eval name: sha256}}}}``:
cells of the run re-made on machines with other float arithmetic by the code of the commit that made
the run (``baselines/record_arithmetic.py`` runs that commit's own source, taken from git, never the
working tree). On such a machine the comparison is byte for byte again, against the bytes the run's
own code gives there. Regenerating the run writes a new file without them: they belong to the code
that made the run, not to later code (a report re-made from the same cells keeps them:
:func:`write_checksums`).

Why the float arithmetic: the grid is deterministic on one machine (any number of workers, any order),
but torch picks its matrix kernels by CPU (AVX2, AVX-512, AMX...), and kernels that sum in another
order round the last bits differently. A policy that samples its actions turns those bits into other
episodes: the same code on another CPU gives other bytes (measured: the Bash θ0 of seed 0 chose
chmod first in 2 % of 200 probes on one machine, 1 % on another, 3 % there with AVX2 kernels forced).
:func:`float_arithmetic` hashes a few training steps of the grid's own network on fixed inputs;
where it matches the committed run's, the audits must match byte for byte; where it does not, only
a statistical comparison is possible.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from subliminal_gym.baselines.artifacts import ArtifactError, read_json, write_text

__all__ = ["CHECKSUMS_FILE", "cell_checksums", "expected_checksums", "float_arithmetic", "read_checksums",
           "write_checksums"]

CHECKSUMS_FILE = "checksums.json"


def cell_checksums(out: Path, key: str) -> dict[str, str]:
    """sha256 of each audit of cell ``key`` in the run folder ``out``, by eval name."""
    from subliminal_gym.baselines.reproduce.cells import cell_dir

    evals = cell_dir(out, key) / "evals"
    return {path.parent.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(evals.glob("*/episodes.jsonl"))}


def float_arithmetic() -> str:
    """A short hash of what this machine's float arithmetic makes of the grid's training: the large
    SubliminalFS policy initialised (SB3's orthogonal init), then three Adam steps of a
    cross-entropy on fixed sparse observations, on one thread with denormals flushed, as the grid
    trains. Two machines with the same hash round alike where the grid computes (about 2 s)."""
    import torch as th

    from subliminal_gym.baselines.policies import build_policy, flush_denormals
    from subliminal_gym.views import ViewLayout

    layout = ViewLayout.of("fs")
    rng = np.random.default_rng(0)
    observations = (rng.random((64, layout.obs_dim)) < 0.05).astype(np.float32)
    slots = observations[:, layout.state_dim:].reshape(64, layout.max_actions, layout.slot_dim)
    slots[:, :, 0] = np.arange(layout.max_actions) < 60  # 60 actions a state, the rest empty
    targets = th.from_numpy(rng.integers(0, 60, size=64))
    threads = th.get_num_threads()
    th.set_num_threads(1)
    try:
        with flush_denormals():
            policy = build_policy(layout, "large", seed=0)
            optimizer = th.optim.Adam(policy.actor_parameters(), lr=3e-3)
            batch = th.from_numpy(observations)
            for _ in range(3):
                loss = th.nn.functional.cross_entropy(policy.action_logits(batch), targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            with th.no_grad():
                logits = policy.action_logits(batch)
    finally:
        th.set_num_threads(threads)
    digest = hashlib.sha256(logits.numpy().tobytes())
    for tensor in policy.state_dict().values():
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


def write_checksums(out: Path, keys: list[str]) -> Path:
    """Write ``checksums.json`` for the cells ``keys`` of the run folder ``out`` (cells without audits left out).

    The float arithmetic recorded is this machine's, unless the folder's ``checksums.json`` already holds
    exactly these audits: then the cells were made before (a report re-made with ``--report-only``, perhaps
    on another machine), and their recorded arithmetic (None where it was never recorded) and the bytes
    recorded for other machines are kept. New or re-run cells start a new file."""
    sums = {key: cell_checksums(out, key) for key in keys}
    cells = {key: audits for key, audits in sums.items() if audits}
    data: dict[str, Any] = {"float_arithmetic": None, "cells": cells}
    try:
        previous = read_checksums(out) if (out / CHECKSUMS_FILE).is_file() else None
    except ArtifactError:
        previous = None  # a damaged file is replaced by a fresh one
    if previous is not None and previous["cells"] == cells:
        data["float_arithmetic"] = previous["float_arithmetic"]
        if previous["arithmetics"]:
            data["arithmetics"] = previous["arithmetics"]
    else:
        data["float_arithmetic"] = float_arithmetic()
    write_text(out / CHECKSUMS_FILE, json.dumps(data, indent=1) + "\n")
    return out / CHECKSUMS_FILE


def read_checksums(folder: Path) -> dict[str, Any]:
    """The ``checksums.json`` of a run folder: ``float_arithmetic`` (None: not recorded), ``cells``,
    and ``arithmetics`` (empty when none were recorded).

    Raises:
        ArtifactError: the file is missing or malformed.
    """
    path = Path(folder) / CHECKSUMS_FILE
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("cells"), dict):
        raise ArtifactError(f"{path}: not a checksums file (no 'cells')")
    arithmetics = data.get("arithmetics", {})
    if not isinstance(arithmetics, dict) or not all(
            isinstance(entry, dict) and isinstance(entry.get("commit"), str) and isinstance(entry.get("cells"), dict)
            for entry in arithmetics.values()):
        raise ArtifactError(f"{path}: 'arithmetics' must map each hash to {{'commit': ..., 'cells': {{...}}}}")
    return {"float_arithmetic": data.get("float_arithmetic"), "cells": data["cells"], "arithmetics": arithmetics}


def expected_checksums(checksums: dict[str, Any], key: str, arithmetic: str) -> dict[str, str] | None:
    """What cell ``key`` of a run with ``checksums`` (:func:`read_checksums`) must give, byte for byte, on a
    machine whose :func:`float_arithmetic` is ``arithmetic``: the run's own where it was made with it, a
    recorded re-make of the run's code where one was, else None (only a statistical comparison is possible)."""
    if checksums["float_arithmetic"] == arithmetic:
        return checksums["cells"].get(key)
    return checksums["arithmetics"].get(arithmetic, {}).get("cells", {}).get(key)
