"""Batched predictions of a potential or committee on labelled graphs, as numpy arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from nnpkit.data.graph import AtomicGraph, collate
from nnpkit.derivatives import compute_properties
from nnpkit.models.potential import Potential
from nnpkit.training.metrics import error_metrics

__all__ = ["predict", "evaluate", "committee_predict"]


def predict(model: Potential, graphs: Sequence[AtomicGraph], batch_size: int = 32,
            stress: bool = True) -> dict[str, np.ndarray]:
    """Predictions and references for every structure, as flat numpy arrays.

    Returns:
        ``energy_pred``/``energy_ref`` [B] (eV), ``n_atoms`` [B], ``forces_pred``/
        ``forces_ref`` [N, 3] (eV/Å), ``stress_pred``/``stress_ref`` [B, 3, 3] (eV/Å³).
    """
    model.eval()
    parameter = next(model.parameters())
    keys = ["energy_pred", "energy_ref", "n_atoms", "forces_pred", "forces_ref",
            "stress_pred", "stress_ref"]
    out: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    for start in range(0, len(graphs), batch_size):
        batch = collate(graphs[start:start + batch_size]).to(parameter.device, parameter.dtype)
        use_stress = stress and bool(batch.pbc.all(dim=1).any())
        result = compute_properties(model, batch, forces=True, stress=use_stress)
        out["energy_pred"].append(result["energy"].detach().cpu().double().numpy())
        out["energy_ref"].append(batch.energy.cpu().double().numpy())
        out["n_atoms"].append(batch.n_atoms.cpu().numpy())
        out["forces_pred"].append(result["forces"].detach().cpu().double().numpy())
        out["forces_ref"].append(batch.forces.cpu().double().numpy())
        predicted_stress = (result["stress"].detach().cpu().double().numpy() if use_stress
                            else np.full((batch.n_structures, 3, 3), np.nan))
        out["stress_pred"].append(predicted_stress)
        out["stress_ref"].append(batch.stress.cpu().double().numpy())
    return {key: np.concatenate(values) for key, values in out.items()}


def evaluate(model: Potential, graphs: Sequence[AtomicGraph], batch_size: int = 32
             ) -> tuple[dict[str, float | int | None], dict[str, np.ndarray]]:
    """``(metrics, predictions)`` of ``model`` on labelled ``graphs``."""
    with torch.enable_grad():
        predictions = predict(model, graphs, batch_size)
    return error_metrics(predictions), predictions


def committee_predict(members: Sequence[Potential], graphs: Sequence[AtomicGraph],
                      batch_size: int = 32) -> dict[str, np.ndarray]:
    """:func:`predict` of a committee: the members' mean, plus ``forces_std`` [N] (eV/Å).

    ``forces_std`` is per atom the norm of the per-component population standard
    deviations over the members, as in :class:`~nnpkit.calculators.CommitteeCalculator`.
    """
    with torch.enable_grad():
        runs = [predict(member, graphs, batch_size) for member in members]
    mean = dict(runs[0])
    for key in ("energy_pred", "forces_pred", "stress_pred"):
        mean[key] = np.mean([run[key] for run in runs], axis=0)
    forces = np.stack([run["forces_pred"] for run in runs])  # [M, N, 3]
    mean["forces_std"] = np.sqrt(forces.var(axis=0).sum(axis=1))  # [N]
    return mean
