"""Autocorrelation spectra and tunnelling dynamics against grid eigenvalues."""

from __future__ import annotations

import numpy as np

from nnpkit.apps.quantum.eigenstates import grid_eigenstates
from nnpkit.apps.quantum.observables import (
    autocorrelation,
    spectrum,
    spectrum_peaks,
    tunnelling_splitting,
    well_population,
)
from nnpkit.apps.quantum.potentials import DoubleWell, Morse, evaluate_on_grid
from nnpkit.wavepackets.grid import Grid
from nnpkit.wavepackets.split_operator import SplitOperator

MASS_OH = 0.9483 * 1822.888


def test_autocorrelation_spectrum_peaks_at_the_morse_levels() -> None:
    morse = Morse()
    grid = Grid(*morse.default_bounds(), [128])
    x = grid.axes[0]
    values = evaluate_on_grid(morse, grid.mesh())
    packet = np.exp(-((x - morse.r0 - 0.15) ** 2) / (2 * 0.12**2)).astype(complex)
    packet /= np.sqrt(grid.integrate(np.abs(packet) ** 2))
    propagator = SplitOperator(grid, values, MASS_OH, dt_au=2.0)
    times, correlation = autocorrelation(propagator, packet, 12000, every=6)
    assert abs(correlation[0] - 1) < 1e-12
    energies = np.linspace(0.0, 0.09, 2000)
    peaks = spectrum_peaks(energies, spectrum(times, correlation, energies), 4)
    exact = morse.levels(MASS_OH, 4)
    resolution = 2 * np.pi / times[-1]
    assert np.max(np.abs(peaks - exact)) < 0.02 * resolution + 1e-6


def test_packet_in_one_well_tunnels_across_in_half_a_splitting_period() -> None:
    well = DoubleWell(barrier=0.0064, x0=1.0)
    grid = Grid(*well.default_bounds(), [128])
    values = evaluate_on_grid(well, grid.mesh())
    states = grid_eigenstates(grid, values, 1836.15, 2)
    left = (states.wavefunctions[0, 0] + states.wavefunctions[1, 0]) / np.sqrt(2)
    if grid.integrate(left**2 * (grid.axes[0] < 0)) < 0.5:
        left = (states.wavefunctions[0, 0] - states.wavefunctions[1, 0]) / np.sqrt(2)
    splitting = tunnelling_splitting(states)
    half_period = np.pi / splitting
    n_steps = 20000
    propagator = SplitOperator(grid, values, 1836.15, dt_au=half_period / n_steps)
    start_right = well_population(propagator, left.astype(complex))
    moved = propagator.propagate(left.astype(complex), n_steps)
    end_right = well_population(propagator, moved)
    assert start_right < 0.05 and end_right > 0.95
    quarter = propagator.propagate(left.astype(complex), n_steps // 2)
    assert abs(well_population(propagator, quarter) - 0.5) < 0.02
