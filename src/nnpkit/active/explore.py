"""Exploration and selection: committee-driven MD frames, and which of them to label.

:func:`explore` runs Langevin MD with a committee calculator at each exploration
temperature and records a frame every ``interval_steps`` with its ``max_force_std``
(eV/Å, in ``info``). A run stops early (through :class:`~nnpkit.md.UncertaintyGuard`) once
the committee's uncertainty passes ``selection.max_force_std``: past that point the model
is lost and the frames are unphysical. :func:`select_frames` then picks the frames to label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from nnpkit.active.config import ExplorationSettings, SelectionSettings
from nnpkit.calculators.committee import CommitteeCalculator
from nnpkit.labeling.selection import farthest_point_selection, structure_descriptors
from nnpkit.md.runner import copy_without_md_constraints, make_dynamics
from nnpkit.md.uncertainty import UncertaintyExceeded, UncertaintyGuard

__all__ = ["explore", "select_frames"]


def explore(calculator: CommitteeCalculator, starts: Sequence[Atoms],
            settings: ExplorationSettings, stop_force_std: float, seed: int = 0,
            progress: bool = True) -> list[Atoms]:
    """Committee MD from ``starts`` at every temperature; the recorded frames.

    Run k at temperature T starts from ``starts[k % len(starts)]`` with seed ``seed + k``.

    Returns:
        Frames (no calculator) with ``info["max_force_std"]`` (eV/Å), ``info["temperature_K"]``
        and ``info["md_step"]``.
    """
    frames: list[Atoms] = []
    runs = [(temperature, k) for temperature in settings.temperatures_K
            for k in range(settings.trajectories_per_temperature)]
    for run, (temperature, _) in enumerate(tqdm(runs, desc="exploring", unit="run",
                                                 disable=not progress)):
        start = starts[run % len(starts)]
        work = start.copy()
        work.calc = calculator
        dyn = make_dynamics(work, "nvt", temperature_K=temperature,
                            timestep_fs=settings.timestep_fs,
                            friction_per_fs=settings.friction_per_fs,
                            rng=np.random.default_rng(seed + run))
        calls = [0]

        def record(work: Atoms = work, start: Atoms = start, temperature: float = temperature,
                   calls: list[int] = calls) -> None:
            frame = copy_without_md_constraints(work, start)
            frame.info.update(max_force_std=float(calculator.results["max_force_std"]),
                              temperature_K=float(temperature),
                              md_step=calls[0] * settings.interval_steps)
            calls[0] += 1
            frames.append(frame)

        guard = UncertaintyGuard(calculator, None, stop_force_std, "stop",
                                 settings.interval_steps)
        dyn.attach(record, interval=settings.interval_steps)
        dyn.attach(guard, interval=settings.interval_steps)
        try:
            dyn.run(settings.steps)
        except UncertaintyExceeded:
            pass
    return frames


def select_frames(frames: Sequence[Atoms], settings: SelectionSettings, n_select: int,
                  training: Sequence[Atoms] = (), seed: int = 0, cutoff_A: float = 5.0
                  ) -> list[int]:
    """Indices of the frames to label.

    ``uncertainty``: the frames with ``min_force_std <= max_force_std(frame) <=
    max_force_std``; if more than ``n_select``, the ``pool_factor * n_select`` most
    uncertain of them are thinned by farthest-point selection on
    :func:`structure_descriptors` (away from ``training`` too) or, without ``diversity``,
    the ``n_select`` most uncertain are taken. ``random``: ``n_select`` frames drawn
    uniformly among those below ``max_force_std`` (the baseline).

    Returns:
        Indices into ``frames`` (empty when nothing is uncertain).
    """
    std = np.array([frame.info["max_force_std"] for frame in frames])  # [n_frames]
    usable = np.flatnonzero(np.isfinite(std) & (std <= settings.max_force_std))
    if settings.strategy == "random":
        rng = np.random.default_rng(seed)
        return sorted(rng.choice(usable, size=min(n_select, len(usable)),
                                 replace=False).tolist())
    candidates = usable[std[usable] >= settings.min_force_std]
    if len(candidates) <= n_select:
        return candidates.tolist()
    most_uncertain = candidates[np.argsort(-std[candidates], kind="stable")]
    if not settings.diversity:
        return most_uncertain[:n_select].tolist()
    candidates = most_uncertain[:settings.pool_factor * n_select]
    pool = [frames[int(i)] for i in candidates]
    elements = sorted({int(z) for atoms in [*pool, *training] for z in atoms.numbers})
    descriptors = structure_descriptors(pool, cutoff_A, elements)
    reference = (structure_descriptors(list(training), cutoff_A, elements)
                 if len(training) else None)
    picks = farthest_point_selection(descriptors, n_select, reference, std[candidates])
    return [int(candidates[k]) for k in picks]
