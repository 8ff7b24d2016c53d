"""Differentiable electrostatics of Gaussian charges: the Coulomb matrix of charge
equilibration (4G-HDNNP style) for molecules and fully periodic cells.

Atom i carries a Gaussian charge density ``q_i exp(−r²/2σ_i²)/(2πσ_i²)^{3/2}``. The
electrostatic energy, self-energies included, is ``E = ½ qᵀ A q`` (eV, q in e) with

* molecule (no periodic axis): ``A_ij = k_e erf(r_ij/(√2 γ_ij))/r_ij`` for i ≠ j,
  ``γ_ij = sqrt(σ_i² + σ_j²)``, and ``A_ii = k_e/(√π σ_i)``;
* fully periodic cell: the same interaction summed over all periodic images through
  torch-pme's Ewald sum (see :mod:`nnpkit.nn.ewald`), with the k = 0 term of the charge
  density dropped (a uniform neutralising background if the cell is charged).

``k_e`` is :data:`nnpkit.units.COULOMB_EV_A`. Slabs and wires (mixed periodicity) are
not supported. Everything is differentiable in positions, widths and the cell, so
forces and stress follow by autograd.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from nnpkit.errors import DataError
from nnpkit.nn.ewald import periodic_coulomb_matrix
from nnpkit.units import COULOMB_EV_A

__all__ = ["coulomb_matrix", "point_charge_coulomb_matrix", "electrostatic_energy"]


def _is_periodic(pbc: torch.Tensor | np.ndarray | Sequence[bool]) -> bool:
    """True for all axes periodic, False for none; DataError for mixed periodicity."""
    if isinstance(pbc, torch.Tensor):
        pbc = pbc.detach().cpu().numpy()
    flags = np.asarray(pbc, dtype=bool).reshape(-1)
    if flags.shape != (3,):
        raise DataError(f"pbc must have 3 entries, got {flags.tolist()}")
    if flags.all():
        return True
    if not flags.any():
        return False
    raise DataError(
        f"electrostatics supports molecules (pbc all False) and fully periodic cells "
        f"(pbc all True), not mixed periodicity pbc={flags.tolist()} (slabs and wires)"
    )


def _pair_distances(positions: torch.Tensor) -> torch.Tensor:
    """All distances |r_i − r_j|, shape [N, N], Å, with a safe gradient on the diagonal
    (where the returned value is 1, not 0)."""
    n_atoms = positions.shape[0]
    differences = positions[:, None, :] - positions[None, :, :]  # [N, N, 3]
    eye = torch.eye(n_atoms, dtype=positions.dtype, device=positions.device)  # [N, N]
    # adding 1 on the diagonal keeps sqrt away from 0, so its gradient stays finite
    return torch.sqrt((differences**2).sum(dim=-1) + eye)


def _molecular_matrix(positions: torch.Tensor, widths_A: torch.Tensor | None) -> torch.Tensor:
    """Coulomb matrix of an isolated molecule, shape [N, N], eV/e²."""
    n_atoms = positions.shape[0]
    distances = _pair_distances(positions)  # [N, N]
    off_diagonal = ~torch.eye(n_atoms, dtype=torch.bool, device=positions.device)  # [N, N]
    if widths_A is None:
        interaction = COULOMB_EV_A / distances  # [N, N]
        return torch.where(off_diagonal, interaction, torch.zeros_like(interaction))
    widths = widths_A.to(positions.dtype)
    pair_widths = torch.sqrt(widths[:, None] ** 2 + widths[None, :] ** 2)  # [N, N]
    interaction = COULOMB_EV_A * torch.erf(distances / (math.sqrt(2.0) * pair_widths)) / distances
    self_energy = COULOMB_EV_A / (math.sqrt(math.pi) * widths)  # [N]
    return torch.where(off_diagonal, interaction, torch.diag(self_energy))


def _check_shapes(
    positions: torch.Tensor, widths_A: torch.Tensor | None, cell: torch.Tensor
) -> None:
    if positions.dim() != 2 or positions.shape[1] != 3:
        raise DataError(f"positions must have shape [N, 3], got {list(positions.shape)}")
    if widths_A is not None:
        if widths_A.shape != (positions.shape[0],):
            raise DataError(
                f"widths_A must have shape [{positions.shape[0]}], got {list(widths_A.shape)}"
            )
        if not bool((widths_A > 0).all()):
            raise DataError("Gaussian charge widths must be positive (Å)")
    if cell.shape != (3, 3):
        raise DataError(f"cell must have shape [3, 3], got {list(cell.shape)}")


def coulomb_matrix(
    positions: torch.Tensor,
    widths_A: torch.Tensor,
    cell: torch.Tensor,
    pbc: torch.Tensor | np.ndarray | Sequence[bool],
    *,
    ewald_accuracy: float = 1e-6,
    smearing_A: float | None = None,
) -> torch.Tensor:
    """Coulomb matrix A of Gaussian charges, E = ½ qᵀ A q, shape [N, N], eV/e².

    Args:
        positions: Cartesian positions, shape [N, 3], Å.
        widths_A: Gaussian widths σ_i, shape [N], Å (positive).
        cell: cell vectors as rows, shape [3, 3], Å (ignored for a molecule).
        pbc: periodicity per axis, shape [3]; all False or all True.
        ewald_accuracy: periodic only: relative accuracy of the Ewald sum's energy
            (erfc is ewald_accuracy/10 at its real- and reciprocal-space truncations).
        smearing_A: periodic only: Ewald splitting width, Å; ``None`` chooses one.
            The result does not depend on it beyond ``ewald_accuracy``.

    Returns:
        A, symmetric, with the self-energies ``k_e/(√π σ_i)`` included on the diagonal;
        differentiable in positions, widths and cell; dtype of ``positions``.

    Raises:
        DataError: mixed periodicity, or inputs of the wrong shape or non-positive widths.
    """
    _check_shapes(positions, widths_A, cell)
    if not _is_periodic(pbc):
        return _molecular_matrix(positions, widths_A)
    return periodic_coulomb_matrix(
        positions,
        widths_A,
        cell.to(positions.dtype),
        accuracy=ewald_accuracy,
        smearing_A=smearing_A,
    )


def point_charge_coulomb_matrix(
    positions: torch.Tensor,
    cell: torch.Tensor,
    pbc: torch.Tensor | np.ndarray | Sequence[bool],
    *,
    ewald_accuracy: float = 1e-6,
    smearing_A: float | None = None,
) -> torch.Tensor:
    """Coulomb matrix of point charges, E = ½ qᵀ A q, shape [N, N], eV/e².

    As :func:`coulomb_matrix` in the limit σ → 0 without the (infinite) self-energy:
    ``A_ij = k_e/r_ij`` for a molecule (zero diagonal); for a periodic cell the Ewald
    sum, whose diagonal holds each atom's interaction with its own images. Same
    arguments as :func:`coulomb_matrix` less ``widths_A``.
    """
    _check_shapes(positions, None, cell)
    if not _is_periodic(pbc):
        return _molecular_matrix(positions, None)
    return periodic_coulomb_matrix(
        positions,
        None,
        cell.to(positions.dtype),
        accuracy=ewald_accuracy,
        smearing_A=smearing_A,
    )


def electrostatic_energy(charges: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Electrostatic energy ½ qᵀ A q, a scalar in eV.

    Args:
        charges: atomic charges q, shape [N], e.
        matrix: Coulomb matrix A, shape [N, N], eV/e².
    """
    return 0.5 * charges @ (matrix @ charges)
