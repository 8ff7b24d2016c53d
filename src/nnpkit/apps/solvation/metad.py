"""Well-tempered metadynamics walkers as one batch, resumable, and the profile of the hills.

The walkers are the replicas of :func:`~nnpkit.apps.solvation.chunked.run_in_chunks`
with a :class:`~nnpkit.md.metadynamics.WellTemperedMetadynamics` bias (shared by all
walkers by default: multiple walkers) and its deposit observer. The hills file
(``run_dir/HILLS``) is appended as hills are laid; on a resume it is first cut back to the
checkpoint's step (hills a killed attempt laid after its last checkpoint would otherwise
act on the replayed steps), then loaded by the bias, so the continuation follows the
uninterrupted run.

The profile is ``F(s) = −γ/(γ − 1) V(s)`` (min 0). Its ``sigma_eV`` is the standard
deviation of that estimate over four snapshots of the second half of the run (the hills
laid up to 1/2, 2/3, 5/6 and all of the steps): a convergence indicator (how much F still
moves), not a statistical error bar.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
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
    read_checkpoint,
    run_in_chunks,
)
from nnpkit.errors import ConfigError
from nnpkit.file_writes import atomic_write
from nnpkit.md.bias import Bias, SumBias
from nnpkit.md.metadynamics import WellTemperedMetadynamics

__all__ = ["MetadRun", "run_metadynamics", "truncate_hills", "hills_bias",
           "metadynamics_snapshots", "metadynamics_profile", "HILLS_NAME"]

HILLS_NAME = "HILLS"


@dataclass
class MetadRun(ChunkedRun):
    """A :class:`~nnpkit.apps.solvation.chunked.ChunkedRun` of walkers and their bias."""

    metadynamics: WellTemperedMetadynamics | None = None


def truncate_hills(path: str | os.PathLike, last_step: int) -> int:
    """Drop the hills of steps after ``last_step`` (and a torn last line) from a hills
    file, atomically; comment lines stay. Returns the number of lines dropped."""
    path = Path(path)
    if not path.is_file():
        return 0
    lines = path.read_text().split("\n")
    torn = lines.pop()  # "" when the file ends with a newline
    kept = [line for line in lines
            if line.startswith("#") or not line.split() or int(line.split()[0]) <= last_step]
    dropped = len(lines) - len(kept) + (1 if torn else 0)
    if dropped:
        text = "".join(line + "\n" for line in kept)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return dropped


def hills_bias(hills: dict[str, np.ndarray], s: np.ndarray, sigma: float,
               until_step: int | None = None, replica: int | None = None) -> np.ndarray:
    """``V(s) = Σ w exp(−(s − c)²/2σ²)`` [len(s)] (eV) of the hills laid up to
    ``until_step`` (all if None), by ``replica`` only if given."""
    keep = np.ones(hills["step"].shape, dtype=bool)
    if until_step is not None:
        keep &= hills["step"] <= until_step
    if replica is not None:
        keep &= hills["replica"] == replica
    points = np.asarray(s, dtype=float).reshape(-1)
    offsets = (points[:, None] - hills["center"][keep][None, :]) / sigma  # [S, H]
    return (hills["height_eV"][keep][None, :] * np.exp(-0.5 * offsets**2)).sum(axis=1)


def metadynamics_snapshots(metadynamics: WellTemperedMetadynamics, s: np.ndarray,
                           total_steps: int) -> list[np.ndarray]:
    """F (min 0) [len(s)], eV, from the hills laid up to 1/2, 2/3, 5/6 and all of
    ``total_steps``: shared walkers sum all hills, independent ones average the walkers'
    biases."""
    gamma = metadynamics.bias_factor
    factor = 1.0 if math.isinf(gamma) else gamma / (gamma - 1.0)
    hills = metadynamics.hills
    replicas = ([None] if metadynamics.walkers == "shared"
                else list(range(metadynamics.n_replicas)))
    estimates = []
    for fraction in (1 / 2, 2 / 3, 5 / 6, 1.0):
        until = int(round(fraction * total_steps))
        bias = np.mean([hills_bias(hills, s, metadynamics.sigma, until, r) for r in replicas],
                       axis=0)
        free = -factor * bias
        estimates.append(free - free.min())
    return estimates


def metadynamics_profile(metadynamics: WellTemperedMetadynamics, s: np.ndarray,
                         total_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(F [len(s)], sigma [len(s)])``, eV: the final estimate (min 0) and its spread over
    :func:`metadynamics_snapshots` (see the module docstring)."""
    estimates = metadynamics_snapshots(metadynamics, s, total_steps)
    return estimates[-1], np.std(estimates, axis=0, ddof=1)


