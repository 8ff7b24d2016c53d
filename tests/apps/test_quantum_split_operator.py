"""The split-operator propagator: exactness, conservation, reversibility, convergence."""

from __future__ import annotations

import numpy as np
import pytest

from nnpkit.errors import ConfigError
from nnpkit.wavepackets.grid import Grid
from nnpkit.wavepackets.split_operator import SplitOperator


def gaussian(x: np.ndarray, x0: float, sigma: float, k0: float) -> np.ndarray:
    """Normalised Gaussian with position std ``sigma`` and mean momentum ``k0``."""
    return ((2 * np.pi * sigma**2) ** -0.25
            * np.exp(-((x - x0) ** 2) / (4 * sigma**2) + 1j * k0 * x))


def test_grid_geometry_and_integration() -> None:
    grid = Grid([-1.0, 0.0], [1.0, 4.0], [8, 16])
    assert grid.shape == (8, 16)
    np.testing.assert_allclose(grid.spacing, [0.25, 0.25])
    assert grid.axes[0][0] == -1.0 and grid.axes[0][-1] == pytest.approx(0.75)
    x, y = grid.mesh()
    assert x.shape == (8, 16) and y[0, 3] == pytest.approx(0.75)
    assert grid.integrate(np.ones(grid.shape)) == pytest.approx(8.0)
    assert grid.integrate(np.ones((3, 8, 16))).shape == (3,)
    k = grid.momenta()[0]
    assert k[1] == pytest.approx(2 * np.pi / 2.0)
    with pytest.raises(ConfigError, match="axis 1"):
        Grid([0, 1], [1, 0], [4, 4])
    with pytest.raises(ConfigError, match="same length"):
        Grid([0], [1, 2], [4, 4])


def test_free_gaussian_spreads_as_the_analytic_solution() -> None:
    mass, sigma, k0 = 1.0, 1.0, 2.0
    grid = Grid([-40.0], [80.0], [1024])
    x = grid.axes[0]
    psi0 = gaussian(x, -10.0, sigma, k0)[None]
    propagator = SplitOperator(grid, np.zeros(grid.shape), mass, dt_au=0.05)
    psi = propagator.propagate(psi0, 200)  # t = 10
    t = 10.0
    width = sigma * np.sqrt(1 + (t / (2 * mass * sigma**2)) ** 2)
    centre = -10.0 + k0 * t / mass
    expected = np.exp(-((x - centre) ** 2) / (2 * width**2)) / np.sqrt(2 * np.pi * width**2)
    np.testing.assert_allclose(np.abs(psi[0]) ** 2, expected, atol=1e-10)
    assert np.array_equal(psi0, gaussian(x, -10.0, sigma, k0)[None])  # input untouched


def test_norm_energy_conservation_and_time_reversal_2d() -> None:
    grid = Grid([-6.0, -6.0], [6.0, 6.0], [64, 64])
    x, y = grid.mesh()
    potential = 0.5 * x**2 + 0.8 * y**2 + 0.1 * x**2 * y + 0.05 * y**4  # anharmonic, coupled
    psi0 = (gaussian(x, 1.0, 0.8, 0.5) * gaussian(y, -0.5, 0.6, 0.0))[None]
    forward = SplitOperator(grid, potential, 1.0, dt_au=0.01)
    backward = SplitOperator(grid, potential, 1.0, dt_au=-0.01)
    e0, n0 = forward.energy(psi0), forward.norm(psi0)
    psi = forward.propagate(psi0, 500)
    assert forward.norm(psi) == pytest.approx(n0, abs=1e-12)
    assert forward.energy(psi) == pytest.approx(e0, rel=1e-4)
    returned = backward.propagate(psi, 500)
    assert np.max(np.abs(returned - psi0)) < 1e-10


