"""PNG figures of a solvation run: the profile, the window histograms, the RDF."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nnpkit.file_writes import atomic_write  # noqa: E402

__all__ = ["plot_profile", "plot_window_histograms", "plot_rdf"]


def _save(figure: plt.Figure, path: str | os.PathLike) -> None:
    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)


def plot_profile(points: np.ndarray, free_energy_eV: np.ndarray, sigma_eV: np.ndarray,
                 path: str | os.PathLike, xlabel: str = "coordination number",
                 states: Mapping[str, tuple[float, float]] | None = None,
                 title: str = "") -> None:
    """F (eV) against the CV with a ±σ band; named states shaded."""
    figure, axis = plt.subplots(figsize=(5.0, 3.6))
    finite = np.isfinite(free_energy_eV)
    x, f, s = points[finite], free_energy_eV[finite], np.nan_to_num(sigma_eV[finite])
    for number, (name, (low, high)) in enumerate((states or {}).items()):
        axis.axvspan(low, high, color=f"C{number + 1}", alpha=0.12, lw=0)
        axis.text(0.5 * (low + high), 0.97, name, ha="center", va="top", fontsize=7,
                  transform=axis.get_xaxis_transform())
    axis.fill_between(x, f - s, f + s, alpha=0.3, color="C0", lw=0, label="±σ")
    axis.plot(x, f, "C0-", label="F")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("free energy (eV)")
    axis.legend(fontsize=8)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    _save(figure, path)


def plot_window_histograms(samples: Sequence[np.ndarray], centers: Sequence[float] | np.ndarray,
                           path: str | os.PathLike, xlabel: str = "coordination number",
                           flagged: Sequence[int] = ()) -> None:
    """One histogram per window (flagged windows dashed), its centre marked."""
    figure, axis = plt.subplots(figsize=(5.6, 3.6))
    pooled = np.concatenate([np.asarray(s) for s in samples if len(s)])
    edges = np.linspace(pooled.min(), pooled.max(), 80).tolist()
    for k, (series, centre) in enumerate(zip(samples, centers, strict=True)):
        colour = f"C{k % 10}"
        axis.hist(series, edges, histtype="step", color=colour,
                  linestyle="--" if k in flagged else "-")
        axis.axvline(centre, color=colour, lw=0.6, alpha=0.6)
    axis.set_xlabel(xlabel)
    axis.set_ylabel("samples")
    axis.set_title("umbrella windows" + (" (dashed: flagged)" if flagged else ""), fontsize=9)
    figure.tight_layout()
    _save(figure, path)


def plot_rdf(r_A: np.ndarray, g: np.ndarray, running_cn: np.ndarray, path: str | os.PathLike,
             cutoff_A: float | None = None, label: str = "ion–O") -> None:
    """g(r) and the running coordination number N(r), the first-shell cutoff marked."""
    figure, axis = plt.subplots(figsize=(5.0, 3.6))
    axis.plot(r_A, g, "C0-", label=f"g(r) {label}")
    axis.set_xlabel("r (Å)")
    axis.set_ylabel("g(r)")
    twin = axis.twinx()
    twin.plot(r_A, running_cn, "C1--", label="N(r)")
    twin.set_ylabel("running CN")
    if cutoff_A is not None:
        axis.axvline(cutoff_A, color="k", lw=0.8, ls=":")
    lines = axis.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    axis.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    figure.tight_layout()
    _save(figure, path)
