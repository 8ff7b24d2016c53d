"""PNG figures of the growth application: surface snapshots, time series, barrier parity."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nnpkit.file_writes import atomic_write  # noqa: E402

__all__ = ["plot_snapshot", "plot_timeseries", "plot_parity", "plot_growth_modes"]


def _save(figure: plt.Figure, path: str | os.PathLike) -> None:
    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)


def plot_snapshot(heights: np.ndarray, path: str | os.PathLike, title: str = "") -> None:
    """Top view of the ``[L, L]`` height map, one colour per level (ML)."""
    figure, axis = plt.subplots(figsize=(4.6, 4.0))
    image = axis.imshow(heights.T, origin="lower", cmap="viridis", interpolation="nearest")
    figure.colorbar(image, ax=axis, label="height (ML)")
    axis.set_title(title, fontsize=9)
    axis.set_xticks([])
    axis.set_yticks([])
    figure.tight_layout()
    _save(figure, path)


def plot_timeseries(series: dict, path: str | os.PathLike, title: str = "") -> None:
    """Step density, roughness, island density and layer coverages against coverage."""
    coverage = np.asarray(series["coverage_ML"])
    figure, axes = plt.subplots(2, 2, figsize=(8.5, 6.0), sharex=True)
    axes[0, 0].plot(coverage, series["step_density"])
    axes[0, 0].set_ylabel("step density (per bond)")
    axes[0, 1].plot(coverage, series["roughness_ML"])
    axes[0, 1].set_ylabel("roughness W (ML)")
    axes[1, 0].plot(coverage, series["island_density_per_site"])
    axes[1, 0].set_ylabel("island density (per site)")
    layers = np.asarray(series["layer_coverages"])  # [n_obs, n_layers]
    for k in range(layers.shape[1]):
        axes[1, 1].plot(coverage, layers[:, k], label=f"layer {k + 1}")
    axes[1, 1].set_ylabel("layer coverage θ_k")
    axes[1, 1].legend(fontsize=7)
    for axis in axes[1]:
        axis.set_xlabel("coverage (ML)")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    _save(figure, path)


def plot_growth_modes(runs: Sequence[tuple[str, dict]], path: str | os.PathLike) -> None:
    """Step density and roughness against coverage for several labelled runs."""
    figure, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
    for label, series in runs:
        axes[0].plot(series["coverage_ML"], series["step_density"], label=label)
        axes[1].plot(series["coverage_ML"], series["roughness_ML"], label=label)
    axes[0].set_ylabel("step density (per bond)")
    axes[1].set_ylabel("roughness W (ML)")
    for axis in axes:
        axis.set_xlabel("coverage (ML)")
        axis.legend(fontsize=7)
    figure.tight_layout()
    _save(figure, path)


def plot_parity(reference_eV: np.ndarray, predicted_eV: np.ndarray, test_mask: np.ndarray,
                path: str | os.PathLike, title: str = "") -> None:
    """Predicted against NEB barriers (eV), training and held-out points."""
    figure, axis = plt.subplots(figsize=(4.4, 4.2))
    axis.scatter(reference_eV[~test_mask], predicted_eV[~test_mask], s=12, label="train")
    axis.scatter(reference_eV[test_mask], predicted_eV[test_mask], s=18, label="held out")
    low, high = float(reference_eV.min()), float(reference_eV.max())
    axis.plot([low, high], [low, high], "k--", lw=0.8)
    axis.set_xlabel("NEB barrier (eV)")
    axis.set_ylabel("model barrier (eV)")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)
