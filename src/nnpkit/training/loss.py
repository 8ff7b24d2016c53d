"""The weighted energy/force/stress/dipole/polarizability loss, normalised by the labels
of the whole batch.

Each term is a sum of squared errors divided by the number of labelled entries in the
*global* batch (``normalization``): energies per structure, force components, stress
entries, dipole components and polarizability components. One process passes its batch's
own counts (a plain mean); under DDP every process passes the counts of the whole global
batch, so the per-process losses add up to the single-process loss of that batch (see
:mod:`nnpkit.training.distributed`).

The response terms are per atom, like the energy: a dipole (e·Å) and a polarizability
(e·Å²/V) grow with the size of a molecule (α is additive over distant fragments, μ over
aligned polar groups), so ``(Δμ/N)²`` and ``(Δα/N)²`` keep large molecules from
dominating a batch of mixed sizes (MACE scales its dipole loss the same way). Only
molecules (no periodic direction) carry them: a dipole is not single-valued in PBC.
"""

from __future__ import annotations

import torch

from nnpkit.data.graph import AtomicGraph

__all__ = ["LOSS_TERMS", "label_counts", "weighted_loss", "has_dipole", "has_polarizability"]

#: The loss terms, in the order of the columns of :func:`label_counts`.
LOSS_TERMS = ("energy", "forces", "stress", "dipole", "polarizability")


def _has_stress(graph: AtomicGraph) -> torch.Tensor:
    return torch.isfinite(graph.stress).flatten(1).all(dim=1) & graph.pbc.all(dim=1)  # [B]


def _molecular(graph: AtomicGraph) -> torch.Tensor:
    return ~graph.pbc.any(dim=1)  # [B]


def has_dipole(graph: AtomicGraph) -> torch.Tensor:
    """Structures with a finite dipole label that are molecules: [B] bool."""
    return torch.isfinite(graph.dipole).all(dim=1) & _molecular(graph)


def has_polarizability(graph: AtomicGraph) -> torch.Tensor:
    """Structures with a finite polarizability label that are molecules: [B] bool."""
    return torch.isfinite(graph.polarizability).flatten(1).all(dim=1) & _molecular(graph)


def label_counts(graph: AtomicGraph) -> torch.Tensor:
    """Labelled entries of each loss term (:data:`LOSS_TERMS`), per structure.

    Returns:
        ``[B, 5]`` float64: energy labels (0 or 1), force components (3 × atoms with
        finite forces), stress entries (9, or 0 without a stress or a full cell), dipole
        components (3, or 0 without a dipole or for a periodic structure) and
        polarizability components (9, or 0 likewise).
    """
    counts = torch.zeros(graph.n_structures, len(LOSS_TERMS), dtype=torch.float64,
                         device=graph.n_atoms.device)  # [B, 5]
    counts[:, 0] = torch.isfinite(graph.energy).to(torch.float64)
    has_forces = torch.isfinite(graph.forces).all(dim=1).to(torch.float64)  # [N]
    counts[:, 1].index_add_(0, graph.batch, 3.0 * has_forces)
    counts[:, 2] = 9.0 * _has_stress(graph).to(torch.float64)
    counts[:, 3] = 3.0 * has_dipole(graph).to(torch.float64)
    counts[:, 4] = 9.0 * has_polarizability(graph).to(torch.float64)
    return counts


def weighted_loss(
    prediction: dict[str, torch.Tensor], graph: AtomicGraph, energy_weight: float,
    forces_weight: float, stress_weight: float, normalization: torch.Tensor | None = None,
    dipole_weight: float = 0.0, polarizability_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted squared errors over the labels present, divided by ``normalization``.

    Terms: energy per atom (eV²), force components ((eV/Å)²), stress as virial per atom,
    ``σ·V/N`` (eV², the scale of the energy per atom), dipole components per atom
    (``Δμ/N``, (e·Å)²) and polarizability components per atom (``Δα/N``, (e·Å²/V)²).
    A term is left out when its weight is 0, its prediction was not computed, or no
    structure of the batch has its label.

    Args:
        prediction: ``energy`` [B] and, if computed, ``forces`` [N, 3], ``stress``
            [B, 3, 3], ``dipole`` [B, 3], ``polarizability`` [B, 3, 3].
        graph: the labelled batch.
        energy_weight, forces_weight, stress_weight: weights of the first three terms.
        normalization: ``[5]`` numbers of labelled energies, force components, stress
            entries, dipole and polarizability components to divide by; default: this
            batch's (``label_counts(graph).sum(0)``), which makes each term a mean.
        dipole_weight, polarizability_weight: weights of the response terms.

    Returns:
        ``(loss, parts)`` with the scalar loss and the unweighted terms as floats.
    """
    counts = label_counts(graph).sum(0) if normalization is None else normalization
    counts = counts.to(prediction["energy"].device)
    n_atoms = graph.n_atoms.to(prediction["energy"].dtype)  # [B]
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
    labelled = has_dipole(graph)
    if dipole_weight > 0 and "dipole" in prediction and bool(labelled.any()):
        error = (prediction["dipole"] - graph.dipole)[labelled] / n_atoms[labelled, None]
        parts["dipole"] = (error ** 2).sum() / counts[3].to(error.dtype)
    labelled = has_polarizability(graph)
    if polarizability_weight > 0 and "polarizability" in prediction and bool(labelled.any()):
        error = ((prediction["polarizability"] - graph.polarizability)[labelled]
                 / n_atoms[labelled, None, None])
        parts["polarizability"] = (error ** 2).sum() / counts[4].to(error.dtype)
    weights = {"energy": energy_weight, "forces": forces_weight, "stress": stress_weight,
               "dipole": dipole_weight, "polarizability": polarizability_weight}
    loss = zero + sum(weights[name] * value for name, value in parts.items())
    return loss, {name: float(value.detach()) for name, value in parts.items()}
