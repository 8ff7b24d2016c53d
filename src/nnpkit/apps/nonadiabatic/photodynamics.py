"""Photodynamics of a molecule on a learned diabatic Hamiltonian: Franck–Condon initial
conditions, surface hopping, the excited-state lifetime and the committee's spread.

* :func:`franck_condon_ensemble`: positions and velocities from the harmonic Wigner
  distribution of the ground state (:func:`~nnpkit.labeling.normal_modes.wigner_samples`)
  of the *learned* surface (:class:`AdiabaticStateCalculator`, relaxed first), so the
  initial conditions and the dynamics use one potential;
* :func:`run_photodynamics`: FSSH (:func:`~nnpkit.apps.nonadiabatic.dynamics.run_fssh`,
  energy-based decoherence by default) of every trajectory at once on
  :class:`~nnpkit.apps.nonadiabatic.molecular.MolecularDiabaticPotential`, all started
  on ``initial_state`` (a vertical excitation of the whole ensemble);
* :func:`fit_lifetime`: the delayed exponential ``P(t) = 1`` for ``t < t0``, else
  ``exp(-(t - t0)/τ)``, least squares on the fraction of trajectories on the initial
  state, with standard errors from a bootstrap over trajectories;
* :func:`committee_spread`: the standard deviation of the adiabatic energies over a
  committee of networks at any geometries (the active-learning signal).

Public units are ASE's (Å, eV, fs); atomic units only inside the surface hopping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from ase import Atoms, units
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import curve_fit

from nnpkit.apps.nonadiabatic.atomistic_training import atomistic_adiabatic
from nnpkit.apps.nonadiabatic.dynamics import run_fssh
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.molecular import AtomisticDiabaticNetwork, MolecularDiabaticPotential
from nnpkit.apps.nonadiabatic.state_calculator import AdiabaticStateCalculator
from nnpkit.errors import ConfigError
from nnpkit.labeling.normal_modes import HarmonicModes, harmonic_modes, wigner_samples
from nnpkit.units import BOHR_TO_A, HARTREE_TO_EV

__all__ = ["PhotodynamicsConfig", "PhotodynamicsResult", "franck_condon_ensemble",
           "run_photodynamics", "fit_lifetime", "committee_spread", "AU_TIME_FS"]

#: One atomic unit of time, fs.
AU_TIME_FS = units._aut * 1e15


class PhotodynamicsConfig(BaseModel):
    """Settings of a photodynamics run (fs, K)."""

    model_config = ConfigDict(extra="forbid")

    n_trajectories: int = Field(200, ge=1, description="Trajectories.")
    initial_state: int = Field(1, ge=0, description="Adiabatic state excited at t = 0.")
    time_fs: float = Field(200.0, gt=0, description="Propagation time, fs.")
    dt_fs: float = Field(0.25, gt=0, description="Time step, fs.")
    decoherence: Literal["none", "edc"] = Field("edc", description="Decoherence correction.")
    temperature_K: float = Field(0.0, ge=0, description="Wigner temperature (0: ground state).")
    record_every: int = Field(4, ge=1, description="Steps between population records.")
    seed: int = Field(0, description="Seed of the initial conditions and the hops.")
    progress: bool = Field(False, description="Show a tqdm progress bar.")


@dataclass(frozen=True)
class PhotodynamicsResult:
    """Outcome of :func:`run_photodynamics`.

    Attributes:
        times_fs: ``[R]`` record times.
        populations: ``[R, n]`` fraction of trajectories on each adiabatic state.
        active_history: ``[R, T]`` each trajectory's active state.
        positions_A: ``[R, T, N, 3]`` geometries along the trajectories, Å.
        lifetime: :func:`fit_lifetime` of the initial state.
        max_energy_drift_eV: largest total-energy change of a trajectory.
        hops_per_trajectory: mean number of accepted hops.
    """

    times_fs: np.ndarray
    populations: np.ndarray
    active_history: np.ndarray
    positions_A: np.ndarray
    lifetime: dict
    max_energy_drift_eV: float
    hops_per_trajectory: float

    def as_dict(self) -> dict:
        """JSON-ready summary (populations as lists)."""
        return {"times_fs": self.times_fs.tolist(), "populations": self.populations.tolist(),
                "lifetime": self.lifetime, "max_energy_drift_eV": self.max_energy_drift_eV,
                "hops_per_trajectory": self.hops_per_trajectory,
                "n_trajectories": int(self.active_history.shape[1])}


def franck_condon_ensemble(network: AtomisticDiabaticNetwork, atoms: Atoms,
                           n_trajectories: int, seed: int = 0, temperature_K: float = 0.0,
                           modes: HarmonicModes | None = None
                           ) -> tuple[np.ndarray, np.ndarray, HarmonicModes]:
    """Wigner positions ``[T, N, 3]`` (Å) and velocities ``[T, N, 3]`` (Å/fs) of the
    learned ground state, and its modes (relaxed from ``atoms`` unless ``modes`` given)."""
    modes = modes or harmonic_modes(atoms, AdiabaticStateCalculator(network, 0))
    positions, velocities = wigner_samples(modes, n_trajectories, seed, temperature_K)
    return positions, velocities, modes


def run_photodynamics(network: AtomisticDiabaticNetwork, atoms: Atoms,
                      config: PhotodynamicsConfig, positions_A: np.ndarray | None = None,
                      velocities_A_fs: np.ndarray | None = None) -> PhotodynamicsResult:
    """Surface hopping of a molecule from the Franck–Condon region (module docstring).

    Args:
        network: the learned diabatic Hamiltonian.
        atoms: the molecule (elements, masses; the start of the relaxation).
        config: run settings.
        positions_A, velocities_A_fs: initial conditions ``[T, N, 3]`` (default:
            :func:`franck_condon_ensemble` with ``config``'s size, seed and temperature).
    """
    if config.initial_state >= network.n_states:
        raise ConfigError(f"initial_state {config.initial_state} is not one of the "
                          f"network's {network.n_states} states")
    if positions_A is None or velocities_A_fs is None:
        positions_A, velocities_A_fs, _ = franck_condon_ensemble(
            network, atoms, config.n_trajectories, config.seed, config.temperature_K)
    potential = MolecularDiabaticPotential(network, atoms)
    n_traj = positions_A.shape[0]
    masses = potential.masses_au()  # [3N]
    q = positions_A.reshape(n_traj, -1) / BOHR_TO_A  # [T, 3N] bohr
    p = masses * velocities_A_fs.reshape(n_traj, -1) * AU_TIME_FS / BOHR_TO_A  # [T, 3N] au
    fssh = FSSHConfig(dt_au=config.dt_fs / AU_TIME_FS, decoherence=config.decoherence,
                      seed=config.seed, progress=config.progress)
    result = run_fssh(potential, q, p, fssh, config.time_fs / AU_TIME_FS, config.initial_state,
                      record_every=config.record_every, history=True)
    assert result.active_history is not None and result.position_history is not None
    times_fs = result.times_au * AU_TIME_FS
    lifetime = fit_lifetime(times_fs, result.active_history, config.initial_state,
                            seed=config.seed)
    return PhotodynamicsResult(times_fs, result.populations, result.active_history,
                               result.position_history.reshape(len(times_fs), n_traj, -1, 3)
                               * BOHR_TO_A, lifetime,
                               result.max_energy_drift_au * HARTREE_TO_EV,
                               float(np.mean(result.final.hops)))


def _delayed_exponential(t: np.ndarray, t0: float, tau: float) -> np.ndarray:
    return np.where(t < t0, 1.0, np.exp(-(t - t0) / tau))


def _fit(times: np.ndarray, fraction: np.ndarray) -> tuple[float, float]:
    below = np.nonzero(fraction < np.exp(-0.5))[0]
    tau_guess = float(times[below[0]]) if len(below) else float(times[-1]) * 3.0
    (t0, tau), _ = curve_fit(_delayed_exponential, times, fraction,
                             p0=(0.1 * tau_guess, max(tau_guess, 1e-3)),
                             bounds=([0.0, 1e-3], [float(times[-1]), 1e6]))
    return float(t0), float(tau)


def fit_lifetime(times_fs: np.ndarray, active: np.ndarray, state: int,
                 n_bootstrap: int = 200, seed: int = 0) -> dict:
    """Delayed-exponential lifetime of ``state`` with bootstrap standard errors.

    Args:
        times_fs: ``[R]`` record times, fs.
        active: ``[R, T]`` active state of each trajectory at each time.
        state: the decaying state.
        n_bootstrap: resamples of the trajectories.

    Returns:
        ``{"tau_fs", "tau_stderr_fs", "t0_fs", "t0_stderr_fs", "final_population",
        "n_trajectories"}``.
    """
    on_state = np.asarray(active) == state  # [R, T]
    t0, tau = _fit(times_fs, on_state.mean(axis=1))
    rng = np.random.default_rng(seed)
    n_traj = on_state.shape[1]
    samples = np.array([_fit(times_fs, on_state[:, rng.integers(0, n_traj, n_traj)].mean(1))
                        for _ in range(n_bootstrap)])  # [n_bootstrap, 2]
    return {"tau_fs": tau, "tau_stderr_fs": float(samples[:, 1].std(ddof=1)),
            "t0_fs": t0, "t0_stderr_fs": float(samples[:, 0].std(ddof=1)),
            "final_population": float(on_state[-1].mean()), "n_trajectories": int(n_traj)}


def committee_spread(networks: Sequence[AtomisticDiabaticNetwork], atoms: Atoms,
                     positions_A: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Standard deviation over ``networks`` of the adiabatic energies, ``[K, n]`` eV,
    at geometries ``positions_A [K, N, 3]`` of the molecule ``atoms``."""
    if len(networks) < 2:
        raise ConfigError(f"a committee needs at least 2 networks, got {len(networks)}")
    structures = []
    for geometry in positions_A:
        copy = atoms.copy()
        copy.positions = geometry
        structures.append(copy)
    energies = []
    for network in networks:
        parts = [atomistic_adiabatic(network, structures[i:i + chunk])[0]
                 for i in range(0, len(structures), chunk)]
        energies.append(np.concatenate(parts))  # [K, n]
    return np.std(np.stack(energies), axis=0, ddof=1)
