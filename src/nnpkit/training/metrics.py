"""Error metrics of predictions against labels (what ``nnpkit eval`` prints)."""

from __future__ import annotations

import numpy as np

from nnpkit.units import E_A2_PER_V_TO_A3, E_A_TO_DEBYE, EV_PER_A3_TO_GPA, MEV_PER_EV

__all__ = ["error_metrics", "response_metrics", "forces_std_spearman"]


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _mae(values: np.ndarray) -> float | None:
    return float(np.mean(np.abs(values))) if values.size else None


def response_metrics(predictions: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Dipole and polarizability errors of the structures that have both the prediction
    and the label (None where there are none).

    Args:
        predictions: ``dipole_pred``/``dipole_ref`` [B, 3] (e·Å) and
            ``polarizability_pred``/``polarizability_ref`` [B, 3, 3] (e·Å²/V), NaN where
            absent (missing keys count as absent).

    Returns:
        ``dipole_mae_eA`` and ``dipole_mae_D`` (MAE over the Cartesian components, e·Å and
        debye), ``polarizability_component_mae_A3`` (over the 9 components, Å³),
        ``polarizability_iso_mae_A3`` (of α_iso = tr α / 3, Å³) and
        ``polarizability_iso_mape_percent`` (mean |Δα_iso| / |α_iso,ref| in %, over the
        structures with α_iso,ref ≠ 0).
    """
    empty = np.full((0, 3), np.nan)
    dipole_error = _finite((predictions.get("dipole_pred", empty)
                            - predictions.get("dipole_ref", empty)).ravel())
    empty = np.full((0, 3, 3), np.nan)
    predicted = predictions.get("polarizability_pred", empty)
    reference = predictions.get("polarizability_ref", empty)
    component_error = _finite((predicted - reference).ravel()) * E_A2_PER_V_TO_A3
    iso_predicted = np.trace(predicted, axis1=1, axis2=2) / 3.0  # [B]
    iso_reference = np.trace(reference, axis1=1, axis2=2) / 3.0  # [B]
    iso_error = (iso_predicted - iso_reference) * E_A2_PER_V_TO_A3
    iso_relative = 100.0 * np.abs(iso_predicted - iso_reference) / np.abs(np.where(
        iso_reference != 0, iso_reference, np.nan))
    dipole_mae = _mae(dipole_error)
    return {
        "dipole_mae_eA": dipole_mae,
        "dipole_mae_D": None if dipole_mae is None else dipole_mae * E_A_TO_DEBYE,
        "polarizability_component_mae_A3": _mae(component_error),
        "polarizability_iso_mae_A3": _mae(_finite(iso_error)),
        "polarizability_iso_mape_percent": _mae(_finite(iso_relative)),
    }


def error_metrics(predictions: dict[str, np.ndarray]) -> dict[str, float | int | None]:
    """MAE/RMSE of energy per atom (meV/atom), force components (meV/Å), stress (GPa),
    and the dipole and polarizability errors of :func:`response_metrics` (None where
    there are no predictions or labels of a kind)."""
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
        **response_metrics(predictions),
        "n_structures": int(len(predictions["energy_ref"])),
    }


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
