"""Hop barriers and rates: the fixed bond-counting table and tables from a barrier model.

A rate is ``ν0·exp(−Ea/kT)`` per hop direction (1/s); tables are ``[N_CODES]`` over hop
codes (:mod:`nnpkit.apps.growth.lattice`).
"""

from __future__ import annotations

import numpy as np
from ase.units import kB

from nnpkit.apps.growth.config import RatesConfig
from nnpkit.apps.growth.lattice import N_CODES, bond_counting_barriers, decode_codes
from nnpkit.errors import ConfigError

__all__ = ["arrhenius", "bond_counting_rates", "barrier_table", "MIN_BARRIER_eV"]

#: Model barriers are clipped below at this value (eV): a fit must not create hops faster
#: than the attempt frequency.
MIN_BARRIER_eV = 0.0


def arrhenius(barriers_eV: np.ndarray | float, temperature_K: float,
              prefactor_Hz: float) -> np.ndarray:
    """Rates ``ν0·exp(−Ea/kT)``, 1/s, same shape as ``barriers_eV``."""
    if temperature_K <= 0:
        raise ConfigError(f"temperature_K must be positive, got {temperature_K}")
    return prefactor_Hz * np.exp(-np.asarray(barriers_eV, dtype=np.float64) / (kB * temperature_K))


def bond_counting_rates(rates: RatesConfig, temperature_K: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-direction rates ``([5], [5])`` of in-layer and interlayer hops of an atom with
    ``n = 0..4`` lateral neighbours: ``ν0·exp(−(E_d + n·E_b [+ E_ES])/kT)``."""
    n = np.arange(5, dtype=np.float64)  # [5]
    barrier = rates.diffusion_barrier_eV + n * rates.bond_energy_eV
    return (arrhenius(barrier, temperature_K, rates.prefactor_Hz),
            arrhenius(barrier + rates.step_edge_barrier_eV, temperature_K, rates.prefactor_Hz))


def barrier_table(rates: RatesConfig) -> np.ndarray:
    """Barriers of every hop code, ``[N_CODES]`` eV, for ``rates.kind``.

    ``bond_counting``: :func:`lattice.bond_counting_barriers`. ``model``: the barrier
    network evaluated on every code at ``rates.strain_percent`` (clipped at
    :data:`MIN_BARRIER_eV`), plus ``step_edge_barrier_eV`` on interlayer hops.
    """
    if rates.kind == "bond_counting":
        return bond_counting_barriers(rates.diffusion_barrier_eV, rates.bond_energy_eV,
                                      rates.step_edge_barrier_eV)
    from nnpkit.apps.growth.barrier_model import BarrierModel

    model = BarrierModel.load(str(rates.model))
    descriptors = decode_codes(np.arange(N_CODES))  # [N_CODES, 6]
    barriers = np.maximum(model.predict(descriptors, rates.strain_percent), MIN_BARRIER_eV)
    return barriers + rates.step_edge_barrier_eV * (descriptors[:, 5] != 0)
