"""Umbrella windows as one batch of the batched MD engine, in resumable chunks.

Window k is replica k of one :func:`~nnpkit.md.run_batched_md` run per chunk (Langevin
NVT), with ``HarmonicBias(cv, centers, spring_constants)`` (plus, optionally, a further
bias such as :class:`~nnpkit.md.bias.SphericalWall`, summed) acting per replica: one model
call per step for all windows. Recording, trajectories, checkpoints and resuming are
those of :func:`~nnpkit.apps.solvation.chunked.run_in_chunks`; a resume also checks the
window centres and spring constants.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from ase import Atoms

from nnpkit.apps.solvation.chunked import (
    CHECKPOINT_NAME,
    ChunkedRun,
    CollectiveVariable,
    MDSettings,
    ModelOrCalculator,
    run_in_chunks,
)
from nnpkit.errors import ConfigError
from nnpkit.md.bias import Bias, HarmonicBias, SumBias

__all__ = ["UmbrellaRun", "run_umbrella", "CHECKPOINT_NAME"]


@dataclass
class UmbrellaRun(ChunkedRun):
    """A :class:`~nnpkit.apps.solvation.chunked.ChunkedRun` of umbrella windows, with
    the window centres [K] and spring constants [K] (eV per CV unit²)."""

    centers: np.ndarray | None = None
    spring_constants: np.ndarray | None = None

    def flagged_windows(self) -> dict[int, float]:
        """``{window: largest flagged max_force_std}`` (eV/Å)."""
        return self.flagged_replicas()


def run_umbrella(model_or_calculator: ModelOrCalculator, structures: Atoms | Sequence[Atoms],
                 collective_variable: CollectiveVariable,
                 centers: Sequence[float] | np.ndarray,
                 spring_constants: float | Sequence[float] | np.ndarray, *,
                 temperature_K: float = 300.0, timestep_fs: float = 0.5, steps: int = 1000,
                 friction_per_fs: float = 0.01,
                 sample_interval: int = 10, chunk_steps: int | None = None,
                 extra_bias: Bias | None = None, run_dir: str | os.PathLike | None = None,
                 trajectory_interval: int | None = None, seed: int = 0,
                 max_force_std: float | None = None,
                 uncertainty_action: Literal["stop", "flag"] = "flag",
                 uncertainty_interval: int | None = None, observers: Sequence[Any] = (),
                 progress: bool = True,
                 dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
                 ) -> UmbrellaRun:
    """Run K umbrella windows together; resume from ``run_dir``'s checkpoint if there is one.

    Args:
        model_or_calculator: an nnpkit Potential (a Committee enables the guard; one
            batched call per step) or ASE calculator(s) (one per window, or shared).
        structures: one starting structure for every window, or one per window.
        collective_variable: ``s(positions [N, 3], batch [N]) -> [K]``, differentiable.
        centers: window centres [K]; ``spring_constants``: K per window or one (eV/unit²).
        temperature_K, timestep_fs, friction_per_fs: Langevin NVT settings (K, fs, 1/fs).
        steps: total MD steps (a resumed run does the remaining ones).
        sample_interval: steps between CV samples.
        chunk_steps: steps between checkpoints (a multiple of ``sample_interval`` and of
            ``trajectory_interval``); default all steps in one chunk.
        extra_bias: a further bias summed with the umbrellas (e.g. a spherical wall).
        run_dir: where trajectories and the checkpoint go (None: nothing on disk).
        trajectory_interval: steps between trajectory frames (None: no trajectories).
        seed: the engine's seed (replica seeds derived from it).
        max_force_std: committee threshold, eV/Å; ``uncertainty_action`` ``"flag"``
            records windows over it, ``"stop"`` ends the run at the first;
            ``uncertainty_interval``: steps between checks (default: ``sample_interval``).
        observers: further engine observers (called within each chunk).
        progress: a progress bar per chunk.
        dtype, device: the engine's precision and device.

    Raises:
        ConfigError: inconsistent intervals or lengths, or a checkpoint written with other
            settings (names the setting).
    """
    s0 = np.asarray(centers, dtype=float).ravel()
    k = np.broadcast_to(np.asarray(spring_constants, dtype=float), s0.shape).copy()
    templates = ([structures] * s0.size if isinstance(structures, Atoms)
                 else list(structures))
    if len(templates) != s0.size:
        raise ConfigError(f"{len(templates)} structures for {s0.size} umbrella windows")
    if not np.all(k > 0):
        raise ConfigError(f"umbrella spring constants must be > 0, got {k.tolist()}")
    bias: Bias = HarmonicBias(collective_variable, s0.tolist(), k.tolist())
    if extra_bias is not None:
        bias = SumBias(bias, extra_bias)
    md = MDSettings(temperature_K, timestep_fs, steps, friction_per_fs, sample_interval,
                    chunk_steps, trajectory_interval, seed, max_force_std, uncertainty_action,
                    uncertainty_interval)
    run = run_in_chunks(model_or_calculator, templates, collective_variable, bias, md,
                        run_dir=run_dir, fingerprint={"centers": s0, "spring_constants": k},
                        observers=observers, progress=progress, dtype=dtype, device=device)
    return UmbrellaRun(**vars(run), centers=s0, spring_constants=k)
