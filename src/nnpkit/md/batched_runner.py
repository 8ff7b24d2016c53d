"""``run_batched_md``: B replicas of any sizes through the torch-native engine.

The loop is: one integrator step (one force-field call for the whole batch), a barostat
move every ``barostat_interval`` steps for NPT, and the observers due at that step. With an
nnpkit Potential nothing in a step loops over atoms or replicas in Python; with an ASE
calculator the force field loops over replicas (slow, for comparisons).

Ensembles: ``"nve"`` (velocity Verlet), ``"nvt"`` (Langevin BAOAB), ``"npt"`` (BAOAB plus
stochastic cell rescaling, isotropic or per axis; see :mod:`nnpkit.md.barostat`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.errors import ConfigError
from nnpkit.md.barostat import BarostatMode, barostat_init, cell_rescale_step
from nnpkit.md.batched_result import BatchedMDResult, replica_seeds
from nnpkit.md.batched_state import BatchedState, state_from_atoms, state_to_atoms, thermal_momenta
from nnpkit.md.bias import Bias, BiasedForceField
from nnpkit.md.forces import ASEForceField, ModelForceField
from nnpkit.md.integrators import (
    ForceField,
    langevin_init,
    langevin_step,
    per_replica,
    velocity_verlet_init,
    velocity_verlet_step,
)
from nnpkit.md.noise import CounterNoise, GeneratorNoise, NoiseSource
from nnpkit.md.observers import (
    CommitteeGuard,
    EnergyLogger,
    Observer,
    ProgressBar,
    ReplicaUncertaintyExceeded,
    TrajectoryWriter,
)
from nnpkit.models.potential import Potential

__all__ = ["BatchedMDResult", "run_batched_md"]


def _force_field(model: Potential | Calculator | Sequence[Calculator], state: BatchedState,
                 structures: Sequence[Atoms], skin_A: float, variable_cell: bool,
                 fast_path: bool | None,
                 external_field_V_per_A: Sequence[float] | None) -> ForceField:
    if isinstance(model, Potential):
        return ModelForceField(model, state, skin_A=skin_A, variable_cell=variable_cell,
                               fast_path=fast_path,
                               external_field_V_per_A=external_field_V_per_A)
    if isinstance(model, Calculator) or (
            isinstance(model, Sequence) and all(isinstance(c, Calculator) for c in model)):
        if external_field_V_per_A is not None:
            raise ConfigError("external_field_V_per_A is for nnpkit models; give an ASE "
                              "calculator its field itself (NNPCalculator("
                              "external_field_V_per_A=...))")
        return ASEForceField(model, structures)
    raise ConfigError(f"run_batched_md needs an nnpkit Potential or ASE calculator(s), got "
                      f"{type(model).__name__}")


def _trajectory_paths(trajectory: str | os.PathLike | Sequence[str | os.PathLike],
                      n_replicas: int) -> list[str | os.PathLike]:
    """One path per replica: the list given, or one path (a ``{replica}`` field in it is
    filled with the replica index; without one it serves a single replica only)."""
    if not isinstance(trajectory, str | os.PathLike):
        return list(trajectory)
    text = os.fspath(trajectory)
    if "{replica}" in text:
        return [text.format(replica=b) for b in range(n_replicas)]
    if n_replicas > 1:
        raise ConfigError(f"one trajectory path for {n_replicas} replicas: give one path per "
                          f"replica or a path with a {{replica}} field, e.g. md_{{replica}}.extxyz")
    return [trajectory]


def _default_dtype(model: object) -> torch.dtype:
    """The model's precision (its first floating parameter); float64 otherwise."""
    if isinstance(model, Potential):
        for parameter in model.parameters():
            if parameter.is_floating_point():
                return parameter.dtype
    return torch.float64


def _as_observer(item: Observer | tuple[Callable[[BatchedState], None], int]) -> Any:
    if isinstance(item, tuple):
        function, interval = item

        class _Wrapped:
            def __init__(self) -> None:
                self.interval = int(interval)

            def __call__(self, state: BatchedState) -> None:
                function(state)

        return _Wrapped()
    return item


