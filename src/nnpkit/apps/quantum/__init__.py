"""nnpkit.apps.quantum: quantum nuclear dynamics on analytic and learned surfaces.

Gaussian-process potential energy surfaces learned (actively) from energies and gradients,
a split-operator FFT wavepacket propagator on 1D/2D/3D grids with one or several coupled
states, grid eigenstates (sinc-DVR and imaginary time) and observables (spectra,
transmission, tunnelling splittings, zero-point energies).

Atomic units (bohr, Hartree, electron masses, hbar = 1) are used everywhere inside this
package; the CLI and the scan adapters convert from eV, Å and amu at the edge.

Submodules are imported lazily on first attribute access, so importing this package is
cheap (torch is only imported with the Gaussian-process modules).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Re-exported from the shared :mod:`nnpkit.wavepackets` (also used by apps.nonadiabatic).
_SHARED = {"Grid": "grid", "SplitOperator": "split_operator"}

_LAZY = {
    "Eigenstates": "eigenstates",
    "grid_eigenstates": "eigenstates",
    "imaginary_time_eigenstates": "eigenstates",
    "autocorrelation": "observables",
    "spectrum": "observables",
    "spectrum_peaks": "observables",
    "tunnelling_splitting": "observables",
    "zero_point_energy": "observables",
    "transmission_spectrum": "transmission",
    "manolopoulos_cap": "transmission",
    "Morse": "potentials",
    "Eckart": "potentials",
    "DoubleWell": "potentials",
    "Harmonic": "potentials",
    "MullerBrown": "potentials",
    "TullyPotential": "potentials",
    "builtin_potential": "potentials",
    "evaluate_on_grid": "potentials",
    "GaussianProcessPES": "gp",
    "learn_actively": "active",
    "learn_by_placement": "active",
    "reference_from_potential": "active",
    "stationary_points": "stationary",
    "ScanConfig": "scan",
    "ScanReference": "scan",
    "load_scan_config": "scan",
    "plot_gp_surface": "plots",
    "plot_wavefunctions": "plots",
    "fit_gp": "workflow",
    "levels": "workflow",
}

__all__ = sorted({**_LAZY, **_SHARED})


def __getattr__(name: str) -> Any:
    if name in _SHARED:
        return getattr(importlib.import_module(f"nnpkit.wavepackets.{_SHARED[name]}"), name)
    if name in _LAZY:
        return getattr(importlib.import_module(f"nnpkit.apps.quantum.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'nnpkit.apps.quantum' has no attribute {name!r}")
