"""The weighted energy/force/stress loss, normalised by the labels of the whole batch.

Each term is a sum of squared errors divided by the number of labelled entries in the
*global* batch (``normalization``): energies per structure, force components, stress
entries. One process passes its batch's own counts (a plain mean); under DDP every
process passes the counts of the whole global batch, so the per-process losses add up to
the single-process loss of that batch (see :mod:`nnpkit.training.distributed`).
"""

from __future__ import annotations

import torch

from nnpkit.data.graph import AtomicGraph

__all__ = ["label_counts", "weighted_loss"]


def _has_stress(graph: AtomicGraph) -> torch.Tensor:
    return torch.isfinite(graph.stress).flatten(1).all(dim=1) & graph.pbc.all(dim=1)  # [B]


def label_counts(graph: AtomicGraph) -> torch.Tensor:
    """Labelled entries of each loss term, per structure.

    Returns:
        ``[B, 3]`` float64: energy labels (0 or 1), force components (3 × atoms with
        finite forces) and stress entries (9, or 0 without a stress or a full cell).
    """
    counts = torch.zeros(graph.n_structures, 3, dtype=torch.float64,
                         device=graph.n_atoms.device)
    counts[:, 0] = torch.isfinite(graph.energy).to(torch.float64)
    has_forces = torch.isfinite(graph.forces).all(dim=1).to(torch.float64)  # [N]
    counts[:, 1].index_add_(0, graph.batch, 3.0 * has_forces)
    counts[:, 2] = 9.0 * _has_stress(graph).to(torch.float64)
    return counts


def weighted_loss(
    prediction: dict[str, torch.Tensor], graph: AtomicGraph, energy_weight: float,
    forces_weight: float, stress_weight: float, normalization: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted squared errors over the labels present, divided by ``normalization``.

    Terms: energy per atom (eV²), force components ((eV/Å)²), and stress as virial per
    atom, ``σ·V/N`` (eV²), which puts it on the scale of the energy per atom.

    Args:
        prediction: ``energy`` [B] and, if computed, ``forces`` [N, 3], ``stress`` [B, 3, 3].
        graph: the labelled batch.
        energy_weight, forces_weight, stress_weight: weights of the three terms.
        normalization: ``[3]`` numbers of labelled energies, force components and stress
            entries to divide by; default: this batch's (``label_counts(graph).sum(0)``),
            which makes each term a mean squared error.

    Returns:
        ``(loss, parts)`` with the scalar loss and the unweighted terms as floats.
    """
    counts = label_counts(graph).sum(0) if normalization is None else normalization
    counts = counts.to(prediction["energy"].device)
    n_atoms = graph.n_atoms.to(prediction["energy"].dtype)
    zero = prediction["energy"].new_zeros(())
    parts: dict[str, torch.Tensor] = {}
    has_energy = torch.isfinite(graph.energy)
    if energy_weight > 0 and bool(has_energy.any()):
        error = (prediction["energy"] - graph.energy) / n_atoms
        parts["energy"] = (error[has_energy] ** 2).sum() / counts[0]
    has_forces = torch.isfinite(graph.forces).all(dim=1)
    if forces_weight > 0 and "forces" in prediction and bool(has_forces.any()):
        error = (prediction["forces"] - graph.forces)[has_forces]
        parts["forces"] = (error ** 2).sum() / counts[1].to(error.dtype)
    has_stress = _has_stress(graph)
    if stress_weight > 0 and "stress" in prediction and bool(has_stress.any()):
        volume = torch.abs(torch.linalg.det(graph.cell))
        virial_scale = (volume / n_atoms)[:, None, None]
        error = (prediction["stress"] - graph.stress) * virial_scale
        parts["stress"] = (error[has_stress] ** 2).sum() / counts[2].to(error.dtype)
    weights = {"energy": energy_weight, "forces": forces_weight, "stress": stress_weight}
    loss = zero + sum(weights[name] * value for name, value in parts.items())
    return loss, {name: float(value.detach()) for name, value in parts.items()}
