"""`--backend ray`: the grid's cells as Ray tasks write the same files as local workers, resume across
backends, retry a failing cell a bounded number of times and then report it."""

from __future__ import annotations

import _thread
import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_reproduce import tiny_config

from subliminal_gym.baselines.reproduce.cells import RESULT_FILE, cell_dir, is_done
from subliminal_gym.baselines.reproduce.grid import ReproduceConfig, build_cells
from subliminal_gym.baselines.reproduce.ray_backend import RayBackend
from subliminal_gym.baselines.reproduce.runner import CellFailed, prepare_run, run_cells, run_grid
from subliminal_gym.cli import main

#: A head node that the tests start and stop themselves (2 CPUs on this machine), for ``--address``.
_HEAD = """
import sys, ray
context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
print(context.address_info["gcs_address"], flush=True)
sys.stdin.read()  # until the test closes our stdin
ray.shutdown()
"""


def small_grid() -> ReproduceConfig:
    """Nine cells of one setting and seed: both teachers, the null's teacher, three rollouts, four students."""
    config = tiny_config(settings=("fs",), seeds=1, table_seeds=1)
    return dataclasses.replace(config, vector=dataclasses.replace(config.vector, conditions=("attack", "null")))


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory) -> Iterator[str]:
    """The address of a 2-CPU Ray cluster that the tests start on this machine, and stop. It uses Ray's
    default token (``~/.ray/auth_token``, made by Ray if missing), as any cluster started in this process
    does: Ray caches the token per process, so a second token in one test session breaks every join."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_MODE", "token")
        env.delenv("RAY_AUTH_TOKEN", raising=False)
        head = subprocess.Popen([sys.executable, "-c", _HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=dict(os.environ))
        try:
            assert head.stdout is not None
            address = head.stdout.readline().strip()
            assert address, "the Ray head node did not start"
            # joined as 127.0.0.1 (Ray itself binds the machine's address and maps loopback to it)
            yield f"127.0.0.1:{address.rsplit(':', 1)[1]}"
        finally:
            assert head.stdin is not None
            head.stdin.close()
            head.wait(timeout=60)


@pytest.fixture
def cluster(ray_address, monkeypatch) -> str:
    """The test cluster's address, joinable from this process (its token is in the environment)."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    return ray_address


def prepared(out: Path) -> ReproduceConfig:
    """The small grid's run folder ``out``, ready for :func:`run_cells`."""
    config = small_grid()
    prepare_run(config, out)
    return config


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "run"
    run_grid(small_grid(), out, workers=1, progress=False)
    return out


def _same_files(a: Path, b: Path) -> None:
    """Every file of two run folders is the same, bar the timings (wall and training seconds)."""
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file() and p.name != "timing.json")
    assert names == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file() and p.name != "timing.json")
    for name in names:
        left, right = (a / name).read_bytes(), (b / name).read_bytes()
        if name.endswith(RESULT_FILE):
            left, right = (json.dumps(_untimed(json.loads(x))).encode() for x in (left, right))
        assert left == right, name


def _untimed(data):
    if isinstance(data, dict):
        return {k: _untimed(v) for k, v in data.items() if k != "seconds"}
    if isinstance(data, list):
        return [_untimed(v) for v in data]
    return data


@pytest.mark.slow
def test_ray_on_a_shared_folder_writes_what_local_workers_write(cluster, local_run, tmp_path):
    out = tmp_path / "ray"
    run = run_grid(small_grid(), out, workers=2, ray=RayBackend(address=cluster, storage="shared"),
                   progress=False)
    assert run.ran == run.cells == len(build_cells(small_grid()))
    for name in ("REPORT.md", "results.csv", "summary.json"):
        assert (out / name).read_bytes() == (local_run / name).read_bytes(), name
    _same_files(out / "cells", local_run / "cells")


@pytest.mark.slow
def test_ray_gathering_results_writes_the_same_and_resumes_a_local_run(local_run, tmp_path):
    out = tmp_path / "resumed"
    config = small_grid()
    run_grid(config, out, workers=1, progress=False, report=False)
    redo = [c.key for c in build_cells(config) if c.kind == "student"][:2]
    redo.append("fs/seed0/rollout-large-alt")  # and a student of it: inputs come from disk and from a task
    for key in redo:
        os.remove(cell_dir(out, key) / RESULT_FILE)
    # no address: the run starts (and stops) a local cluster of --workers CPUs
    run = run_grid(config, out, workers=2, ray=RayBackend(storage="gather"), progress=False)
    assert (run.ran, run.resumed) == (len(redo), run.cells - len(redo))
    for name in ("REPORT.md", "results.csv", "summary.json"):
        assert (out / name).read_bytes() == (local_run / name).read_bytes(), name
    _same_files(out / "cells", local_run / "cells")


