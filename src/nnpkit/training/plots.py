"""PNG figures of a training run: parity plots and the learning curve."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from nnpkit.units import E_A2_PER_V_TO_A3

__all__ = ["plot_parity", "plot_learning_curve"]


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _parity_panel(axis, reference: np.ndarray, predicted: np.ndarray, label: str,  # noqa: ANN001
                  unit: str) -> None:
    mask = np.isfinite(reference) & np.isfinite(predicted)
    reference, predicted = reference[mask], predicted[mask]
    if reference.size == 0:
        axis.set_visible(False)
        return
    axis.scatter(reference, predicted, s=4, alpha=0.5)
    low, high = float(min(reference.min(), predicted.min())), float(
        max(reference.max(), predicted.max()))
    axis.plot([low, high], [low, high], "k--", lw=1)
    mae = float(np.mean(np.abs(predicted - reference)))
    axis.set_title(f"{label}: MAE {mae:.4g} {unit}")
    axis.set_xlabel(f"reference ({unit})")
    axis.set_ylabel(f"predicted ({unit})")


def _has_pairs(predictions: dict[str, np.ndarray], name: str) -> bool:
    predicted, reference = predictions.get(f"{name}_pred"), predictions.get(f"{name}_ref")
    return predicted is not None and reference is not None and bool(
        (np.isfinite(predicted) & np.isfinite(reference)).any())


def plot_parity(predictions: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Parity plots side by side, written to ``path``: energy per atom and force
    components, and the dipole (e·Å) and polarizability (Å³) components where both
    predictions and labels exist (see :func:`~nnpkit.training.predict`)."""
    plt = _pyplot()
    n_atoms = predictions["n_atoms"]
    panels = [(predictions["energy_ref"] / n_atoms, predictions["energy_pred"] / n_atoms,
               "energy", "eV/atom"),
              (predictions["forces_ref"].ravel(), predictions["forces_pred"].ravel(),
               "forces", "eV/Å")]
    if _has_pairs(predictions, "dipole"):
        panels.append((predictions["dipole_ref"].ravel(), predictions["dipole_pred"].ravel(),
                       "dipole", "e·Å"))
    if _has_pairs(predictions, "polarizability"):
        panels.append((predictions["polarizability_ref"].ravel() * E_A2_PER_V_TO_A3,
                       predictions["polarizability_pred"].ravel() * E_A2_PER_V_TO_A3,
                       "polarizability", "Å³"))
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5))
    for axis, (reference, predicted, label, unit) in zip(axes, panels, strict=True):
        _parity_panel(axis, reference, predicted, label, unit)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_learning_curve(history: Sequence[dict], path: str | os.PathLike) -> None:
    """Training loss and validation errors against epoch, log scale, written to ``path``."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].semilogy(epochs, [row["train_loss"] for row in history], label="train loss")
    axes[0].semilogy(epochs, [row["val_loss"] for row in history], label="validation loss")
    axes[0].set_xlabel("epoch")
    axes[0].legend()
    axes[1].semilogy(epochs, [row["val_forces_mae_meV_per_A"] for row in history],
                     label="val force MAE (meV/Å)")
    axes[1].semilogy(epochs, [row["val_energy_mae_meV_per_atom"] for row in history],
                     label="val energy MAE (meV/atom)")
    axes[1].set_xlabel("epoch")
    axes[1].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
