"""Tests of nnpkit.nn.electrostatics: the Coulomb matrix of Gaussian charges.

References: Madelung constants (rock salt, CsCl), a direct reciprocal-space sum of the
Gaussian interaction (independent of torch-pme), the isolated molecule in a growing box
(dipolar rate), finite-difference forces, width derivatives and stress, invariances and
the analytic limits of two Gaussians. float64 unless a test says otherwise.
"""

from __future__ import annotations

import importlib.util
import itertools
import math

import numpy as np
import pytest
import torch
from ase.build import bulk

from nnpkit.errors import DataError
from nnpkit.nn.electrostatics import (
    coulomb_matrix,
    electrostatic_energy,
    point_charge_coulomb_matrix,
)
from nnpkit.units import COULOMB_EV_A

#: Periodic tests need torch-pme (the optional ``response`` extra); molecular ones do not.
needs_torchpme = pytest.mark.skipif(
    importlib.util.find_spec("torchpme") is None, reason="torch-pme is not installed"
)
F64 = torch.float64
PERIODIC = [True, True, True]
OPEN = [False, False, False]
NO_CELL = torch.zeros(3, 3, dtype=F64)
#: A triclinic cell and five atoms in it, with widths and neutral charges (random, fixed).
TRICLINIC = torch.tensor([[6.0, 0.0, 0.0], [1.0, 5.5, 0.0], [0.5, 0.8, 6.5]], dtype=F64)


def _random_cell_state(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    positions = torch.rand(5, 3, dtype=F64, generator=generator) @ TRICLINIC  # [5, 3]
    widths = 0.8 + 0.5 * torch.rand(5, dtype=F64, generator=generator)  # [5]
    charges = torch.randn(5, dtype=F64, generator=generator)  # [5]
    return positions, widths, charges - charges.mean()


def _water() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    positions = torch.tensor([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]], dtype=F64)
    widths = torch.tensor([0.8, 0.6, 0.6], dtype=F64)
    charges = torch.tensor([-0.8, 0.4, 0.4], dtype=F64)
    return positions, widths, charges


def _ionic_charges(atoms) -> torch.Tensor:
    return torch.tensor([1.0 if z in (11, 55) else -1.0 for z in atoms.numbers], dtype=F64)


# --- point charges: Madelung constants ----------------------------------------------------


@needs_torchpme
@pytest.mark.parametrize("cubic", [True, False], ids=["conventional", "primitive"])
def test_madelung_rock_salt(cubic: bool) -> None:
    a = 5.64
    atoms = bulk("NaCl", "rocksalt", a=a, cubic=cubic)
    matrix = point_charge_coulomb_matrix(
        torch.tensor(atoms.positions),
        torch.tensor(atoms.cell.array),
        PERIODIC,
        ewald_accuracy=1e-8,
    )
    energy_per_pair = electrostatic_energy(_ionic_charges(atoms), matrix).item() / (len(atoms) / 2)
    madelung = -energy_per_pair * (a / 2) / COULOMB_EV_A
    assert madelung == pytest.approx(1.747564594633, rel=1e-8)


@needs_torchpme
def test_madelung_cesium_chloride() -> None:
    a = 4.12
    atoms = bulk("CsCl", "cesiumchloride", a=a)
    matrix = point_charge_coulomb_matrix(
        torch.tensor(atoms.positions),
        torch.tensor(atoms.cell.array),
        PERIODIC,
        ewald_accuracy=1e-8,
    )
    energy = electrostatic_energy(_ionic_charges(atoms), matrix).item()
    madelung = -energy * (a * math.sqrt(3) / 2) / COULOMB_EV_A
    assert madelung == pytest.approx(1.762674773, rel=1e-8)


@needs_torchpme
def test_default_accuracy_meets_its_scale() -> None:
    """At the default ewald_accuracy = 1e-6 the Madelung energy is within 1e-6 relative."""
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    matrix = point_charge_coulomb_matrix(
        torch.tensor(atoms.positions), torch.tensor(atoms.cell.array), PERIODIC
    )
    energy = electrostatic_energy(_ionic_charges(atoms), matrix).item() / 4
    assert -energy * 2.82 / COULOMB_EV_A == pytest.approx(1.747564594633, rel=1e-6)


# --- Gaussian charges: periodic matrix against independent references ---------------------


