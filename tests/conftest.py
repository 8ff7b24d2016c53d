"""Shared fixtures: small Behler–Parrinello models (untrained but normalised) and structures.

The models have random weights; what the physics tests need is only that the features
are O(1) (normalisation fitted on a few structures) and the output scale is set, so that
energies, forces and stress are smooth functions of reasonable size.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from nnpkit.calculators import NNPCalculator
from nnpkit.data.graph import atoms_to_graph
from nnpkit.data.stats import DatasetStatistics
from nnpkit.models import BehlerParrinello, BPNNConfig

#: A small configuration: a few radial and angular features, two hidden layers of 16.
SMALL_CONFIG = {
    "cutoff_A": 5.0, "angular_cutoff_A": 3.5, "n_radial": 8, "n_angular_radial": 3,
    "zetas": [1, 4], "hidden": [16, 16],
}  # fmt: skip

#: Made-up per-element reference energies (eV/atom) for the statistics of the models.
REFERENCE_ENERGIES_eV = {"H": -13.6, "C": -150.0, "O": -430.0, "Cu": -3.5, "Au": -3.2}


@pytest.fixture(scope="session", autouse=True)
def _single_torch_thread() -> None:
    torch.set_num_threads(1)


def ethanol() -> Atoms:
    """Ethanol (9 atoms, no cell), slightly rattled so no geometry is special."""
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=3)
    return atoms


def copper_primitive() -> Atoms:
    """The 1-atom primitive fcc Cu cell: its vectors (2.55 Å) are shorter than 5 Å."""
    return bulk("Cu", "fcc", a=3.61)


def copper_cubic() -> Atoms:
    """The 4-atom cubic fcc Cu cell, rattled."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.rattle(0.05, seed=4)
    return atoms


def cuau_triclinic() -> Atoms:
    """A 4-atom CuAu cell, rattled and sheared into a triclinic cell."""
    atoms = bulk("Cu", "fcc", a=3.75, cubic=True)
    atoms.symbols[[1, 2]] = "Au"
    strain = np.array([[0.02, 0.03, 0.0], [0.03, -0.01, 0.04], [0.0, 0.04, 0.03]])
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    atoms.rattle(0.05, seed=5)
    return atoms


def _normalisation_structures(elements: Sequence[str]) -> list[Atoms]:
    """Rattled and strained structures containing ``elements`` to fit the normalisation."""
    rng = np.random.default_rng(0)
    if set(elements) <= {"H", "C", "O"}:
        bases = [molecule("CH3CH2OH"), molecule("CH3OH"), molecule("H2O"), molecule("CO2")]
    else:
        bases = [copper_cubic(), copper_primitive().repeat((2, 2, 2))]
        if "Au" in elements:
            bases.append(cuau_triclinic())
            gold = copper_cubic()
            gold.symbols[:] = "Au"
            bases.append(gold)
    structures = []
    for base in bases:
        for _ in range(3):
            atoms = base.copy()
            if atoms.pbc.any():
                strain = rng.uniform(-0.04, 0.04, (3, 3))
                atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.5 * (strain + strain.T)),
                               scale_atoms=True)
            atoms.positions += rng.normal(0.0, 0.08, size=atoms.positions.shape)
            structures.append(atoms)
    return [atoms for atoms in structures if set(atoms.get_chemical_symbols()) <= set(elements)]


def statistics_for(elements: Sequence[str]) -> DatasetStatistics:
    """Made-up dataset statistics for ``elements`` (reference energies, 0.5 eV scale)."""
    return DatasetStatistics(
        elements=tuple(elements),
        reference_energies_eV=tuple(REFERENCE_ENERGIES_eV[e] for e in elements),
        energy_scale_eV=0.5,
        residual_energy_std_eV_per_atom=0.01,
    )


_MODEL_CACHE: dict[tuple[str, ...], BehlerParrinello] = {}


def build_small_model(elements: Sequence[str]) -> BehlerParrinello:
    """A fresh small BehlerParrinello (float32) with statistics and normalisation fitted.

    Deterministic (seeded); built once per element list and deep-copied, so each caller
    owns its model (NNPCalculator casts the model it is given).
    """
    key = tuple(elements)
    if key not in _MODEL_CACHE:
        torch.manual_seed(1234)
        model = BehlerParrinello(list(elements), BPNNConfig(**SMALL_CONFIG),
                                 statistics_for(elements))
        model.fit_feature_normalization(
            atoms_to_graph(atoms, model.cutoff) for atoms in _normalisation_structures(elements))
        _MODEL_CACHE[key] = model
    return copy.deepcopy(_MODEL_CACHE[key])


@pytest.fixture
def make_model() -> Callable[[Sequence[str]], BehlerParrinello]:
    """Factory: ``make_model(["H", "C", "O"])`` gives a fresh small model."""
    return build_small_model


@pytest.fixture
def make_calculator() -> Callable[..., NNPCalculator]:
    """Factory: ``make_calculator(["Cu"], dtype=torch.float64)`` over a fresh small model."""

    def make(elements: Sequence[str], dtype: torch.dtype = torch.float64) -> NNPCalculator:
        return NNPCalculator(build_small_model(elements), dtype=dtype)

    return make


@pytest.fixture
def molecule_calculator(make_calculator: Callable[..., NNPCalculator]) -> NNPCalculator:
    """float64 calculator of an H/C/O model."""
    return make_calculator(["H", "C", "O"])


@pytest.fixture
def copper_calculator(make_calculator: Callable[..., NNPCalculator]) -> NNPCalculator:
    """float64 calculator of a Cu model."""
    return make_calculator(["Cu"])


@pytest.fixture
def alloy_calculator(make_calculator: Callable[..., NNPCalculator]) -> NNPCalculator:
    """float64 calculator of a Cu/Au model."""
    return make_calculator(["Cu", "Au"])
