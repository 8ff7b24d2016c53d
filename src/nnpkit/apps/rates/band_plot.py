"""PNG of the energy along a NEB band, with the committee's spread.

The curve is the band's energy relative to its initial image (eV) against the distance
along the band (Å). With a committee the members' own curves (each relative to its own
initial image) are drawn thin, with the band of mean ± σ over the members shaded; the
saddle (climbing image) is marked. Drawn on a matplotlib ``Figure`` with the Agg canvas
(no pyplot state, no display needed), written atomically.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from nnpkit.apps.rates.network_records import StepRecord
from nnpkit.file_writes import atomic_write

__all__ = ["plot_band"]


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def plot_band(record: StepRecord, path_png: str | Path, title: str | None = None) -> bool:
    """Draw the band of ``record`` into ``path_png``; returns False (and writes nothing)
    when the band has no finite energies (a failed NEB)."""
    energies = np.asarray(record.band_energies_eV, dtype=float)  # [n_images + 2]
    if energies.size == 0 or not np.all(np.isfinite(energies)):
        return False
    x = np.asarray(record.reaction_coordinate_A, dtype=float)
    if x.shape != energies.shape:
        x = np.arange(energies.size, dtype=float)
    figure, axes = _figure(6.0, 4.0)
    if record.member_band_energies_eV:
        members = np.asarray(record.member_band_energies_eV, dtype=float)  # [M, n_images + 2]
        relative = members - members[:, :1]
        for k, curve in enumerate(relative):
            axes.plot(x, curve, color="0.6", lw=0.7, label="members" if k == 0 else None)
        mean, sigma = relative.mean(axis=0), relative.std(axis=0)
        axes.fill_between(x, mean - sigma, mean + sigma, color="C0", alpha=0.25,
                          label="members: mean ± σ")
    axes.plot(x, energies - energies[0], "o-", color="C0", label="band (committee mean)"
              if record.member_band_energies_eV else "band")
    saddle = record.saddle_index
    if 0 <= saddle < energies.size:
        axes.plot([x[saddle]], [energies[saddle] - energies[0]], "*", color="C3", ms=12,
                  label=f"saddle ({_imaginary(record)})")
    forward = record.barrier_forward_eV
    default = f"{record.name}: forward barrier {forward:.3f} eV" if math.isfinite(forward) \
        else record.name
    axes.set_title(title or default)
    axes.set_xlabel("distance along the band (Å)")
    axes.set_ylabel("E − E(initial) (eV)")
    axes.legend(loc="best", fontsize="small")
    atomic_write(path_png, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    return True


def _imaginary(record: StepRecord) -> str:
    count = record.n_imaginary_modes_saddle
    return "modes not computed" if count is None else f"{count} imaginary mode" + \
        ("" if count == 1 else "s")