def test_second_order_convergence_in_time_step() -> None:
    """<x>(t) of a displaced Gaussian in a harmonic well is x0 cos(wt); error ~ dt^2."""
    grid = Grid([-10.0], [10.0], [256])
    x = grid.axes[0]
    omega, mass = 1.3, 2.0
    potential = 0.5 * mass * omega**2 * x**2
    psi0 = gaussian(x, 1.5, 0.3, 0.0)[None]  # squeezed: not an eigenstate of any H piece
    errors = []
    for dt in (0.02, 0.01):
        steps = int(round(3.0 / dt))
        psi = SplitOperator(grid, potential, mass, dt).propagate(psi0, steps)
        mean_x = grid.integrate(x * np.abs(psi[0]) ** 2)
        errors.append(abs(mean_x - 1.5 * np.cos(omega * 3.0)))
    assert errors[1] < 1e-3
    assert 3.5 < errors[0] / errors[1] < 4.5


def test_coupled_states_rabi_oscillation_and_cap() -> None:
    """Constant coupling c between degenerate states: P_2(t) = sin^2(c t), exactly."""
    grid = Grid([-20.0], [20.0], [128])
    x = grid.axes[0]
    coupling = 0.02
    potential = np.zeros((2, 2, *grid.shape))
    potential[0, 0] = potential[1, 1] = 0.01 * x**2
    potential[0, 1] = potential[1, 0] = coupling
    psi0 = np.zeros((2, *grid.shape), complex)
    psi0[0] = gaussian(x, 0.0, 1.0, 0.0)
    propagator = SplitOperator(grid, potential, 1.0, dt_au=0.5)
    for step, psi in propagator.iterate(psi0, 100, every=25):
        populations = propagator.populations(psi)
        assert populations[1] == pytest.approx(np.sin(coupling * 0.5 * step) ** 2, abs=1e-10)
        assert populations.sum() == pytest.approx(1.0, abs=1e-12)
    cap = np.where(np.abs(x) > 10, 0.05 * (np.abs(x) - 10) ** 2, 0.0)
    absorbed = SplitOperator(grid, np.zeros(grid.shape), 1.0, 0.1, absorbing=cap)
    moving = gaussian(x, 0.0, 1.0, 3.0)
    assert absorbed.norm(absorbed.propagate(moving, 200)) < 1e-3


def test_coupled_state_energy_is_exact_and_conserved() -> None:
    """<H> of a two-state packet: kinetic + diabatic + coupling terms; constant in time."""
    grid = Grid([-20.0], [20.0], [256])
    x = grid.axes[0]
    mass, sigma, k0, coupling = 50.0, 1.0, 2.0, 0.003
    potential = np.zeros((2, 2, *grid.shape))
    potential[0, 0] = 0.002 * x**2
    potential[1, 1] = 0.002 * x**2 + 0.01
    potential[0, 1] = potential[1, 0] = coupling
    psi = np.zeros((2, *grid.shape), complex)
    psi[0] = psi[1] = gaussian(x, 0.0, sigma, k0) / np.sqrt(2.0)
    propagator = SplitOperator(grid, potential, mass, dt_au=0.05)
    # Gaussian: <T> = (k0² + 1/(4σ²)) / 2m, <x²> = σ²; equal weights: <V12 + V21> = coupling
    expected = ((k0**2 + 0.25 / sigma**2) / (2 * mass) + 0.002 * sigma**2
                + 0.5 * 0.01 + coupling)
    assert propagator.energy(psi) == pytest.approx(expected, rel=1e-8)
    later = propagator.propagate(psi, 400)
    assert propagator.energy(later) == pytest.approx(expected, rel=1e-4)


def test_bad_inputs_are_named() -> None:
    grid = Grid([0.0], [1.0], [16])
    with pytest.raises(ConfigError, match="potential has shape"):
        SplitOperator(grid, np.zeros(8), 1.0, 0.1)
    with pytest.raises(ConfigError, match="not symmetric"):
        bad = np.zeros((2, 2, 16))
        bad[0, 1] = 1.0
        SplitOperator(grid, bad, 1.0, 0.1)
    with pytest.raises(ConfigError, match="psi has shape"):
        SplitOperator(grid, np.zeros(16), 1.0, 0.1).step(np.zeros((2, 16)))
    with pytest.raises(ConfigError, match="mass_au"):
        SplitOperator(grid, np.zeros(16), -1.0, 0.1)
