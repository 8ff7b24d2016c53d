"""Elastic constants of ``nnpkit.apps.crystals``: clamped- and relaxed-ion against finite
differences written here, moduli, Born stability, the point-group check, bad input."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import CalculationFailed
from ase.calculators.emt import EMT
from ase.optimize import BFGS
from scipy.optimize import minimize_scalar

from nnpkit.apps.crystals import (
    born_stability,
    clamped_ion_elastic_autograd,
    crystal_symmetry,
    elastic_moduli,
    elastic_tensor,
    relax,
    stiffness_symmetry_check,
)
from nnpkit.calculators import NNPCalculator
from nnpkit.errors import ConfigError, DataError

GPA = 160.21766208  # eV/Å³ in GPa, written out here rather than imported from the module


def _emt_copper() -> Atoms:
    """fcc Cu at EMT's own lattice constant, found here by a 1-D minimisation of E(a)."""
    def energy(a: float) -> float:
        atoms = bulk("Cu", "fcc", a=a)
        atoms.calc = EMT()
        return atoms.get_potential_energy()
    a0 = minimize_scalar(energy, bounds=(3.4, 3.8), method="bounded",
                         options={"xatol": 1e-7}).x
    return bulk("Cu", "fcc", a=a0)


def _finite_difference_stiffness(atoms: Atoms, relax_ions: bool, step: float = 1e-3
                                 ) -> np.ndarray:
    """C_IJ = dσ_I/de_J by central differences, the deformation built here from scratch
    (x' = (1 + ε) x with ε_ij from engineering strains), ions relaxed by BFGS if asked."""
    pairs = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    stiffness = np.zeros((6, 6))
    for column, (i, j) in enumerate(pairs):
        stresses = []
        for sign in (1.0, -1.0):
            epsilon = np.zeros((3, 3))
            value = sign * step if i == j else sign * step / 2
            epsilon[i, j] = epsilon[j, i] = value
            deformed = atoms.copy()
            deformed.cell = atoms.cell.array @ (np.eye(3) + epsilon).T
            deformed.positions = atoms.positions @ (np.eye(3) + epsilon).T
            deformed.calc = EMT()
            if relax_ions:
                BFGS(deformed, logfile=None).run(fmax=1e-6, steps=2000)
            stresses.append(deformed.get_stress(voigt=True))
        stiffness[:, column] = (stresses[0] - stresses[1]) / (2 * step) * GPA
    return stiffness


def test_emt_copper_matches_independent_finite_differences() -> None:
    atoms = _emt_copper()
    module = elastic_tensor(atoms, EMT()).stiffness_GPa
    reference = _finite_difference_stiffness(atoms, relax_ions=False)
    # the 0.5 %: on C11, C12, C44 each, and every other entry (zero in a cubic
    # crystal) below 0.5 % of C11
    for (row, column), name in (((0, 0), "C11"), ((0, 1), "C12"), ((3, 3), "C44")):
        assert module[row, column] == pytest.approx(reference[row, column], rel=5e-3), name
    np.testing.assert_allclose(module, reference, atol=5e-3 * reference[0, 0], rtol=0)
    assert reference[0, 0] > reference[0, 1] > 0  # the reference is a real stiffness


def _hcp_copper() -> Atoms:
    return relax(bulk("Cu", "hcp", a=2.55, c=2.55 * 1.633), EMT(), cell="full",
                 keep_symmetry=True, fmax_eV_per_A=1e-6)


def test_hcp_relaxed_ion_differs_from_clamped_and_matches_relaxed_finite_differences() -> None:
    atoms = _hcp_copper()
    result = elastic_tensor(atoms, EMT(), relax_reference=False, fmax_eV_per_A=1e-6)
    relaxed, clamped = result.relaxed_ion_GPa, result.clamped_ion_GPa
    assert relaxed is not None
    # internal relaxation of the two-atom basis softens C11 and C66 of hcp by ~7 % / 25 %
    # with EMT: the clamped tensor is a different answer, well beyond the 1 % below
    assert abs(relaxed[0, 0] - clamped[0, 0]) > 0.05 * clamped[0, 0]
    assert abs(relaxed[5, 5] - clamped[5, 5]) > 0.1 * clamped[5, 5]
    reference_relaxed = _finite_difference_stiffness(atoms, relax_ions=True)
    reference_clamped = _finite_difference_stiffness(atoms, relax_ions=False)
    # 1 % of the largest constant: the residual force of the relaxations (1e-6 eV/Å) and
    # the different strains (0.1 % here, 0.25-1 % fitted in the module) both stay below it
    scale = float(np.abs(reference_relaxed).max())
    np.testing.assert_allclose(relaxed, reference_relaxed, atol=1e-2 * scale, rtol=0)
    np.testing.assert_allclose(clamped, reference_clamped, atol=1e-2 * scale, rtol=0)


def test_autograd_second_derivatives_equal_stress_strain(
        make_calculator: Callable[..., NNPCalculator]) -> None:
    calculator = make_calculator(["Cu"])  # float64
    atoms = relax(bulk("Cu", "fcc", a=3.61), calculator, cell="full", keep_symmetry=True,
                  fmax_eV_per_A=1e-7)
    exact = clamped_ion_elastic_autograd(atoms, calculator)
    fitted = elastic_tensor(atoms, calculator, magnitudes=(1e-4, 2e-4), relaxed_ion=False,
                            relax_reference=False).clamped_ion_GPa
    # at zero stress the energy Hessian is the stress-strain slope; float64 and strains of
    # 1e-4 leave differences of O(1e-6) of the constants, so 1e-4 relative has margin
    np.testing.assert_allclose(exact, fitted, atol=1e-4 * float(np.abs(exact).max()), rtol=0)
    assert exact[0, 0] > 0


