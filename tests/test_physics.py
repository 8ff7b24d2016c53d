"""Physics tests of the Behler–Parrinello model through nnpkit.testing, and of the checks.

The model is untrained (random weights, normalised features): the symmetries, the
derivatives and extensivity hold for any weights. The checks run in float64 with tight
tolerances and, like e3nn's suite, the invariances also in float32 with loose ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import fcc111
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from conftest import copper_cubic, copper_primitive, cuau_triclinic, ethanol

from nnpkit.calculators import NNPCalculator
from nnpkit.testing import (
    check_batch_consistency,
    check_extensivity,
    check_finite_difference_forces,
    check_finite_difference_stress,
    check_invariance,
    run_all_checks,
)

MakeCalculator = Callable[..., NNPCalculator]


def _slab() -> Atoms:
    atoms = fcc111("Cu", size=(2, 2, 2), a=3.61, vacuum=5.0)
    atoms.rattle(0.05, seed=6)
    return atoms


# --- invariance and equivariance --------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_invariance_molecule_float64(molecule_calculator: NNPCalculator, seed: int) -> None:
    check_invariance(molecule_calculator, ethanol(), rtol=1e-8, seed=seed)


@pytest.mark.parametrize("builder", [cuau_triclinic, copper_primitive, copper_cubic])
def test_invariance_crystal_float64(alloy_calculator: NNPCalculator,
                                    builder: Callable[[], Atoms]) -> None:
    check_invariance(alloy_calculator, builder(), rtol=1e-8)


def test_invariance_slab_float64(copper_calculator: NNPCalculator) -> None:
    check_invariance(copper_calculator, _slab(), rtol=1e-8)


@pytest.mark.parametrize(
    ("elements", "builder"),
    [(["H", "C", "O"], ethanol), (["Cu", "Au"], cuau_triclinic), (["Cu"], copper_primitive)],
)
def test_invariance_float32(make_calculator: MakeCalculator, elements: list[str],
                            builder: Callable[[], Atoms]) -> None:
    calculator = make_calculator(elements, dtype=torch.float32)
    check_invariance(calculator, builder(), rtol=1e-4, atol=1e-5)


def test_float32_agrees_with_float64(make_calculator: MakeCalculator) -> None:
    atoms = cuau_triclinic()
    results = {}
    for dtype in (torch.float32, torch.float64):
        copy = atoms.copy()
        copy.calc = make_calculator(["Cu", "Au"], dtype=dtype)
        results[dtype] = (copy.get_potential_energy(), copy.get_forces(), copy.get_stress())
    energy32, forces32, stress32 = results[torch.float32]
    energy64, forces64, stress64 = results[torch.float64]
    assert energy32 == pytest.approx(energy64, rel=1e-5)
    np.testing.assert_allclose(forces32, forces64, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(stress32, stress64, rtol=1e-3, atol=1e-5)


def test_forces_are_not_trivially_zero(alloy_calculator: NNPCalculator) -> None:
    """Guard for the checks above: the model's forces and stress are of a useful size."""
    atoms = cuau_triclinic()
    atoms.calc = alloy_calculator
    assert np.abs(atoms.get_forces()).max() > 5e-3
    assert np.abs(atoms.get_stress()).max() > 1e-4


# --- finite differences ------------------------------------------------------------------


def test_finite_difference_forces_molecule(molecule_calculator: NNPCalculator) -> None:
    check_finite_difference_forces(molecule_calculator, ethanol())


def test_finite_difference_forces_crystal(alloy_calculator: NNPCalculator) -> None:
    check_finite_difference_forces(alloy_calculator, cuau_triclinic())


def test_finite_difference_forces_slab(copper_calculator: NNPCalculator) -> None:
    check_finite_difference_forces(copper_calculator, _slab())


def test_finite_difference_stress_triclinic(alloy_calculator: NNPCalculator) -> None:
    check_finite_difference_stress(alloy_calculator, cuau_triclinic())


