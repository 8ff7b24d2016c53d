"""Tests for nnpkit.data.validate: each bad-structure case raises a message that names it."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator

from nnpkit.data import validate_structures
from nnpkit.errors import DataError, UnknownElementError


def _labelled_water() -> Atoms:
    atoms = molecule("H2O")
    atoms.calc = SinglePointCalculator(atoms, energy=-14.0, forces=np.zeros((3, 3)))
    return atoms


def _labelled_cu() -> Atoms:
    atoms = bulk("Cu", cubic=True)
    atoms.calc = SinglePointCalculator(
        atoms, energy=-1.0, forces=np.zeros((4, 3)), stress=np.zeros(6)
    )
    return atoms


def _raises(structures, error=DataError, **kwargs) -> str:
    with pytest.raises(error) as info:
        validate_structures(structures, source="train.extxyz", **kwargs)
    message = str(info.value)
    assert "train.extxyz" in message
    return message


def test_good_structures_pass():
    structures = [_labelled_water(), _labelled_cu(), bulk("Si"), molecule("CH4")]
    validate_structures(structures, elements=["H", "C", "O", "Si", "Cu"])
    validate_structures([])


def test_does_not_modify_input():
    atoms = _labelled_cu()
    positions = atoms.positions.copy()
    validate_structures([atoms])
    assert np.array_equal(atoms.positions, positions)
    assert atoms.info == {}


def test_empty_structure():
    message = _raises([_labelled_water(), Atoms()])
    assert "structure 1" in message and "no atoms" in message


@pytest.mark.parametrize("quantity", ["positions", "cell", "energy", "forces", "stress"])
@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_values(quantity, bad_value):
    atoms = _labelled_cu()
    if quantity == "positions":
        atoms.positions[2, 1] = bad_value
    elif quantity == "cell":
        cell = np.array(atoms.cell)
        cell[1, 1] = bad_value
        atoms.set_cell(cell)
    elif quantity == "energy":
        atoms.calc.results["energy"] = bad_value
    else:
        atoms.calc.results[quantity] = atoms.calc.results[quantity].copy()
        atoms.calc.results[quantity].flat[1] = bad_value
    message = _raises([_labelled_cu(), _labelled_water(), atoms])
    assert "structure 2" in message
    assert f"{quantity} contains NaN or infinite" in message


def test_degenerate_periodic_cell():
    atoms = bulk("Cu", cubic=True)
    atoms.set_cell([[3.6, 0, 0], [0, 3.6, 0], [3.6, 3.6, 0]], scale_atoms=False)
    message = _raises([_labelled_cu(), atoms])
    assert "structure 1" in message and "degenerate cell" in message


def test_zero_length_periodic_vector():
    atoms = molecule("H2O")
    atoms.set_cell([[10, 0, 0], [0, 0, 0], [0, 0, 10]])
    atoms.pbc = [True, True, False]
    message = _raises([atoms])
    assert "structure 0" in message and "degenerate cell" in message


def test_partially_periodic_slab_and_molecule_without_cell_pass():
    slab = molecule("H2O")
    slab.set_cell([[10, 0, 0], [0, 10, 0], [0, 0, 0]])
    slab.pbc = [True, True, False]
    validate_structures([slab, molecule("H2O")])


def test_collinear_periodic_vectors_in_slab():
    atoms = molecule("H2O")
    atoms.set_cell([[10, 0, 0], [20, 0, 0], [0, 0, 0]])
    atoms.pbc = [True, True, False]
    message = _raises([atoms])
    assert "linearly dependent" in message


def test_close_atoms_names_pair_and_distance():
    atoms = molecule("H2O")
    atoms.positions[2] = atoms.positions[0] + [0.0, 0.0, 0.05]
    message = _raises([_labelled_water(), atoms])
    assert "structure 1" in message
    assert "atoms 0 and 2" in message or "atoms 2 and 0" in message
    assert "0.0500" in message
    # A looser threshold passes.
    validate_structures([atoms], min_distance_A=0.01)


def test_close_atoms_across_periodic_boundary():
    atoms = Atoms("H2", positions=[[0.02, 1, 1], [4.97, 1, 1]], cell=[5, 5, 5], pbc=True)
    message = _raises([atoms])
    assert "atoms 0 and 1" in message or "atoms 1 and 0" in message
    assert "0.0500" in message
    atoms.pbc = False  # without periodicity they are 4.95 Å apart
    validate_structures([atoms])


def test_atom_close_to_own_periodic_image():
    atoms = Atoms("H", positions=[[0, 0, 0]], cell=[0.05, 5, 5], pbc=True)
    message = _raises([atoms])
    assert "own periodic image" in message


def test_unknown_element():
    structures = [_labelled_water(), _labelled_cu()]
    message = _raises(structures, error=UnknownElementError, elements=["H", "O"])
    assert "structure 1" in message
    assert "'Cu'" in message
    assert "['H', 'O']" in message


def test_source_index_reported_when_it_differs():
    atoms = Atoms()
    atoms.info["nnpkit_source_index"] = 17
    message = _raises([atoms])
    assert "structure 0 (source index 17)" in message
