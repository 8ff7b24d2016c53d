"""``nnpkit response ir``: the harmonic and (optionally) MD IR spectrum of a structure.

:func:`ir_spectrum` runs :func:`~nnpkit.apps.response.ir.harmonic_ir` with any ASE
calculator, broadens the sticks, and, given an MD trajectory, adds the spectrum of its
dipole autocorrelation (:func:`~nnpkit.apps.response.spectrum.dipole_spectrum`). It writes,
atomically, to ``out_dir``:

- ``ir.csv``: ``wavenumber_cm1, harmonic_km_per_mol_broadened, md_intensity,
  md_absorption_km_per_mol_cm1`` (the broadened harmonic spectrum in km/mol per cm⁻¹,
  whose integral over a band is the band's intensity; the MD spectrum normalised to unit
  maximum, and in km/mol per cm⁻¹ for a classical run in equilibrium at ``temperature_K``;
  ``nan`` without MD);
- ``ir.png``: sticks, broadened spectrum and the MD spectrum overlaid;
- ``ir.json``: the returned dict (per-mode frequencies and intensities, Born charges,
  broadening, the MD settings: window, quantum correction, resolution; the Raman
  activities and depolarisation ratios when the calculator gives the polarizability).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.apps.response.born import DEFAULT_BORN_DELTA_A
from nnpkit.apps.response.ir import broadened_spectrum, harmonic_ir
from nnpkit.apps.response.plots import plot_ir
from nnpkit.apps.response.raman import raman_activities
from nnpkit.apps.response.spectrum import (
    SPEED_OF_LIGHT_CM_PER_FS,
    MDSpectrum,
    dipole_spectrum,
)
from nnpkit.errors import ConfigError
from nnpkit.file_writes import atomic_write

__all__ = ["ir_spectrum", "trajectory_dipoles", "trajectory_timestep_fs"]


def trajectory_dipoles(frames: Sequence[Atoms], calculator: Calculator
                       ) -> tuple[np.ndarray, str]:
    """The dipoles ``[T, 3]`` (e·Å) of ``frames`` and where they came from: the frames'
    own (``info["dipole"]`` or a stored calculator result ``"dipole"``) when every frame
    has one (``"trajectory"``), else computed with ``calculator`` (``"calculator"``)."""
    stored = []
    for frame in frames:
        if "dipole" in frame.info:
            stored.append(np.asarray(frame.info["dipole"], dtype=float))
        elif frame.calc is not None and "dipole" in getattr(frame.calc, "results", {}):
            stored.append(np.asarray(frame.calc.results["dipole"], dtype=float))
        else:
            break
    if len(stored) == len(frames):
        return np.array(stored).reshape(len(frames), 3), "trajectory"  # [T, 3]
    computed = []
    for frame in frames:
        work = frame.copy()
        work.calc = calculator
        computed.append(np.asarray(work.get_dipole_moment(), dtype=float))
    return np.array(computed).reshape(len(frames), 3), "calculator"  # [T, 3]


def trajectory_timestep_fs(frames: Sequence[Atoms], timestep_fs: float | None) -> float:
    """The time between frames (fs): ``timestep_fs`` if given, else from the frames'
    ``info["time_fs"]`` (nnpkit's MD), which must be equally spaced.

    Raises:
        ConfigError: no timestep given and the frames carry no (equally spaced) times.
    """
    if timestep_fs is not None:
        if not timestep_fs > 0:
            raise ConfigError(f"md_timestep_fs must be > 0, got {timestep_fs}")
        return float(timestep_fs)
    if len(frames) < 2 or any("time_fs" not in frame.info for frame in frames):
        raise ConfigError("the MD trajectory's frames carry no info['time_fs']: give the "
                          "time between frames (md_timestep_fs)")
    steps = np.diff([float(frame.info["time_fs"]) for frame in frames])  # [T − 1]
    if not (steps[0] > 0 and np.allclose(steps, steps[0], rtol=1e-6)):
        raise ConfigError(f"the MD trajectory's frames are not equally spaced in time "
                          f"(steps from {steps.min()} to {steps.max()} fs)")
    return float(steps[0])


def _write_csv(path: Path, wavenumbers: np.ndarray, harmonic: np.ndarray,
               md: MDSpectrum | None) -> None:
    nan = np.full(len(wavenumbers), np.nan)  # [G]
    normalised = nan if md is None else md.intensity
    absolute = (nan if md is None or md.absorption_km_per_mol_cm1 is None
                else md.absorption_km_per_mol_cm1)

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["wavenumber_cm1", "harmonic_km_per_mol_broadened",
                             "md_intensity", "md_absorption_km_per_mol_cm1"])
            for k, wavenumber in enumerate(wavenumbers):
                writer.writerow([f"{wavenumber:.6g}", f"{harmonic[k]:.8g}",
                                 f"{normalised[k]:.8g}", f"{absolute[k]:.8g}"])
    atomic_write(path, write)


def ir_spectrum(calculator: Calculator, atoms: Atoms, out_dir: str | Path,
                md_trajectory: str | Path | Sequence[Atoms] | None = None,
                temperature_K: float = 300.0, broadening_cm1: float = 10.0,
                md_timestep_fs: float | None = None, max_lag_fs: float | None = None,
                window: str = "hann", quantum_correction: str = "harmonic",
                line_shape: str = "lorentzian", max_wavenumber_cm1: float | None = None,
                grid_spacing_cm1: float = 1.0, delta_A: float = 0.01,
                born_delta_A: float = DEFAULT_BORN_DELTA_A,
                indices: Sequence[int] | None = None, geometry: str | None = "auto"
                ) -> dict:
    """Harmonic IR of ``atoms`` and, with ``md_trajectory``, its MD IR spectrum; writes
    ``ir.csv``, ``ir.png``, ``ir.json`` to ``out_dir`` and returns the JSON dict.

    Args:
        calculator: any ASE calculator with forces and Born charges or ``"dipole"``.
        atoms: the structure, at a minimum (not modified).
        out_dir: directory of the outputs (created).
        md_trajectory: a trajectory file (any format ``ase.io.read`` knows) or frames;
            frames without a dipole get theirs from ``calculator``.
        temperature_K: temperature of the MD run (K), for the quantum correction.
        broadening_cm1: FWHM of the harmonic lines (cm⁻¹).
        md_timestep_fs: time between frames (fs); default from ``info["time_fs"]``.
        max_lag_fs, window, quantum_correction: see
            :func:`~nnpkit.apps.response.spectrum.dipole_spectrum`.
        line_shape: ``"lorentzian"`` or ``"gaussian"`` harmonic lines.
        max_wavenumber_cm1: upper end of the grid (cm⁻¹); default
            ``max(4000, 1.2·highest mode)``, kept below the MD Nyquist limit.
        grid_spacing_cm1: largest grid spacing (cm⁻¹).
        delta_A, born_delta_A, indices, geometry: see
            :func:`~nnpkit.apps.response.ir.harmonic_ir`.

    Raises:
        ConfigError: bad settings, a calculator without dipoles or Born charges, an MD
            trajectory without times and no ``md_timestep_fs``.
        TransitionStateError: the structure is not a minimum.
    """
    from nnpkit.labeling.reference import calculator_name

    started = time.perf_counter()
    out = Path(out_dir)
    harmonic = harmonic_ir(atoms, calculator, indices=indices, geometry=geometry,
                           delta_A=delta_A, born_delta_A=born_delta_A)
    highest = float(np.max(harmonic.frequencies_cm1, initial=0.0))
    upper = max(4000.0, 1.2 * highest) if max_wavenumber_cm1 is None else max_wavenumber_cm1
    md: MDSpectrum | None = None
    md_summary: dict | None = None
    if md_trajectory is not None:
        from ase.io import read

        frames = (list(read(str(md_trajectory), index=":"))
                  if isinstance(md_trajectory, str | Path) else list(md_trajectory))
        timestep = trajectory_timestep_fs(frames, md_timestep_fs)
        dipoles, source = trajectory_dipoles(frames, calculator)  # [T, 3]
        if max_wavenumber_cm1 is None:
            upper = min(upper, 0.95 / (2.0 * SPEED_OF_LIGHT_CM_PER_FS * timestep))
        md = dipole_spectrum(dipoles, timestep, max_lag_fs=max_lag_fs, window=window,
                             quantum_correction=quantum_correction,
                             temperature_K=temperature_K, max_wavenumber_cm1=upper,
                             grid_spacing_cm1=grid_spacing_cm1)
        md_summary = {**md.settings(), "dipole_source": source,
                      "trajectory": (str(md_trajectory)
                                     if isinstance(md_trajectory, str | Path) else None),
                      "peak_wavenumber_cm1": md.peak_wavenumber_cm1()}
        if md.absorption_km_per_mol_cm1 is not None:
            md_summary["integrated_absorption_km_per_mol"] = float(np.trapezoid(
                md.absorption_km_per_mol_cm1, md.wavenumbers_cm1))
        wavenumbers = md.wavenumbers_cm1  # [G]
    else:
        count = int(np.ceil(upper / grid_spacing_cm1)) + 1
        wavenumbers = np.linspace(0.0, upper, count)  # [G]
    broadened = broadened_spectrum(harmonic.frequencies_cm1,
                                   harmonic.intensities_km_per_mol, wavenumbers,
                                   fwhm_cm1=broadening_cm1, shape=line_shape)  # [G]
    summary = {"structure": atoms.get_chemical_formula(),
               "calculator": calculator_name(calculator), **harmonic.to_json(),
               "broadening": {"fwhm_cm1": broadening_cm1, "shape": line_shape,
                              "units": "km/mol per cm^-1"},
               "md": md_summary, "raman": None,
               "files": {"csv": "ir.csv", "png": "ir.png", "json": "ir.json"}}
    if getattr(calculator, "responds_to_field", False):  # the polarizability is at hand
        summary["raman"] = raman_activities(atoms, calculator, harmonic).to_json()
    _write_csv(out / "ir.csv", wavenumbers, broadened, md)
    atomic_write(out / "ir.png", lambda tmp: plot_ir(tmp, harmonic, wavenumbers, broadened,
                                                     md, broadening_cm1))
    summary["wall_time_s"] = time.perf_counter() - started

    def write_json(tmp: str) -> None:
        with open(tmp, "w") as handle:
            json.dump(summary, handle, indent=2)
    atomic_write(out / "ir.json", write_json)
    return summary
