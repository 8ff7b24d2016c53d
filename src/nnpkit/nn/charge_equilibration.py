"""Charge equilibration (QEq) with learned electronegativities, exact total charge.

The charges minimise, per structure, the second-order energy

    E_QEq(q) = Σ_i (χ_i − φ_i) q_i + ½ qᵀ H q,   subject to   Σ_{i ∈ b} q_i = Q_b,

where χ_i (eV/e) are environment-dependent electronegativities, φ_i = F·r_i (V) is the
potential of the external uniform field at atom i (the energy of a charge in the field is
−q F·r), and H = A + diag(J) (eV/e²) holds the Gaussian-charge Coulomb matrix A and the
atomic hardnesses J. The minimum is the solution of the linear (KKT) system

    [ H  Pᵀ ] [ q ]   [ φ − χ ]
    [ P  0  ] [ λ ] = [   Q   ],        P[b, i] = 1 if atom i belongs to structure b,

solved for the whole batch at once (block-diagonal H). The constraint makes the total
charge exact to machine precision for neutral and charged structures alike, and
because q is the constrained minimiser, the first derivatives of E_QEq(q*) with respect
to r and F need no derivative of q (Hellmann–Feynman): the dipole is Σ q_i r_i.
"""

from __future__ import annotations

import torch

__all__ = ["equilibrate_charges", "qeq_energy"]


def equilibrate_charges(hardness_matrix: torch.Tensor, electronegativity: torch.Tensor,
                        field_potential: torch.Tensor, batch: torch.Tensor,
                        total_charge: torch.Tensor) -> torch.Tensor:
    """The QEq charges of every atom of a batch.

    Args:
        hardness_matrix: H = A + diag(J) [N, N], eV/e², block-diagonal over structures
            (no coupling between atoms of different structures), positive definite.
        electronegativity: χ [N], eV/e.
        field_potential: φ = F·r [N], V (zeros without a field).
        batch: structure index of each atom [N].
        total_charge: Q of each structure [B], e.

    Returns:
        Charges q [N], e, with Σ_{i∈b} q_i = Q_b exactly (to rounding).
    """
    n_atoms, n_structures = electronegativity.shape[0], total_charge.shape[0]
    membership = torch.zeros(n_structures, n_atoms, dtype=hardness_matrix.dtype,
                             device=hardness_matrix.device)  # [B, N]
    membership[batch, torch.arange(n_atoms, device=batch.device)] = 1.0
    zeros = hardness_matrix.new_zeros(n_structures, n_structures)  # [B, B]
    system = torch.cat([torch.cat([hardness_matrix, membership.T], dim=1),
                        torch.cat([membership, zeros], dim=1)], dim=0)  # [N + B, N + B]
    right = torch.cat([field_potential - electronegativity,
                       total_charge.to(hardness_matrix.dtype)])  # [N + B]
    solution = torch.linalg.solve(system, right)
    return solution[:n_atoms]


def qeq_energy(charges: torch.Tensor, hardness_matrix: torch.Tensor,
               electronegativity: torch.Tensor, field_potential: torch.Tensor
               ) -> torch.Tensor:
    """Per-atom share of E_QEq [N], eV: ``(χ_i − φ_i) q_i + ½ q_i (H q)_i``.

    Summed over a structure's atoms this is E_QEq of that structure.
    """
    return ((electronegativity - field_potential) * charges
            + 0.5 * charges * (hardness_matrix @ charges))
