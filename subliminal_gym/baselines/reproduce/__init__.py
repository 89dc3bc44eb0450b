"""The paper's experiment end to end: the grid, its cells, the runner and the report.

``subliminal-gym reproduce`` is the command; :func:`run_grid` the library entry point.
"""

from subliminal_gym.baselines.reproduce.grid import CONDITIONS, ReproduceConfig, build_cells, quick_config
from subliminal_gym.baselines.reproduce.runner import CellFailed, GridRun, run_grid

__all__ = ["CONDITIONS", "CellFailed", "GridRun", "ReproduceConfig", "build_cells", "quick_config", "run_grid"]