@needs_torchpme
def test_periodic_matrix_matches_reciprocal_sum() -> None:
    """Element by element, A_ij = (4π k_e/V) Σ_{k≠0} exp(−k²γ_ij²/2) cos(k·r_ij)/k²: the
    full periodic Gaussian interaction with the k = 0 term dropped, self-energy included.
    Summed directly over |k| ≤ 12/Å (terms below e^{-57}), no Ewald splitting."""
    positions, widths, _ = _random_cell_state()
    matrix = coulomb_matrix(positions, widths, TRICLINIC, PERIODIC, ewald_accuracy=1e-10)
    integers = torch.arange(-14, 15, dtype=F64)
    grid = torch.cartesian_prod(integers, integers, integers)  # [29³, 3]
    kvectors = grid @ (2 * math.pi * torch.linalg.inv(TRICLINIC).T)  # [29³, 3]
    k_sq = (kvectors**2).sum(dim=1)
    keep = (k_sq > 0) & (k_sq <= 144.0)
    kvectors, k_sq = kvectors[keep], k_sq[keep]
    # k = m·B with |m_a| ≤ |k|·|a_a|/(2π): the index range ±14 holds the whole sphere
    assert 14 >= 12.0 * float(torch.linalg.norm(TRICLINIC, dim=1).max()) / (2 * math.pi)
    pair_widths_sq = widths[:, None] ** 2 + widths[None, :] ** 2  # [5, 5]
    phases = kvectors @ positions.T  # [n_k, 5]
    cosines = torch.cos(phases[:, :, None] - phases[:, None, :])  # [n_k, 5, 5]
    weights = torch.exp(-0.5 * k_sq[:, None, None] * pair_widths_sq) / k_sq[:, None, None]
    volume = torch.linalg.det(TRICLINIC).abs()
    reference = 4 * math.pi * COULOMB_EV_A / volume * (weights * cosines).sum(dim=0)
    assert torch.allclose(matrix, reference, rtol=0, atol=1e-8)


@needs_torchpme
def test_growing_box_converges_to_molecule() -> None:
    """A neutral molecule in a cubic box of side L: E_periodic − E_molecule =
    −(2π/3) k_e |μ|²/L³ + O(L⁻⁵) (Ewald's conducting boundary, cubic symmetry). So
    (ΔE·L³ + (2π/3) k_e μ²)·L² tends to a constant: checked to 3% between L = 20, 30, 40 Å."""
    positions, widths, charges = _water()
    molecular = electrostatic_energy(charges, coulomb_matrix(positions, widths, NO_CELL, OPEN))
    dipole = (charges[:, None] * positions).sum(dim=0)  # [3]
    dipolar = 2 * math.pi / 3 * COULOMB_EV_A * float(dipole @ dipole)
    scaled_residuals = []
    for box_length in (20.0, 30.0, 40.0):
        cell = box_length * torch.eye(3, dtype=F64)
        matrix = coulomb_matrix(
            positions + box_length / 2, widths, cell, PERIODIC, ewald_accuracy=1e-9
        )
        difference = float(electrostatic_energy(charges, matrix) - molecular)
        assert difference * box_length**3 == pytest.approx(
            -dipolar, rel=0.1 * (20 / box_length) ** 2
        )
        scaled_residuals.append((difference * box_length**3 + dipolar) * box_length**2)
    assert np.ptp(scaled_residuals) < 0.03 * abs(np.mean(scaled_residuals))


@needs_torchpme
def test_energy_independent_of_ewald_knobs() -> None:
    """Smearing below, at and above the widths, and two accuracies: the energy agrees with
    a 1e-13 reference to twice the requested accuracy (cancellations in a neutral cell)."""
    positions, widths, charges = _random_cell_state(1)
    reference = electrostatic_energy(
        charges, coulomb_matrix(positions, widths, TRICLINIC, PERIODIC, ewald_accuracy=1e-13)
    ).item()
    for smearing in (None, 0.6, 1.2, 2.5):
        for accuracy, tolerance in ((1e-6, 2e-6), (1e-10, 2e-10)):
            matrix = coulomb_matrix(
                positions, widths, TRICLINIC, PERIODIC, ewald_accuracy=accuracy, smearing_A=smearing
            )
            energy = electrostatic_energy(charges, matrix).item()
            assert energy == pytest.approx(reference, rel=tolerance), (smearing, accuracy)


# --- derivatives by autograd against central finite differences ---------------------------


def _energy(positions, widths, charges, cell, pbc, strain=None):
    if strain is not None:
        deformation = torch.eye(3, dtype=F64) + strain
        positions, cell = positions @ deformation, cell @ deformation
    matrix = coulomb_matrix(positions, widths, cell, pbc, ewald_accuracy=1e-11)
    return electrostatic_energy(charges, matrix)


