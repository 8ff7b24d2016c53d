"""Observables of wavepackets and grid eigenstates (atomic units).

* :func:`autocorrelation` ``C(t) = <psi(0)|psi(t)>`` along a split-operator run, and
  :func:`spectrum` its windowed Fourier transform
  ``sigma(E) = 2 Re int_0^T C(t) w(t) exp(iEt) dt`` whose peaks (:func:`spectrum_peaks`,
  refined by parabolic interpolation) sit at the eigenvalues the packet overlaps.
* :func:`tunnelling_splitting` and :func:`zero_point_energy` from eigenstates.
* :func:`well_population` the probability on one side of a dividing surface.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from nnpkit.apps.quantum.eigenstates import Eigenstates
from nnpkit.errors import ConfigError
from nnpkit.wavepackets.split_operator import SplitOperator

__all__ = ["autocorrelation", "spectrum", "spectrum_peaks", "tunnelling_splitting",
           "zero_point_energy", "well_population"]


def autocorrelation(propagator: SplitOperator, psi0: np.ndarray, n_steps: int, every: int = 1,
                    progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``C(t) = <psi0|psi(t)>`` every ``every`` steps.

    Args:
        propagator: The (real-time) propagator.
        psi0: ``[n_states, *grid.shape]`` (or ``[*grid.shape]`` for one state).
        n_steps: Total steps. every: Sampling interval in steps.

    Returns:
        ``times`` ``[n_samples]`` (atomic units, starting at 0) and complex ``C`` ``[n_samples]``.
    """
    start = np.asarray(psi0, dtype=complex).reshape(propagator.n_states, *propagator.grid.shape)
    times, values = [0.0], [np.sum(propagator.grid.integrate(np.abs(start) ** 2))]
    bar = tqdm(total=n_steps, desc="autocorrelation", disable=not progress, leave=False)
    for step, psi in propagator.iterate(start, n_steps, every):
        times.append(step * propagator.dt_au)
        values.append(np.sum(propagator.grid.integrate(np.conj(start) * psi)))
        bar.update(every)
    bar.close()
    return np.asarray(times), np.asarray(values, dtype=complex)


def spectrum(times: np.ndarray, correlation: np.ndarray, energies: np.ndarray,
             window: str = "hann") -> np.ndarray:
    """Spectrum ``[n_E]`` of ``C(t)`` ``[n_t]`` (uniform ``times``) at ``energies`` (Hartree).

    ``window``: ``"hann"`` (``cos^2(pi t / 2T)``, clean peaks) or ``"none"``.
    """
    times = np.asarray(times, dtype=float)
    if len(times) < 2 or len(times) != len(correlation):
        raise ConfigError("spectrum needs matching times and correlation of length >= 2")
    step = times[1] - times[0]
    if window == "hann":
        weights = np.cos(0.5 * np.pi * times / times[-1]) ** 2  # [n_t]
    elif window == "none":
        weights = np.ones_like(times)
    else:
        raise ConfigError(f"window must be 'hann' or 'none', got {window!r}")
    weights = weights * step
    weights[0] *= 0.5
    signal = np.asarray(correlation) * weights  # [n_t]
    phases = np.exp(1j * np.outer(np.asarray(energies, dtype=float), times))  # [n_E, n_t]
    return 2.0 * np.real(phases @ signal)


def spectrum_peaks(energies: np.ndarray, intensity: np.ndarray, n_peaks: int,
                   relative_height: float = 1e-3) -> np.ndarray:
    """The ``n_peaks`` tallest local maxima (sorted by energy), parabola-refined, ``[k]``."""
    values = np.asarray(intensity, dtype=float)
    inner = np.flatnonzero((values[1:-1] > values[:-2]) & (values[1:-1] >= values[2:])) + 1
    inner = inner[values[inner] > relative_height * values.max()]
    tallest = inner[np.argsort(values[inner])[::-1][:n_peaks]]
    step = energies[1] - energies[0]
    refined = []
    for index in sorted(tallest):
        left, centre, right = values[index - 1: index + 2]
        curvature = left - 2 * centre + right
        shift = 0.5 * (left - right) / curvature if curvature != 0 else 0.0
        refined.append(energies[index] + shift * step)
    return np.asarray(refined)


def tunnelling_splitting(states: Eigenstates, pair: int = 0) -> float:
    """``E_{2 pair + 1} - E_{2 pair}`` (Hartree): the splitting of the ``pair``-th doublet."""
    if len(states.energies) < 2 * pair + 2:
        raise ConfigError(f"need at least {2 * pair + 2} eigenstates for doublet {pair}")
    return float(states.energies[2 * pair + 1] - states.energies[2 * pair])


def zero_point_energy(states: Eigenstates, potential: np.ndarray) -> float:
    """``E_0 - min V`` (Hartree); ``potential`` ``[*shape]`` or ``[n, n, *shape]`` on the grid."""
    potential = np.asarray(potential, dtype=float)
    if potential.shape != states.grid.shape:
        matrices = np.moveaxis(potential, (0, 1), (-2, -1))
        minimum = float(np.min(np.linalg.eigvalsh(matrices)))
    else:
        minimum = float(np.min(potential))
    return float(states.energies[0]) - minimum


def well_population(propagator: SplitOperator, psi: np.ndarray, axis: int = 0,
                    divide_at: float = 0.0, side: int = 1) -> float:
    """Probability with coordinate ``axis`` beyond ``divide_at`` (``side`` +1) or below (-1)."""
    grid = propagator.grid
    mesh = grid.mesh()[axis]
    mask = (mesh > divide_at) if side > 0 else (mesh < divide_at)  # [*shape]
    density = np.abs(np.asarray(psi).reshape(propagator.n_states, *grid.shape)) ** 2
    return float(np.sum(grid.integrate(density * mask)))
