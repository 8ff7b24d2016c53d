"""Element-resolved atom-centred symmetry functions (ACSF) in PyTorch.

Radial functions (Behler's G2) for each neighbour element s and shift R_k::

    G_i[s, k] = Σ_{j ∈ s} exp(-η (r_ij - R_k)²) f_c(r_ij)

Angular functions (Behler's G5 with shifted radial parts, as in ANI) for each
unordered neighbour-element pair (s, t), shift R_a, and (λ, ζ)::

    G_i[st, a, λζ] = 2^(1-ζ) Σ_{j<k} (1 + λ cos θ_ijk)^ζ
                     exp(-η_a ((r_ij + r_ik)/2 - R_a)²) f_c(r_ij) f_c(r_ik)

Everything is vectorised over edges and triplets; no Python loop over atoms.
"""

from __future__ import annotations

import torch
from torch import nn

from nnpkit.nn.cutoff import cosine_cutoff

__all__ = ["SymmetryFunctions", "build_triplets"]


def build_triplets(centres: torch.Tensor, n_atoms: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs (e1, e2), e1 < e2, of edges sharing a centre atom.

    Args:
        centres: centre atom of each edge [M], sorted ascending.
        n_atoms: number of atoms N.

    Returns:
        ``(first, second)`` edge positions into ``centres``, each [T].
    """
    counts = torch.bincount(centres, minlength=n_atoms)  # [N]
    starts = torch.cumsum(counts, 0) - counts  # [N]
    per_edge = counts[centres]  # [M]
    first = torch.repeat_interleave(torch.arange(centres.shape[0], device=centres.device),
                                    per_edge)  # [sum n_i²]
    block_start = torch.cumsum(per_edge, 0) - per_edge
    local = torch.arange(first.shape[0], device=centres.device) - torch.repeat_interleave(
        block_start, per_edge)
    second = starts[centres[first]] + local
    keep = first < second
    return first[keep], second[keep]


class SymmetryFunctions(nn.Module):
    """Radial and angular ACSF per atom, resolved by neighbour element.

    Args:
        n_elements: number of element types S (atoms carry an element index 0..S-1).
        cutoff_radius: radial cutoff, Å.
        angular_cutoff_radius: cutoff of the angular terms, Å (≤ cutoff_radius; a shorter
            one keeps the number of triplets small).
        n_radial: number of radial shifts R_k, spread evenly on [0.5 Å, cutoff).
        n_angular_radial: number of radial shifts R_a of the angular terms.
        zetas: ζ exponents of the angular terms; each is used with λ = +1 and -1.
    """

    radial_shifts: torch.Tensor
    angular_shifts: torch.Tensor
    lambdas: torch.Tensor
    zetas: torch.Tensor
    pair_index: torch.Tensor

    def __init__(
        self, n_elements: int, cutoff_radius: float, angular_cutoff_radius: float,
        n_radial: int = 16, n_angular_radial: int = 4, zetas: tuple[int, ...] = (1, 2, 4, 8),
    ) -> None:
        super().__init__()
        if angular_cutoff_radius > cutoff_radius:
            raise ValueError("angular_cutoff_radius must not exceed cutoff_radius")
        self.n_elements = n_elements
        self.cutoff_radius = float(cutoff_radius)
        self.angular_cutoff_radius = float(angular_cutoff_radius)
        radial_shifts = torch.linspace(0.5, cutoff_radius, n_radial + 1)[:-1]
        angular_shifts = torch.linspace(0.5, angular_cutoff_radius, n_angular_radial + 1)[:-1]
        spacing = float(radial_shifts[1] - radial_shifts[0]) if n_radial > 1 else cutoff_radius
        angular_spacing = (float(angular_shifts[1] - angular_shifts[0])
                           if n_angular_radial > 1 else angular_cutoff_radius)
        self.register_buffer("radial_shifts", radial_shifts)  # [K]
        self.register_buffer("angular_shifts", angular_shifts)  # [A]
        self.radial_eta = 1.0 / (2.0 * spacing**2)
        self.angular_eta = 1.0 / (2.0 * angular_spacing**2)
        lambdas = torch.tensor([1.0, -1.0]).repeat_interleave(len(zetas))
        zeta_values = torch.tensor(zetas, dtype=torch.float64).repeat(2)
        self.register_buffer("lambdas", lambdas)  # [L]
        self.register_buffer("zetas", zeta_values)  # [L]
        pair_index = torch.zeros(n_elements, n_elements, dtype=torch.long)
        count = 0
        for s in range(n_elements):
            for t in range(s, n_elements):
                pair_index[s, t] = pair_index[t, s] = count
                count += 1
        self.register_buffer("pair_index", pair_index)  # [S, S]
        self.n_pairs = count
        self.n_radial_features = n_elements * n_radial
        self.n_angular_features = count * n_angular_radial * len(lambdas)

    @property
    def n_features(self) -> int:
        """Length F of the feature vector of one atom."""
        return self.n_radial_features + self.n_angular_features

    def forward(
        self, species: torch.Tensor, edge_index: torch.Tensor, vectors: torch.Tensor
    ) -> torch.Tensor:
        """Symmetry functions of every atom.

        Args:
            species: element index of each atom [N], int64 in 0..S-1.
            edge_index: (centre, neighbour) [2, E], sorted by centre.
            vectors: centre→neighbour vectors [E, 3], Å.

        Returns:
            Features [N, F].
        """
        n_atoms = species.shape[0]
        centre, neighbour = edge_index
        distance = torch.linalg.vector_norm(vectors, dim=-1)  # [E]
        # radial part: [E, K] scattered to [N * S, K]
        radial = torch.exp(-self.radial_eta * (distance[:, None] - self.radial_shifts) ** 2)
        radial = radial * cosine_cutoff(distance, self.cutoff_radius)[:, None]
        radial_slot = centre * self.n_elements + species[neighbour]
        radial_features = vectors.new_zeros(n_atoms * self.n_elements, radial.shape[1])
        radial_features = radial_features.index_add(0, radial_slot, radial)
        # angular part over triplets of edges inside the angular cutoff
        inside = torch.nonzero(distance < self.angular_cutoff_radius).squeeze(1)  # [M]
        first, second = build_triplets(centre[inside], n_atoms)
        e1, e2 = inside[first], inside[second]  # [T]
        r1, r2 = distance[e1], distance[e2]
        cos_angle = (vectors[e1] * vectors[e2]).sum(-1) / (r1 * r2)  # [T]
        lambdas = self.lambdas.to(vectors.dtype)
        zetas = self.zetas.to(vectors.dtype)
        angle_terms = torch.pow(1.0 + lambdas * cos_angle[:, None], zetas) * torch.pow(
            2.0, 1.0 - zetas)  # [T, L]
        mean_r = 0.5 * (r1 + r2)
        radial_terms = torch.exp(-self.angular_eta * (mean_r[:, None] - self.angular_shifts) ** 2)
        radial_terms = radial_terms * (
            cosine_cutoff(r1, self.angular_cutoff_radius)
            * cosine_cutoff(r2, self.angular_cutoff_radius))[:, None]  # [T, A]
        angular = (radial_terms[:, :, None] * angle_terms[:, None, :]).flatten(1)  # [T, A*L]
        pair = self.pair_index[species[neighbour[e1]], species[neighbour[e2]]]
        angular_slot = centre[e1] * self.n_pairs + pair
        angular_features = vectors.new_zeros(n_atoms * self.n_pairs, angular.shape[1])
        angular_features = angular_features.index_add(0, angular_slot, angular)
        return torch.cat([
            radial_features.view(n_atoms, -1),
            angular_features.view(n_atoms, -1),
        ], dim=1)