def test_finite_difference_stress_short_cell(copper_calculator: NNPCalculator) -> None:
    """Stress of the 1-atom cell, where every neighbour is an image (shifts carry it)."""
    atoms = copper_primitive()
    strain = np.array([[0.01, 0.02, 0.0], [0.02, -0.02, 0.01], [0.0, 0.01, 0.015]])
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    check_finite_difference_stress(copper_calculator, atoms)


def test_finite_difference_stress_needs_periodic_cell(
        copper_calculator: NNPCalculator) -> None:
    with pytest.raises(ValueError, match="periodic"):
        check_finite_difference_stress(copper_calculator, _slab())


# --- extensivity -------------------------------------------------------------------------


def test_extensivity_normal_cell(alloy_calculator: NNPCalculator) -> None:
    check_extensivity(alloy_calculator, cuau_triclinic())


def test_extensivity_cell_shorter_than_cutoff(copper_calculator: NNPCalculator) -> None:
    atoms = copper_primitive()
    assert atoms.cell.lengths().max() < copper_calculator.model.cutoff
    check_extensivity(copper_calculator, atoms, repeat=(2, 2, 2))
    check_extensivity(copper_calculator, atoms, repeat=(1, 3, 2))


def test_run_all_checks(make_calculator: MakeCalculator) -> None:
    """A Cu/Au cluster as the molecule, the triclinic CuAu cell as the crystal."""
    run_all_checks(make_calculator(["Cu", "Au"]), _cu_au_cluster(), cuau_triclinic())


def _cu_au_cluster() -> Atoms:
    atoms = cuau_triclinic()
    atoms.pbc = False
    atoms.cell = np.zeros((3, 3))
    atoms.center()
    return atoms


def test_run_all_checks_molecule_only_model_needs_crystal(
        molecule_calculator: NNPCalculator) -> None:
    """A molecule as the 'crystal' is refused by the stress check, not silently passed."""
    with pytest.raises(ValueError, match="periodic"):
        run_all_checks(molecule_calculator, ethanol(), ethanol())


# --- batching: a batch gives what the structures give one by one ------------------------


def test_batch_equals_single_structures(make_model) -> None:
    model = make_model(["Cu", "Au"]).double()
    check_batch_consistency(
        model, [cuau_triclinic(), copper_primitive(), _cu_au_cluster(), _slab()])


def test_stress_is_symmetric_and_forces_sum_to_zero(alloy_calculator: NNPCalculator) -> None:
    atoms = cuau_triclinic()
    atoms.calc = alloy_calculator
    stress = atoms.get_stress(voigt=False)
    np.testing.assert_allclose(stress, stress.T, atol=1e-12)
    np.testing.assert_allclose(atoms.get_forces().sum(0), 0.0, atol=1e-10)


# --- the checks themselves fail on broken calculators ------------------------------------


