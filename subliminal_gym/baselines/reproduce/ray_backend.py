"""Running the grid's cells on a Ray cluster (``--backend ray``): the same cells, the same files.

Each cell is one Ray task that declares its resources (one CPU; an LM cell also ``lm_gpus`` of a GPU).
A cell's dependencies are passed to its task as the object refs of their tasks, so Ray itself starts
a cell only once the cells it reads have finished; nothing here polls. The cells seed themselves
from their identity (:mod:`~subliminal_gym.baselines.reproduce.cells`), so a run folder holds the
same bytes whichever backend, node or worker ran each cell, and a run started on one backend resumes
on the other.

Where the results live (``storage``):

- ``shared``: every node sees the run folder at the same path (one machine, or a network file system
  mounted alike on all nodes); tasks write their cell folder there, as local workers do. A task on a
  node that cannot see the folder fails with a message that says so.
- ``gather``: nothing is shared. A task receives its inputs' cell folders from the object store,
  runs in a scratch folder on its node and returns its own cell folder; the driver writes it into
  the run folder (``result.json`` last, atomically). Only the driver's machine needs the run folder.

A cell that raises is retried up to ``retries`` more times (a node lost mid-cell as well); a cell
that still fails is reported after every cell that does not need it has finished, and the cells that
need it are left unfinished (rerun the command to resume). Ctrl-C cancels the running tasks; their
cell folders stay unfinished and are redone on resume.
"""

from __future__ import annotations

import argparse
import logging
import socket
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.artifacts import ArtifactError, atomic_path
from subliminal_gym.baselines.reproduce.cells import RESULT_FILE, cell_dir, is_done
from subliminal_gym.baselines.reproduce.grid import Cell, ReproduceConfig

__all__ = ["BACKENDS", "STORAGES", "RayBackend", "RayUnavailable", "add_backend_options", "backend_of",
           "run_cells_on_ray"]

#: Where cells run: ``local`` worker processes or a ``ray`` cluster.
BACKENDS = ("local", "ray")

#: Where a Ray run's results live: see the module docstring.
STORAGES = ("shared", "gather")

#: A file every run folder holds before any cell runs (written by ``prepare_run``).
_RUN_MARKER = "config.json"

