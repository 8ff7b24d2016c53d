"""Error metrics of predictions against labels (what ``nnpkit eval`` prints)."""

from __future__ import annotations

import numpy as np

from nnpkit.units import EV_PER_A3_TO_GPA, MEV_PER_EV

__all__ = ["error_metrics", "forces_std_spearman"]


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
