"""From a diabatic matrix to adiabatic energies, gradients and nonadiabatic couplings.

Everything here is numpy, batched over any leading shape (trajectories, grid points) and
works for any number of states ``n`` and coordinates ``d``, in whatever consistent units
the diabatic matrix carries (atomic units in this package).

With ``H_d = U diag(E) U^T`` (columns of ``U`` are the adiabatic states):

* adiabatic gradients (Hellmann–Feynman): ``∇E_i = U_i^T ∇H_d U_i``;
* nonadiabatic couplings: ``d_ij = <i|∇j> = U_i^T ∇H_d U_j / (E_j - E_i)``, antisymmetric.

Eigenvectors are defined only up to sign; :func:`align_phases` fixes the signs so that
each state overlaps positively with the previous step's, which makes couplings and
amplitudes continuous along a trajectory. At (near) degeneracies the coupling denominator
is regularised, ``ΔE / (ΔE² + ε²)``, so nothing becomes NaN or infinite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "AdiabaticStates",
    "diagonalize",
    "adiabatic_states",
    "align_phases",
    "coupling_vectors",
]

#: Energy gap (in the units of H_d) below which couplings are regularised.
DEGENERACY_EPSILON = 1e-10


@dataclass(frozen=True)
class AdiabaticStates:
    """Adiabatic quantities at a batch of geometries.

    Attributes:
        energies: ``[..., n]`` ascending adiabatic energies.
        vectors: ``[..., n, n]``; column ``i`` is adiabatic state ``i`` in the diabatic basis.
        gradients: ``[..., d, n]`` adiabatic energy gradients ``∂E_i/∂q_a``.
        couplings: ``[..., d, n, n]`` nonadiabatic couplings ``d_ij`` (antisymmetric in i, j).
    """

    energies: np.ndarray
    vectors: np.ndarray
    gradients: np.ndarray
    couplings: np.ndarray


def diagonalize(matrix: np.ndarray, reference: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decompose symmetric matrices, optionally aligning signs with ``reference``.

    Args:
        matrix: ``[..., n, n]`` symmetric.
        reference: ``[..., n, n]`` eigenvectors of the previous step, or ``None``.

    Returns:
        ``(energies [..., n], vectors [..., n, n])``; energies ascending.
    """
    energies, vectors = np.linalg.eigh(matrix)  # [..., n], [..., n, n]
    if reference is not None:
        vectors = align_phases(vectors, reference)
    return energies, vectors


def align_phases(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Flip eigenvector signs so that ``reference_i · vectors_i >= 0`` for every state i.

    Args:
        vectors: ``[..., n, n]`` new eigenvectors (columns).
        reference: ``[..., n, n]`` eigenvectors at the previous geometry.

    Returns:
        A new ``[..., n, n]`` array; the input is not modified.
    """
    overlap = np.einsum("...ki,...ki->...i", reference, vectors)  # [..., n]
    signs = np.where(overlap < 0.0, -1.0, 1.0)  # [..., n]
    return vectors * signs[..., None, :]


def _project(vectors: np.ndarray, matrix_gradient: np.ndarray) -> np.ndarray:
    """``U^T ∇H U``: ``[..., n, n]`` and ``[..., d, n, n]`` to ``[..., d, n, n]``."""
    return np.einsum("...ki,...akl,...lj->...aij", vectors, matrix_gradient, vectors,
                     optimize=True)


def coupling_vectors(energies: np.ndarray, projected: np.ndarray,
                     epsilon: float = DEGENERACY_EPSILON) -> np.ndarray:
    """Nonadiabatic couplings from ``U^T ∇H U`` by Hellmann–Feynman.

    Args:
        energies: ``[..., n]`` adiabatic energies.
        projected: ``[..., d, n, n]`` the gradient matrix in the adiabatic basis.
        epsilon: gap regulariser; couplings use ``ΔE / (ΔE² + ε²)`` instead of ``1/ΔE``.

    Returns:
        ``[..., d, n, n]`` ``d_ij``, zero on the diagonal, finite everywhere.
    """
    gap = energies[..., None, :] - energies[..., :, None]  # [..., n, n] E_j - E_i
    inverse = gap / (gap * gap + epsilon * epsilon)  # [..., n, n], 0 on the diagonal
    return projected * inverse[..., None, :, :]


def adiabatic_states(matrix: np.ndarray, matrix_gradient: np.ndarray,
                     reference: np.ndarray | None = None) -> AdiabaticStates:
    """Adiabatic energies, gradients and couplings from the diabatic matrix and its gradient.

    Args:
        matrix: ``[..., n, n]`` diabatic Hamiltonian.
        matrix_gradient: ``[..., d, n, n]`` its gradient with respect to the coordinates.
        reference: previous eigenvectors ``[..., n, n]`` to continue the signs from.

    Returns:
        :class:`AdiabaticStates`.
    """
    energies, vectors = diagonalize(matrix, reference)
    projected = _project(vectors, matrix_gradient)  # [..., d, n, n]
    gradients = np.diagonal(projected, axis1=-2, axis2=-1)  # [..., d, n]
    return AdiabaticStates(energies=energies, vectors=vectors, gradients=gradients.copy(),
                           couplings=coupling_vectors(energies, projected))
