"""Fewest-switches surface hopping (Tully 1990), vectorised over trajectories (atomic units).

All trajectories move at once as ``[n_traj, ...]`` numpy arrays; there is no Python loop
over trajectories. One step (:func:`fssh_step`), for every trajectory:

1. velocity Verlet on the active adiabatic surface (forces by Hellmann–Feynman);
2. electronic amplitudes propagated exactly in the diabatic basis with the mid-step
   matrix, ``c_d(t+dt) = exp(-i H_d dt) c_d(t)``; the adiabatic amplitudes are
   ``c = U^T c_d`` with eigenvector signs continued from the previous step. This is the
   local-diabatisation scheme (Granucci, Persico, Toniolo, JCP 114, 10608 (2001)): stable
   through narrow avoided crossings and trivial crossings, no NAC integration needed;
3. fewest-switches hopping probabilities from the amplitudes,
   ``P(a→k) = (1 - |c_a(t+dt)|²/|c_a(t)|²) Re[c_k(t+dt) R*_ka c_a*(t)] /
   (|c_a(t)|² - Re[c_a(t+dt) R*_aa c_a*(t)])`` with ``R = U(t+dt)^T exp(-iH dt) U(t)``;
4. on a hop, the momentum is rescaled along the nonadiabatic coupling vector ``d_ak`` to
   conserve energy; a frustrated hop (too little kinetic energy along ``d_ak``) keeps the
   momentum or reflects its component along ``d_ak``;
5. optional energy-based decoherence (Granucci & Persico, JCP 126, 134114 (2007)):
   ``c_k *= exp(-dt/τ_ka)``, ``τ_ka = (1 + C/E_kin)/|E_k - E_a|`` for ``k ≠ a``, and the
   active amplitude renormalised.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from nnpkit.apps.nonadiabatic.adiabatic import AdiabaticStates, adiabatic_states
from nnpkit.apps.nonadiabatic.potentials import DiabaticPotential, masses_of
from nnpkit.errors import ConfigError

__all__ = ["FSSHConfig", "FSSHState", "fssh_init", "fssh_step", "kinetic_energy",
           "total_energy", "electronic_propagator"]


class FSSHConfig(BaseModel):
    """Settings of a surface-hopping run (atomic units)."""

    model_config = ConfigDict(extra="forbid")

    dt_au: float = Field(2.0, gt=0, description="Nuclear (and electronic) time step, au.")
    decoherence: Literal["none", "edc"] = Field(
        "none", description="Decoherence correction: none, or Granucci–Persico energy-based.")
    decoherence_constant_au: float = Field(
        0.1, ge=0, description="The constant C of the energy-based decoherence, Hartree.")
    frustrated: Literal["keep", "reflect"] = Field(
        "keep", description="Frustrated hops keep the momentum or reflect its NAC component.")
    seed: int = Field(0, description="Seed of the hopping random numbers and sampling.")
    progress: bool = Field(True, description="Show a tqdm progress bar.")


@dataclass(frozen=True)
class FSSHState:
    """The state of ``T`` trajectories with ``n`` electronic states and ``d`` coordinates.

    Attributes:
        positions: ``[T, d]`` bohr.
        momenta: ``[T, d]`` electron mass · bohr / au time.
        amplitudes: ``[T, n]`` complex adiabatic amplitudes.
        active: ``[T]`` int, the active adiabatic state.
        matrix: ``[T, n, n]`` diabatic matrix at ``positions``, Hartree.
        adiabatic: :class:`AdiabaticStates` at ``positions`` (``[T, ...]``).
        hops: ``[T]`` int, accepted hops so far.
        frustrated_hops: ``[T]`` int, frustrated hop attempts so far.
        time_au: elapsed time, au.
    """

    positions: np.ndarray
    momenta: np.ndarray
    amplitudes: np.ndarray
    active: np.ndarray
    matrix: np.ndarray
    adiabatic: AdiabaticStates
    hops: np.ndarray
    frustrated_hops: np.ndarray
    time_au: float = 0.0

    def select(self, index: np.ndarray) -> FSSHState:
        """The sub-ensemble of trajectories ``index`` (integer or boolean ``[T]``)."""
        states = self.adiabatic
        return replace(
            self, positions=self.positions[index], momenta=self.momenta[index],
            amplitudes=self.amplitudes[index], active=self.active[index],
            matrix=self.matrix[index], hops=self.hops[index],
            frustrated_hops=self.frustrated_hops[index],
            adiabatic=AdiabaticStates(states.energies[index], states.vectors[index],
                                      states.gradients[index], states.couplings[index]))


def kinetic_energy(momenta: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """``Σ p²/2m`` per trajectory ``[T]``, Hartree, for momenta ``[T, d]``, masses ``[d]``."""
    return np.sum(momenta * momenta / (2.0 * masses), axis=-1)


def total_energy(state: FSSHState, masses: np.ndarray) -> np.ndarray:
    """Kinetic plus active adiabatic energy per trajectory ``[T]``, Hartree."""
    potential = np.take_along_axis(state.adiabatic.energies, state.active[:, None], 1)[:, 0]
    return kinetic_energy(state.momenta, masses) + potential


def fssh_init(potential: DiabaticPotential, positions: np.ndarray, momenta: np.ndarray,
              initial_state: int | np.ndarray = 0) -> FSSHState:
    """Start trajectories on adiabatic state ``initial_state`` with amplitude 1.

    Args:
        potential: the diabatic potential.
        positions: ``[T, d]`` bohr.
        momenta: ``[T, d]`` atomic units.
        initial_state: adiabatic state index, one for all or ``[T]``.
    """
    positions = np.array(positions, dtype=np.float64)  # [T, d] (a copy)
    momenta = np.array(momenta, dtype=np.float64)  # [T, d]
    n_traj = positions.shape[0]
    if positions.shape != (n_traj, potential.n_dim) or momenta.shape != positions.shape:
        raise ConfigError(f"positions and momenta must both be [n_traj, {potential.n_dim}], "
                          f"got {positions.shape} and {momenta.shape}")
    active = np.broadcast_to(np.asarray(initial_state, dtype=np.int64), (n_traj,)).copy()
    if np.any(active < 0) or np.any(active >= potential.n_states):
        raise ConfigError(f"initial_state must be in 0..{potential.n_states - 1}")
    matrix, gradient = potential.evaluate(positions)
    amplitudes = np.zeros((n_traj, potential.n_states), dtype=np.complex128)  # [T, n]
    amplitudes[np.arange(n_traj), active] = 1.0
    zeros = np.zeros(n_traj, dtype=np.int64)  # [T]
    return FSSHState(positions, momenta, amplitudes, active, matrix,
                     adiabatic_states(matrix, gradient), zeros, zeros.copy())


def electronic_propagator(matrix: np.ndarray, dt_au: float) -> np.ndarray:
    """``exp(-i H dt)`` for symmetric ``H`` ``[T, n, n]`` (Hartree): ``[T, n, n]`` complex."""
    energies, vectors = np.linalg.eigh(matrix)  # [T, n], [T, n, n]
    return np.einsum("tik,tk,tjk->tij", vectors, np.exp(-1j * dt_au * energies), vectors)


def _active_column(values: np.ndarray, active: np.ndarray) -> np.ndarray:
    """``values[t, ..., active[t]]`` for ``values`` ``[T, ..., n]``."""
    index = active.reshape((-1,) + (1,) * (values.ndim - 1))
    return np.take_along_axis(values, index, axis=-1)[..., 0]


def _hop_probabilities(old: np.ndarray, new: np.ndarray, propagator: np.ndarray,
                       active: np.ndarray) -> np.ndarray:
    """Fewest-switches probabilities ``[T, n]`` out of ``active`` (zero for the active state)."""
    rows = np.arange(old.shape[0])
    old_active = old[rows, active]  # [T]
    population_old = np.abs(old_active) ** 2
    population_new = np.abs(new[rows, active]) ** 2
    column = propagator[rows, :, active]  # [T, n]  R_ka
    flow = np.real(new * np.conj(column) * np.conj(old_active)[:, None])  # [T, n]
    denominator = population_old - flow[rows, active]
    loss = 1.0 - population_new / np.maximum(population_old, 1e-300)
    safe = np.abs(denominator) > 1e-14
    probabilities = np.where(safe[:, None],
                             loss[:, None] * flow / np.where(safe, denominator, 1.0)[:, None],
                             0.0)
    probabilities[rows, active] = 0.0
    probabilities[loss <= 0.0] = 0.0
    return np.clip(probabilities, 0.0, 1.0)


def _rescale(momenta: np.ndarray, masses: np.ndarray, direction: np.ndarray,
             energy_gain: np.ndarray, frustrated: str) -> tuple[np.ndarray, np.ndarray]:
    """Conserve energy on a hop by changing ``momenta`` ``[H, d]`` along ``direction``.

    Solves ``Σ (p - γ u)²/2m = Σ p²/2m + ΔE`` for the smaller root γ.

    Returns:
        ``(new_momenta [H, d], allowed [H] bool)``; frustrated rows are kept or reflected.
    """
    norm = np.linalg.norm(direction, axis=-1, keepdims=True)  # [H, 1]
    # a vanishing coupling (exact degeneracy or zero coupling) has no direction: use p
    fallback = momenta / np.maximum(np.linalg.norm(momenta, axis=-1, keepdims=True), 1e-300)
    unit = np.where(norm > 1e-12, direction / np.maximum(norm, 1e-300), fallback)  # [H, d]
    a = np.sum(unit * unit / (2.0 * masses), axis=-1)  # [H]
    b = np.sum(momenta * unit / masses, axis=-1)  # [H]
    discriminant = b * b + 4.0 * a * energy_gain
    allowed = discriminant >= 0.0
    root = np.sqrt(np.where(allowed, discriminant, 0.0))
    gamma = np.where(b < 0.0, b + root, b - root) / (2.0 * a)
    if frustrated == "reflect":
        gamma = np.where(allowed, gamma, b / a)
    else:
        gamma = np.where(allowed, gamma, 0.0)
    return momenta - gamma[:, None] * unit, allowed


def fssh_step(potential: DiabaticPotential, state: FSSHState, config: FSSHConfig,
              rng: np.random.Generator, masses: np.ndarray | None = None) -> FSSHState:
    """Advance every trajectory by ``config.dt_au``; returns a new :class:`FSSHState`."""
    dt = config.dt_au
    masses = masses_of(potential) if masses is None else masses
    rows = np.arange(state.positions.shape[0])
    old = state.adiabatic
    # 1. velocity Verlet on the active surface
    half_momenta = state.momenta - 0.5 * dt * _active_column(old.gradients, state.active)
    positions = state.positions + dt * half_momenta / masses  # [T, d]
    matrix, matrix_gradient = potential.evaluate(positions)
    new = adiabatic_states(matrix, matrix_gradient, reference=old.vectors)
    momenta = half_momenta - 0.5 * dt * _active_column(new.gradients, state.active)
    # 2. exact diabatic propagation of the amplitudes with the mid-step matrix
    step = electronic_propagator(0.5 * (state.matrix + matrix), dt)  # [T, n, n]
    propagator = np.einsum("tki,tkl,tlj->tij", new.vectors, step, old.vectors)  # R [T, n, n]
    amplitudes = np.einsum("tij,tj->ti", propagator, state.amplitudes)  # [T, n]
    # 3. fewest switches
    probabilities = _hop_probabilities(state.amplitudes, amplitudes, propagator, state.active)
    cumulative = np.cumsum(probabilities, axis=1)  # [T, n]
    draw = rng.random(len(rows))  # [T]
    attempt = cumulative[:, -1] > draw
    target = np.argmax(cumulative > draw[:, None], axis=1)
    active = state.active.copy()
    hops, frustrated_hops = state.hops.copy(), state.frustrated_hops.copy()
    if np.any(attempt):
        who = np.nonzero(attempt)[0]
        source, goal = active[who], target[who]
        direction = new.couplings[who, :, source, goal]  # [H, d]
        gain = new.energies[who, source] - new.energies[who, goal]
        rescaled, allowed = _rescale(momenta[who], masses, direction, gain, config.frustrated)
        momenta[who] = rescaled
        active[who[allowed]] = goal[allowed]
        hops[who[allowed]] += 1
        frustrated_hops[who[~allowed]] += 1
    # 5. energy-based decoherence
    if config.decoherence == "edc":
        amplitudes = _decohere(amplitudes, new.energies, active,
                               kinetic_energy(momenta, masses), config)
    return FSSHState(positions, momenta, amplitudes, active, matrix, new, hops,
                     frustrated_hops, state.time_au + dt)


def _decohere(amplitudes: np.ndarray, energies: np.ndarray, active: np.ndarray,
              kinetic: np.ndarray, config: FSSHConfig) -> np.ndarray:
    """Granucci–Persico energy-based decoherence of ``amplitudes`` ``[T, n]`` (a new array)."""
    rows = np.arange(amplitudes.shape[0])
    gap = np.abs(energies - energies[rows, active][:, None])  # [T, n]
    factor = 1.0 + config.decoherence_constant_au / np.maximum(kinetic, 1e-300)  # [T]
    damping = np.exp(-config.dt_au * gap / factor[:, None])  # [T, n], 1 on the active state
    damped = amplitudes * damping
    inactive = np.sum(np.abs(damped) ** 2, axis=1) - np.abs(damped[rows, active]) ** 2
    active_amplitude = damped[rows, active]
    active_population = np.abs(active_amplitude) ** 2
    remaining = np.clip(1.0 - inactive, 0.0, None)
    scale = np.sqrt(remaining / np.maximum(active_population, 1e-300))
    damped[rows, active] = np.where(active_population > 1e-300, active_amplitude * scale,
                                    np.sqrt(remaining))
    return damped