CellWork = Callable[[Cell, ReproduceConfig, str], tuple[str, float]]


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster at ``address`` cannot be joined."""


@dataclass(frozen=True)
class RayBackend:
    """Run cells as Ray tasks (see the module docstring)."""

    address: str | None = None
    """The cluster to join (``ray://host:10001`` or ``host:6379``); ``None``: start a local cluster with as
    many CPUs as the run's workers (a cluster already started by ``ray.init`` in this process is used as it is)."""
    storage: str = "shared"
    """``shared`` (every node sees the run folder) or ``gather`` (cell folders travel through the object store)."""
    retries: int = 2
    """Further attempts for a cell that raises or whose node is lost."""
    lm_gpus: float = 0.0
    """GPUs an LM-track cell declares (0: none; fractions share a GPU between cells)."""

    def __post_init__(self) -> None:
        if self.storage not in STORAGES:
            raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {self.storage!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, got {self.retries}")
        if not 0 <= self.lm_gpus:
            raise ValueError(f"lm_gpus must be 0 or more, got {self.lm_gpus}")

    def resources(self, cell: Cell) -> dict[str, float]:
        """What the task of ``cell`` declares to Ray's scheduler."""
        gpus = self.lm_gpus if cell.track == "lm" else 0.0
        return {"num_cpus": 1, "num_gpus": gpus}


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that runs grid cells takes to choose its backend (read with :func:`backend_of`)."""
    group = parser.add_argument_group("backend", "where the cells run (docs/scale.md)")
    group.add_argument("--backend", choices=BACKENDS, default="local",
                       help="local worker processes, or Ray tasks (needs the ray extra): same files either way, and "
                            "a run started on one resumes on the other")
    group.add_argument("--address", default=None,
                       help="ray: the cluster to join (host:6379 or ray://host:10001; default: start a local one "
                            "with --workers CPUs)")
    group.add_argument("--storage", choices=STORAGES, default="shared",
                       help="ray: shared (every node sees the run folder at the same path) or gather (cell "
                            "folders travel through Ray's object store; only this machine needs the folder)")
    group.add_argument("--retries", type=int, default=2,
                       help="ray: further attempts for a cell that fails or loses its node")
    group.add_argument("--lm-gpus", type=float, default=0.0,
                       help="ray: GPUs each LM-track cell declares (fractions share one GPU)")


def backend_of(args: argparse.Namespace) -> RayBackend | None:
    """The Ray backend the options of :func:`add_backend_options` ask for (``None``: local processes).

    Raises:
        ValueError: a Ray option without ``--backend ray``, or a bad value.
    """
    if args.backend == "local":
        given = [f"--{name.replace('_', '-')}" for name, default in
                 (("address", None), ("storage", "shared"), ("retries", 2), ("lm_gpus", 0.0))
                 if getattr(args, name) != default]
        if given:
            raise ValueError(f"{', '.join(given)} only apply with --backend ray")
        return None
    return RayBackend(address=args.address, storage=args.storage, retries=args.retries, lm_gpus=args.lm_gpus)


@dataclass(frozen=True)
class _Finished:
    """What a cell's task returns: its key and time, and in ``gather`` storage its folder's files."""

    key: str
    wall: float
    files: dict[str, bytes] | None = None


def _pack(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _unpack(folder: Path, files: dict[str, bytes]) -> None:
    """Write a cell folder's ``files`` into ``folder``, ``result.json`` last and each file atomically."""
    for name in sorted(files, key=lambda n: n == RESULT_FILE):
        with atomic_path(folder / name) as temporary:
            temporary.write_bytes(files[name])


def _run_task(work: CellWork, cell: Cell, config: ReproduceConfig, out: str, storage: str,
              *inputs: _Finished) -> _Finished:
    """The body of a cell's Ray task (top level, so Ray pickles it by reference)."""
    if storage == "shared":
        if not (Path(out) / _RUN_MARKER).is_file():
            raise ArtifactError(f"the run folder {out} is not visible on node {socket.gethostname()}: mount it at the "
                                f"same path on every node, or use --storage gather")
        key, wall = work(cell, config, out)
        return _Finished(key, wall)
    with tempfile.TemporaryDirectory(prefix="subliminal-cell-") as scratch:
        for finished in inputs:
            _unpack(cell_dir(Path(scratch), finished.key), finished.files or {})
        key, wall = work(cell, config, scratch)
        return _Finished(key, wall, _pack(cell_dir(Path(scratch), cell.key)))


def _connect(backend: RayBackend, workers: int) -> bool:
    """Join or start the cluster; returns whether this call started Ray (and must shut it down).

    Raises:
        RayUnavailable: Ray is not installed or the cluster cannot be joined.
    """
    try:
        import ray
    except ImportError:
        raise RayUnavailable("--backend ray needs Ray: pip install 'subliminal-gym[ray]' (with -c constraints.txt)") \
            from None
    if ray.is_initialized():
        return False
    # the package is imported from each node's own environment (install the same version everywhere)
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if backend.address is not None:
        _check_reachable(backend.address)
    try:
        if backend.address is None:
            # a cluster only this run uses (and stops): Ray's notice that it turned token auth on is noise here
            notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
            level = notice.level
            notice.setLevel(logging.ERROR)
            try:
                ray.init(num_cpus=workers, include_dashboard=False, **options)
            finally:
                notice.setLevel(level)
        else:
            ray.init(address=backend.address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = backend.address or "a local cluster"
        hint = (" (a cluster started by `ray start` uses token authentication: set RAY_AUTH_MODE=token here too)"
                if "auth" in str(exc).lower() or "Failed to connect" in str(exc) else "")
        raise RayUnavailable(f"cannot join the Ray cluster at {where}: {str(exc).splitlines()[0]}{hint}") from None
    return True


def _check_reachable(address: str) -> None:
    """Fail at once where nothing listens at a ``host:port`` address (Ray itself retries for minutes).

    Raises:
        RayUnavailable: the host is unknown or refuses the connection within 10 seconds.
    """
    if address == "auto" or "://" in address or ":" not in address:
        return  # Ray resolves these itself
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
            return
    except ValueError:
        raise RayUnavailable(f"--address {address!r}: expected host:port, ray://host:port or auto") from None
    except OSError as exc:
        raise RayUnavailable(f"cannot join the Ray cluster at {address}: nothing answers there "
                             f"({exc.strerror or exc})") from None


def _describe(error: BaseException) -> str:
    """One line for a task's failure (the cell's own exception where Ray wraps one)."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        error = cause
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".rstrip(": ")


def run_cells_on_ray(cells: Sequence[Cell], config: ReproduceConfig, out: Path, *, backend: RayBackend,
                     workers: int, work: CellWork,
                     on_done: Callable[[Cell, float], None] | None = None) -> tuple[int, list[str]]:
    """Run the unfinished ``cells`` on Ray; returns how many ran and a line for each cell that failed.

    Raises:
        RayUnavailable: see :func:`_connect`.
        KeyboardInterrupt: after cancelling every running task.
    """
    import ray

    started_here = _connect(backend, workers)
    try:
        task = ray.remote(_run_task)
        by_key = {c.key: c for c in cells}
        pending = [c for c in cells if not is_done(out, c.key)]
        refs: dict[str, Any] = {}
        stored: dict[str, Any] = {}  # gather storage: finished inputs from an earlier call, put once

        def input_ref(key: str) -> Any:
            if key in refs:
                return refs[key]
            if backend.storage == "gather":
                if key not in stored:
                    stored[key] = ray.put(_Finished(key, 0.0, _pack(cell_dir(out, key))))
                return stored[key]
            return None  # shared storage: on disk already

        errors: dict[str, str] = {}
        ran = 0
        try:
            for cell in _in_dependency_order(pending, by_key):
                inputs = [ref for ref in (input_ref(d) for d in cell.deps) if ref is not None]
                refs[cell.key] = task.options(**backend.resources(cell), max_retries=backend.retries,
                                              retry_exceptions=True, name=cell.key).remote(
                    work, cell, config, str(out.resolve()), backend.storage, *inputs)
            stored.clear()
            cell_of = {ref: key for key, ref in refs.items()}
            unfinished = list(refs.values())
            while unfinished:
                ready, unfinished = ray.wait(unfinished, num_returns=1)
                key = cell_of[ready[0]]
                try:
                    finished: _Finished = ray.get(ready[0])
                except Exception as error:  # the cell's own exception, wrapped by Ray, or a lost node
                    errors[key] = _describe(error)
                    continue
                if finished.files is not None:  # over what an unfinished earlier attempt left, as local workers do
                    _unpack(cell_dir(out, key), finished.files)
                ran += 1
                if on_done:
                    on_done(by_key[key], finished.wall)
        except KeyboardInterrupt:
            for ref in refs.values():  # a finished task is left as it is
                ray.cancel(ref, force=True)
            raise
        return ran, _failure_lines(pending, errors, backend.retries)
    finally:
        if started_here:
            ray.shutdown()


def _in_dependency_order(cells: Sequence[Cell], by_key: dict[str, Cell]) -> list[Cell]:
    """``cells`` with every cell after the cells of ``cells`` it depends on."""
    wanted = {c.key for c in cells}
    ordered: list[Cell] = []
    placed: set[str] = set()

    def place(cell: Cell) -> None:
        if cell.key in placed:
            return
        placed.add(cell.key)
        for dep in cell.deps:
            if dep in wanted:
                place(by_key[dep])
        ordered.append(cell)

    for cell in cells:
        place(cell)
    return ordered


def _failure_lines(pending: Sequence[Cell], errors: dict[str, str], retries: int) -> list[str]:
    """A line per cell that failed itself; the cells that failed only because an input did are counted."""
    blocked: set[str] = set()
    lines = []
    for cell in _in_dependency_order(pending, {c.key: c for c in pending}):
        if cell.key not in errors:
            continue
        if any(d in errors for d in cell.deps):
            blocked.add(cell.key)
        else:
            lines.append(f"cell {cell.key} failed ({retries + 1} attempts): {errors[cell.key]}")
    if blocked:
        lines.append(f"{len(blocked)} cell(s) that need a failed cell did not run")
    return lines