def run_metadynamics(model_or_calculator: ModelOrCalculator,
                     structures: Atoms | Sequence[Atoms],
                     collective_variable: CollectiveVariable, n_walkers: int, *,
                     height_eV: float, sigma: float, bias_factor: float, pace_steps: int,
                     grid: tuple[float, float, int] | None = None,
                     walkers: Literal["shared", "independent"] = "shared",
                     temperature_K: float = 300.0, timestep_fs: float = 0.5,
                     steps: int = 1000, friction_per_fs: float = 0.01,
                     sample_interval: int = 10, chunk_steps: int | None = None,
                     extra_bias: Bias | None = None, run_dir: str | os.PathLike | None = None,
                     trajectory_interval: int | None = None, seed: int = 0,
                     max_force_std: float | None = None,
                     uncertainty_action: Literal["stop", "flag"] = "flag",
                     uncertainty_interval: int | None = None,
                     observers: Sequence[Any] = (), progress: bool = True,
                     dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
                     ) -> MetadRun:
    """Run ``n_walkers`` well-tempered metadynamics walkers together (resumable).

    Args:
        model_or_calculator, collective_variable, extra_bias, run_dir, md settings,
            uncertainty, observers, progress, dtype, device: as for
            :func:`~nnpkit.apps.solvation.umbrella.run_umbrella`.
        structures: one starting structure for every walker, or one per walker.
        n_walkers: the walkers B.
        height_eV, sigma, bias_factor, pace_steps, grid, walkers: the bias (see
            :class:`~nnpkit.md.metadynamics.WellTemperedMetadynamics`); its hills file is
            ``run_dir/HILLS`` (none without ``run_dir``).

    Raises:
        ConfigError: as :func:`~nnpkit.apps.solvation.chunked.run_in_chunks`, a hills
            file of other settings, or a structure count other than ``n_walkers``.
    """
    templates = [structures] * n_walkers if isinstance(structures, Atoms) else list(structures)
    if len(templates) != n_walkers:
        raise ConfigError(f"{len(templates)} structures for {n_walkers} metadynamics walkers")
    hills_path = None
    if run_dir is not None:
        hills_path = Path(run_dir) / HILLS_NAME
        stored = read_checkpoint(Path(run_dir) / CHECKPOINT_NAME)
        truncate_hills(hills_path, int(stored["step"]) if stored is not None else -1)
    metadynamics = WellTemperedMetadynamics(
        collective_variable, n_walkers, height_eV, sigma, bias_factor, temperature_K,
        pace_steps, hills_path=hills_path, grid=grid, walkers=walkers)
    bias: Bias = metadynamics if extra_bias is None else SumBias(metadynamics, extra_bias)
    md = MDSettings(temperature_K, timestep_fs, steps, friction_per_fs, sample_interval,
                    chunk_steps, trajectory_interval, seed, max_force_std, uncertainty_action,
                    uncertainty_interval)
    fingerprint: dict[str, Any] = {"height_eV": height_eV, "sigma": sigma,
                                   "bias_factor": bias_factor, "pace_steps": pace_steps}
    run = run_in_chunks(model_or_calculator, templates, collective_variable, bias, md,
                        run_dir=run_dir, fingerprint=fingerprint,
                        observers=[metadynamics.observer(), *observers], progress=progress,
                        dtype=dtype, device=device)
    return MetadRun(**vars(run), metadynamics=metadynamics)