def test_moduli_of_an_isotropic_solid() -> None:
    lam, mu = 60.0, 30.0  # GPa, Lamé constants
    c = np.zeros((6, 6))
    c[:3, :3] = lam
    c[np.arange(3), np.arange(3)] = lam + 2 * mu
    c[np.arange(3, 6), np.arange(3, 6)] = mu
    moduli = elastic_moduli(c)
    # isotropic: Voigt = Reuss = Hill, closed forms, to rounding
    for bound in ("voigt", "reuss", "hill"):
        assert moduli[f"bulk_modulus_{bound}_GPa"] == pytest.approx(lam + 2 * mu / 3, rel=1e-12)
        assert moduli[f"shear_modulus_{bound}_GPa"] == pytest.approx(mu, rel=1e-12)
    assert moduli["youngs_modulus_GPa"] == pytest.approx(mu * (3 * lam + 2 * mu) / (lam + mu),
                                                         rel=1e-12)
    assert moduli["poisson_ratio"] == pytest.approx(lam / (2 * (lam + mu)), rel=1e-12)


def test_born_stability_names_the_failing_condition() -> None:
    cubic = np.zeros((6, 6))
    cubic[:3, :3] = 120.0
    cubic[np.arange(3), np.arange(3)] = 100.0  # C11 < C12: tetragonal shear unstable
    cubic[np.arange(3, 6), np.arange(3, 6)] = 50.0
    verdict = born_stability(cubic, "cubic")
    assert verdict["stable"] is False
    assert verdict["failing"] == ["C11 - |C12| > 0", "all eigenvalues of C > 0"]
    cubic[np.arange(3), np.arange(3)] = 200.0
    assert born_stability(cubic, "cubic")["stable"] is True
    cubic[3, 3] = -1.0
    assert born_stability(cubic, "cubic")["failing"][0] == "C44 > 0"


def test_symmetry_check_against_the_point_group() -> None:
    atoms = _emt_copper()
    result = elastic_tensor(atoms, EMT())
    symmetry = crystal_symmetry(result.structure)
    assert (symmetry.space_group, symmetry.point_group) == ("Fm-3m (225)", "m-3m")
    check = stiffness_symmetry_check(result.stiffness_GPa, symmetry)
    # the stress-strain fit of a cubic crystal keeps the cubic equalities to rounding
    assert check["consistent"] and check["max_deviation_GPa"] < 1e-6
    broken = result.stiffness_GPa.copy()
    broken[1, 1] += 5.0  # C22 ≠ C11 is forbidden in m-3m
    check = stiffness_symmetry_check(broken, symmetry)
    assert not check["consistent"] and check["max_deviation_GPa"] == pytest.approx(5.0)


def test_strains_too_large_for_a_linear_fit_are_warned_with_the_number() -> None:
    with pytest.warns(UserWarning, match=r"against e1 changes by \d+\.\d+% between strain "
                                         r"magnitudes 0.01 and 0.05 \(tolerance 2.00%\)"):
        result = elastic_tensor(_emt_copper(), EMT(), magnitudes=(0.01, 0.05),
                                relaxed_ion=False)
    assert result.nonlinearity["clamped"] is not None and result.nonlinearity["clamped"] > 0.02
    # the default magnitudes (0.25-1 %) are inside the linear regime of EMT copper
    assert elastic_tensor(_emt_copper(), EMT(), relaxed_ion=False).nonlinearity["clamped"] < 0.02


def test_bad_strains_and_structures_are_refused() -> None:
    with pytest.raises(ConfigError, match="strain magnitude 0.08 is outside"):
        elastic_tensor(bulk("Cu", "fcc"), EMT(), magnitudes=(0.01, 0.08))
    molecule = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.3]])
    with pytest.raises(DataError, match=r"periodic in all three directions; Cu2 has pbc"):
        elastic_tensor(molecule, EMT())


class _FailsWhenStretchedAlongX(EMT):
    """EMT that fails (as a reference calculation can) when a_x exceeds ``limit_A``."""

    def __init__(self, limit_A: float) -> None:
        super().__init__()
        self.limit_A = limit_A

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):  # noqa: ANN001
        assert atoms is not None
        if atoms.cell.array[0, 0] > self.limit_A:
            raise CalculationFailed(f"made-up failure at a_x = {atoms.cell.array[0, 0]:.4f}")
        super().calculate(atoms, list(properties), list(system_changes))


def test_a_failed_strain_is_named_and_left_out() -> None:
    atoms = _hcp_copper()
    limit = atoms.cell.array[0, 0] * 1.009  # only e1 = +0.01 goes beyond it
    with pytest.warns(UserWarning, match=r"strain e1 = \+0.0100") as caught:
        result = elastic_tensor(atoms, _FailsWhenStretchedAlongX(limit), relax_reference=False)
    assert {entry["strain"] for entry in result.failed} == {"strain e1 = +0.0100"}
    assert {entry["kind"] for entry in result.failed} == {"clamped", "relaxed"}
    assert len(caught) == 2
    full = elastic_tensor(atoms, EMT(), relax_reference=False).relaxed_ion_GPa
    assert result.relaxed_ion_GPa is not None and full is not None
    # e1 = -0.01 is dropped with its failed partner, so the fit stays symmetric: it moves
    # by the (small) difference between the 0.25-0.75 % and 0.25-1 % slopes, < 0.5 % of C11
    np.testing.assert_allclose(result.relaxed_ion_GPa, full, atol=5e-3 * full[0, 0], rtol=0)
