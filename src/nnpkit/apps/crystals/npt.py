"""Thermal expansion from NPT molecular dynamics: the cross-check of the QHA.

A supercell is run with ASE's ``IsotropicMTKNPT`` (Nosé–Hoover chains with an MTK
barostat, zero pressure) at a few temperatures; the mean volume of the production part
(after ``equilibration_steps``) with its block-averaged standard error gives V(T), and a
weighted linear fit gives β = (1/V) dV/dT at ``reference_temperature_K`` and α = β/3.
The MD is classical and fully anharmonic, so it compares with the classical QHA at low
temperature and departs from it where anharmonicity beyond the QHA matters.

``nnpkit.md.run_md`` is not used: its barostat time constant is fixed at 1000 steps, and
the mean volume converges as the number of barostat periods, so a shorter ``pdamp_fs``
(default 1 ps) is what makes a short run informative.

Units: K, fs, Å³/atom, 1/K.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.nose_hoover_chain import IsotropicMTKNPT
from ase.md.velocitydistribution import Stationary

from nnpkit.apps.crystals.inputs import require_periodic
from nnpkit.apps.crystals.phonons import perpendicular_widths
from nnpkit.errors import ConfigError

try:  # ASE >= 3.29 renamed MaxwellBoltzmannDistribution
    from ase.md.velocitydistribution import thermalize_momenta as _thermalize
except ImportError:  # pragma: no cover - older ASE
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as _thermalize

__all__ = ["NPTExpansion", "npt_thermal_expansion", "block_standard_error"]


@dataclass
class NPTExpansion:
    """The outcome of :func:`npt_thermal_expansion`.

    Attributes:
        temperatures_K, mean_volume_A3_per_atom, volume_stderr_A3_per_atom: [nT].
        linear_expansion_per_K, linear_expansion_stderr_per_K: α = β/3 at
            ``reference_temperature_K`` and its standard error.
        n_atoms, steps, equilibration_steps, timestep_fs: the runs.
    """

    temperatures_K: np.ndarray
    mean_volume_A3_per_atom: np.ndarray
    volume_stderr_A3_per_atom: np.ndarray
    reference_temperature_K: float
    linear_expansion_per_K: float
    linear_expansion_stderr_per_K: float
    n_atoms: int
    steps: int
    equilibration_steps: int
    timestep_fs: float

    def to_dict(self) -> dict:
        """JSON-ready numbers."""
        return {key: (value.tolist() if isinstance(value, np.ndarray) else value)
                for key, value in self.__dict__.items()}


def block_standard_error(series: np.ndarray, n_blocks: int = 5) -> float:
    """Standard error of the mean of a correlated series from ``n_blocks`` block means."""
    blocks = np.array_split(np.asarray(series, dtype=float), n_blocks)
    means = np.array([block.mean() for block in blocks if block.size])
    return float(means.std(ddof=1) / np.sqrt(means.size)) if means.size > 1 else float("nan")


def _mean_volume(atoms: Atoms, calculator: Calculator, temperature_K: float, steps: int,
                 equilibration_steps: int, timestep_fs: float, tdamp_fs: float,
                 pdamp_fs: float, seed: int) -> tuple[float, float]:
    work = atoms.copy()
    work.calc = calculator
    _thermalize(work, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    Stationary(work)
    dynamics = IsotropicMTKNPT(work, timestep=timestep_fs * units.fs,
                               temperature_K=temperature_K, pressure_au=0.0,
                               tdamp=tdamp_fs * units.fs, pdamp=pdamp_fs * units.fs)
    dynamics.run(equilibration_steps)
    volumes: list[float] = []
    dynamics.attach(lambda: volumes.append(work.get_volume()), interval=1)
    dynamics.run(steps)
    series = np.array(volumes[1:]) / len(work)  # the first is the equilibration's last
    return float(series.mean()), block_standard_error(series)


def npt_thermal_expansion(atoms: Atoms, calculator: Calculator,
                          temperatures_K: Sequence[float] = (200.0, 300.0, 400.0),
                          min_width_A: float = 10.0, steps: int = 4000,
                          equilibration_steps: int = 1000, timestep_fs: float = 5.0,
                          tdamp_fs: float = 100.0, pdamp_fs: float = 1000.0,
                          reference_temperature_K: float = 300.0, seed: int = 0
                          ) -> NPTExpansion:
    """Linear thermal expansion from the mean volumes of NPT MD at a few temperatures.

    Args:
        atoms: the relaxed unit cell (periodic; repeated to at least ``min_width_A``).
        calculator: any ASE calculator that gives stress.
        temperatures_K: at least two distinct temperatures, K.
        min_width_A: the supercell's smallest width, Å.
        steps, equilibration_steps: production and discarded steps per temperature.
        timestep_fs, tdamp_fs, pdamp_fs: time step, thermostat and barostat times, fs.
        reference_temperature_K: where α is reported, K.
        seed: seed of the velocities (temperature k uses seed + k).

    Raises:
        DataError: not periodic. ConfigError: fewer than two temperatures or bad steps.
    """
    require_periodic(atoms, "NPT thermal expansion")
    temperatures = np.asarray(temperatures_K, dtype=float)
    if np.unique(temperatures).size < 2 or np.any(temperatures <= 0):
        raise ConfigError(f"NPT thermal expansion needs at least two distinct positive "
                          f"temperatures, got {temperatures.tolist()}")
    if steps < 10 or equilibration_steps < 0 or timestep_fs <= 0:
        raise ConfigError(f"need steps >= 10, equilibration_steps >= 0, timestep_fs > 0; "
                          f"got {steps}, {equilibration_steps}, {timestep_fs}")
    repeats = np.ceil(min_width_A / perpendicular_widths(atoms.cell.array) - 1e-9).astype(int)
    supercell = atoms.repeat(tuple(int(n) for n in repeats))
    means, errors = np.zeros(temperatures.size), np.zeros(temperatures.size)
    for k, temperature in enumerate(temperatures):
        means[k], errors[k] = _mean_volume(supercell, calculator, float(temperature), steps,
                                           equilibration_steps, timestep_fs, tdamp_fs,
                                           pdamp_fs, seed + k)
    weights = 1.0 / np.maximum(errors, 1e-12 * means) ** 2
    design = np.stack([np.ones_like(temperatures), temperatures - reference_temperature_K], 1)
    covariance = np.linalg.inv(design.T @ (design * weights[:, None]))
    intercept, slope = covariance @ design.T @ (weights * means)
    slope_error = float(np.sqrt(covariance[1, 1]))
    return NPTExpansion(
        temperatures_K=temperatures, mean_volume_A3_per_atom=means,
        volume_stderr_A3_per_atom=errors, reference_temperature_K=reference_temperature_K,
        linear_expansion_per_K=float(slope / intercept / 3.0),
        linear_expansion_stderr_per_K=slope_error / float(intercept) / 3.0,
        n_atoms=len(supercell), steps=steps, equilibration_steps=equilibration_steps,
        timestep_fs=timestep_fs)