def run_batched_md(
    model_or_calculator: Potential | Calculator | Sequence[Calculator],
    structures: Sequence[Atoms],
    ensemble: Literal["nve", "nvt", "npt"] = "nvt",
    temperature_K: float | Sequence[float] = 300.0,
    timestep_fs: float = 0.5,
    steps: int = 1000,
    friction_per_fs: float | Sequence[float] = 0.01,
    pressure_GPa: float | Sequence[float] = 0.0,
    barostat: BarostatMode = "isotropic",
    barostat_time_fs: float = 500.0,
    compressibility_per_GPa: float = 0.01,
    barostat_interval: int = 10,
    velocities: Literal["thermal", "keep"] = "thermal",
    seed: int | Sequence[int] = 0,
    noise: Literal["counter", "generator"] = "counter",
    bias: Bias | None = None,
    log_interval: int = 10,
    log_pressure: bool | None = None,
    trajectory: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    trajectory_interval: int | None = None,
    max_force_std: float | None = None,
    uncertainty_action: Literal["stop", "flag"] = "stop",
    uncertainty_interval: int | None = None,
    observers: Sequence[Observer | tuple[Callable[[BatchedState], None], int]] = (),
    progress: bool = True,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
    skin_A: float = 0.5,
    fast_path: bool | None = None,
    start_step: int = 0,
    append: bool = False,
    external_field_V_per_A: Sequence[float] | None = None,
) -> BatchedMDResult:
    """Run MD on copies of ``structures`` (B replicas of any sizes) in one batch.

    Args:
        model_or_calculator: an nnpkit Potential (one batched call per step; a Committee
            enables the uncertainty guard), or an ASE calculator (shared) or one per replica
            (a loop over replicas per step: slow).
        structures: the replicas' starting structures (not modified; no constraints).
        ensemble: ``"nve"``, ``"nvt"`` or ``"npt"``.
        temperature_K: thermostat and initial-velocity temperature, one or per replica, K.
        timestep_fs: time step, fs.
        steps: MD steps.
        friction_per_fs: Langevin friction, one or per replica, 1/fs.
        pressure_GPa: NPT target pressure, one or per replica, GPa.
        barostat: ``"isotropic"`` or ``"anisotropic"`` (cell-vector lengths independently).
        barostat_time_fs: barostat time constant τ, fs.
        compressibility_per_GPa: barostat compressibility β, 1/GPa.
        barostat_interval: steps between barostat moves (each costs one more force call).
        velocities: ``"thermal"`` draws Maxwell–Boltzmann momenta at ``temperature_K``
            (centre of mass, and rotation for molecules, removed); ``"keep"`` uses the
            structures' momenta.
        seed: one seed (replica seeds by :func:`replica_seeds`) or one per replica.
        noise: ``"counter"`` (per-replica reproducible) or ``"generator"`` (one torch
            Generator seeded with the first replica seed; faster, batch-dependent).
        bias: added to the model's energy and forces (see :mod:`nnpkit.md.bias`).
        log_interval: steps between log rows (the first and the last step included).
        log_pressure: log ``pressure_GPa`` (needs the stress at log steps); default: NPT.
        trajectory: one path per replica, a path with a ``{replica}`` field (filled with
            the replica index), a plain path (one replica), or None; ``.traj`` writes an
            ASE trajectory, anything else extxyz.
        trajectory_interval: steps between frames (the first and the last step
            included); default ``log_interval``.
        max_force_std: committee uncertainty threshold, eV/Å (enables the guard).
        uncertainty_action: ``"stop"`` or ``"flag"``.
        uncertainty_interval: steps between guard calls; default ``log_interval``.
        observers: further observers, or ``(function(state), interval)`` pairs.
        progress: show a progress bar.
        dtype: float32 or float64; default: the model's precision (float64 for ASE).
        device: torch device.
        skin_A: Verlet skin of the neighbour lists, Å.
        fast_path: the compiled BPNN path for energies and forces (CPU): None where
            supported, True required, False never (see
            :class:`~nnpkit.md.forces.ModelForceField`).
        start_step: the step count the run starts from (a restart: with
            ``velocities="keep"`` on the last frames, the time axis, the counter noise
            and the barostat's schedule continue, so the continuation follows the
            uninterrupted run).
        append: append to the trajectory files and do not write the starting frames
            again (a restart).
        external_field_V_per_A: a uniform electric field [3] (V/Å) on every replica
            (models with a field coupling, molecules; see
            :class:`~nnpkit.md.forces.ModelForceField`). The logged energies include the
            field's part.

    Returns:
        :class:`BatchedMDResult`.

    Raises:
        ConfigError: bad settings or structures (constraints, NPT without periodicity).
        ReplicaUncertaintyExceeded: the guard stopped the run (``.result`` has the run so far).
    """
    if ensemble not in ("nve", "nvt", "npt"):
        raise ConfigError(f"unknown ensemble {ensemble!r}; choose 'nve', 'nvt' or 'npt'")
    if steps < 0 or log_interval < 1:
        raise ConfigError(f"need steps >= 0 and log_interval >= 1, got {steps}, {log_interval}")
    constrained = [b for b, atoms in enumerate(structures) if atoms.constraints]
    if constrained:
        raise ConfigError(f"the batched engine applies no constraints; replica(s) "
                          f"{constrained} have some (use nnpkit.md.run_md for those)")
    if noise not in ("counter", "generator"):
        raise ConfigError(f"unknown noise {noise!r}; choose 'counter' or 'generator'")
    if dtype is None:
        dtype = _default_dtype(model_or_calculator)
    n_replicas = len(structures)
    seeds = replica_seeds(seed, n_replicas)
    state = state_from_atoms(structures, dtype=dtype, device=device)
    state.step = int(start_step)
    kelvin = per_replica(temperature_K, n_replicas, "temperature_K", state.positions.device, 0.0)
    if velocities == "thermal":
        momenta = thermal_momenta(structures, kelvin.tolist(), seeds)
        state.momenta = torch.as_tensor(np.concatenate(momenta), dtype=dtype, device=device)
    elif velocities != "keep":
        raise ConfigError(f"unknown velocities {velocities!r}; choose 'thermal' or 'keep'")
    force_field = _force_field(model_or_calculator, state, structures, skin_A,
                               ensemble == "npt", fast_path, external_field_V_per_A)
    if bias is not None:
        force_field = BiasedForceField(force_field, bias)
    source: NoiseSource = (CounterNoise(seeds, device) if noise == "counter"
                           else GeneratorNoise(seeds[0], device))

    logger = EnergyLogger(log_interval, timestep_fs,
                          pressure=ensemble == "npt" if log_pressure is None else log_pressure,
                          bias=bias is not None)
    watchers: list[Any] = [logger]
    if trajectory is not None:
        paths = _trajectory_paths(trajectory, n_replicas)
        watchers.append(TrajectoryWriter(paths, structures, trajectory_interval or log_interval,
                                         timestep_fs, append=append))
    guard = None
    if max_force_std is not None:
        guard = CommitteeGuard(force_field, max_force_std, uncertainty_action,
                               uncertainty_interval or log_interval)
        watchers.append(guard)
    watchers += [_as_observer(item) for item in observers]
    watchers.append(ProgressBar(steps, max(1, min(log_interval, steps // 100 or 1)),
                                f"batched MD {ensemble}", disable=not progress))

    # the intervals of the observers that need the stress, worked out once (not per step)
    stress_intervals = sorted({int(w.interval) for w in watchers
                               if getattr(w, "needs_stress", False)})

    def stress_due(step: int) -> bool:  # steps counted from the start of this run
        return any(step % interval == 0 for interval in stress_intervals) or (
            step == steps and logger.needs_stress)

    def is_barostat_step(step: int) -> bool:  # on the absolute step count, so that a
        # restart moves the cell at the steps of the uninterrupted run
        return ensemble == "npt" and (int(start_step) + step) % barostat_interval == 0

    if ensemble == "npt":  # checks the cells before any force call
        cell_moves = barostat_init(state, timestep_fs, pressure_GPa, source, barostat,
                                   barostat_time_fs, compressibility_per_GPa, barostat_interval)
    if ensemble == "nve":
        verlet = velocity_verlet_init(state, force_field, timestep_fs, stress_due(0))
    else:
        langevin = langevin_init(state, force_field, timestep_fs, kelvin, friction_per_fs,
                                 source, stress_due(0))

    settings = {"temperature_K": kelvin.tolist(), "steps": steps, "timestep_fs": timestep_fs,
                "friction_per_fs": friction_per_fs, "pressure_GPa": pressure_GPa,
                "barostat": barostat if ensemble == "npt" else None,
                "barostat_time_fs": barostat_time_fs,
                "compressibility_per_GPa": compressibility_per_GPa,
                "barostat_interval": barostat_interval, "log_interval": log_interval,
                "seeds": seeds, "noise": noise, "dtype": str(dtype).replace("torch.", ""),
                "device": str(device), "engine": "batched"}

    def result() -> BatchedMDResult:
        neighbors = getattr(force_field, "neighbors", None) or getattr(
            getattr(force_field, "force_field", None), "neighbors", None)
        return BatchedMDResult(
            atoms=state_to_atoms(state, structures), log=logger.arrays(), ensemble=ensemble,
            settings=settings,
            uncertainty=None if guard is None else {"history": guard.history,
                                                    "flags": guard.flags},
            neighbor_builds=0 if neighbors is None else neighbors.n_builds)

    scheduled = [(int(watcher.interval), watcher) for watcher in watchers]
    try:
        for watcher in watchers:
            watcher(state)
        for step in range(1, steps + 1):
            barostat_now = is_barostat_step(step)
            stress_now = stress_due(step)
            if ensemble == "nve":
                velocity_verlet_step(state, verlet, force_field, stress_now)
            else:
                langevin_step(state, langevin, force_field, stress_now or barostat_now)
            if barostat_now:
                cell_rescale_step(state, cell_moves, langevin.temperature_K, force_field,
                                  stress_now)
            for interval, watcher in scheduled:
                if step % interval == 0:
                    watcher(state)
        for watcher in watchers:  # the last step is always in the log and the trajectory
            if isinstance(watcher, EnergyLogger | TrajectoryWriter) and steps % watcher.interval:
                watcher(state)
    except ReplicaUncertaintyExceeded as stop:
        stop.result = result()
        raise
    finally:
        for watcher in watchers:
            close = getattr(watcher, "close", None)
            if close is not None:
                close()
    return result()
