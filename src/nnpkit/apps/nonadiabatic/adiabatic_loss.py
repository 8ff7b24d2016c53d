"""Differentiable adiabatic quantities of a learned diabatic matrix, and a phase-free loss.

Training on electronic-structure output compares the network's ``H_d`` with what a
multi-state calculation (e.g. SA-CASSCF) gives: adiabatic energies, their gradients and
the nonadiabatic couplings (NACs). :func:`adiabatic_from_diabatic` is the torch
counterpart of :func:`nnpkit.apps.nonadiabatic.adiabatic.adiabatic_states`, batched and
differentiable (float64 recommended): with ``H_d = U diag(E) U^T``,

* energies ``E_i``, the eigenvalues;
* Hellmann–Feynman gradients ``∇E_i = U_i^T ∇H_d U_i``;
* gap-scaled couplings ``h_ij = U_i^T ∇H_d U_j = d_ij (E_j - E_i)`` for pairs ``i < j``
  in the order ``(0,1), (0,2), ..., (1,2), ...`` (that of
  :func:`~nnpkit.apps.nonadiabatic.networks.symmetric_from_elements`).

Why ``h`` and not ``d``: ``d_ij = h_ij / (E_j - E_i)`` diverges where two states cross
and is ill-conditioned near an avoided crossing (a small error in the gap becomes a large
error in ``d``), while ``h`` is a smooth function of the geometry wherever ``H_d`` is.
Reference NACs are turned into reference ``h`` with the reference gap
(:func:`gap_scaled_couplings`).

Why a phase-free loss: an eigenvector is defined only up to sign, and electronic-structure
codes return each state's sign at random, independently at every geometry. ``d_ij`` (and
``h_ij``) change sign with either state, so the reference coupling of each pair at each
geometry is known only up to a factor ±1. :func:`phase_free_coupling_loss` takes the
better of both signs per geometry and pair; the whole vector over coordinates flips
together, so the direction of the coupling is still fitted.

What the phase-free loss cannot see: the relative sign of two coupling regions separated
by a zero of ``d`` (Tully's dual avoided crossing: ``d`` is odd about the well centre).
A network whose ``d`` only touches zero there fits the same energies and ``|d|`` but
transfers population back at the second crossing instead of onwards (benchmarks/
fssh_diabatisation.py: Tully 2 T_upper 0.008 against 0.66). Fixing it needs sign
information across geometries (wavefunction overlaps along a path, for the reference and
for the network's eigenvectors alike), which a per-geometry loss does not have.
"""

from __future__ import annotations

import torch

from nnpkit.errors import DataError

__all__ = ["adiabatic_from_diabatic", "phase_free_coupling_loss", "gap_scaled_couplings",
           "pair_indices"]


def pair_indices(n_states: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices ``([P], [P])`` of the pairs ``i < j``, row by row."""
    rows, cols = torch.triu_indices(n_states, n_states, offset=1)
    return rows, cols


def adiabatic_from_diabatic(matrix: torch.Tensor, gradient: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adiabatic energies, gradients and gap-scaled couplings of diabatic matrices.

    Differentiable in both inputs (the eigenvector derivative needs non-degenerate
    states, as the couplings themselves do).

    Args:
        matrix: ``[B, n, n]`` symmetric diabatic matrices (energy units).
        gradient: ``[B, d, n, n]`` their derivatives along ``d`` coordinates.

    Returns:
        ``(energies [B, n], gradients [B, d, n], couplings [B, d, P])``: ascending energies,
        Hellmann–Feynman gradients and ``h_ij = U_i^T ∇H U_j`` for the ``P = n(n-1)/2``
        pairs ``i < j`` (energy per coordinate unit).
    """
    if matrix.ndim != 3 or gradient.ndim != 4 or gradient.shape[-2:] != matrix.shape[-2:] \
            or gradient.shape[0] != matrix.shape[0]:
        raise DataError(f"matrix must be [B, n, n] and gradient [B, d, n, n]; got "
                        f"{tuple(matrix.shape)} and {tuple(gradient.shape)}")
    energies, vectors = torch.linalg.eigh(matrix)  # [B, n], [B, n, n]
    projected = torch.einsum("bki,bakl,blj->baij", vectors, gradient, vectors)  # [B, d, n, n]
    gradients = torch.diagonal(projected, dim1=-2, dim2=-1)  # [B, d, n]
    rows, cols = pair_indices(matrix.shape[-1])
    return energies, gradients, projected[..., rows, cols]


def gap_scaled_couplings(nacs: torch.Tensor, energies: torch.Tensor) -> torch.Tensor:
    """Reference ``h_ij = d_ij (E_j - E_i)`` from NACs and energies.

    Args:
        nacs: ``[B, d, P]`` derivative couplings ``d_ij = <i|∂j/∂q>`` (1/length), pairs
            ``i < j`` row by row, any sign per geometry and pair.
        energies: ``[B, n]`` the reference adiabatic energies, ascending.

    Returns:
        ``[B, d, P]`` in energy per length (the sign of each ``nacs[b, :, p]`` is kept).
    """
    rows, cols = pair_indices(energies.shape[-1])
    if nacs.ndim != 3 or nacs.shape[0] != energies.shape[0] or nacs.shape[-1] != rows.numel():
        raise DataError(f"couplings must be [B, d, {rows.numel()}] for energies "
                        f"{tuple(energies.shape)}; got {tuple(nacs.shape)}")
    gap = energies[:, cols] - energies[:, rows]  # [B, P]
    return nacs * gap[:, None, :]


def phase_free_coupling_loss(predicted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Squared coupling error minimised over the sign of each reference coupling, ``[]``.

    For every geometry ``b`` and pair ``p``: ``min_{s=±1} Σ_a (pred[b,a,p] - s ref[b,a,p])²``,
    then averaged over geometries and pairs. Equal to ``|pred|² + |ref|² - 2|pred·ref|``,
    which is how it is evaluated (differentiable except where ``pred ⟂ ref`` exactly).

    Args:
        predicted: ``[B, d, P]`` couplings of the model (e.g. from
            :func:`adiabatic_from_diabatic`).
        reference: ``[B, d, P]`` reference couplings in the same units, arbitrary signs.
    """
    if predicted.shape != reference.shape or predicted.ndim != 3:
        raise DataError(f"predicted and reference couplings must both be [B, d, P]; got "
                        f"{tuple(predicted.shape)} and {tuple(reference.shape)}")
    overlap = torch.sum(predicted * reference, dim=1)  # [B, P]
    norms = torch.sum(predicted**2, dim=1) + torch.sum(reference**2, dim=1)  # [B, P]
    return torch.mean(norms - 2.0 * torch.abs(overlap))

