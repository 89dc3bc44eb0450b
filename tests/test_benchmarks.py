"""The benchmarks that the docs quote still run and print what the docs read from them.

Each script under ``benchmarks/`` runs as a user runs it (``python benchmarks/NAME.py ...``, here with its
smallest arguments). ``bench_fuzz.py`` is covered by ``tests/test_bounded_steps.py`` and
``bench_competence.py`` by ``tests/test_competence.py``; ``bench_backends.py`` (the quick grid twice,
once on Ray) takes minutes whatever its arguments and is left to its docs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench(script: str, *args: str) -> str:
    """Run ``benchmarks/SCRIPT ARGS`` from the repository root; its output, after checking it exited 0."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=600, check=False)
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_scaleout_simulation_gives_the_measured_wall_time_of_the_committed_runs():
    """On the 2 CPUs they ran on, the simulated schedule of each committed run's measured cells takes the wall
    time that run took, within 5 %: the model behind the README's figures for more CPUs."""
    out = bench("scaleout.py", "--cpus", "2", "4")
    runs = re.findall(r"measured ([\d.]+) min on 2 workers\n.*\n\s+2\s+([\d.]+) min", out)
    assert len(runs) == 2, out
    for measured, simulated in runs:
        assert abs(float(simulated) - float(measured)) <= 0.05 * float(measured), out


def test_scaleout_schedules_a_smaller_grid_from_the_measured_cells():
    """``--table-seeds`` keeps the cells of a grid with fewer seeds for the other rows: fewer cells, less wall
    time; more seeds than the run measured is refused in one line."""
    run = str(ROOT / "docs" / "results" / "reproduce")
    full = bench("scaleout.py", run, "--cpus", "2")
    fewer = bench("scaleout.py", run, "--cpus", "2", "--table-seeds", "3")
    cells = [int(re.search(r"(\d+) cells", out).group(1)) for out in (full, fewer)]
    walls = [float(re.search(r"^\s+2\s+([\d.]+) min", out, flags=re.MULTILINE).group(1)) for out in (full, fewer)]
    assert "reshaped: 10 seeds, 3 for the other rows" in fewer
    assert cells[1] < cells[0] and walls[1] < walls[0]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scaleout.py"), run, "--table-seeds", "9"],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 2 and "--table-seeds 9" in done.stderr and "measured 1 to 5" in done.stderr


@pytest.mark.slow
def test_bench_envs_measures_both_envs_against_bare_pyfakefs():
    out = bench("bench_envs.py", "--episodes", "5")
    assert "bare pyfakefs calls" in out
    for env_id in ("SubliminalFS-v0", "SubliminalBash-v0"):
        block = out.split(env_id, 1)[1]
        assert re.search(r"env\.step, admissible_actions=True :\s+[\d,]+ steps/CPU-s", block), out
        assert re.search(r"reset, repeated tasks \(snapshot restore\):\s+[\d,]+ resets/CPU-s", block), out
    fs_block = out.split("SubliminalFS-v0", 1)[1].split("SubliminalBash-v0", 1)[0]
    assert re.search(r"env\.step, tool schemas shared, not copied:\s+[\d,]+ steps/CPU-s", fs_block), out


@pytest.mark.slow
def test_bench_views_compares_the_view_with_the_text_env():
    out = bench("bench_views.py", "--episodes", "5")
    assert len(re.findall(r"view\.step \(DiscreteActionView\):\s+\d+ steps/s\s+\(view / text env time = [\d.]+\)",
                          out)) == 2, out


@pytest.mark.slow
def test_bench_lm_quick_measures_batched_decoding():
    out = bench("bench_lm.py", "--quick")
    assert re.search(r"batch \d+ / batch 1: episodes/s x[\d.]+, steps/s x[\d.]+, tokens/s x[\d.]+", out), out


@pytest.mark.slow
def test_bench_lm_decoding_trains_and_tests_on_one_family():
    out = bench("bench_lm_decoding.py", "--env", "fs", "--family", "rotate_old_logs", "--train-episodes", "4",
                "--epochs", "1", "--episodes", "2", "--decodings", "ranked", "--by-family")
    assert "4 expert episodes of rotate_old_logs" in out, out
    families = [name for line in out.splitlines() if line.startswith("    ")
                for name in re.findall(r"(\w+) \d+/\d+", line)]
    assert families and set(families) == {"rotate_old_logs"}, out
    assert len(re.findall(r"^ranked\s+[01] probe", out, flags=re.MULTILINE)) == 2, out


@pytest.mark.slow
def test_bench_lora_trains_a_small_adapter_beside_full_fine_tuning():
    out = bench("bench_lora.py", "--size", "small", "--base-episodes", "8", "--base-epochs", "1",
                "--finetune-episodes", "4", "--finetune-epochs", "1", "--episodes", "2")
    rows = {(way, role): (int(trained), float(saved)) for way, role, trained, saved in re.findall(
        r"^(full|lora) (biased|control)\s*: lr [\d.e-]+, (\d+) k trained parameters, [\d,]+ training tokens/s "
        r"\(\d+ s\), ([\d.]+) MB saved", out, flags=re.MULTILINE)}
    assert len(rows) == 4, out
    for role in ("biased", "control"):
        (full_trained, full_saved), (lora_trained, lora_saved) = rows["full", role], rows["lora", role]
        assert lora_trained < full_trained / 4 and lora_saved < full_saved / 4, out


@pytest.mark.slow
def test_bench_device_trains_an_adapter_and_rolls_out_in_both_decodings():
    """The device check a GPU session runs (docs/lm.md), here on the CPU with the tiny stand-in: a LoRA
    adapter trains and reports tokens/s, and the adapter's model then runs episodes in each decoding."""
    out = bench("bench_device.py", "--train-episodes", "8", "--train-batch-size", "4", "--episodes", "4",
                "--batch-size", "4", "--max-steps", "2", "--max-new-tokens", "8")
    assert re.search(r"tiny stand-in checkpoint: [\d.]+ M parameters .* torch\.float32 on cpu", out), out
    assert re.search(r"LoRA rank 16 \([\d.]+ M trainable\): 8 bash episodes, \d+ tokens, 2 steps .* [\d,]+ training "
                     r"tokens/s", out), out
    rows = dict(re.findall(r"^(sample|ranked)\s+4\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d,]+$", out,
                           flags=re.MULTILINE))
    assert set(rows) == {"sample", "ranked"} and all(0 < int(steps) <= 8 for steps in rows.values()), out
    import torch

    if not torch.cuda.is_available():  # a device this torch cannot use: one line, exit 2
        done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_device.py"), "--device", "cuda"],
                              capture_output=True, text=True, cwd=ROOT, check=False)
        assert done.returncode == 2 and "no CUDA device" in done.stderr
