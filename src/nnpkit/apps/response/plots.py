"""PNG of an IR spectrum: harmonic sticks, their broadened spectrum, and an MD spectrum.

Drawn on a matplotlib ``Figure`` with the Agg canvas (no pyplot state, no display).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnpkit.apps.response.ir import IRResult
from nnpkit.apps.response.spectrum import MDSpectrum

__all__ = ["plot_ir"]


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def plot_ir(path_png: str | Path, harmonic: IRResult, wavenumbers_cm1: np.ndarray,
            broadened_km_per_mol_cm1: np.ndarray, md: MDSpectrum | None = None,
            broadening_cm1: float | None = None) -> None:
    """Write a PNG (to ``path_png``, PNG whatever its suffix): the harmonic sticks
    (km/mol, right axis), the broadened spectrum ``[G]`` on ``wavenumbers_cm1`` ``[G]``
    (km/mol per cm⁻¹, left axis) and, when given, the MD spectrum scaled to the
    broadened maximum."""
    figure, axes = _figure(7.0, 3.8)
    label = ("harmonic, broadened" if broadening_cm1 is None
             else f"harmonic, FWHM {broadening_cm1:g} cm$^{{-1}}$")
    axes.plot(wavenumbers_cm1, broadened_km_per_mol_cm1, color="tab:blue", label=label)
    top = float(np.max(broadened_km_per_mol_cm1)) if len(broadened_km_per_mol_cm1) else 1.0
    if md is not None:
        axes.plot(md.wavenumbers_cm1, md.intensity * (top if top > 0 else 1.0),
                  color="tab:red", linewidth=1.0,
                  label=f"MD ({md.window} window, {md.quantum_correction} correction, "
                        f"{md.resolution_cm1:.0f} cm$^{{-1}}$ resolution), scaled")
    axes.set_xlabel("wavenumber (cm$^{-1}$)")
    axes.set_ylabel("km/mol per cm$^{-1}$")
    axes.set_xlim(float(wavenumbers_cm1[0]), float(wavenumbers_cm1[-1]))
    sticks = axes.twinx()
    real = harmonic.frequencies_cm1 > 0
    sticks.vlines(harmonic.frequencies_cm1[real], 0.0,
                  harmonic.intensities_km_per_mol[real], color="0.3", linewidth=0.8,
                  label="harmonic modes")
    sticks.set_ylabel("mode intensity (km/mol)")
    sticks.set_ylim(bottom=0.0)
    axes.set_ylim(bottom=min(0.0, float(np.min(broadened_km_per_mol_cm1))))
    lines, labels = axes.get_legend_handles_labels()
    more_lines, more_labels = sticks.get_legend_handles_labels()
    axes.legend(lines + more_lines, labels + more_labels, fontsize=7, loc="upper left")
    figure.savefig(Path(path_png), dpi=110, format="png")
