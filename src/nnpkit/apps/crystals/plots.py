"""PNGs of the crystal workflows: phonon bands and DOS, E(V) with its fits, QHA α(T).

Figures are drawn on a matplotlib ``Figure`` with the Agg canvas (no pyplot state, no
display needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnpkit.apps.crystals.eos import EquationOfState
from nnpkit.apps.crystals.npt import NPTExpansion
from nnpkit.apps.crystals.phonons import PhononResult
from nnpkit.apps.crystals.qha import QHAResult

__all__ = ["plot_phonon_bands", "plot_phonon_dos", "plot_eos", "plot_thermal_expansion"]


def _figure(width: float, height: float, columns: int = 1) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(1, columns, squeeze=False)[0]


def _label(symbol: str) -> str:
    return "Γ" if symbol in ("G", "Gamma") else symbol


def plot_phonon_bands(result: PhononResult, path_png: str | Path) -> None:
    """The dispersion along the path, special points marked (THz)."""
    figure, (axes,) = _figure(6.4, 4.0)
    ticks: list[float] = []
    labels: list[str] = []
    for k, ((distances, frequencies), (start, end)) in enumerate(
            zip(result.band_segments, result.band_labels, strict=True)):
        axes.plot(distances, frequencies, color="tab:blue", linewidth=1.0)
        previous_end = result.band_labels[k - 1][1] if k else None
        if k == 0:
            ticks.append(float(distances[0]))
            labels.append(_label(start))
        elif previous_end != start:  # a break in the path: "K|U"
            labels[-1] = f"{labels[-1]}|{_label(start)}"
        ticks.append(float(distances[-1]))
        labels.append(_label(end))
    for tick in ticks:
        axes.axvline(tick, color="0.7", linewidth=0.6)
    axes.axhline(0.0, color="0.5", linewidth=0.6, linestyle=":")
    axes.set_xticks(ticks, labels)
    axes.set_xlim(ticks[0], ticks[-1])
    axes.set_ylabel("frequency (THz)")
    figure.savefig(Path(path_png), dpi=110)


def plot_phonon_dos(result: PhononResult, path_png: str | Path) -> None:
    """The total phonon DOS (states/THz per primitive cell)."""
    figure, (axes,) = _figure(5.0, 3.2)
    axes.plot(result.dos_frequencies_THz, result.dos, color="tab:blue")
    axes.fill_between(result.dos_frequencies_THz, result.dos, alpha=0.3)
    axes.set_xlabel("frequency (THz)")
    axes.set_ylabel("DOS (states/THz)")
    figure.savefig(Path(path_png), dpi=110)


def plot_eos(eos: EquationOfState, path_png: str | Path) -> None:
    """E(V) points with the Birch–Murnaghan and Vinet fits, and P(V)."""
    from ase.eos import EquationOfState as AseEOS

    from nnpkit.apps.crystals.eos import EOS_FORMS

    figure, (energy_axes, pressure_axes) = _figure(8.0, 3.4, columns=2)
    v, e = eos.volumes_A3_per_atom, eos.energies_eV_per_atom
    grid = np.linspace(v.min(), v.max(), 200)
    energy_axes.plot(v, e, "o", color="k", label="calculated")
    for name, ase_name in EOS_FORMS.items():
        fitter = AseEOS(v, e, eos=ase_name)
        fitter.fit(warn=False)
        energy_axes.plot(grid, fitter.func(grid, *fitter.eos_parameters),
                         label=f"{name} (B0 = {eos.fits[name].B0_GPa:.1f} GPa)")
    energy_axes.set_xlabel("volume (Å³/atom)")
    energy_axes.set_ylabel("energy (eV/atom)")
    energy_axes.legend(fontsize=8)
    pressure_axes.plot(v, eos.pressures_GPa, "o-", color="tab:red")
    pressure_axes.axhline(0.0, color="0.6", linewidth=0.6)
    pressure_axes.set_xlabel("volume (Å³/atom)")
    pressure_axes.set_ylabel("pressure (GPa)")
    figure.savefig(Path(path_png), dpi=110)


def plot_thermal_expansion(qha: QHAResult, path_png: str | Path,
                           npt: NPTExpansion | None = None) -> None:
    """α(T) of the QHA (quantum and classical) and, if given, the NPT-MD estimate."""
    figure, (axes,) = _figure(5.6, 3.6)
    axes.plot(qha.temperatures_K, qha.linear_expansion_per_K * 1e6, label="QHA")
    axes.plot(qha.temperatures_K, qha.classical_volumetric_expansion_per_K / 3 * 1e6,
              linestyle="--", label="QHA, classical")
    if npt is not None:
        axes.errorbar([npt.reference_temperature_K], [npt.linear_expansion_per_K * 1e6],
                      yerr=[npt.linear_expansion_stderr_per_K * 1e6], fmt="o", color="k",
                      label="NPT MD")
    axes.set_xlabel("temperature (K)")
    axes.set_ylabel("α (10⁻⁶/K)")
    axes.legend(fontsize=8)
    figure.savefig(Path(path_png), dpi=110)
