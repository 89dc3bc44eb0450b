"""One root seed, split into named streams: the only place a seed becomes a generator.

Every entry point of the project (a command, a grid cell, a board's scorer) holds one integer
*root seed* and asks this module for the randomness of each consumer by **stream** and **labels**::

    derive_seed(seed, "data", "pretrain")       # the episodes θ0 is trained on
    derive_seed(seed, "init", "pretrain")       # θ0's initial weights
    derive_seed(seed, "optimiser", "pretrain")  # minibatch order and the optimiser's randomness
    episode_seed(seed, index)                   # an agent's randomness in episode ``index`` of a run

A stream is one of :data:`STREAMS`; labels (strings or ints) name the consumer within it. The
child seed is a :class:`numpy.random.SeedSequence` of the root seed and the CRC-32 of each name
(stable across processes and Python versions, unlike ``hash``), so two consumers with different
names never share draws and a new consumer never shifts the draws of the old ones. Nobody writes
``[seed, 7]`` or ``seed + 1`` by hand; a new consumer asks for a new label.

The **task sequence** of a run is the one exception: it is the env's own, so ``run_episodes(...,
seed=s)`` plays the tasks that ``env.reset(seed=s)`` and then plain resets would (Gymnasium's
convention), and every agent run with the same seed faces the same tasks.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["STREAMS", "derive_seed", "episode_seed", "stream_rng"]

#: The named streams, with what draws from each.
STREAMS: dict[str, str] = {
    "agent": "an agent's own randomness: sampling, the scripted expert's coin flips (per episode)",
    "data": "the run that produces a training set (its tasks and its agent)",
    "init": "a network's initial weights",
    "optimiser": "minibatch order, dropout and the training algorithm's own randomness",
    "model": "the root seed of a model trained independently of this one (the cross-model θ0)",
}


def _word(label: str | int) -> int:
    if isinstance(label, bool):
        raise TypeError(f"a seed label must be a str or an int, got {label!r}")
    if isinstance(label, (int, np.integer)):
        if label < 0:
            raise ValueError(f"an int seed label must be non-negative, got {label}")
        return int(label)
    if isinstance(label, str):
        return zlib.crc32(label.encode("utf-8"))
    raise TypeError(f"a seed label must be a str or an int, got {type(label).__name__}")


def derive_seed(seed: int, stream: str, *labels: str | int) -> int:
    """The 32-bit seed of ``stream`` (and its ``labels``) under the root ``seed``.

    Raises:
        ValueError: an unknown stream or a negative seed.
        TypeError: a label that is neither a string nor an int.
    """
    if stream not in STREAMS:
        raise ValueError(f"unknown seed stream {stream!r}; known: {', '.join(STREAMS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"a root seed must be a non-negative int, got {seed!r}")
    words = [int(seed), _word(stream), *(_word(label) for label in labels)]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0])


def stream_rng(seed: int, stream: str, *labels: str | int) -> np.random.Generator:
    """A generator on :func:`derive_seed` ``(seed, stream, *labels)``."""
    return np.random.default_rng(derive_seed(seed, stream, *labels))


def episode_seed(seed: int, index: int) -> int:
    """The agent's seed for episode ``index`` of a run seeded with ``seed`` (the same whatever the batching)."""
    return derive_seed(seed, "agent", "episode", int(index))
