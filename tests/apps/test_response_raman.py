"""Raman activities against the analytic result of a diatomic whose polarizability is
linear in the bond length, and the depolarisation-ratio limits."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.data import atomic_masses

from apps.test_response_ir import FixedChargeSprings, diatomic
from nnpkit.apps.response.ir import harmonic_ir
from nnpkit.apps.response.raman import raman_activities
from nnpkit.errors import ConfigError
from nnpkit.units import E_A2_PER_V_TO_A3

A0, A1, B0, B1 = 1.2, 0.9, 0.3, 1.7  # Å³ and Å³/Å: α(r) = a(r) I + b(r)(r̂r̂ᵀ − I/3)


class PolarizableSprings(FixedChargeSprings):
    """The fixed-charge springs plus a bond polarizability linear in the bond length
    (given in e·Å²/V, as the nnpkit calculator gives it)."""

    isotropic_slope = A1
    anisotropic_slope = B1

    def get_polarizability(self, atoms: Atoms) -> np.ndarray:
        vector = atoms.positions[1] - atoms.positions[0]
        r = float(np.linalg.norm(vector))
        unit = vector / r
        stretch = r - self.springs[0][3]
        a = A0 + self.isotropic_slope * stretch
        b = B0 + self.anisotropic_slope * stretch
        return (a * np.eye(3) + b * (np.outer(unit, unit) - np.eye(3) / 3)) / E_A2_PER_V_TO_A3


def _polarizable_diatomic(isotropic: float = A1, anisotropic: float = B1
                          ) -> tuple[Atoms, PolarizableSprings]:
    atoms, plain = diatomic()
    calculator = PolarizableSprings(plain.charges_e, plain.springs)
    calculator.isotropic_slope, calculator.anisotropic_slope = isotropic, anisotropic
    return atoms, calculator


def test_diatomic_activity_is_45_a_squared_plus_7_gamma_squared_over_the_reduced_mass() -> None:
    """Along the stretch Q = √μ (r − r0): a' = a1/√μ and γ' = b1/√μ, so
    S = (45 a1² + 7 b1²)/μ (Å⁴/amu); ρ = 3 b1² / (45 a1² + 4 b1²)."""
    atoms, calculator = _polarizable_diatomic()
    ir = harmonic_ir(atoms, calculator)
    raman = raman_activities(atoms, calculator, ir)
    masses = atomic_masses[atoms.numbers]
    reduced = masses[0] * masses[1] / masses.sum()
    assert raman.activities_A4_per_amu.shape == (1,)
    assert raman.activities_A4_per_amu[0] == pytest.approx((45 * A1**2 + 7 * B1**2) / reduced,
                                                           rel=1e-6)
    assert raman.depolarization_ratios[0] == pytest.approx(
        3 * B1**2 / (45 * A1**2 + 4 * B1**2), rel=1e-6)


def test_depolarization_ratio_limits() -> None:
    """A purely isotropic derivative is fully polarised (ρ = 0); a purely anisotropic one
    gives the upper limit ρ = 3/4."""
    for isotropic, anisotropic, expected in ((A1, 0.0, 0.0), (0.0, B1, 0.75)):
        atoms, calculator = _polarizable_diatomic(isotropic, anisotropic)
        raman = raman_activities(atoms, calculator, harmonic_ir(atoms, calculator))
        assert raman.depolarization_ratios[0] == pytest.approx(expected, abs=1e-8)


def test_calculator_without_polarizability_is_refused() -> None:
    atoms, plain = diatomic()
    with pytest.raises(ConfigError, match="no get_polarizability"):
        raman_activities(atoms, plain, harmonic_ir(atoms, plain))
