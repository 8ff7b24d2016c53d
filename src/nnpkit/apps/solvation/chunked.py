"""B biased replicas through the batched MD engine in resumable chunks, with a CV recorder.

One :func:`~nnpkit.md.run_batched_md` call per chunk of ``chunk_steps`` (Langevin NVT;
one model call per step for all replicas). The CV of every replica is recorded every
``sample_interval`` steps. After each chunk the replica trajectories of that chunk
(``windows/window_KK/part_CCCCC.extxyz``, written to a hidden partial file and renamed)
and then the checkpoint (positions, momenta, cells, step, the CV series, the guard's
flags, the settings) are written atomically. Started again on the same directory with
the same settings, a killed run continues from the last checkpoint: the state is restored
bit for bit and the engine's counter noise is keyed by (seed, step), so the continuation
follows the uninterrupted run. Used by umbrella sampling and by metadynamics walkers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.errors import ConfigError
from nnpkit.file_writes import atomic_write
from nnpkit.md.batched_runner import run_batched_md
from nnpkit.md.batched_state import BatchedState
from nnpkit.md.bias import Bias
from nnpkit.md.observers import ReplicaUncertaintyExceeded
from nnpkit.models.potential import Potential

__all__ = ["ChunkedRun", "MDSettings", "run_in_chunks", "read_checkpoint", "read_frames",
           "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.npz"
CollectiveVariable = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ModelOrCalculator = Potential | Calculator | Sequence[Calculator]


@dataclass(frozen=True)
class MDSettings:
    """Langevin NVT settings of a chunked run (K, fs, 1/fs, steps)."""

    temperature_K: float = 300.0
    timestep_fs: float = 0.5
    steps: int = 1000
    friction_per_fs: float = 0.01
    sample_interval: int = 10
    chunk_steps: int | None = None
    trajectory_interval: int | None = None
    seed: int = 0
    max_force_std: float | None = None
    uncertainty_action: Literal["stop", "flag"] = "flag"
    uncertainty_interval: int | None = None


@dataclass
class ChunkedRun:
    """What the replicas sampled.

    Attributes:
        sample_steps: absolute step of each CV sample [n_samples].
        cv: the CV of every replica at those steps [n_samples, B].
        flags: ``(step, replica, max_force_std eV/Å)`` of guard calls over the threshold.
        stopped: ``(step, replica, max_force_std)`` where the guard stopped, or None.
        atoms: the replicas' last checkpointed structures (with momenta).
        completed_steps: steps done (the last checkpoint).
        resumed_from_step: where this call started (0: a fresh run).
    """

    sample_steps: np.ndarray
    cv: np.ndarray
    flags: list[tuple[int, int, float]] = field(default_factory=list)
    stopped: tuple[int, int, float] | None = None
    atoms: list[Atoms] = field(default_factory=list)
    completed_steps: int = 0
    resumed_from_step: int = 0

    def samples(self, equilibration_steps: int = 0) -> list[np.ndarray]:
        """Per replica the CV series from ``equilibration_steps`` on [n_k each]."""
        keep = self.sample_steps >= equilibration_steps
        return [self.cv[keep, b].copy() for b in range(self.cv.shape[1])]

    def flagged_replicas(self) -> dict[int, float]:
        """``{replica: largest flagged max_force_std}`` (eV/Å)."""
        worst: dict[int, float] = {}
        for _, replica, value in self.flags:
            worst[replica] = max(value, worst.get(replica, 0.0))
        return worst


class _CVRecorder:
    """Records ``cv(state)`` [B] every ``interval`` steps; skips a continuation's first
    call (the state the previous chunk recorded last)."""

    def __init__(self, cv: CollectiveVariable, interval: int, skip_first: bool) -> None:
        self.cv, self.interval, self._skip = cv, interval, skip_first
        self.steps: list[int] = []
        self.values: list[np.ndarray] = []

    def __call__(self, state: BatchedState) -> None:
        if self._skip:
            self._skip = False
            return
        with torch.no_grad():
            value = self.cv(state.positions.double(), state.batch)  # [B]
        self.steps.append(state.step)
        self.values.append(value.detach().cpu().double().numpy().copy())


def read_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The arrays of a checkpoint file, or None if there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def read_frames(run_dir: str | os.PathLike, replica: int, from_time_fs: float = 0.0
                ) -> list[Atoms]:
    """The published trajectory frames of one replica (all its chunk parts, in order) at
    ``info["time_fs"] >= from_time_fs``."""
    from ase.io import read

    folder = Path(run_dir) / "windows" / f"window_{replica:02d}"
    frames: list[Atoms] = []
    for part in sorted(folder.glob("part_*.extxyz")):
        for atoms in read(part, index=":"):
            if float(atoms.info.get("time_fs", 0.0)) >= from_time_fs:
                frames.append(atoms)
    return frames


def _check_resume(checkpoint: dict[str, np.ndarray], settings: dict[str, Any],
                  path: Path) -> None:
    for key, value in settings.items():
        stored = checkpoint.get(f"setting_{key}")
        if stored is None or stored.shape != np.shape(value) or not np.array_equal(
                stored, np.asarray(value)):
            raise ConfigError(f"{path}: the checkpoint was written with a different {key} "
                              f"({None if stored is None else stored.tolist()} vs "
                              f"{np.asarray(value).tolist()}); use a new run directory")


def _restore(templates: list[Atoms], checkpoint: dict[str, np.ndarray]) -> list[Atoms]:
    bounds = np.concatenate([[0], np.cumsum([len(a) for a in templates])])
    restored = []
    for b, template in enumerate(templates):
        atoms = template.copy()
        atoms.calc = None
        atoms.set_cell(checkpoint["cells"][b], scale_atoms=False)
        atoms.set_positions(checkpoint["positions"][bounds[b]:bounds[b + 1]],
                            apply_constraint=False)
        atoms.set_momenta(checkpoint["momenta"][bounds[b]:bounds[b + 1]],
                          apply_constraint=False)
        restored.append(atoms)
    return restored


def _write_checkpoint(path: Path, run: ChunkedRun, settings: dict[str, Any]) -> None:
    arrays = {
        "positions": np.concatenate([a.positions for a in run.atoms]),  # [N, 3]
        "momenta": np.concatenate([a.get_momenta() for a in run.atoms]),  # [N, 3]
        "cells": np.stack([a.cell.array for a in run.atoms]),  # [B, 3, 3]
        "step": np.asarray(run.completed_steps), "sample_steps": run.sample_steps,
        "cv": run.cv, "flags": np.asarray(run.flags, dtype=float).reshape(-1, 3),
        **{f"setting_{key}": np.asarray(value) for key, value in settings.items()}}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a file object: np.savez would add ".npz" to a name
            np.savez(handle, **arrays)  # type: ignore[arg-type]

    atomic_write(path, write)


def _partial_paths(folder: Path, n_replicas: int, chunk: int) -> list[Path]:
    return [folder / "windows" / f"window_{b:02d}" / f".part_{chunk:05d}.extxyz.partial"
            for b in range(n_replicas)]


def _publish(partials: list[Path]) -> None:
    for partial in partials:
        if partial.exists():
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, partial.with_name(partial.name[1:].removesuffix(".partial")))


def run_in_chunks(model_or_calculator: ModelOrCalculator, structures: Sequence[Atoms],
                  collective_variable: CollectiveVariable, bias: Bias, md: MDSettings, *,
                  run_dir: str | os.PathLike | None = None,
                  fingerprint: dict[str, Any] | None = None, observers: Sequence[Any] = (),
                  progress: bool = True, dtype: torch.dtype | None = None,
                  device: str | torch.device = "cpu") -> ChunkedRun:
    """Run B biased replicas to ``md.steps``, resuming from ``run_dir``'s checkpoint.

    Args:
        model_or_calculator: an nnpkit Potential (a Committee enables the guard) or ASE
            calculator(s) (one per replica, or shared).
        structures: the replicas' starting structures (not modified).
        collective_variable: ``s(positions [N, 3], batch [N]) -> [B]``, recorded.
        bias: the replicas' bias (umbrellas, walls, metadynamics).
        md: the MD settings; ``chunk_steps`` must be a multiple of ``sample_interval``
            and of ``trajectory_interval``.
        run_dir: trajectories and checkpoint (None: nothing on disk, no resume).
        fingerprint: further settings a resume must match (e.g. window centres).
        observers: further engine observers (called within each chunk).
        progress: a progress bar per chunk.
        dtype, device: the engine's precision and device.

    Raises:
        ConfigError: inconsistent intervals, or a checkpoint of other settings (named).
    """
    templates = [atoms.copy() for atoms in structures]
    chunk = int(md.chunk_steps or md.steps or 1)
    for name, interval in (("sample_interval", md.sample_interval),
                           ("trajectory_interval", md.trajectory_interval)):
        if interval is not None and (interval < 1 or chunk % interval):
            raise ConfigError(f"{name} ({interval}) must be >= 1 and divide chunk_steps "
                              f"({chunk})")
    settings = {"temperature_K": md.temperature_K, "timestep_fs": md.timestep_fs,
                "friction_per_fs": md.friction_per_fs, "sample_interval": md.sample_interval,
                "chunk_steps": chunk, "seed": md.seed,
                "n_atoms": [len(a) for a in templates], **(fingerprint or {})}
    run = ChunkedRun(np.zeros(0, dtype=int), np.zeros((0, len(templates))), atoms=templates)
    folder = None if run_dir is None else Path(run_dir)
    checkpoint_path = None if folder is None else folder / CHECKPOINT_NAME
    stored = None if checkpoint_path is None else read_checkpoint(checkpoint_path)
    if stored is not None:
        assert checkpoint_path is not None
        _check_resume(stored, settings, checkpoint_path)
        run.atoms = _restore(templates, stored)
        run.completed_steps = run.resumed_from_step = int(stored["step"])
        run.sample_steps, run.cv = stored["sample_steps"].astype(int), stored["cv"]
        run.flags = [(int(a), int(b), float(c)) for a, b, c in stored["flags"]]
    while run.completed_steps < md.steps and run.stopped is None:
        begin = run.completed_steps
        n_steps, index = min(chunk, md.steps - begin), begin // chunk
        recorder = _CVRecorder(collective_variable, md.sample_interval, skip_first=begin > 0)
        partials = None
        if folder is not None and md.trajectory_interval is not None:
            partials = _partial_paths(folder, len(templates), index)
            for partial in partials:  # a killed attempt's frames of this chunk
                partial.unlink(missing_ok=True)
        try:
            result = run_batched_md(
                model_or_calculator, run.atoms, ensemble="nvt", temperature_K=md.temperature_K,
                timestep_fs=md.timestep_fs, steps=n_steps, friction_per_fs=md.friction_per_fs,
                velocities="keep" if begin > 0 else "thermal", seed=md.seed, bias=bias,
                log_interval=max(n_steps, 1), trajectory=partials,
                trajectory_interval=md.trajectory_interval, max_force_std=md.max_force_std,
                uncertainty_action=md.uncertainty_action,
                uncertainty_interval=md.uncertainty_interval or md.sample_interval,
                observers=[recorder, *observers],
                progress=progress, dtype=dtype, device=device, start_step=begin,
                append=begin > 0)
        except ReplicaUncertaintyExceeded as stop:
            run.stopped = (int(stop.step), int(stop.replica), float(stop.max_force_std))
            run.flags.append(run.stopped)
            break
        if result.uncertainty is not None:
            run.flags += [(int(a), int(b), float(c)) for a, b, c in result.uncertainty["flags"]]
        if recorder.values:
            run.sample_steps = np.concatenate([run.sample_steps, recorder.steps]).astype(int)
            run.cv = np.concatenate([run.cv, np.stack(recorder.values)])
        run.atoms, run.completed_steps = result.atoms, begin + n_steps
        if folder is not None:
            assert checkpoint_path is not None
            if partials is not None:
                _publish(partials)
            _write_checkpoint(checkpoint_path, run, settings)
    return run
