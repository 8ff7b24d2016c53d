"""PNG plots: a learned surface with its uncertainty band, and wavefunctions in their well.

Axes are labelled in the public units (Å, eV); the arrays come in atomic units and are
converted here, at the edge.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from ase import units  # noqa: E402

from nnpkit.apps.quantum.eigenstates import Eigenstates  # noqa: E402
from nnpkit.apps.quantum.gp import GaussianProcessPES  # noqa: E402
from nnpkit.file_writes import atomic_write  # noqa: E402

__all__ = ["plot_gp_surface", "plot_wavefunctions"]


def _save(figure: Any, path: str | os.PathLike) -> Path:
    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
    plt.close(figure)
    return Path(path)


def plot_gp_surface(model: GaussianProcessPES, path: str | os.PathLike,
                    reference: Any | None = None, title: str = "") -> Path:
    """Plot the GP mean, a ±2σ band (1D) or mean and σ maps (2D), and the training points.

    Args:
        model: The fitted GP (bohr, Hartree).
        path: PNG file to write.
        reference: Optional exact surface (callable on ``[..., n_dim]``) drawn beside it.
        title: Figure title.
    """
    lower, upper = model.default_bounds()
    if model.n_dim == 1:
        q = np.linspace(lower[0], upper[0], 400)[:, None]  # [400, 1]
        mean, std = model.predict(q)
        assert std is not None
        x = q[:, 0] * units.Bohr
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), sharex=True,
                                             gridspec_kw={"height_ratios": [3, 1]})
        top.fill_between(x, (mean - 2 * std) * units.Hartree, (mean + 2 * std) * units.Hartree,
                         alpha=0.3, label="GP ±2σ")
        top.plot(x, mean * units.Hartree, label="GP mean")
        if reference is not None:
            top.plot(x, np.asarray(reference(q)) * units.Hartree, "k--", lw=1, label="reference")
        top.plot(model.points[:, 0] * units.Bohr, model.energies * units.Hartree, "o",
                 label=f"training points ({len(model.energies)})")
        top.set_ylabel("energy (eV)")
        top.legend()
        bottom.semilogy(x, np.maximum(std * units.Hartree * 1000, 1e-9))
        bottom.set_ylabel("σ (meV)")
        bottom.set_xlabel("coordinate (Å)")
    else:
        axes = [np.linspace(lower[d], upper[d], 120) for d in range(2)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)  # [120, 120, 2]
        mean, std = model.predict(grid.reshape(-1, 2))
        assert std is not None
        figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
        scale = units.Hartree if model.metadata.get("energy_unit", "hartree") == "hartree" else 1
        levels = np.linspace(mean.min(), np.quantile(mean, 0.6), 25) * scale
        contour = left.contourf(axes[0], axes[1], (mean.reshape(120, 120) * scale).T, levels,
                                extend="max")
        figure.colorbar(contour, ax=left, label="GP mean")
        spread = right.contourf(axes[0], axes[1], (std.reshape(120, 120) * scale).T, 25)
        figure.colorbar(spread, ax=right, label="GP σ")
        for axis in (left, right):
            axis.plot(model.points[:, 0], model.points[:, 1], "w.", ms=4)
            axis.set_xlabel("q1")
            axis.set_ylabel("q2")
    figure.suptitle(title or f"Gaussian-process surface, {len(model.energies)} points")
    figure.tight_layout()
    return _save(figure, path)


def plot_wavefunctions(states: Eigenstates, potential: np.ndarray, path: str | os.PathLike,
                       title: str = "") -> Path:
    """Plot a 1D potential and its eigenfunctions offset by their energies (Å, eV)."""
    grid = states.grid
    if grid.n_dim != 1:
        raise ValueError("plot_wavefunctions draws 1D problems")
    x = grid.axes[0] * units.Bohr
    energies = states.energies * units.Hartree
    values = np.asarray(potential, dtype=float).reshape(-1) * units.Hartree
    spacing = float(np.min(np.diff(energies))) if len(energies) > 1 else 0.2 * abs(energies[0])
    figure, axis = plt.subplots(figsize=(6, 5))
    axis.plot(x, values, "k", lw=1.5, label="potential")
    for energy, wave in zip(energies, states.wavefunctions[:, 0], strict=True):
        shape = wave / np.max(np.abs(wave)) * 0.4 * spacing
        axis.axhline(energy, color="0.8", lw=0.5)
        axis.plot(x, energy + shape)
    axis.set_ylim(values.min() - 0.1 * spacing, energies[-1] + spacing)
    axis.set_xlabel("coordinate (Å)")
    axis.set_ylabel("energy (eV)")
    axis.set_title(title or f"{len(energies)} lowest eigenstates")
    figure.tight_layout()
    return _save(figure, path)
