"""Error metrics of a potential on labelled structures (what ``nnpkit eval`` prints)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from nnpkit.data.graph import AtomicGraph, collate
from nnpkit.derivatives import compute_properties
from nnpkit.models.potential import Potential
from nnpkit.units import EV_PER_A3_TO_GPA, MEV_PER_EV

__all__ = ["predict", "error_metrics", "evaluate", "evaluate_file", "committee_predict",
           "forces_std_spearman"]


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


def error_metrics(predictions: dict[str, np.ndarray]) -> dict[str, float | int | None]:
    """MAE/RMSE of energy per atom (meV/atom), force components (meV/Å), stress (GPa)."""
    energy_error = (predictions["energy_pred"] - predictions["energy_ref"]) / predictions[
        "n_atoms"]
    energy_error = energy_error[np.isfinite(energy_error)]
    force_error = (predictions["forces_pred"] - predictions["forces_ref"]).ravel()
    force_error = force_error[np.isfinite(force_error)]
    stress_error = (predictions["stress_pred"] - predictions["stress_ref"]).ravel()
    stress_error = stress_error[np.isfinite(stress_error)]

    def mae(x: np.ndarray, scale: float) -> float | None:
        return float(np.mean(np.abs(x)) * scale) if x.size else None

    def rmse(x: np.ndarray, scale: float) -> float | None:
        return float(np.sqrt(np.mean(x**2)) * scale) if x.size else None

    return {
        "energy_mae_meV_per_atom": mae(energy_error, MEV_PER_EV),
        "energy_rmse_meV_per_atom": rmse(energy_error, MEV_PER_EV),
        "forces_mae_meV_per_A": mae(force_error, MEV_PER_EV),
        "forces_rmse_meV_per_A": rmse(force_error, MEV_PER_EV),
        "stress_mae_GPa": mae(stress_error, EV_PER_A3_TO_GPA),
        "n_structures": int(len(predictions["energy_ref"])),
    }


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


def forces_std_spearman(predictions: dict[str, np.ndarray]) -> float | None:
    """Spearman rank correlation of per-atom ``forces_std`` with the per-atom force error
    norm ``|F_pred - F_ref|`` (None when undefined: fewer than 2 atoms or no spread)."""
    from scipy.stats import spearmanr

    error = np.linalg.norm(predictions["forces_pred"] - predictions["forces_ref"], axis=1)
    spread = predictions["forces_std"]
    keep = np.isfinite(error) & np.isfinite(spread)
    if keep.sum() < 2 or np.ptp(error[keep]) == 0 or np.ptp(spread[keep]) == 0:
        return None
    return float(spearmanr(spread[keep], error[keep]).statistic)


def evaluate_file(model_path: str, data_source: str, energy_key: str = "energy",
                  forces_key: str = "forces", stress_key: str = "stress",
                  batch_size: int = 32) -> dict[str, float | int | None]:
    """Metrics of a model file (or run directory) on a labelled extxyz file or database.

    The model runs in float64 so the metrics measure the fit, not rounding. For a
    committee (a ``committee.json`` or its directory) the metrics are those of the
    members' mean, plus ``forces_std_spearman`` (see :func:`forces_std_spearman`).
    """
    from nnpkit.data.graph import atoms_to_graph
    from nnpkit.data.io import LabelKeys, read_structures
    from nnpkit.data.validate import validate_structures
    from nnpkit.training.committee import committee_file, load_committee
    from nnpkit.training.model_file import load_model

    committee = load_committee(model_path) if committee_file(model_path) else None
    model = (committee if committee is not None else load_model(model_path)[0]).double()
    structures = read_structures(data_source, LabelKeys(energy_key, forces_key, stress_key))
    validate_structures(structures, str(data_source), elements=model.elements)
    graphs = [atoms_to_graph(atoms, model.cutoff, torch.float64) for atoms in structures]
    if committee is None:
        return evaluate(model, graphs, batch_size)[0]
    predictions = committee_predict(committee.potentials, graphs, batch_size)
    return {**error_metrics(predictions),
            "forces_std_spearman": forces_std_spearman(predictions)}
