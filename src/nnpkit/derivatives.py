"""Forces, stress and field derivatives by autograd, for any
:class:`~nnpkit.models.potential.Potential`.

Positions and cell are deformed by a symmetric strain ε (zero-valued, but in the graph),
so ``forces = -∂E/∂r`` and ``stress = (1/V) ∂E/∂ε``, ASE's sign convention (a cell
under tension has positive stress).

The response to a uniform external field F (``graph.field``, V/Å; only the models with
``responds_to_field``, e.g. the charge-aware family) is differentiated the same way:
the dipole ``μ = −∂E/∂F`` (e·Å), the polarizability ``α = −∂²E/∂F² = ∂μ/∂F`` (e·Å²/V)
and the Born effective charges ``Z*_i[a, b] = ∂μ_a/∂R_ib = ∂F_ib/∂F_a`` (e), all at the
field the graph carries (zero unless set: then μ and α are the permanent dipole and the
static polarizability). Forces and stress at a finite field include the field's force
on the charges, so MD in a field works. A uniform field in periodic boundary
conditions is not defined by a single-valued potential, so field derivatives of a
periodic structure are refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from nnpkit.data.graph import AtomicGraph
from nnpkit.errors import ConfigError
from nnpkit.models.potential import Potential

__all__ = ["compute_properties", "check_field_supported", "uniform_field"]


def check_field_supported(model: Potential, graph: AtomicGraph) -> None:
    """Refuse field derivatives a model or a structure cannot give.

    Raises:
        ConfigError: the model family has no field coupling, or a structure of the
            batch is periodic in any direction (naming its index in the batch).
    """
    if not model.responds_to_field:
        raise ConfigError(
            f"model kind {model.kind!r} has no coupling to an electric field, so it has no "
            "dipole, polarizability or Born charges; train a model of kind 'charge_aware'")
    periodic = torch.nonzero(graph.pbc.any(dim=1)).flatten()
    if periodic.numel():
        raise ConfigError(
            f"structure {int(periodic[0])} of the batch is periodic: a uniform electric "
            "field in periodic boundary conditions is not supported (its potential −F·r "
            "is not periodic); dipoles, polarizabilities and fields are for molecules and "
            "clusters (pbc=False)")


def uniform_field(model: Potential, field_V_per_A: Sequence[float] | None) -> np.ndarray:
    """The uniform external field [3] (V/Å, float64; zeros for None) a model is to run in.

    Raises:
        ConfigError: not 3 finite numbers, or a non-zero field for a model family without
            a field coupling.
    """
    if field_V_per_A is None:
        return np.zeros(3)
    field = np.asarray(field_V_per_A, dtype=np.float64)
    if field.shape != (3,) or not np.all(np.isfinite(field)):
        raise ConfigError(f"external_field_V_per_A must be 3 finite numbers (V/Å), got "
                          f"{field_V_per_A!r}")
    if np.any(field) and not model.responds_to_field:
        raise ConfigError(f"model kind {model.kind!r} has no coupling to an electric field; "
                          "external_field_V_per_A needs a charge_aware model")
    return field


def _grad(output: torch.Tensor, inputs: list[torch.Tensor], create_graph: bool,
          retain_graph: bool = True) -> list[torch.Tensor]:
    """``∂ output.sum() / ∂ inputs``, zeros where an input does not enter."""
    raw = torch.autograd.grad(output.sum(), inputs, create_graph=create_graph,
                              retain_graph=retain_graph, allow_unused=True)
    return [grad if grad is not None else torch.zeros_like(value)
            for grad, value in zip(raw, inputs, strict=True)]


def compute_properties(
    model: Potential, graph: AtomicGraph, forces: bool = True, stress: bool = False,
    create_graph: bool = False, dipole: bool = False, polarizability: bool = False,
    born_charges: bool = False,
) -> dict[str, torch.Tensor]:
    """Energy, and on request forces, stress and field derivatives, of every structure.

    Args:
        model: any Potential (the field derivatives need ``model.responds_to_field``).
        graph: a batch of B structures with N atoms (its ``field``, V/Å, and ``charge``,
            e, are inputs of the charge-aware models).
        forces: compute forces [N, 3], eV/Å.
        stress: compute stress [B, 3, 3], eV/Å³ (NaN for structures that are not fully
            periodic, since their volume is undefined).
        create_graph: keep the graph of the derivatives (needed to train on them).
        dipole: compute the dipole [B, 3], e·Å (−∂E/∂F).
        polarizability: compute the polarizability [B, 3, 3], e·Å²/V (∂μ_a/∂F_b).
        born_charges: compute the Born effective charges [N, 3, 3], e (∂μ_a/∂R_ib).

    Returns:
        ``{"energy": [B], "atomic_energies": [N], "forces": [N, 3], "stress": [B, 3, 3],
        "dipole": [B, 3], "polarizability": [B, 3, 3], "born_charges": [N, 3, 3]}`` (the
        derivatives only when asked for), plus any extra per-atom output of the model
        (e.g. ``"charges"`` [N], e).

    Raises:
        ConfigError: field derivatives of a model without field coupling or of a
            periodic structure (see :func:`check_field_supported`).
    """
    wants_field = dipole or polarizability or born_charges
    if wants_field:
        check_field_supported(model, graph)
    positions = graph.positions.detach().requires_grad_(forces or born_charges)
    cell = graph.cell.detach()
    strain = torch.zeros_like(cell, requires_grad=stress)  # [B, 3, 3]
    field = graph.field.detach().requires_grad_(wants_field)  # [B, 3]
    if stress:
        symmetric = 0.5 * (strain + strain.transpose(1, 2))
        deformed_positions = positions + torch.einsum(
            "ni,nij->nj", positions, symmetric[graph.batch])
        deformed_cell = cell + torch.bmm(cell, symmetric)
    else:
        deformed_positions, deformed_cell = positions, cell
    output = model(graph.replace(positions=deformed_positions, cell=deformed_cell,
                                 field=field))
    result = dict(output)
    inputs = (([positions] if forces else []) + ([strain] if stress else [])
              + ([field] if wants_field else []))
    if not inputs:
        return result
    second_order = polarizability or born_charges
    grads = _grad(output["energy"], inputs, create_graph or second_order)
    if forces:
        result["forces"] = -grads[0]
    if stress:
        periodic = graph.pbc.all(dim=1)[:, None, None]  # [B, 1, 1]
        volume = torch.abs(torch.linalg.det(cell))[:, None, None]  # [B, 1, 1]
        # divide by 1 where there is no volume, then mask: a NaN inside the division would
        # turn the (zero) gradients of those rows into NaN when training on stress
        safe_volume = torch.where(periodic, volume, torch.ones_like(volume))
        stress_tensor = grads[int(forces)] / safe_volume
        result["stress"] = torch.where(periodic, stress_tensor,
                                       torch.full_like(stress_tensor, float("nan")))
    if not wants_field:
        return result
    moment = -grads[-1]  # [B, 3]
    result["dipole"] = moment
    if second_order:
        wrt = ([field] if polarizability else []) + ([positions] if born_charges else [])
        rows = [_grad(moment[:, a], wrt, create_graph, retain_graph=True) for a in range(3)]
        if polarizability:
            result["polarizability"] = torch.stack([row[0] for row in rows], dim=1)  # [B, 3, 3]
        if born_charges:
            result["born_charges"] = torch.stack([row[-1] for row in rows], dim=1)  # [N, 3, 3]
    return result