@pytest.mark.parametrize(
    "periodic",
    [pytest.param(True, id="periodic", marks=needs_torchpme), pytest.param(False, id="molecule")],
)
def test_forces_widths_stress_finite_differences(periodic: bool) -> None:
    positions, widths, charges = _random_cell_state(2) if periodic else _water()
    cell, pbc = (TRICLINIC, PERIODIC) if periodic else (NO_CELL, OPEN)
    positions = positions.clone().requires_grad_(True)
    widths = widths.clone().requires_grad_(True)
    strain = torch.zeros(3, 3, dtype=F64, requires_grad=True)
    energy = _energy(positions, widths, charges, cell, pbc, strain)
    grad_positions, grad_widths, grad_strain = torch.autograd.grad(
        energy, [positions, widths, strain]
    )
    step = 1e-4
    with torch.no_grad():
        for atom in range(len(positions)):
            for axis in range(3):
                shift = torch.zeros_like(positions)
                shift[atom, axis] = step
                slope = (
                    _energy(positions + shift, widths, charges, cell, pbc)
                    - _energy(positions - shift, widths, charges, cell, pbc)
                ) / (2 * step)
                assert float(-grad_positions[atom, axis]) == pytest.approx(float(-slope), abs=1e-6)
            shift = torch.zeros_like(widths)
            shift[atom] = step
            slope = (
                _energy(positions, widths + shift, charges, cell, pbc)
                - _energy(positions, widths - shift, charges, cell, pbc)
            ) / (2 * step)
            assert float(grad_widths[atom]) == pytest.approx(float(slope), abs=1e-6)
        if periodic:
            volume = float(torch.linalg.det(cell).abs())
            stress = grad_strain / volume  # ASE sign: (1/V) ∂E/∂ε
            assert torch.allclose(stress, stress.T, atol=1e-10)
            for a in range(3):
                for b in range(3):
                    symmetric = torch.zeros(3, 3, dtype=F64)
                    symmetric[a, b] += step / 2
                    symmetric[b, a] += step / 2
                    slope = (
                        _energy(positions, widths, charges, cell, pbc, symmetric)
                        - _energy(positions, widths, charges, cell, pbc, -symmetric)
                    ) / (2 * step)
                    assert float(stress[a, b]) == pytest.approx(float(slope) / volume, abs=1e-8)
        else:
            assert torch.allclose(grad_strain, grad_strain.T, atol=1e-10)
            # a molecule's energy is unchanged by rotation, so the strain gradient is the
            # virial −Σ r⊗F, symmetric; its trace is the radial scaling derivative
            radial = (
                _energy(positions * (1 + step), widths, charges, cell, pbc)
                - _energy(positions * (1 - step), widths, charges, cell, pbc)
            ) / (2 * step)
            assert float(torch.trace(grad_strain)) == pytest.approx(float(radial), abs=1e-6)


# --- invariances and symmetry ---------------------------------------------------------------


def test_molecule_invariances() -> None:
    positions, widths, charges = _water()
    matrix = coulomb_matrix(positions, widths, NO_CELL, OPEN)
    assert torch.equal(matrix, matrix.T)
    rotation = torch.linalg.qr(
        torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(3))
    )[0]
    moved = coulomb_matrix(
        positions @ rotation.T + torch.tensor([3.0, -1.0, 7.0], dtype=F64), widths, NO_CELL, OPEN
    )
    assert torch.allclose(moved, matrix, rtol=1e-12, atol=1e-12)
    order = torch.tensor([2, 0, 1])
    permuted = coulomb_matrix(positions[order], widths[order], NO_CELL, OPEN)
    assert torch.allclose(permuted, matrix[order][:, order], rtol=1e-12, atol=1e-12)


