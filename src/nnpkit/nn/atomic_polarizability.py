"""Learned atomic polarizability tensors, rotation-equivariant by construction.

Each atom i carries a symmetric rank-2 tensor (e·Å²/V)

    α_i = a_i I + Σ_j Σ_k c_ik[s_j] g_k(r_ij) (r̂_ij r̂_ijᵀ − I/3),

with an isotropic part a_i > 0 and a traceless anisotropic part summed over the
neighbours j (element s_j) within the cutoff: g_k are Gaussian radial functions times a
cosine cutoff, and the coefficients a_i, c_ik[s] come from the atom's invariant
descriptor. Under a rotation R every r̂ r̂ᵀ becomes R r̂ r̂ᵀ Rᵀ, so α_i → R α_i Rᵀ exactly;
the anisotropic part is what lets a planar molecule such as H2CO have three different
principal polarizabilities (charge flow alone gives none out of the plane).
"""

from __future__ import annotations

import torch
from torch import nn

from nnpkit.nn.cutoff import cosine_cutoff

__all__ = ["AtomicPolarizability"]

#: Polarizability of an atom whose isotropic network output is 0, e·Å²/V (softplus(0)
#: times this is ≈ 0.07 e·Å²/V ≈ 1 Å³, the size of a first-row atom's polarizability).
ISOTROPIC_SCALE = 0.1


class AtomicPolarizability(nn.Module):
    """Atomic polarizability tensors from per-atom coefficients and the edges.

    Args:
        n_elements: number of element types S.
        cutoff_radius: range of the anisotropic sum, Å.
        n_radial: number of radial functions K.
    """

    centres: torch.Tensor

    def __init__(self, n_elements: int, cutoff_radius: float, n_radial: int) -> None:
        super().__init__()
        self.n_elements = n_elements
        self.n_radial = n_radial
        self.cutoff_radius = float(cutoff_radius)
        self.register_buffer("centres", torch.linspace(0.8, cutoff_radius, n_radial))  # [K]
        spacing = (cutoff_radius - 0.8) / max(n_radial - 1, 1)
        self.eta = 1.0 / (2.0 * spacing**2)

    @property
    def n_coefficients(self) -> int:
        """Per-atom inputs: 1 isotropic + K·S anisotropic coefficients."""
        return 1 + self.n_radial * self.n_elements

    def forward(self, coefficients: torch.Tensor, species: torch.Tensor,
                edge_index: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """Atomic polarizabilities [N, 3, 3], e·Å²/V.

        Args:
            coefficients: per-atom network outputs [N, 1 + K·S].
            species: element index of each atom [N].
            edge_index: (centre, neighbour) [2, E].
            vectors: centre→neighbour vectors [E, 3], Å.
        """
        n_atoms = coefficients.shape[0]
        centre, neighbour = edge_index
        isotropic = ISOTROPIC_SCALE * nn.functional.softplus(coefficients[:, 0])  # [N]
        weights = coefficients[:, 1:].reshape(n_atoms, self.n_elements, self.n_radial)
        distance = torch.linalg.vector_norm(vectors, dim=-1)  # [E]
        radial = torch.exp(-self.eta * (distance[:, None] - self.centres) ** 2)  # [E, K]
        radial = radial * cosine_cutoff(distance, self.cutoff_radius)[:, None]
        strength = (weights[centre, species[neighbour]] * radial).sum(-1)  # [E]
        unit = vectors / distance[:, None]
        eye = torch.eye(3, dtype=vectors.dtype, device=vectors.device)
        traceless = unit[:, :, None] * unit[:, None, :] - eye / 3.0  # [E, 3, 3]
        anisotropic = vectors.new_zeros(n_atoms, 3, 3).index_add(
            0, centre, ISOTROPIC_SCALE * strength[:, None, None] * traceless)  # [N, 3, 3]
        return isotropic[:, None, None] * eye + anisotropic