class _Distorted(Calculator):
    """EMT plus a distortion: ``extra(atoms) -> (energy, forces)`` and scale factors.

    The extra energy term comes with its exact forces, so a distortion meant to break one
    check does not also break the finite-difference check.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, extra=None, forces_factor: float = 1.0, stress_factor: float = 1.0,
                 force_offset: np.ndarray | None = None) -> None:
        super().__init__()
        self.extra = extra
        self.forces_factor = forces_factor
        self.stress_factor = stress_factor
        self.force_offset = force_offset

    def calculate(self, atoms=None, properties=None, system_changes=all_changes) -> None:
        super().calculate(atoms, properties or ["energy"], system_changes)
        reference = self.atoms.copy()
        reference.calc = EMT()
        energy = reference.get_potential_energy()
        forces = reference.get_forces()
        if self.extra is not None:
            extra_energy, extra_forces = self.extra(self.atoms)
            energy, forces = energy + extra_energy, forces + extra_forces
        if self.force_offset is not None:
            forces = forces + self.force_offset
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": forces * self.forces_factor}
        if self.atoms.pbc.all():
            self.results["stress"] = reference.get_stress() * self.stress_factor


def _anisotropic(atoms: Atoms) -> tuple[float, np.ndarray]:
    """0.01 Σ_i (x_i - x_mean)²: translation and permutation invariant, not rotation."""
    x = atoms.positions[:, 0] - atoms.positions[:, 0].mean()
    forces = np.zeros((len(atoms), 3))
    forces[:, 0] = -0.02 * x
    return 0.01 * float((x**2).sum()), forces


def _absolute_position(atoms: Atoms) -> tuple[float, np.ndarray]:
    """0.05 |Σ_i r_i|²: invariant under rotation about the origin and permutation only."""
    total = atoms.positions.sum(0)
    return 0.05 * float(total @ total), np.tile(-0.1 * total, (len(atoms), 1))


def _index_dependent(atoms: Atoms) -> tuple[float, np.ndarray]:
    """0.01 Σ_i i |r_i - r_mean|²: depends on the order of the atoms."""
    weights = 0.01 * np.arange(len(atoms), dtype=float)
    centred = atoms.positions - atoms.positions.mean(0)
    # d/dr_k Σ_i w_i |r_i - m|² = 2 w_k (r_k - m) - (2/n) Σ_i w_i (r_i - m)
    forces = -2.0 * weights[:, None] * centred + (2.0 / len(atoms)) * (
        weights[:, None] * centred).sum(0)
    return float((weights * (centred**2).sum(1)).sum()), forces


def _cu_cluster() -> Atoms:
    atoms = copper_cubic().repeat((2, 1, 1))
    atoms.pbc = False
    atoms.cell = np.zeros((3, 3))
    return atoms


def test_checks_pass_on_emt_control() -> None:
    """The undistorted reference passes every check, so the failures below are meaningful."""
    calculator = _Distorted()
    run_all_checks(calculator, _cu_cluster(), copper_cubic())
    for extra in (_anisotropic, _absolute_position, _index_dependent):
        check_finite_difference_forces(_Distorted(extra), _cu_cluster())


@pytest.mark.parametrize(
    ("distorted", "message"),
    [
        (_Distorted(_anisotropic), "energy under rotation"),
        (_Distorted(force_offset=np.array([0.1, 0.0, 0.0])), "forces under rotation"),
        (_Distorted(_absolute_position), "under translation"),
        (_Distorted(_index_dependent), "energy under permutation"),
    ],
)
def test_invariance_check_fails_on_broken_calculator(distorted: Calculator,
                                                     message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_invariance(distorted, _cu_cluster())


def test_finite_difference_forces_check_fails_on_scaled_forces() -> None:
    with pytest.raises(AssertionError, match="forces vs finite differences"):
        check_finite_difference_forces(_Distorted(forces_factor=1.1), _cu_cluster())


def test_finite_difference_stress_check_fails_on_scaled_stress() -> None:
    atoms = copper_cubic()
    with pytest.raises(AssertionError, match="stress vs finite differences"):
        check_finite_difference_stress(_Distorted(stress_factor=1.1), atoms)


def test_extensivity_check_fails_on_non_extensive_energy() -> None:
    """A constant per structure (not per atom) is not extensive."""
    broken = _Distorted(lambda atoms: (0.3, np.zeros((len(atoms), 3))))
    with pytest.raises(AssertionError, match="supercell energy"):
        check_extensivity(broken, copper_cubic())


def test_extensivity_check_fails_on_surface_like_forces() -> None:
    """Forces that depend on the position in the cell differ between the cell's copies."""
    broken = _Distorted(_anisotropic)
    with pytest.raises(AssertionError, match="supercell"):
        check_extensivity(broken, copper_cubic())


def test_run_all_checks_fails_on_broken_calculator() -> None:
    with pytest.raises(AssertionError):
        run_all_checks(_Distorted(forces_factor=1.1), _cu_cluster(), copper_cubic())


def test_batch_consistency_check_catches_a_batch_dependent_model(make_model) -> None:
    model = make_model(["Cu", "Au"]).double()

    class LeaksAcrossBatch(type(model)):  # type: ignore[misc]
        def atomic_energies(self, graph):  # noqa: ANN001, ANN202
            # wrong on purpose: every atom feels how many atoms share the batch
            return super().atomic_energies(graph) + 1e-3 * graph.numbers.shape[0]

    model.__class__ = LeaksAcrossBatch
    with pytest.raises(AssertionError):
        check_batch_consistency(model, [cuau_triclinic(), copper_primitive()])
