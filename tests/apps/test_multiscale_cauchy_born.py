"""The Cauchy–Born continuum (issue 19): W(F), P = ∂W/∂F and the tangent from a potential,
checked against the crystals app's elastic constants, finite differences, frame
indifference and an ASE-calculator implementation of the same rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from scipy.spatial.transform import Rotation

from nnpkit.apps.crystals import elastic_tensor
from nnpkit.apps.multiscale.cauchy_born import (
    CalculatorCauchyBorn,
    CauchyBorn,
    relaxed_primitive_cell,
)
from nnpkit.calculators import load_calculator
from nnpkit.errors import ConfigError, DataError

MODEL = Path(__file__).resolve().parents[1] / "data" / "cu100_adatom.nnp"


@pytest.fixture(scope="module")
def calculator():
    return load_calculator(MODEL, dtype=torch.float64)


@pytest.fixture(scope="module")
def cell(calculator):
    return relaxed_primitive_cell("Cu", calculator)


@pytest.fixture(scope="module")
def continuum(cell, calculator):
    return CauchyBorn(cell, calculator.model)


def _near_identity(n: int, seed: int, scale: float = 0.03) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.eye(3) + scale * rng.standard_normal((n, 3, 3))  # [n, 3, 3]


def _unit(k: int, m: int, step: float) -> np.ndarray:
    shift = np.zeros((3, 3))
    shift[k, m] = step
    return shift


def _cubic_constants(stiffness: np.ndarray) -> np.ndarray:
    return np.array([stiffness[0, 0], stiffness[0, 1], stiffness[3, 3]])


def test_relaxed_cell_is_stress_free(cell, calculator):
    atoms = cell.copy()
    atoms.calc = calculator
    assert len(cell) == 1 and cell.calc is None
    assert np.abs(atoms.get_stress()).max() < 1e-6  # eV/Å³


def test_stiffness_equals_elastic_tensor_of_the_model(continuum, cell, calculator):
    reference = elastic_tensor(cell, calculator, relaxed_ion=False).clamped_ion_GPa
    stiffness = continuum.stiffness_GPa()
    np.testing.assert_allclose(_cubic_constants(stiffness), _cubic_constants(reference),
                               rtol=5e-3)
    assert np.abs(stiffness - reference).max() < 5e-3 * np.abs(reference).max()


def test_calculator_stiffness_equals_elastic_tensor_of_emt():
    emt = EMT()
    cell = relaxed_primitive_cell("Cu", emt)
    reference = elastic_tensor(cell, emt, relaxed_ion=False).clamped_ion_GPa
    stiffness = CalculatorCauchyBorn(cell, emt).stiffness_GPa()
    np.testing.assert_allclose(_cubic_constants(stiffness), _cubic_constants(reference),
                               rtol=5e-3)
    assert np.abs(stiffness - reference).max() < 5e-3 * np.abs(reference).max()


def test_piola_equals_finite_differences_of_energy(continuum):
    deformation = _near_identity(3, seed=1)
    density, piola = continuum.first_piola(deformation)
    step = 1e-5
    shifts = np.array([_unit(k, m, step) for k in range(3) for m in range(3)])  # [9, 3, 3]
    batch = np.concatenate([deformation[:, None] + shifts, deformation[:, None] - shifts],
                           1).reshape(-1, 3, 3)  # [n·18, 3, 3]
    values = continuum.energy_density(torch.as_tensor(batch)).detach().numpy().reshape(3, 2, 9)
    numeric = ((values[:, 0] - values[:, 1]) / (2 * step)).reshape(3, 3, 3)
    assert np.abs(numeric - piola).max() < 1e-6 * np.abs(piola).max()
    np.testing.assert_allclose(density, continuum.energy_density(
        torch.as_tensor(deformation)).detach().numpy(), rtol=1e-14)


def test_tangent_equals_finite_differences_of_piola_and_is_major_symmetric(continuum):
    deformation = _near_identity(2, seed=2)
    tangent = continuum.tangent(deformation)
    step = 1e-5
    numeric = np.zeros_like(tangent)
    for k in range(3):
        for m in range(3):
            plus = continuum.first_piola(deformation + _unit(k, m, step))[1]
            minus = continuum.first_piola(deformation - _unit(k, m, step))[1]
            numeric[:, :, :, k, m] = (plus - minus) / (2 * step)
    scale = np.abs(tangent).max()
    assert np.abs(numeric - tangent).max() < 1e-6 * scale
    assert np.abs(tangent - tangent.transpose(0, 3, 4, 1, 2)).max() < 1e-10 * scale


def test_frame_indifference(continuum):
    deformation = _near_identity(4, seed=3, scale=0.02)
    rotations = Rotation.random(4, random_state=4).as_matrix()  # [4, 3, 3]
    rotated = rotations @ deformation
    density, piola = continuum.first_piola(deformation)
    density_rotated, piola_rotated = continuum.first_piola(rotated)
    np.testing.assert_allclose(density_rotated, density, rtol=1e-10)
    assert np.abs(piola_rotated - rotations @ piola).max() < 1e-9 * np.abs(piola).max()


def test_batch_equals_one_by_one_and_identity(continuum, cell, calculator):
    deformation = _near_identity(5, seed=5)
    chunked = CauchyBorn(cell, calculator.model, chunk_size=2)
    density, piola = chunked.first_piola(deformation)
    singles = [continuum.first_piola(f[None]) for f in deformation]
    np.testing.assert_allclose(density, [w[0] for w, _ in singles], rtol=1e-12)
    np.testing.assert_allclose(piola, np.array([p[0] for _, p in singles]), rtol=1e-9,
                               atol=1e-12)
    # differentiable through the chunked torch path
    leaf = torch.as_tensor(deformation).requires_grad_(True)
    chunked.energy_density(leaf).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), piola, rtol=1e-9, atol=1e-12)
    atoms = cell.copy()
    atoms.calc = calculator
    energy = atoms.get_potential_energy()
    assert continuum.atomic_energy_eV == pytest.approx(energy, rel=1e-10, abs=1e-12)
    assert continuum.reference_volume_A3 == pytest.approx(atoms.get_volume(), rel=1e-12)
    identity = continuum.energy_density(torch.eye(3, dtype=torch.float64)[None])
    assert float(identity[0]) == pytest.approx(energy / atoms.get_volume(), rel=1e-10)


def test_torch_path_agrees_with_calculator_path(continuum, cell, calculator):
    deformation = _near_identity(3, seed=6)
    density, piola = continuum.first_piola(deformation)
    reference = CalculatorCauchyBorn(cell, calculator)
    density_calc, piola_calc = reference.first_piola(deformation)
    assert np.abs(density_calc - density).max() < 1e-6 * np.abs(density).max()
    assert np.abs(piola_calc - piola).max() < 1e-6 * np.abs(piola).max()
    assert reference.atomic_energy_eV == pytest.approx(continuum.atomic_energy_eV, rel=1e-10)


def test_calculator_piola_sign_from_energy_differences():
    emt = EMT()
    cell = bulk("Cu", "fcc", a=3.6)
    model = CalculatorCauchyBorn(cell, emt)
    deformation = _near_identity(1, seed=7)[0]
    step = 1e-5
    numeric = np.array([[(model.first_piola((deformation + _unit(k, m, step))[None])[0][0]
                          - model.first_piola((deformation - _unit(k, m, step))[None])[0][0])
                         / (2 * step) for m in range(3)] for k in range(3)])
    piola = model.first_piola(deformation[None])[1][0]
    assert np.abs(numeric - piola).max() < 1e-6 * np.abs(piola).max()


def test_bad_input_is_refused(cell, calculator):
    two = cell.repeat((2, 1, 1))
    with pytest.raises(DataError, match="got 2"):
        CauchyBorn(two, calculator.model)
    with pytest.raises(DataError, match="got 2"):
        CalculatorCauchyBorn(two, EMT())
    molecule = cell.copy()
    molecule.pbc = False
    with pytest.raises(DataError, match="periodic"):
        CauchyBorn(molecule, calculator.model)
    continuum = CauchyBorn(cell, calculator.model, max_stretch=0.1)
    deformation = np.repeat(np.eye(3)[None], 5, 0)
    deformation[3] *= 1.12
    with pytest.raises(DataError, match=r"element\(s\) 3 "):
        continuum.first_piola(deformation)
    inverted = np.repeat(np.eye(3)[None], 3, 0)
    inverted[1, 0, 0] = -1.0
    with pytest.raises(DataError, match=r"element\(s\) 1 "):
        continuum.energy_density(torch.as_tensor(inverted))
    with pytest.raises(DataError, match=r"\[n, 3, 3\]"):
        continuum.tangent(np.eye(3))
    with pytest.raises(ConfigError, match="hcp"):
        relaxed_primitive_cell("Cu", EMT(), crystal="hcp")


def test_stretch_range_keeps_every_pair_inside_the_cutoff(cell, calculator):
    """At the edge of the stretch range W equals the energy of a graph built afresh."""
    continuum = CauchyBorn(cell, calculator.model, max_stretch=0.15)
    rotation = Rotation.from_euler("xyz", [0.3, -0.2, 0.5]).as_matrix()
    deformation = rotation @ np.diag([1 / 1.15, 1.0, 1.15]) @ rotation.T
    density = continuum.first_piola(deformation[None])[0][0]
    atoms = cell.copy()
    atoms.set_cell(cell.cell.array @ deformation.T, scale_atoms=True)
    atoms.calc = calculator
    assert density == pytest.approx(atoms.get_potential_energy() / cell.get_volume(),
                                    rel=1e-10, abs=1e-14)
