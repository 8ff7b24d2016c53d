"""PNG figures of the microkinetic report: TOF against temperature, degree-of-rate-control bars."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nnpkit.file_writes import atomic_write  # noqa: E402

__all__ = ["plot_tof_vs_temperature", "plot_degree_of_rate_control"]


def _save(figure: plt.Figure, path: str | os.PathLike) -> None:
    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)


def plot_tof_vs_temperature(rows: Sequence[Mapping], path: str | os.PathLike,
                            title: str = "") -> None:
    """ln-scale TOF (1/s per site) against 1000/T, with the 5–95 % band when sampled.

    ``rows``: dicts with ``temperature_K``, ``tof_per_s``, ``tof_percentiles_per_s`` and
    optionally ``tof_point_per_s`` (dashed).
    """
    ordered = sorted(rows, key=lambda r: r["temperature_K"])
    inverse = 1000.0 / np.array([r["temperature_K"] for r in ordered])
    figure, axis = plt.subplots(figsize=(5.0, 3.8))
    low = np.array([r["tof_percentiles_per_s"]["5"] for r in ordered])
    high = np.array([r["tof_percentiles_per_s"]["95"] for r in ordered])
    if np.any(high > low):
        axis.fill_between(inverse, low, high, alpha=0.3, label="5–95 %")
    axis.plot(inverse, [r["tof_per_s"] for r in ordered], "o-", label="TOF (median)")
    if np.any(high > low) and all("tof_point_per_s" in r for r in ordered):
        axis.plot(inverse, [r["tof_point_per_s"] for r in ordered], "k--", lw=1,
                  label="TOF at the base energies")
    axis.set_yscale("log")
    axis.set_xlabel("1000 / T (1/K)")
    axis.set_ylabel("TOF (1/s per site)")
    axis.legend(fontsize=8)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    _save(figure, path)


def plot_degree_of_rate_control(drc: Mapping[str, float], path: str | os.PathLike,
                                uncertainty_factors: Mapping[str, float] | None = None,
                                title: str = "") -> None:
    """Horizontal bars of X for every TS / step / intermediate; the rate uncertainty factor
    exp(σ_barrier/kT) written beside the bars that have one."""
    names = list(drc)
    values = np.array([drc[n] for n in names])
    figure, axis = plt.subplots(figsize=(5.6, 0.45 * len(names) + 1.4))
    axis.barh(range(len(names)), values, color=["C0" if v >= 0 else "C3" for v in values])
    axis.set_yticks(range(len(names)), names, fontsize=8)
    axis.axvline(0.0, color="k", lw=0.8)
    axis.invert_yaxis()
    axis.set_xlabel("degree of rate control X")
    for i, name in enumerate(names):
        factor = (uncertainty_factors or {}).get(name)
        if factor is not None:
            axis.annotate(f"×{factor:.3g}", (values[i], i), fontsize=7, va="center",
                          xytext=(4, 0), textcoords="offset points")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    _save(figure, path)
