"""Physical constants of the rate formulas: the exact SI values of the 2019 SI (CODATA).

Only these literals enter the rate constants (ASE's ``ase.units`` uses an older CODATA
set by default), so ``kB·T/h`` is exact to the last digit.
"""

from __future__ import annotations

import math

__all__ = [
    "BOLTZMANN_J_PER_K", "PLANCK_J_S", "ELEMENTARY_CHARGE_C", "AVOGADRO_PER_MOL", "AMU_KG",
    "BOLTZMANN_EV_PER_K", "PLANCK_EV_S", "KB_OVER_H_PER_K_S", "BAR_PA", "STANDARD_PRESSURE_BAR",
    "kT_eV", "kB_T_over_h_per_s", "eV_to_Hz",
]

#: Boltzmann constant, J/K (exact).
BOLTZMANN_J_PER_K: float = 1.380649e-23
#: Planck constant, J·s (exact).
PLANCK_J_S: float = 6.62607015e-34
#: Elementary charge, C (exact): J per eV.
ELEMENTARY_CHARGE_C: float = 1.602176634e-19
#: Avogadro constant, 1/mol (exact).
AVOGADRO_PER_MOL: float = 6.02214076e23
#: Atomic mass constant, kg (CODATA 2018).
AMU_KG: float = 1.66053906660e-27
#: Boltzmann constant, eV/K.
BOLTZMANN_EV_PER_K: float = BOLTZMANN_J_PER_K / ELEMENTARY_CHARGE_C
#: Planck constant, eV·s.
PLANCK_EV_S: float = PLANCK_J_S / ELEMENTARY_CHARGE_C
#: kB/h, 1/(K·s).
KB_OVER_H_PER_K_S: float = BOLTZMANN_J_PER_K / PLANCK_J_S
#: Pa per bar.
BAR_PA: float = 1.0e5
#: The standard pressure of gas free energies and of activities a = P/P°, bar.
STANDARD_PRESSURE_BAR: float = 1.0


def kT_eV(temperature_K: float) -> float:
    """Thermal energy kB·T, eV."""
    if not (temperature_K > 0 and math.isfinite(temperature_K)):
        raise ValueError(f"temperature_K must be positive and finite, got {temperature_K}")
    return BOLTZMANN_EV_PER_K * temperature_K


def kB_T_over_h_per_s(temperature_K: float) -> float:
    """The Eyring prefactor kB·T/h, 1/s."""
    kT_eV(temperature_K)  # validates
    return KB_OVER_H_PER_K_S * temperature_K


def eV_to_Hz(energy_eV: float) -> float:
    """Frequency ν = E/h (Hz) of a quantum hν = E (eV)."""
    return energy_eV / PLANCK_EV_S
