"""PNG figures of a training run: parity plots and the learning curve."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

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


def plot_parity(predictions: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Energy-per-atom and force-component parity plots side by side, written to ``path``."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    n_atoms = predictions["n_atoms"]
    _parity_panel(axes[0], predictions["energy_ref"] / n_atoms,
                  predictions["energy_pred"] / n_atoms, "energy", "eV/atom")
    _parity_panel(axes[1], predictions["forces_ref"].ravel(),
                  predictions["forces_pred"].ravel(), "forces", "eV/Å")
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
