"""Decay through a conical intersection: the 2D LVC model (or a network trained on it).

The ensemble is the Wigner distribution of the harmonic ground vibrational state at the
origin (frequency ``sqrt(k/M)`` of the LVC force constant), vertically excited to the
upper adiabatic state, as after absorption of a photon; :func:`conical_dynamics` follows
its population decay through the intersection with FSSH.
"""

from __future__ import annotations

import numpy as np

from nnpkit.apps.nonadiabatic.dynamics import FSSHResult, run_fssh
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.potentials import DiabaticPotential, masses_of

__all__ = ["harmonic_wigner_ensemble", "conical_dynamics"]


def harmonic_wigner_ensemble(n_trajectories: int, frequency_au: float, masses: np.ndarray,
                             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positions and momenta ``[N, d]`` from the ground-state Wigner function at q = 0.

    ``σ_q = 1/sqrt(2 M ω)``, ``σ_p = sqrt(M ω / 2)`` per coordinate (atomic units).
    """
    sigma_q = 1.0 / np.sqrt(2.0 * masses * frequency_au)  # [d]
    sigma_p = np.sqrt(masses * frequency_au / 2.0)  # [d]
    shape = (n_trajectories, len(masses))
    return rng.normal(0.0, sigma_q, shape), rng.normal(0.0, sigma_p, shape)


def conical_dynamics(potential: DiabaticPotential, n_trajectories: int,
                     time_au: float = 2000.0, config: FSSHConfig | None = None,
                     frequency_au: float = 0.005) -> FSSHResult:
    """FSSH from the upper adiabatic state of a 2-state potential, Wigner-sampled at 0.

    Args:
        potential: e.g. ``model_by_name("lvc2d")`` or a network trained on it.
        n_trajectories: ensemble size.
        time_au: propagation time, au.
        config: FSSH settings (time step, decoherence, seed).
        frequency_au: harmonic frequency of the initial vibrational state, Hartree.
    """
    config = config or FSSHConfig(dt_au=1.0)
    masses = masses_of(potential)
    rng = np.random.default_rng(config.seed + 7919)
    positions, momenta = harmonic_wigner_ensemble(n_trajectories, frequency_au, masses, rng)
    return run_fssh(potential, positions, momenta, config, time_au,
                    initial_state=potential.n_states - 1)
