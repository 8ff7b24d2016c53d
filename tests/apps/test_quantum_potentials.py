"""Built-in potentials: gradients, analytic references, parameter parsing."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units

from nnpkit.apps.quantum.potentials import (
    DoubleWell,
    Eckart,
    Harmonic,
    Morse,
    MullerBrown,
    builtin_potential,
    evaluate_on_grid,
)
from nnpkit.errors import ConfigError


@pytest.mark.parametrize("potential", [Morse(), Eckart(), DoubleWell(), MullerBrown(),
                                       Harmonic(omega=(0.01, 0.02), centre=(0.1, -0.2))])
def test_gradients_match_finite_differences(potential) -> None:
    lower, upper = potential.default_bounds()
    points = np.random.default_rng(0).uniform(lower, upper, size=(20, len(lower)))
    step = 1e-6
    numeric = np.stack([(potential(points + step * e) - potential(points - step * e)) / (2 * step)
                        for e in np.eye(len(lower))], axis=-1)
    np.testing.assert_allclose(potential.gradient(points), numeric, rtol=1e-6, atol=1e-7)


def test_muller_brown_known_minimum_and_eckart_limits() -> None:
    assert MullerBrown()(np.array([[-0.558, 1.442]]))[0] == pytest.approx(-146.70, abs=0.01)
    eckart = Eckart(height=0.02, width=1.2)
    energies = np.array([0.1, 1.0, 3.0]) * 0.02
    transmitted = eckart.transmission(1836.0, energies)
    assert transmitted[0] < 1e-6 and 0.4 < transmitted[1] < 0.6 and transmitted[2] > 0.999
    # at E = V0 the symmetric Eckart transmission has a closed form check by direct formula
    kappa = np.pi * np.sqrt(2 * 1836.0 * 0.02) * 1.2
    beta = 0.5 * np.pi * np.sqrt(8 * 1836.0 * 0.02 * 1.2**2 - 1)
    direct = np.sinh(kappa) ** 2 / (np.sinh(kappa) ** 2 + np.cosh(beta) ** 2)
    assert transmitted[1] == pytest.approx(direct, rel=1e-12)


def test_builtin_parameters_in_public_units() -> None:
    morse = builtin_potential("morse", {"depth_eV": 4.0, "width_per_A": 2.0, "r0_A": 1.0})
    assert morse.depth == pytest.approx(4.0 / units.Hartree)
    assert morse.width == pytest.approx(2.0 * units.Bohr)
    assert morse.r0 == pytest.approx(1.0 / units.Bohr)
    assert builtin_potential("Double-Well", {"barrier_au": 0.01}).barrier == 0.01
    with pytest.raises(ConfigError, match="unknown parameter 'depth'"):
        builtin_potential("morse", {"depth": 1.0})
    with pytest.raises(ConfigError, match="unknown potential 'lennard'"):
        builtin_potential("lennard")
    with pytest.raises(ConfigError, match=r"shape \[\.\.\., 2\]"):
        MullerBrown()(np.zeros((3, 1)))


def test_tully_models_as_multistate_potentials() -> None:
    tully = builtin_potential("tully1")
    values = evaluate_on_grid(tully, [np.linspace(-5, 5, 11)])
    assert values.shape == (2, 2, 11)
    np.testing.assert_allclose(values, np.swapaxes(values, 0, 1))
    assert values[0, 0, -1] == pytest.approx(0.01 * (1 - np.exp(-1.6 * 5)))
    assert tully(np.array([[0.0]]))[0] == pytest.approx(-0.005)
