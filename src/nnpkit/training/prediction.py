"""Batched predictions of a potential or committee on labelled graphs, as numpy arrays.

Dipoles and polarizabilities are predicted for the molecules of the data (no periodic
direction) when the model responds to an electric field; periodic structures, and every
structure of a model without a field coupling, get NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from nnpkit.data.graph import AtomicGraph, collate
from nnpkit.derivatives import compute_properties
from nnpkit.models.potential import Potential
from nnpkit.training.metrics import error_metrics

__all__ = ["predict", "evaluate", "committee_predict"]

#: Keys of :func:`predict`'s result.
PREDICTION_KEYS = ("energy_pred", "energy_ref", "n_atoms", "forces_pred", "forces_ref",
                   "stress_pred", "stress_ref", "dipole_pred", "dipole_ref",
                   "polarizability_pred", "polarizability_ref")


#: Per-entry shapes of :func:`predict`'s arrays (after the structure or atom axis).
_TRAILING_SHAPES: dict[str, tuple[int, ...]] = {
    "energy_pred": (), "energy_ref": (), "n_atoms": (), "forces_pred": (3,),
    "forces_ref": (3,), "stress_pred": (3, 3), "stress_ref": (3, 3), "dipole_pred": (3,),
    "dipole_ref": (3,), "polarizability_pred": (3, 3), "polarizability_ref": (3, 3)}


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy()


def _field_response(model: Potential, graphs: Sequence[AtomicGraph], dipole: bool,
                    polarizability: bool, device: torch.device, dtype: torch.dtype
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Dipoles [B, 3] (e·Å) and polarizabilities [B, 3, 3] (e·Å²/V) of ``graphs``; NaN for
    the periodic ones and for what is not asked for."""
    dipoles = np.full((len(graphs), 3), np.nan)  # [B, 3]
    polarizabilities = np.full((len(graphs), 3, 3), np.nan)  # [B, 3, 3]
    molecules = [k for k, graph in enumerate(graphs) if not bool(graph.pbc.any())]
    if not molecules:
        return dipoles, polarizabilities
    batch = collate([graphs[k] for k in molecules]).to(device, dtype)
    result = compute_properties(model, batch, forces=False, dipole=dipole,
                                polarizability=polarizability)
    if dipole:
        dipoles[molecules] = _numpy(result["dipole"])
    if polarizability:
        polarizabilities[molecules] = _numpy(result["polarizability"])
    return dipoles, polarizabilities


def predict(model: Potential, graphs: Sequence[AtomicGraph], batch_size: int = 32,
            stress: bool = True, dipole: bool | None = None,
            polarizability: bool | None = None) -> dict[str, np.ndarray]:
    """Predictions and references for every structure, as flat numpy arrays.

    Args:
        model: the potential (any; field responses need ``model.responds_to_field``).
        graphs: labelled structures.
        batch_size: structures per model call.
        stress: predict stresses of the periodic structures.
        dipole, polarizability: predict the molecules' dipoles / polarizabilities; None
            (default): whenever the model responds to the field. True for a model without
            a field coupling raises ConfigError (see :mod:`nnpkit.derivatives`).

    Returns:
        ``energy_pred``/``energy_ref`` [B] (eV), ``n_atoms`` [B], ``forces_pred``/
        ``forces_ref`` [N, 3] (eV/Å), ``stress_pred``/``stress_ref`` [B, 3, 3] (eV/Å³),
        ``dipole_pred``/``dipole_ref`` [B, 3] (e·Å), ``polarizability_pred``/
        ``polarizability_ref`` [B, 3, 3] (e·Å²/V); NaN where not predicted or unlabelled.
    """
    model.eval()
    parameter = next(model.parameters())
    dipole = model.responds_to_field if dipole is None else dipole
    polarizability = model.responds_to_field if polarizability is None else polarizability
    out: dict[str, list[np.ndarray]] = {key: [] for key in PREDICTION_KEYS}
    for start in range(0, len(graphs), batch_size):
        chunk = graphs[start:start + batch_size]
        batch = collate(chunk).to(parameter.device, parameter.dtype)
        use_stress = stress and bool(batch.pbc.all(dim=1).any())
        # molecules only: one call for everything; else the field response separately
        together = (dipole or polarizability) and not bool(batch.pbc.any())
        result = compute_properties(model, batch, forces=True, stress=use_stress,
                                    dipole=together and dipole,
                                    polarizability=together and polarizability)
        out["energy_pred"].append(_numpy(result["energy"]))
        out["energy_ref"].append(_numpy(batch.energy))
        out["n_atoms"].append(batch.n_atoms.cpu().numpy())
        out["forces_pred"].append(_numpy(result["forces"]))
        out["forces_ref"].append(_numpy(batch.forces))
        predicted_stress = (_numpy(result["stress"]) if use_stress
                            else np.full((batch.n_structures, 3, 3), np.nan))
        out["stress_pred"].append(predicted_stress)
        out["stress_ref"].append(_numpy(batch.stress))
        if together:
            nan = torch.full_like(batch.polarizability, float("nan"))  # [B, 3, 3]
            dipoles = _numpy(result["dipole"]) if dipole else _numpy(nan[:, 0])
            polarizabilities = _numpy(result["polarizability"] if polarizability else nan)
        elif dipole or polarizability:
            dipoles, polarizabilities = _field_response(
                model, chunk, dipole, polarizability, parameter.device, parameter.dtype)
        else:
            dipoles = np.full((batch.n_structures, 3), np.nan)
            polarizabilities = np.full((batch.n_structures, 3, 3), np.nan)
        out["dipole_pred"].append(dipoles)
        out["dipole_ref"].append(_numpy(batch.dipole))
        out["polarizability_pred"].append(polarizabilities)
        out["polarizability_ref"].append(_numpy(batch.polarizability))
    if not graphs:  # e.g. a run without a test set: empty arrays of the right shapes
        return {key: np.zeros((0, *_TRAILING_SHAPES[key])) for key in PREDICTION_KEYS}
    return {key: np.concatenate(values) for key, values in out.items()}


def evaluate(model: Potential, graphs: Sequence[AtomicGraph], batch_size: int = 32,
             dipole: bool | None = None, polarizability: bool | None = None
             ) -> tuple[dict[str, float | int | None], dict[str, np.ndarray]]:
    """``(metrics, predictions)`` of ``model`` on labelled ``graphs`` (see :func:`predict`
    for ``dipole`` and ``polarizability``)."""
    with torch.enable_grad():
        predictions = predict(model, graphs, batch_size, dipole=dipole,
                              polarizability=polarizability)
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
    for key in ("energy_pred", "forces_pred", "stress_pred", "dipole_pred",
                "polarizability_pred"):
        mean[key] = np.mean([run[key] for run in runs], axis=0)
    forces = np.stack([run["forces_pred"] for run in runs])  # [M, N, 3]
    mean["forces_std"] = np.sqrt(forces.var(axis=0).sum(axis=1))  # [N]
    return mean
