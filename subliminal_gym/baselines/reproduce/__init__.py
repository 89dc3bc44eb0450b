"""The paper's experiment end to end: the grid, its cells, the runner and the report.

``subliminal-gym reproduce`` is the command; :func:`run_grid` the library entry point (local worker
processes, or Ray tasks with ``ray=RayBackend(...)``).
"""

from subliminal_gym.baselines.reproduce.conditions import CONDITIONS
from subliminal_gym.baselines.reproduce.grid import ReproduceConfig, build_cells, quick_config
from subliminal_gym.baselines.reproduce.ray_backend import RayBackend
from subliminal_gym.baselines.reproduce.runner import CellFailed, GridRun, run_grid

__all__ = ["CONDITIONS", "CellFailed", "GridRun", "RayBackend", "ReproduceConfig", "build_cells", "quick_config",
           "run_grid"]
