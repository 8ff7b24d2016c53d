"""Grid eigenstates against analytic answers, and the two routes against each other."""

from __future__ import annotations

import numpy as np
import pytest

from nnpkit.apps.quantum.eigenstates import (
    grid_eigenstates,
    grid_hamiltonian,
    imaginary_time_eigenstates,
)
from nnpkit.apps.quantum.observables import tunnelling_splitting, zero_point_energy
from nnpkit.apps.quantum.potentials import DoubleWell, Harmonic, Morse, evaluate_on_grid
from nnpkit.errors import ConfigError
from nnpkit.wavepackets.grid import Grid

MASS_OH = 0.9483 * 1822.888  # reduced mass of O-H, electron masses


@pytest.mark.parametrize("kinetic", ["sinc_dvr", "fourier"])
def test_morse_levels_match_the_analytic_formula_to_1e_6(kinetic: str) -> None:
    morse = Morse()
    exact = morse.levels(MASS_OH, 10)
    box = ([morse.r0 - 1.2 / morse.width], [morse.r0 + 6.0 / morse.width])  # holds 10 levels
    grid = Grid(*box, [192])
    states = grid_eigenstates(grid, evaluate_on_grid(morse, grid.mesh()), MASS_OH, 10,
                              kinetic=kinetic)
    assert np.max(np.abs(states.energies / exact - 1)) < 1e-6
    norms = grid.integrate(np.abs(states.wavefunctions[:, 0]) ** 2)
    np.testing.assert_allclose(norms, 1.0, atol=1e-12)
    coarse = Grid(*box, [60])
    rough = grid_eigenstates(coarse, evaluate_on_grid(morse, coarse.mesh()), MASS_OH, 10)
    assert np.max(np.abs(rough.energies / exact - 1)) > 1e-6  # the test can fail


def test_imaginary_time_agrees_with_diagonalisation() -> None:
    morse = Morse()
    grid = Grid(*morse.default_bounds(), [128])
    values = evaluate_on_grid(morse, grid.mesh())
    relaxed = imaginary_time_eigenstates(grid, values, MASS_OH, 4, tau_au=1.0)
    exact = morse.levels(MASS_OH, 4)
    assert np.max(np.abs(relaxed.energies / exact - 1)) < 1e-7
    overlap = np.abs(grid.integrate(relaxed.wavefunctions[:, 0]
                                    * grid_eigenstates(grid, values, MASS_OH, 4)
                                    .wavefunctions[:, 0]))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-6)


def test_2d_separable_and_coupled_states() -> None:
    harmonic = Harmonic(omega=(0.01, 0.017), mass=1000.0)
    grid = Grid(*harmonic.default_bounds(), [40, 40])
    values = evaluate_on_grid(harmonic, grid.mesh())
    states = grid_eigenstates(grid, values, 1000.0, 4)
    expected = sorted(0.01 * (a + 0.5) + 0.017 * (b + 0.5) for a in range(3) for b in range(3))
    np.testing.assert_allclose(states.energies, expected[:4], rtol=1e-9)
    assert zero_point_energy(states, values) == pytest.approx(0.0135, rel=1e-9)
    # two identical surfaces with a constant coupling c: levels E_n -+ c
    line = Grid([-3.0], [3.0], [64])
    single = 0.5 * 1000.0 * 0.01**2 * line.axes[0] ** 2
    coupled = np.zeros((2, 2, 64))
    coupled[0, 0] = coupled[1, 1] = single
    coupled[0, 1] = coupled[1, 0] = 0.001
    pair = grid_eigenstates(line, coupled, 1000.0, 4).energies
    np.testing.assert_allclose(pair, [0.004, 0.006, 0.014, 0.016], atol=1e-10)
    sparse = grid_hamiltonian(line, coupled, 1000.0, sparse=True)
    assert np.allclose(sparse.toarray(), grid_hamiltonian(line, coupled, 1000.0))


def test_sparse_route_for_large_2d_grids_matches_dense() -> None:
    harmonic = Harmonic(omega=(0.01, 0.013), mass=1000.0)
    grid = Grid(*harmonic.default_bounds(), [56, 56])  # 3136 points > DENSE_LIMIT
    states = grid_eigenstates(grid, evaluate_on_grid(harmonic, grid.mesh()), 1000.0, 3)
    np.testing.assert_allclose(states.energies, [0.0115, 0.0215, 0.0245], rtol=1e-8)


def test_double_well_splitting_consistent_between_methods() -> None:
    well = DoubleWell(barrier=0.0064, x0=1.0)
    grid = Grid(*well.default_bounds(), [96])
    values = evaluate_on_grid(well, grid.mesh())
    states = grid_eigenstates(grid, values, 1836.15, 4)
    relaxed = imaginary_time_eigenstates(grid, values, 1836.15, 4, tau_au=1.0)
    splitting = tunnelling_splitting(states)
    assert 0 < splitting < 0.1 * (states.energies[2] - states.energies[0])
    assert tunnelling_splitting(relaxed) == pytest.approx(splitting, rel=1e-5)
    with pytest.raises(ConfigError, match="at least 4"):
        tunnelling_splitting(states, pair=1) and tunnelling_splitting(
            grid_eigenstates(grid, values, 1836.15, 2), pair=1)


def test_bad_requests_are_named() -> None:
    grid = Grid([0.0], [1.0], [8])
    with pytest.raises(ConfigError, match="n_levels"):
        grid_eigenstates(grid, np.zeros(8), 1.0, 9)
    with pytest.raises(ConfigError, match="kinetic"):
        grid_eigenstates(grid, np.zeros(8), 1.0, 2, kinetic="chebyshev")
    with pytest.raises(ConfigError, match="bound levels"):
        Morse(depth=0.01, width=2.0).levels(1836.0, 20)
