"""Forces and stress by autograd, for any :class:`~nnpkit.models.potential.Potential`.

Positions and cell are deformed by a symmetric strain ε (zero-valued, but in the graph),
so ``forces = -∂E/∂r`` and ``stress = (1/V) ∂E/∂ε``, ASE's sign convention (a cell
under tension has positive stress).
"""

from __future__ import annotations

import torch

from nnpkit.data.graph import AtomicGraph
from nnpkit.models.potential import Potential

__all__ = ["compute_properties"]


def compute_properties(
    model: Potential, graph: AtomicGraph, forces: bool = True, stress: bool = False,
    create_graph: bool = False,
) -> dict[str, torch.Tensor]:
    """Energy, and on request forces and stress, of every structure in ``graph``.

    Args:
        model: any Potential.
        graph: a batch of B structures with N atoms.
        forces: compute forces [N, 3], eV/Å.
        stress: compute stress [B, 3, 3], eV/Å³ (NaN for structures that are not fully
            periodic, since their volume is undefined).
        create_graph: keep the graph of the derivatives (needed to train on forces).

    Returns:
        ``{"energy": [B], "atomic_energies": [N], "forces": [N, 3], "stress": [B, 3, 3]}``
        (the last two only when asked for).
    """
    positions = graph.positions.detach().requires_grad_(forces)
    cell = graph.cell.detach()
    strain = torch.zeros_like(cell, requires_grad=stress)  # [B, 3, 3]
    if stress:
        symmetric = 0.5 * (strain + strain.transpose(1, 2))
        deformed_positions = positions + torch.einsum(
            "ni,nij->nj", positions, symmetric[graph.batch])
        deformed_cell = cell + torch.bmm(cell, symmetric)
    else:
        deformed_positions, deformed_cell = positions, cell
    output = model(graph.replace(positions=deformed_positions, cell=deformed_cell))
    inputs = ([positions] if forces else []) + ([strain] if stress else [])
    result = {"energy": output["energy"], "atomic_energies": output["atomic_energies"]}
    if not inputs:
        return result
    raw_grads = torch.autograd.grad(
        output["energy"].sum(), inputs, create_graph=create_graph, allow_unused=True)
    grads = [grad if grad is not None else torch.zeros_like(value)
             for grad, value in zip(raw_grads, inputs, strict=True)]
    if forces:
        result["forces"] = -grads[0]
    if stress:
        periodic = graph.pbc.all(dim=1)[:, None, None]  # [B, 1, 1]
        volume = torch.abs(torch.linalg.det(cell))[:, None, None]  # [B, 1, 1]
        # divide by 1 where there is no volume, then mask: a NaN inside the division would
        # turn the (zero) gradients of those rows into NaN when training on stress
        safe_volume = torch.where(periodic, volume, torch.ones_like(volume))
        stress_tensor = grads[-1] / safe_volume
        result["stress"] = torch.where(periodic, stress_tensor,
                                       torch.full_like(stress_tensor, float("nan")))
    return result