@needs_torchpme
def test_periodic_invariances() -> None:
    positions, widths, charges = _random_cell_state(4)
    matrix = coulomb_matrix(positions, widths, TRICLINIC, PERIODIC, ewald_accuracy=1e-10)
    assert torch.allclose(matrix, matrix.T, rtol=0, atol=1e-12)
    translated = coulomb_matrix(
        positions + torch.tensor([0.7, -2.1, 0.3], dtype=F64),
        widths,
        TRICLINIC,
        PERIODIC,
        ewald_accuracy=1e-10,
    )
    assert torch.allclose(translated, matrix, rtol=0, atol=1e-9)
    one_atom_by_lattice = positions.clone()
    one_atom_by_lattice[1] += TRICLINIC[0] - 2 * TRICLINIC[2]
    lattice = coulomb_matrix(one_atom_by_lattice, widths, TRICLINIC, PERIODIC, ewald_accuracy=1e-10)
    assert torch.allclose(lattice, matrix, rtol=0, atol=1e-9)
    order = torch.tensor([3, 1, 4, 0, 2])
    permuted = coulomb_matrix(
        positions[order], widths[order], TRICLINIC, PERIODIC, ewald_accuracy=1e-10
    )
    assert torch.allclose(permuted, matrix[order][:, order], rtol=0, atol=1e-9)
    rotation = torch.linalg.qr(
        torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(5))
    )[0]
    rotated = coulomb_matrix(
        positions @ rotation.T, widths, TRICLINIC @ rotation.T, PERIODIC, ewald_accuracy=1e-10
    )
    assert torch.allclose(rotated, matrix, rtol=0, atol=1e-8)


# --- limits, precision, errors --------------------------------------------------------------


def test_two_gaussian_limits() -> None:
    widths = torch.tensor([0.5, 0.7], dtype=F64)
    far = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 20.0]], dtype=F64)
    matrix = coulomb_matrix(far, widths, NO_CELL, OPEN)
    assert float(matrix[0, 1]) == pytest.approx(COULOMB_EV_A / 20.0, rel=1e-14)
    point = point_charge_coulomb_matrix(far, NO_CELL, OPEN)
    assert float(point[0, 1]) == pytest.approx(COULOMB_EV_A / 20.0, rel=1e-14)
    assert float(point[0, 0]) == 0.0
    close = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1e-4, 0.0]], dtype=F64)
    matrix = coulomb_matrix(close, widths, NO_CELL, OPEN)
    pair_width = math.sqrt(0.5**2 + 0.7**2)
    assert float(matrix[0, 1]) == pytest.approx(
        COULOMB_EV_A * math.sqrt(2 / math.pi) / pair_width, rel=1e-8
    )
    # the self-energy is the coincident limit with γ = √2 σ
    assert float(matrix[0, 0]) == pytest.approx(
        COULOMB_EV_A * math.sqrt(2 / math.pi) / (math.sqrt(2) * 0.5), rel=1e-14
    )


@needs_torchpme
def test_float32_matches_float64() -> None:
    positions, widths, charges = _random_cell_state(6)
    for cell, pbc in ((TRICLINIC, PERIODIC), (NO_CELL, OPEN)):
        reference = coulomb_matrix(positions, widths, cell, pbc)
        single = coulomb_matrix(positions.float(), widths.float(), cell.float(), pbc)
        assert single.dtype == torch.float32
        assert torch.allclose(
            single.double(), reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item()
        )


def test_mixed_periodicity_is_rejected() -> None:
    positions, widths, _ = _random_cell_state()
    with pytest.raises(DataError, match="mixed periodicity"):
        coulomb_matrix(positions, widths, TRICLINIC, [True, True, False])
    with pytest.raises(DataError, match="positive"):
        coulomb_matrix(positions, -widths, TRICLINIC, PERIODIC)


@needs_torchpme
def test_single_gaussian_in_cubic_box_charged_convention() -> None:
    """One Gaussian per simple-cubic cell, net charge 1 over a uniform background:
    A = k_e (1/(√π σ) − 2.837297479480620/L + 4πσ²/L³ − Σ_{n≠0} erfc(|n|L/2σ)/(|n|L)):
    self-energy, the point-charge lattice sum with background (simple-cubic Wigner
    constant), the Gaussian's own k = 0 term 2πγ²/V (γ² = 2σ²), and the finite-width
    correction over its images (1.2e-8 relative here, above the tolerance)."""
    width, box_length = 1.0, 8.0
    matrix = coulomb_matrix(
        torch.zeros(1, 3, dtype=F64),
        torch.tensor([width], dtype=F64),
        box_length * torch.eye(3, dtype=F64),
        PERIODIC,
        ewald_accuracy=1e-12,
    )
    image_correction = sum(
        math.erfc(box_length * norm / (2 * width)) / (box_length * norm)
        for n in itertools.product(range(-2, 3), repeat=3)
        if (norm := math.sqrt(sum(c * c for c in n))) > 0
    )
    expected = COULOMB_EV_A * (
        1 / (math.sqrt(math.pi) * width)
        - 2.837297479480620 / box_length
        + 4 * math.pi * width**2 / box_length**3
        - image_correction
    )
    assert float(matrix[0, 0]) == pytest.approx(expected, rel=1e-11)
