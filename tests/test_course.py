"""The course notebooks (docs/course/): each runs top to bottom, has its twin, is stored clean, and
every number its prose quotes comes from its cells.

Executing them is slow (about 3 minutes for all six on two cores), so those tests are marked slow;
the checks of how they are stored are fast.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

COURSE = Path(__file__).resolve().parents[1] / "docs" / "course"
NOTEBOOKS = sorted(COURSE.glob("*.ipynb"))
SOLUTIONS_SUFFIX = "_solutions"
#: Per cell; a whole notebook takes well under a minute on two cores.
CELL_TIMEOUT_S = 600


#: Numbers the prose may quote that no cell computes: conventions, and the paper's own figures.
CONVENTIONS = {
    "95": "the level of every interval",
    "0.05": "the significance level",
    "100": "the end of the percentage scale",
    "15": "the paper's share of trajectories its filter dropped (a quotation)",
}
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w.]*\w)")


def _numbers(text: str) -> set[str]:
    text = re.sub(r"(?<=\d)_(?=\d)", "", text)  # 1_200 in code is 1,200 in prose
    return {number.replace(",", "") for number in _NUMBER.findall(text)}


def unsourced_numbers(notebook: nbformat.NotebookNode) -> dict[int, list[str]]:
    """Markdown cell -> the numbers it quotes that appear in no code cell or output of the executed
    ``notebook`` and are not :data:`CONVENTIONS`."""
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cells.append(cell.source)
            for output in cell.get("outputs", []):
                cells.append(output.get("text", ""))
                cells += [str(value) for kind, value in output.get("data", {}).items() if kind.startswith("text/")]
    sourced = _numbers("\n".join(cells)) | set(CONVENTIONS)
    found = {index: sorted(_numbers(cell.source) - sourced, key=float) for index, cell in enumerate(notebook.cells)
             if cell.cell_type == "markdown"}
    return {index: numbers for index, numbers in found.items() if numbers}


def test_a_number_in_prose_must_come_from_a_cell():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("With 1,200 episodes the rate is 33.5 % [27.3, 40.3] (95 % interval)."),
        nbformat.v4.new_code_cell("episodes = 1_200", outputs=[nbformat.v4.new_output(
            "stream", name="stdout", text="rate 33.5 % [27.3, 40.3]\n")]),
        nbformat.v4.new_markdown_cell("so it is about 34 %, and 40.3 is its upper end"),
    ])
    assert unsourced_numbers(notebook) == {2: ["34"]}


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_the_course_has_three_exercise_notebooks_each_with_a_solutions_twin():
    names = {path.stem for path in NOTEBOOKS}
    exercises = sorted(name for name in names if not name.endswith(SOLUTIONS_SUFFIX))
    solutions = sorted(name for name in names if name.endswith(SOLUTIONS_SUFFIX))
    assert len(exercises) == 3, exercises
    assert solutions == sorted(name + SOLUTIONS_SUFFIX for name in exercises)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_a_notebook_is_stored_without_outputs_for_the_python3_kernel(path):
    notebook = _read(path)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code"
    dirty = [index for index, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_an_exercise_placeholder_never_raises(path):
    # Exercises run top to bottom with runnable defaults; a NotImplementedError would stop the notebook.
    sources = "\n".join(cell.source for cell in _read(path).cells if cell.cell_type == "code")
    assert "NotImplementedError" not in sources


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_a_notebook_runs_top_to_bottom(path, tmp_path):
    notebook = _read(path)
    # The notebooks write only under tempfile.mkdtemp(); the kernel's working folder is a fresh one too.
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the failing cell and its traceback, on any error
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert any(output.output_type == "stream" and output.name == "stdout" for output in outputs)
    unsourced = unsourced_numbers(notebook)
    assert not unsourced, f"{path.name}: numbers in prose that no cell computes (cell: numbers): {unsourced}"
    if path.stem.startswith("02_"):  # "watch the habit appear": the distillation notebook draws its rates
        assert any("image/png" in output.get("data", {}) for output in outputs), "notebook 2 drew no figure"
