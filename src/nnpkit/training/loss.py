"""The weighted energy/force/stress loss."""

from __future__ import annotations

import torch

from nnpkit.data.graph import AtomicGraph

__all__ = ["weighted_loss"]


def weighted_loss(
    prediction: dict[str, torch.Tensor], graph: AtomicGraph, energy_weight: float,
    forces_weight: float, stress_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean squared errors, each over the labels present, combined with weights.

    Terms: energy per atom (eV²), force components ((eV/Å)²), and stress as virial per
    atom, ``σ·V/N`` (eV²), which puts it on the scale of the energy per atom.

    Returns:
        ``(loss, parts)`` with the scalar loss and the unweighted terms as floats.
    """
    n_atoms = graph.n_atoms.to(prediction["energy"].dtype)
    zero = prediction["energy"].new_zeros(())
    parts: dict[str, torch.Tensor] = {}
    has_energy = torch.isfinite(graph.energy)
    if energy_weight > 0 and bool(has_energy.any()):
        error = (prediction["energy"] - graph.energy) / n_atoms
        parts["energy"] = (error[has_energy] ** 2).mean()
    has_forces = torch.isfinite(graph.forces).all(dim=1)
    if forces_weight > 0 and "forces" in prediction and bool(has_forces.any()):
        parts["forces"] = ((prediction["forces"] - graph.forces)[has_forces] ** 2).mean()
    has_stress = torch.isfinite(graph.stress).flatten(1).all(dim=1) & graph.pbc.all(dim=1)
    if stress_weight > 0 and "stress" in prediction and bool(has_stress.any()):
        volume = torch.abs(torch.linalg.det(graph.cell))
        virial_scale = (volume / n_atoms)[:, None, None]
        error = (prediction["stress"] - graph.stress) * virial_scale
        parts["stress"] = (error[has_stress] ** 2).mean()
    weights = {"energy": energy_weight, "forces": forces_weight, "stress": stress_weight}
    loss = zero + sum(weights[name] * value for name, value in parts.items())
    return loss, {name: float(value.detach()) for name, value in parts.items()}
