"""Tests for nnpkit.data.stats: per-element reference energies and the energy scale."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from nnpkit.data.stats import DatasetStatistics, fit_statistics
from nnpkit.errors import DataError
from nnpkit.labeling.datasets import copper_emt_dataset

TRUE_ENERGIES_eV = {"H": -13.6, "C": -1029.5, "O": -2041.3}


def _synthetic(n_structures: int, noise_eV: float, seed: int = 0, with_forces: bool = True
               ) -> list[Atoms]:
    """H/C/O clusters of varying composition with energy Σ n_Z e_Z + Gaussian noise."""
    rng = np.random.default_rng(seed)
    structures = []
    for _ in range(n_structures):
        counts = rng.integers(0, 6, size=3)
        counts[rng.integers(3)] += 1  # never empty
        symbols = [s for s, n in zip(TRUE_ENERGIES_eV, counts, strict=True) for _ in range(n)]
        atoms = Atoms(symbols, positions=rng.uniform(0.0, 6.0, (len(symbols), 3)))
        energy = sum(TRUE_ENERGIES_eV[s] for s in symbols) + rng.normal(0.0, noise_eV)
        forces = rng.normal(0.0, 0.7, (len(atoms), 3)) if with_forces else None
        results = {"energy": energy} if forces is None else {"energy": energy, "forces": forces}
        atoms.calc = SinglePointCalculator(atoms, **results)
        structures.append(atoms)
    return structures


@pytest.mark.parametrize("noise_eV", [0.0, 1e-3])
def test_reference_energies_recover_per_element_energies(noise_eV: float) -> None:
    structures = _synthetic(60, noise_eV)
    statistics = fit_statistics(structures)
    assert statistics.elements == ("H", "C", "O")  # ordered by atomic number
    np.testing.assert_allclose(statistics.reference_energies_eV,
                               list(TRUE_ENERGIES_eV.values()), atol=max(5 * noise_eV, 1e-4))
    # plain least squares: exact data is fitted to < 0.1 meV/atom
    assert statistics.residual_energy_std_eV_per_atom < max(noise_eV, 1e-4)


def test_energy_scale_is_force_rms() -> None:
    structures = _synthetic(30, 1e-3)
    forces = np.concatenate([atoms.get_forces().ravel() for atoms in structures])
    statistics = fit_statistics(structures)
    assert statistics.energy_scale_eV == pytest.approx(np.sqrt(np.mean(forces**2)), rel=1e-12)
    assert statistics.energy_scale_eV == pytest.approx(0.7, rel=0.1)


def test_energy_scale_without_forces_is_residual_std() -> None:
    structures = _synthetic(40, 0.05, with_forces=False)
    statistics = fit_statistics(structures)
    assert statistics.energy_scale_eV == pytest.approx(
        statistics.residual_energy_std_eV_per_atom, rel=1e-12)
    assert 1e-4 < statistics.energy_scale_eV < 0.05


def test_energy_scale_falls_back_to_one_without_forces_or_spread() -> None:
    """Identical structures, no forces: no scale can be measured, so it is 1 eV."""
    structures = []
    for _ in range(3):
        atoms = molecule("H2O")
        atoms.calc = SinglePointCalculator(atoms, energy=-2068.5)
        structures.append(atoms)
    statistics = fit_statistics(structures)
    assert statistics.energy_scale_eV == 1.0


def test_explicit_element_list_keeps_its_order_and_absent_elements() -> None:
    structures = _synthetic(40, 0.0)
    statistics = fit_statistics(structures, elements=["O", "H", "C", "N"])
    assert statistics.elements == ("O", "H", "C", "N")
    reference = dict(zip(statistics.elements, statistics.reference_energies_eV, strict=True))
    for symbol, energy in TRUE_ENERGIES_eV.items():
        assert reference[symbol] == pytest.approx(energy, abs=1e-3)
    assert abs(reference["N"]) < 1e-6  # absent: the minimum-norm solution keeps it at zero


def test_collinear_compositions_are_handled() -> None:
    """One molecule only: n_H : n_C : n_O fixed, the split is arbitrary but the sum fits."""
    rng = np.random.default_rng(1)
    structures = []
    for _ in range(5):
        atoms = molecule("CH3CH2OH")
        atoms.calc = SinglePointCalculator(atoms, energy=-4200.0 + rng.normal(0.0, 0.01),
                                           forces=np.zeros((9, 3)))
        structures.append(atoms)
    with pytest.warns(UserWarning, match="per-atom energies are not physical"):
        statistics = fit_statistics(structures)
    reference = dict(zip(statistics.elements, statistics.reference_energies_eV, strict=True))
    total = 6 * reference["H"] + 2 * reference["C"] + reference["O"]
    assert np.isfinite(statistics.reference_energies_eV).all()
    assert total == pytest.approx(-4200.0, abs=0.05)
    assert statistics.energy_scale_eV == 1.0  # zero forces: a unit scale, not zero


def test_copper_emt_dataset() -> None:
    structures = copper_emt_dataset(14, seed=3)
    statistics = fit_statistics(structures)
    assert statistics.elements == ("Cu",)
    energies = np.array([atoms.get_potential_energy() for atoms in structures])
    n_atoms = np.array([len(atoms) for atoms in structures])
    # one element: least squares gives Σ n E / Σ n²
    expected = float((n_atoms * energies).sum() / (n_atoms**2).sum())
    assert statistics.reference_energies_eV[0] == pytest.approx(expected, rel=1e-6)
    forces = np.concatenate([atoms.get_forces().ravel() for atoms in structures])
    assert statistics.energy_scale_eV == pytest.approx(np.sqrt(np.mean(forces**2)), rel=1e-12)


def test_to_dict_round_trip() -> None:
    statistics = fit_statistics(_synthetic(10, 1e-3))
    assert DatasetStatistics.from_dict(statistics.to_dict()) == statistics


def test_empty_and_unlabelled_datasets_are_refused() -> None:
    with pytest.raises(DataError, match="empty"):
        fit_statistics([])
    structures = _synthetic(3, 0.0)
    structures[2].calc = None
    with pytest.raises(DataError, match="structure 2"):
        fit_statistics(structures)


def test_inputs_not_modified() -> None:
    structures = _synthetic(5, 0.0)
    before = [(atoms.positions.copy(), atoms.get_potential_energy()) for atoms in structures]
    fit_statistics(structures)
    for atoms, (positions, energy) in zip(structures, before, strict=True):
        np.testing.assert_array_equal(atoms.positions, positions)
        assert atoms.get_potential_energy() == energy


def test_element_missing_from_explicit_list_is_refused() -> None:
    with pytest.raises(DataError, match="O"):
        fit_statistics(_synthetic(5, 0.0), elements=["H", "C"])


def test_large_reference_energies_are_fitted_without_bias() -> None:
    """All-electron-sized energies (-5e5 eV per atom): the references must absorb the shift
    exactly (a ridge would bias them by ~5 meV per atom); residuals unchanged to 1e-6 eV."""
    structures = copper_emt_dataset(8, seed=1)
    plain = fit_statistics(structures)
    shifted = []
    for atoms in structures:
        copy = atoms.copy()
        copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy()
                                          - 5e5 * len(atoms), forces=atoms.get_forces())
        shifted.append(copy)
    moved = fit_statistics(shifted)
    assert moved.reference_energies_eV[0] - plain.reference_energies_eV[0] == pytest.approx(
        -5e5, abs=1e-6)
    assert moved.residual_energy_std_eV_per_atom == pytest.approx(
        plain.residual_energy_std_eV_per_atom, abs=1e-6)


def test_given_reference_energies_are_used_and_recorded() -> None:
    structures = _synthetic(10, 1e-3)
    given = {"H": -13.6, "C": -1029.0, "O": -2041.0}
    statistics = fit_statistics(structures, reference_energies_eV=given,
                                reference_source="isolated_atoms:test")
    assert dict(zip(statistics.elements, statistics.reference_energies_eV,
                    strict=True)) == given
    assert statistics.reference_source == "isolated_atoms:test"
    assert DatasetStatistics.from_dict(statistics.to_dict()) == statistics
    with pytest.raises(DataError, match="element.*O"):
        fit_statistics(structures, reference_energies_eV={"H": -13.6, "C": -1029.0})
