"""Tests for nnpkit.calculators.NNPCalculator with ASE: results, optimisers, MD (NEB:
tests/test_neb.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.build import bulk, fcc111
from ase.calculators.calculator import PropertyNotImplementedError
from ase.filters import FrechetCellFilter
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from conftest import copper_cubic, cuau_triclinic, ethanol, statistics_for

import nnpkit
from nnpkit.calculators import NNPCalculator
from nnpkit.calculators import load_calculator as load_calculator_direct
from nnpkit.data.graph import atoms_to_graph
from nnpkit.derivatives import compute_properties
from nnpkit.errors import UnknownElementError
from nnpkit.models.model_file import save_model

# --- results -------------------------------------------------------------------------------


def test_periodic_results(alloy_calculator: NNPCalculator) -> None:
    atoms = cuau_triclinic()
    positions = atoms.positions.copy()
    atoms.calc = alloy_calculator
    energy = atoms.get_potential_energy()
    assert isinstance(energy, float)
    assert atoms.get_potential_energy(force_consistent=True) == energy  # free_energy
    forces = atoms.get_forces()
    assert forces.shape == (4, 3) and forces.dtype == np.float64
    energies = atoms.get_potential_energies()
    assert energies.shape == (4,)
    assert energies.sum() == pytest.approx(energy, rel=1e-12)
    stress = atoms.get_stress()
    assert stress.shape == (6,)
    assert atoms.get_stress(voigt=False).shape == (3, 3)
    for key in ("energy", "free_energy", "forces", "energies", "stress"):
        assert key in alloy_calculator.results
    np.testing.assert_array_equal(atoms.positions, positions)  # the Atoms is not changed


def test_results_equal_compute_properties(alloy_calculator: NNPCalculator) -> None:
    atoms = cuau_triclinic()
    atoms.calc = alloy_calculator
    graph = atoms_to_graph(atoms, alloy_calculator.model.cutoff, dtype=torch.float64)
    expected = compute_properties(alloy_calculator.model, graph, forces=True, stress=True)
    expected = {key: value.detach().numpy() for key, value in expected.items()}
    assert atoms.get_potential_energy() == pytest.approx(expected["energy"][0], abs=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), expected["forces"], atol=1e-12)
    np.testing.assert_allclose(atoms.get_stress(voigt=False), expected["stress"][0], atol=1e-12)


@pytest.mark.parametrize("kind", ["molecule", "slab"])
def test_no_stress_without_full_periodicity(make_calculator, kind: str) -> None:
    if kind == "molecule":
        atoms, calculator = ethanol(), make_calculator(["H", "C", "O"])
    else:
        atoms = fcc111("Cu", size=(2, 2, 2), a=3.61, vacuum=5.0)
        calculator = make_calculator(["Cu"])
    atoms.calc = calculator
    energy = atoms.get_potential_energy()
    assert atoms.get_forces().shape == (len(atoms), 3)
    assert atoms.get_potential_energies().sum() == pytest.approx(energy, rel=1e-12)
    assert "stress" not in calculator.results
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()


def test_results_follow_changes(copper_calculator: NNPCalculator) -> None:
    atoms = copper_cubic()
    atoms.calc = copper_calculator
    first = atoms.get_potential_energy()
    atoms.positions[0, 0] += 0.1
    second = atoms.get_potential_energy()
    assert second != first
    atoms.set_cell(atoms.cell.array * 1.02, scale_atoms=True)
    assert atoms.get_potential_energy() != second


def test_float32_calculator(make_calculator) -> None:
    atoms = cuau_triclinic()
    atoms.calc = make_calculator(["Cu", "Au"], dtype=torch.float32)
    assert atoms.get_forces().dtype == np.float64  # ASE gets float64 arrays
    reference = atoms.copy()
    reference.calc = make_calculator(["Cu", "Au"], dtype=torch.float64)
    # float32 round-off of sums of O(1) eV/Å terms: 1e-3 relative, 1e-5 eV/Å³ absolute
    np.testing.assert_allclose(atoms.get_stress(), reference.get_stress(), rtol=1e-3, atol=1e-5)


# --- unknown elements -----------------------------------------------------------------------


def test_unknown_element_names_element_and_model_elements(make_calculator) -> None:
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.symbols[0] = "Ag"
    atoms.calc = make_calculator(["Cu", "Au"])
    with pytest.raises(UnknownElementError) as info:
        atoms.get_potential_energy()
    message = str(info.value)
    assert "Ag" in message and "Cu" in message and "Au" in message


def test_unknown_element_in_molecule(molecule_calculator: NNPCalculator) -> None:
    atoms = ethanol()
    atoms.symbols[-1] = "N"
    atoms.calc = molecule_calculator
    with pytest.raises(UnknownElementError, match=r"\bN\b.*H, C, O"):
        atoms.get_forces()


# --- ASE optimisers, filters, NEB, MD -------------------------------------------------------


def test_bfgs_reduces_forces(copper_calculator: NNPCalculator) -> None:
    """Near a minimum of the (random but smooth) model, a few BFGS steps reduce fmax.

    A periodic cell with a fixed shape always has an energy minimum (the positions live on
    a torus), so relax first, then displace and check that BFGS brings the forces down.
    """
    atoms = copper_cubic()
    atoms.calc = copper_calculator
    assert BFGS(atoms, logfile=None, maxstep=0.1).run(fmax=1e-3, steps=300)
    atoms.rattle(0.03, seed=2)
    start_energy = atoms.get_potential_energy()
    start_fmax = np.linalg.norm(atoms.get_forces(), axis=1).max()
    assert start_fmax > 0.1
    BFGS(atoms, logfile=None, maxstep=0.05).run(fmax=1e-5, steps=5)
    assert atoms.get_potential_energy() < start_energy
    assert np.linalg.norm(atoms.get_forces(), axis=1).max() < 0.5 * start_fmax


def test_frechet_cell_filter_changes_cell(copper_calculator: NNPCalculator) -> None:
    atoms = copper_cubic()
    atoms.set_cell(atoms.cell.array * 1.05, scale_atoms=True)
    atoms.calc = copper_calculator
    cell_before = atoms.cell.array.copy()
    start_energy = atoms.get_potential_energy()
    optimizer = BFGS(FrechetCellFilter(atoms), logfile=None, maxstep=0.05)
    optimizer.run(fmax=1e-4, steps=8)
    assert np.abs(atoms.cell.array - cell_before).max() > 1e-4
    assert atoms.get_potential_energy() < start_energy


def test_velocity_verlet_conserves_energy(copper_calculator: NNPCalculator) -> None:
    atoms = copper_cubic().repeat((2, 1, 1))
    atoms.calc = copper_calculator
    rng = np.random.default_rng(13)
    masses = atoms.get_masses()[:, None]
    atoms.set_momenta(rng.normal(size=(len(atoms), 3)) * np.sqrt(masses * units.kB * 300.0))
    dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs, logfile=None)
    total = []
    dynamics.attach(lambda: total.append(atoms.get_total_energy()), interval=1)
    start_positions = atoms.positions.copy()
    dynamics.run(10)
    assert len(total) == 11
    assert np.abs(atoms.positions - start_positions).max() > 1e-3
    assert np.ptp(total) / len(atoms) < 1e-3


def test_skin_reuses_the_list_and_changes_nothing(make_model) -> None:
    """MD with a reused (skin) list follows the same trajectory as a list rebuilt each step."""
    trajectories = []
    for skin_A in (0.0, 0.8):
        atoms = copper_cubic().repeat((2, 2, 1))
        calculator = NNPCalculator(make_model(["Cu"]), dtype=torch.float64, skin_A=skin_A)
        atoms.calc = calculator
        rng = np.random.default_rng(3)
        masses = atoms.get_masses()[:, None]
        atoms.set_momenta(rng.normal(size=(len(atoms), 3)) * np.sqrt(masses * units.kB * 900.0))
        VelocityVerlet(atoms, timestep=2.0 * units.fs, logfile=None).run(40)
        trajectories.append(atoms.positions.copy())
        builds = calculator.neighbors.n_builds
        assert builds == 41 if skin_A == 0.0 else 1 <= builds < 15
    np.testing.assert_allclose(trajectories[1], trajectories[0], atol=1e-9)


# --- loading from a file ---------------------------------------------------------------------


@pytest.mark.parametrize("loader", [nnpkit.load_calculator, load_calculator_direct])
def test_load_calculator_from_file_and_run_dir(make_model, tmp_path: Path, loader) -> None:
    model = make_model(["Cu", "Au"])
    reference = NNPCalculator(copy.deepcopy(model), dtype=torch.float32)
    path = save_model(tmp_path / "run" / "model.nnp", model, statistics_for(["Cu", "Au"]))
    atoms = cuau_triclinic()
    atoms.calc = reference
    expected_energy, expected_forces = atoms.get_potential_energy(), atoms.get_forces()
    for where in (path, path.parent, str(path)):
        calculator = loader(where)
        assert isinstance(calculator, NNPCalculator)
        assert calculator.metadata["elements"] == ["Cu", "Au"]
        copy_ = cuau_triclinic()
        copy_.calc = calculator
        assert copy_.get_potential_energy() == expected_energy
        np.testing.assert_array_equal(copy_.get_forces(), expected_forces)
    double = loader(path, dtype=torch.float64)
    copy_ = cuau_triclinic()
    copy_.calc = double
    assert copy_.get_potential_energy() == pytest.approx(expected_energy, rel=1e-5)


# --- the calculator must not change the caller's model ---------------------------------------


def test_calculator_does_not_modify_callers_model(make_model) -> None:
    model = make_model(["Cu"])
    first = NNPCalculator(model, dtype=torch.float64)
    NNPCalculator(model, dtype=torch.float32)
    atoms: Atoms = copper_cubic()
    atoms.calc = first
    atoms.get_potential_energy()
    assert next(model.parameters()).dtype == torch.float32
    assert all(parameter.requires_grad for parameter in model.parameters())
