"""Harmonic IR intensities and Born charges against analytic results and ASE's Infrared.

The model is fixed point charges ``q_i`` on harmonic springs ``½·k·(r − r0)²``: the dipole
``μ = Σ q_i r_i`` is linear in the positions, so the Born charges are exactly
``Z*_i = q_i·I`` and, for a diatomic ``±q``, the stretch has ``ω = sqrt(k/μ_red)`` and the
intensity ``I = q²(1/m₁ + 1/m₂)`` (e²/amu), converted here with SciPy's CODATA constants
(independently of the ``ase.units`` ones nnpkit uses).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import scipy.constants as si
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.vibrations import Infrared

from nnpkit.apps.response.born import (
    acoustic_sum_rule_violation,
    born_charges,
    enforce_acoustic_sum_rule,
)
from nnpkit.apps.response.ir import (
    KM_PER_MOL_PER_D2_A2_AMU,
    broadened_spectrum,
    harmonic_ir,
    molecule_geometry,
)
from nnpkit.errors import ConfigError

K_eV_PER_A2, R0_A, Q_E = 30.0, 1.1, 0.4  # a CO-like bond with charges ±0.4 e


class FixedChargeSprings(Calculator):
    """Point charges on harmonic springs: energy (eV), forces (eV/Å), dipole Σ q_i r_i
    (e·Å, origin at the coordinate origin)."""

    implemented_properties = ["energy", "forces", "dipole"]

    def __init__(self, charges_e: Sequence[float],
                 springs: Sequence[tuple[int, int, float, float]]) -> None:
        super().__init__()
        self.charges_e = np.asarray(charges_e, dtype=float)  # [N]
        self.springs = list(springs)  # (i, j, k eV/Å², r0 Å)

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        # the results depend on the positions only: a cheap test instead of ASE's
        # compare_atoms keeps the MD tests fast
        if (self.atoms is None or len(atoms) != len(self.atoms)
                or not np.array_equal(atoms.positions, self.atoms.positions)):
            return ["positions"]
        return []

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        positions = self.atoms.positions
        energy, forces = 0.0, np.zeros_like(positions)  # [N, 3]
        for i, j, k, r0 in self.springs:
            vector = positions[j] - positions[i]
            r = float(np.linalg.norm(vector))
            energy += 0.5 * k * (r - r0) ** 2
            force_j = -k * (r - r0) * vector / r
            forces[j] += force_j
            forces[i] -= force_j
        self.results = {"energy": energy, "forces": forces,
                        "dipole": self.charges_e @ positions}


class WithBornCharges(FixedChargeSprings):
    """The same model offering its Born charges, as an nnpkit calculator does; it counts
    dipole calculations to show the finite differences are not used."""

    dipole_calls = 0

    def get_born_charges(self, atoms: Atoms) -> np.ndarray:
        return self.charges_e[:, None, None] * np.eye(3)[None]  # [N, 3, 3]

    def get_dipole_moment(self, atoms: Atoms | None = None) -> np.ndarray:
        self.dipole_calls += 1
        return super().get_dipole_moment(atoms)


def diatomic() -> tuple[Atoms, FixedChargeSprings]:
    """A CO-like diatomic at its minimum, off-axis, with its fixed-charge calculator."""
    direction = np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])
    start = np.array([0.3, -0.2, 0.1])
    atoms = Atoms("CO", positions=[start, start + R0_A * direction])
    return atoms, FixedChargeSprings([Q_E, -Q_E], [(0, 1, K_eV_PER_A2, R0_A)])


def water_like() -> tuple[Atoms, FixedChargeSprings]:
    """A bent H2O-like molecule at the rest lengths of its three springs (a minimum)."""
    angle = math.radians(104.5)
    atoms = Atoms("OH2", positions=[(0.0, 0.0, 0.0), (0.96, 0.0, 0.0),
                                    (0.96 * math.cos(angle), 0.96 * math.sin(angle), 0.0)])
    atoms.rotate(30.0, (1.0, 1.0, 0.3), center=(0.0, 0.0, 0.0))
    atoms.translate((0.4, -0.3, 1.2))
    d = atoms.get_all_distances()
    springs = [(0, 1, 45.0, d[0, 1]), (0, 2, 45.0, d[0, 2]), (1, 2, 5.0, d[1, 2])]
    return atoms, FixedChargeSprings([-0.8, 0.4, 0.4], springs)


def _km_per_mol_si(intensity_e2_per_amu: float) -> float:
    """N_A/(12 ε0 c²)·(∂μ/∂Q)², with ∂μ/∂Q in C/√kg, m/mol → km/mol (SciPy CODATA)."""
    return (si.N_A / (12 * si.epsilon_0 * si.c ** 2) * intensity_e2_per_amu * si.e ** 2
            / si.atomic_mass / 1000.0)


def test_diatomic_intensity_and_frequency_are_analytic() -> None:
    atoms, calc = diatomic()
    m1, m2 = atoms.get_masses()
    result = harmonic_ir(atoms, calc)
    assert result.geometry == "linear" and result.born_method == "finite_difference"
    assert result.frequencies_cm1.shape == (1,)  # translations and rotations dropped
    omega = math.sqrt(K_eV_PER_A2 * si.e * 1e20 / (m1 * m2 / (m1 + m2) * si.atomic_mass))
    # the off-axis bond's force is nonlinear in a Cartesian displacement, O((δ/r)²):
    # measured 1.6e-5 relative with δ = 0.01 Å; 1e-4 catches a wrong mass or unit
    assert result.frequencies_cm1[0] == pytest.approx(omega / (2 * math.pi * si.c * 100),
                                                      rel=1e-4)
    intensity = Q_E ** 2 * (1 / m1 + 1 / m2)  # e²/amu
    debye_cm = 1e-21 / si.c  # 1 D in C·m
    # the dipole is linear, and the stretch vector is fixed by symmetry: 1e-6 catches a
    # missing mass weighting, a wrong unit or a factor of 2
    assert result.intensities_D2_per_A2_amu[0] == pytest.approx(
        intensity * (si.e * 1e-10 / debye_cm) ** 2, rel=1e-6)
    assert result.intensities_km_per_mol[0] == pytest.approx(_km_per_mol_si(intensity),
                                                             rel=1e-6)
    # the derived constant against Porezag's 42.255 that ASE uses
    assert KM_PER_MOL_PER_D2_A2_AMU == pytest.approx(42.255, rel=5e-5)
    assert result.acoustic_sum_rule_max_e == pytest.approx(0.0, abs=1e-8)
    json_ready = result.to_json()
    assert json_ready["intensities_km_per_mol"] == result.intensities_km_per_mol.tolist()


def test_triatomic_agrees_with_ase_infrared(tmp_path: Path) -> None:
    atoms, calc = water_like()
    ours = harmonic_ir(atoms, calc)
    assert ours.geometry == "nonlinear" and len(ours.frequencies_cm1) == 3
    reference = atoms.copy()
    reference.calc = calc
    ir = Infrared(reference, name=str(tmp_path / "ir"), delta=0.01, nfree=2)
    ir.run()
    frequencies = ir.get_frequencies().real  # [9] ascending
    intensities = ir.intensities             # [9] (D/Å)²/amu
    # the same displacements and formula: agreement to rounding; 1e-6 relative
    np.testing.assert_allclose(ours.frequencies_cm1, frequencies[-3:], rtol=1e-6)
    np.testing.assert_allclose(ours.intensities_D2_per_A2_amu, intensities[-3:],
                               rtol=1e-6)
    # km/mol: our CODATA constant differs from ASE's 42.255 by 2.6e-5
    np.testing.assert_allclose(ours.intensities_km_per_mol, 42.255 * intensities[-3:],
                               rtol=5e-5)
    assert np.all(ours.intensities_km_per_mol > 1.0)  # all three modes IR active


def test_finite_difference_born_charges_are_the_fixed_charges() -> None:
    atoms, calc = water_like()
    born = born_charges(atoms, calc)  # [3, 3, 3]
    expected = calc.charges_e[:, None, None] * np.eye(3)[None]
    np.testing.assert_allclose(born, expected, atol=1e-9)  # dipole linear: exact
    np.testing.assert_allclose(acoustic_sum_rule_violation(born), 0.0, atol=1e-9)
    np.testing.assert_allclose(born_charges(atoms, calc, indices=[2, 0]),
                               expected[[2, 0]], atol=1e-9)
    # a cation: Σ Z* = Q·I with Q = +1 (the dipole's origin is fixed)
    cation = FixedChargeSprings([-0.2, 0.6, 0.6], calc.springs)
    charged = atoms.copy()
    charged.info["charge"] = 1
    born_cation = born_charges(charged, cation)
    np.testing.assert_allclose(acoustic_sum_rule_violation(born_cation, 1.0), 0.0,
                               atol=1e-9)
    assert np.abs(acoustic_sum_rule_violation(born_cation, 0.0)).max() == pytest.approx(1.0)
    assert harmonic_ir(charged, cation).acoustic_sum_rule_max_e == pytest.approx(0.0,
                                                                                 abs=1e-8)
    # the rule restored on perturbed charges, and nothing changed where it held
    noisy = born + np.random.default_rng(0).normal(0.0, 0.05, born.shape)
    fixed = enforce_acoustic_sum_rule(noisy)
    np.testing.assert_allclose(fixed.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(enforce_acoustic_sum_rule(born), born, atol=1e-12)


def test_a_calculators_own_born_charges_are_used() -> None:
    atoms, plain = water_like()
    calc = WithBornCharges(plain.charges_e, plain.springs)
    result = harmonic_ir(atoms, calc)
    assert result.born_method == "calculator" and calc.dipole_calls == 0
    reference = harmonic_ir(atoms, plain)
    np.testing.assert_allclose(result.intensities_km_per_mol,
                               reference.intensities_km_per_mol, rtol=1e-8)
    finite = born_charges(atoms, calc, method="finite_difference")
    assert calc.dipole_calls == 18  # 3 atoms × 3 directions × ±
    np.testing.assert_allclose(finite, result.born_charges_e, atol=1e-9)
    # a calculator that says its model has no field coupling: the dipole is used
    calc.responds_to_field = False  # type: ignore[attr-defined]
    assert harmonic_ir(atoms, calc).born_method == "finite_difference"
    assert calc.dipole_calls == 36


def test_bad_input_is_rejected_with_a_clear_message() -> None:
    atoms, calc = diatomic()
    with pytest.raises(ConfigError, match="neither Born charges .* nor the 'dipole'"):
        harmonic_ir(Atoms("Cu2", positions=[(0, 0, 0), (0, 0, 2.5)]), EMT())
    with pytest.raises(ConfigError, match="method must be"):
        born_charges(atoms, calc, method="analytic")
    with pytest.raises(ConfigError, match="delta_A must be > 0"):
        born_charges(atoms, calc, delta_A=0.0)
    with pytest.raises(ConfigError, match="has no get_born_charges"):
        born_charges(atoms, calc, method="calculator")
    with pytest.raises(ConfigError, match="FWHM must be > 0"):
        broadened_spectrum(np.array([1000.0]), np.array([1.0]), np.arange(10.0), 0.0)


def test_broadening_preserves_the_band_area_and_geometry_is_detected() -> None:
    grid = np.arange(0.0, 4000.0, 0.5)  # [G]
    for shape, tail in (("gaussian", 1e-6), ("lorentzian", 0.01)):
        spectrum = broadened_spectrum(np.array([-50.0, 1500.0, 2500.0]),
                                      np.array([9.0, 30.0, 10.0]), grid, 10.0, shape)
        # the imaginary mode is left out; the Lorentzian tails beyond the grid are ~0.3%
        assert np.trapezoid(spectrum, grid) == pytest.approx(40.0, rel=tail)
        assert grid[np.argmax(spectrum)] == 1500.0
        half = grid[spectrum >= 0.5 * spectrum.max()]
        assert half.max() - half.min() == pytest.approx(10.0, abs=1.0)  # the FWHM
    assert molecule_geometry(diatomic()[0]) == "linear"
    assert molecule_geometry(water_like()[0]) == "nonlinear"
    assert molecule_geometry(Atoms("Ar")) == "monatomic"
    assert molecule_geometry(Atoms("Ar", cell=[3, 3, 3], pbc=True)) is None
