"""Running a surface-hopping ensemble: the time loop, retirement of finished trajectories,
and the population record.

:func:`run_fssh` repeats :func:`~nnpkit.apps.nonadiabatic.fssh.fssh_step` on the whole
ensemble. Trajectories for which ``finished(positions, momenta)`` holds (e.g. a scattered
particle that left the interaction region) are retired every few steps and keep their
final state, so the cost follows the trajectories still in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from nnpkit.apps.nonadiabatic.fssh import (
    FSSHConfig,
    FSSHState,
    fssh_init,
    fssh_step,
    total_energy,
)
from nnpkit.apps.nonadiabatic.potentials import DiabaticPotential, masses_of
from nnpkit.errors import ConfigError

__all__ = ["FSSHResult", "run_fssh"]

#: ``finished(positions [T, d], momenta [T, d]) -> [T] bool``.
StopCondition = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FSSHResult:
    """The outcome of an ensemble run (atomic units).

    Attributes:
        times_au: ``[R]`` record times.
        populations: ``[R, n]`` fraction of trajectories on each adiabatic state (the
            surface-hopping population).
        electronic_populations: ``[R, n]`` ensemble mean of ``|c_k|²``.
        final: the final :class:`FSSHState` of every trajectory, in input order.
        n_steps: steps taken.
        max_energy_drift_au: largest ``|E_total(end) - E_total(start)|`` over trajectories.
        trajectory_steps: sum over trajectories of the steps each one took.
        active_history: ``[R, T]`` active state of every trajectory at each record time
            (a retired trajectory keeps its final state), or None unless requested.
        position_history: ``[R, T, d]`` positions at each record time (bohr), or None.
    """

    times_au: np.ndarray
    populations: np.ndarray
    electronic_populations: np.ndarray
    final: FSSHState
    n_steps: int
    max_energy_drift_au: float
    trajectory_steps: int
    active_history: np.ndarray | None = None
    position_history: np.ndarray | None = None


def _record(state: FSSHState, n_states: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(state.active, minlength=n_states) / len(state.active)  # [n]
    return counts, np.mean(np.abs(state.amplitudes) ** 2, axis=0)  # [n], [n]


def _merge(parts: list[tuple[np.ndarray, FSSHState]], n_traj: int) -> FSSHState:
    """Reassemble sub-ensembles ``(original indices, state)`` into input order."""
    index = np.concatenate([ids for ids, _ in parts])
    order = np.argsort(index)
    states = [state for _, state in parts]

    def cat(get: Callable[[FSSHState], np.ndarray]) -> np.ndarray:
        return np.concatenate([get(s) for s in states])[order]

    from nnpkit.apps.nonadiabatic.adiabatic import AdiabaticStates

    adiabatic = AdiabaticStates(cat(lambda s: s.adiabatic.energies),
                                cat(lambda s: s.adiabatic.vectors),
                                cat(lambda s: s.adiabatic.gradients),
                                cat(lambda s: s.adiabatic.couplings))
    assert len(order) == n_traj
    return FSSHState(cat(lambda s: s.positions), cat(lambda s: s.momenta),
                     cat(lambda s: s.amplitudes), cat(lambda s: s.active),
                     cat(lambda s: s.matrix), adiabatic, cat(lambda s: s.hops),
                     cat(lambda s: s.frustrated_hops), max(s.time_au for s in states))


def run_fssh(potential: DiabaticPotential, positions: np.ndarray, momenta: np.ndarray,
             config: FSSHConfig, max_time_au: float, initial_state: int | np.ndarray = 0,
             finished: StopCondition | None = None, record_every: int = 10,
             retire_every: int = 20, history: bool = False) -> FSSHResult:
    """Propagate an ensemble until ``max_time_au`` or until every trajectory is finished.

    Args:
        potential: diabatic potential (atomic units).
        positions: ``[T, d]`` initial positions, bohr.
        momenta: ``[T, d]`` initial momenta, au.
        config: :class:`FSSHConfig` (time step, decoherence, frustrated hops, seed).
        max_time_au: propagation time limit, au.
        initial_state: starting adiabatic state (one, or ``[T]``).
        finished: optional stop condition; finished trajectories are retired.
        record_every: steps between population records.
        retire_every: steps between checks of ``finished``.
        history: also keep every trajectory's active state and positions at the record
            times (``active_history``, ``position_history``; memory ``R × T × d``).

    Returns:
        :class:`FSSHResult`; retired trajectories count with their final state in the
        later population records.
    """
    if max_time_au <= 0:
        raise ConfigError(f"max_time_au must be positive, got {max_time_au}")
    masses = masses_of(potential)
    rng = np.random.default_rng(config.seed)
    state = fssh_init(potential, positions, momenta, initial_state)
    n_traj, n_states = state.positions.shape[0], potential.n_states
    start_energy = total_energy(state, masses)  # [T]
    ids = np.arange(n_traj)  # original index of each trajectory in flight
    retired: list[tuple[np.ndarray, FSSHState]] = []
    retired_counts = np.zeros(n_states)  # [n] active-state counts of retired trajectories
    retired_electronic = np.zeros(n_states)  # [n] summed |c|² of retired trajectories
    times, populations, electronic = [0.0], [], []
    counts, mean_c2 = _record(state, n_states)
    populations.append(counts)
    electronic.append(mean_c2)
    latest_active, latest_positions = state.active.copy(), state.positions.copy()
    active_history, position_history = [latest_active.copy()], [latest_positions.copy()]
    n_steps = int(np.ceil(max_time_au / config.dt_au))
    trajectory_steps = 0
    step = 0
    with tqdm(total=n_steps, disable=not config.progress, desc="fssh", unit="step") as bar:
        for step in range(1, n_steps + 1):
            state = fssh_step(potential, state, config, rng, masses)
            trajectory_steps += len(ids)
            bar.update(1)
            if finished is not None and step % retire_every == 0:
                done = np.asarray(finished(state.positions, state.momenta), dtype=bool)
                if np.any(done):
                    out = state.select(done)
                    retired.append((ids[done], out))
                    latest_active[ids[done]] = out.active
                    latest_positions[ids[done]] = out.positions
                    retired_counts += np.bincount(out.active, minlength=n_states)
                    retired_electronic += np.sum(np.abs(out.amplitudes) ** 2, axis=0)
                    state, ids = state.select(~done), ids[~done]
            if step % record_every == 0 or len(ids) == 0 or step == n_steps:
                flying_counts = np.bincount(state.active, minlength=n_states)
                flying_c2 = np.sum(np.abs(state.amplitudes) ** 2, axis=0)
                times.append(step * config.dt_au)
                populations.append((flying_counts + retired_counts) / n_traj)
                electronic.append((flying_c2 + retired_electronic) / n_traj)
                if history:  # retired trajectories keep their last values
                    latest_active[ids], latest_positions[ids] = state.active, state.positions
                    active_history.append(latest_active.copy())
                    position_history.append(latest_positions.copy())
            if len(ids) == 0:
                break
    if len(ids):
        retired.append((ids, state))
    final = _merge(retired, n_traj)
    drift = np.abs(total_energy(final, masses) - start_energy)
    return FSSHResult(np.asarray(times), np.asarray(populations), np.asarray(electronic),
                      final, step, float(drift.max()), trajectory_steps,
                      np.asarray(active_history) if history else None,
                      np.asarray(position_history) if history else None)
