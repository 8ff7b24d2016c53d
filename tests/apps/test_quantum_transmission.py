"""Transmission by wavepacket flux against the exact Eckart formula; multi-state checks."""

from __future__ import annotations

import numpy as np
import pytest

from nnpkit.apps.quantum.potentials import Eckart, builtin_potential, evaluate_on_grid
from nnpkit.apps.quantum.transmission import manolopoulos_cap, transmission_spectrum
from nnpkit.errors import ConfigError
from nnpkit.wavepackets.grid import Grid
from nnpkit.wavepackets.split_operator import SplitOperator

MASS_H = 1836.15


def test_eckart_transmission_within_one_percent_from_deep_tunnelling_to_above() -> None:
    eckart = Eckart(height=0.016, width=1.0)
    energies = np.array([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0]) * 0.016
    exact = eckart.transmission(MASS_H, energies)
    assert exact[0] < 1e-9  # truly deep tunnelling
    result = transmission_spectrum(eckart, MASS_H, energies)
    np.testing.assert_allclose(result.total, exact, rtol=0.01)
    assert result.absorbed_fraction > 1 - 1e-9


def test_a_coarse_time_step_is_detectably_wrong() -> None:
    """The flux analysis is sensitive: a coarse time step breaks the 1% agreement."""
    eckart = Eckart()
    energies = np.array([0.5, 0.8]) * eckart.height
    sloppy = transmission_spectrum(eckart, MASS_H, energies, dt_au=60.0)
    assert np.max(np.abs(sloppy.total / eckart.transmission(MASS_H, energies) - 1)) > 0.01


def test_cap_absorbs_without_reflection() -> None:
    grid = Grid([-40.0], [40.0], [1024])
    x = grid.axes[0]
    k0 = 10.0
    cap = manolopoulos_cap(x, 20.0, 0.25 * k0, MASS_H, 1) + manolopoulos_cap(
        x, -20.0, 0.25 * k0, MASS_H, -1)
    assert cap[np.abs(x) < 20].max() == 0 and cap.min() >= 0
    packet = (2 * np.pi) ** -0.25 * np.exp(-(x**2) / 4 + 1j * k0 * x)
    propagator = SplitOperator(grid, np.zeros(grid.shape), MASS_H, 5.0, absorbing=cap)
    psi = propagator.propagate(packet, 2000)  # long enough to reach, and come back from, the CAP
    assert propagator.norm(psi) < 1e-5


def test_multistate_flux_matches_final_populations_of_a_packet() -> None:
    """Tully 1: state-resolved T(E) averaged over a packet's energies = its final populations."""
    tully = builtin_potential("tully1")
    mass, k0, sigma_k = 2000.0, 20.0, 1.0
    k = np.linspace(k0 - 4 * sigma_k, k0 + 4 * sigma_k, 17)
    energies = k**2 / (2 * mass) - 0.01  # lower diabat asymptote is -A = -0.01 Eh
    spectrum = transmission_spectrum(tully, mass, energies, points_per_wavelength=8)
    weights = np.exp(-((k - k0) ** 2) / (2 * sigma_k**2)) * np.gradient(k)
    expected = spectrum.by_channel @ weights / weights.sum()  # [n_ch]
    grid = Grid([-40.0], [40.0], [2048])
    x = grid.axes[0]
    values = evaluate_on_grid(tully, grid.mesh())
    psi = np.zeros((2, 2048), complex)
    sigma_x = 1 / (2 * sigma_k)
    psi[0] = (2 * np.pi * sigma_x**2) ** -0.25 * np.exp(-((x + 15) ** 2) / (4 * sigma_x**2)
                                                        + 1j * k0 * x)
    final = SplitOperator(grid, values, mass, 2.0).propagate(psi, 1300)  # packet at x ~ +11
    right = x > 5
    populations = np.sum(np.abs(final[:, right]) ** 2, axis=1) * grid.spacing[0]  # [2]
    # at x > 5 the diabats are the adiabats (coupling ~ e^-25); lower adiabat = diabat 1 there
    np.testing.assert_allclose(np.sort(populations), np.sort(expected), atol=2e-3)
    assert spectrum.total == pytest.approx(np.ones_like(energies), abs=1e-3)


def test_energies_below_the_asymptote_are_refused() -> None:
    with pytest.raises(ConfigError, match="asymptote"):
        transmission_spectrum(Eckart(), MASS_H, [-0.001])