@pytest.mark.slow
def test_a_failing_cell_is_retried_then_reported_and_the_rest_finishes(cluster, tmp_path):
    out, attempts = tmp_path / "failing", tmp_path / "attempts"
    attempts.mkdir()
    config = prepared(out)
    cells = build_cells(config)
    flaky, broken = "fs/seed0/rollout-large-biased", "fs/seed0/teacher-large-alt"

    def work(cell, config, out):  # runs in a Ray worker: pickled by value, with the folder it counts in
        from subliminal_gym.baselines.reproduce.runner import _work

        tries = attempts / cell.key.replace("/", "_")
        with tries.open("a") as handle:
            handle.write("x")
        if cell.key == broken or (cell.key == flaky and tries.stat().st_size == 1):
            raise RuntimeError(f"simulated crash in {cell.key}")
        return _work(cell, config, out)

    with pytest.raises(CellFailed) as failed:
        run_cells(cells, config, out, workers=2, ray=RayBackend(address=cluster, retries=1), work=work)
    needs_alt = {broken}  # the cells that read the broken one, directly or not
    while grown := {c.key for c in cells if set(c.deps) & needs_alt} - needs_alt:
        needs_alt |= grown
    message = str(failed.value)
    assert f"cell {broken} failed (2 attempts): RuntimeError: simulated crash in {broken}" in message
    assert f"{len(needs_alt) - 1} cell(s) that need a failed cell did not run" in message  # rollout, students
    assert (attempts / broken.replace("/", "_")).read_text() == "xx"  # retried once, no more
    assert (attempts / flaky.replace("/", "_")).read_text() == "xx" and is_done(out, flaky)  # a retry rescued it
    assert len(needs_alt) > 1 and not any(is_done(out, key) for key in needs_alt)
    assert all(is_done(out, c.key) for c in cells if c.key not in needs_alt)


def test_ray_options_need_the_ray_backend(tmp_path, capsys):
    assert main(["reproduce", "--quick", "--storage", "gather", "--out", str(tmp_path / "run")]) == 2
    assert "error: --storage only apply with --backend ray" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert main(["leaderboard", "score", str(tmp_path), "--address", "127.0.0.1:6379"]) == 2
    assert "--address only apply with --backend ray" in capsys.readouterr().err


def test_the_backend_refuses_bad_settings():
    with pytest.raises(ValueError, match="storage must be one of shared, gather"):
        RayBackend(storage="nfs")
    with pytest.raises(ValueError, match="retries must be 0 or more"):
        RayBackend(retries=-1)
    cell = next(c for c in build_cells(small_grid()))
    assert RayBackend(lm_gpus=0.5).resources(cell) == {"num_cpus": 1, "num_gpus": 0.0}  # a vector cell
    assert RayBackend(lm_gpus=0.5).resources(dataclasses.replace(cell, track="lm"))["num_gpus"] == 0.5


@pytest.mark.slow
def test_ctrl_c_cancels_the_running_cells(cluster, tmp_path):
    out, pids = tmp_path / "interrupted", tmp_path / "pids"
    pids.mkdir()
    config = prepared(out)

    def work(cell, config, out):  # a cell that would run for minutes
        import time

        (pids / str(os.getpid())).touch()
        time.sleep(300)

    timer = threading.Timer(8.0, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_cells(build_cells(config), config, out, workers=2, ray=RayBackend(address=cluster), work=work)
    timer.cancel()
    assert time.monotonic() - started < 60
    workers = [int(p.name) for p in pids.iterdir()]
    assert workers  # the first cell had started
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(_alive(pid) for pid in workers)  # cancelled, not left running on the cluster
    assert not any(is_done(out, c.key) for c in build_cells(config))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_an_address_where_nothing_listens_is_one_error_line(tmp_path, capsys):
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    code = main(["reproduce", "--quick", "--setting", "fs", "--backend", "ray", "--address", f"127.0.0.1:{port}",
                 "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and time.monotonic() - started < 30
    assert err[-1].startswith(f"error: cannot join the Ray cluster at 127.0.0.1:{port}: nothing answers there")
    assert not any(is_done(tmp_path / "run", c.key) for c in build_cells(small_grid()))
