"""Submonolayer nucleation: saturation island density against D/F (the i* = 1 scaling test).

With irreversible aggregation (critical nucleus i* = 1) rate equations give a saturation
island density ``N ∝ (D/F)^(−χ)``, ``χ = i*/(i* + 2) = 1/3``. Here ``D = Γa²`` with ``Γ`` the
hop rate per direction, set through the diffusion barrier at fixed temperature, and bonds
are made so strong that any lateral contact is final.
"""

from __future__ import annotations

import numpy as np
from ase.units import kB

from nnpkit.apps.growth.config import RatesConfig
from nnpkit.apps.growth.observables import island_density
from nnpkit.apps.growth.simulation import GrowthSimulation

__all__ = ["saturation_island_density", "scaling_exponent"]


def saturation_island_density(d_over_f: float, lattice_size: int, seed: int = 1,
                              max_coverage_ML: float = 0.15, step_ML: float = 0.01,
                              temperature_K: float = 500.0) -> float:
    """Maximum island density (islands of ≥ 2 atoms per site) up to ``max_coverage_ML``.

    Args:
        d_over_f: ``D/F`` with ``D = Γa²`` (hop rate per direction) and ``F = 1`` ML/s.
        lattice_size: ``L`` of the ``L×L`` surface; it must hold many islands
            (``L² · N ≫ 1``).
        seed: kMC seed. step_ML: coverage between island counts.

    Returns:
        Islands per site at the maximum of ``N(θ)``.
    """
    barrier = kB * temperature_K * np.log(1e13 / d_over_f)
    rates = RatesConfig(diffusion_barrier_eV=barrier, bond_energy_eV=5.0)
    sim = GrowthSimulation(lattice_size, temperature_K, 1.0, rates, seed=seed)
    densities = []
    for step in range(1, int(round(max_coverage_ML / step_ML)) + 1):
        sim.run(until_coverage_ML=step_ML * step)
        densities.append(island_density(sim.heights))
    return max(densities)


def scaling_exponent(d_over_f: np.ndarray, densities: np.ndarray) -> float:
    """``χ`` of ``N ∝ (D/F)^(−χ)``: minus the least-squares slope in log–log."""
    return float(-np.polyfit(np.log10(d_over_f), np.log10(densities), 1)[0])
