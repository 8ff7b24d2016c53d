"""The 1D NNN chain: exact ghost forces of sharp QCE, BQCE decay rates, BQCF patch test."""

from __future__ import annotations

import numpy as np
import pytest

from nnpkit.apps.multiscale.chain1d import (
    N_CLAMPED_SITES,
    MorsePair,
    blended_ghost_force_analytic,
    blending_derivative_maxima,
    blending_weights,
    bqcf_forces,
    chain_ghost_forces,
    coupled_energy,
    coupled_forces,
    ghost_force_decay,
    sharp_ghost_force_analytic,
)
from nnpkit.errors import ConfigError, DataError

PAIR = MorsePair()
SPACING_A = PAIR.chain_spacing_A()
STRETCHES = [1.0, 1.01, 0.98]


def complex_step_forces(positions_A: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """-dE/dy by the complex step Im E(y + ih e_k)/h: exact to rounding, independent of
    the hand-written gradient in :func:`coupled_forces`."""
    step = 1e-30
    forces = np.empty(len(positions_A))
    for k in range(len(positions_A)):
        shifted = positions_A.astype(complex)
        shifted[k] += 1j * step
        forces[k] = -coupled_energy(shifted, weights, PAIR).imag / step
    return forces


def uniform_chain(n_sites: int, stretch: float) -> np.ndarray:
    return stretch * SPACING_A * np.arange(n_sites, dtype=float)


def test_spacing_is_the_stress_free_chain_and_cauchy_born_matches_site_energy() -> None:
    slope = PAIR.derivative(np.array([SPACING_A, 2 * SPACING_A]))
    assert slope[0] + 2 * slope[1] == pytest.approx(0.0, abs=1e-13)
    assert 2.80 < SPACING_A < PAIR.r0_A  # NNN attraction compresses the chain below r0
    # Interior atomistic site energy equals a W(F) = φ(Fa) + φ(2Fa) (Cauchy–Born is exact).
    positions = uniform_chain(12, 1.01)
    per_site_atomistic = coupled_energy(positions, np.zeros(12), PAIR) - coupled_energy(
        positions[:-1], np.zeros(11), PAIR)
    cauchy_born = PAIR.energy(1.01 * SPACING_A) + PAIR.energy(2.02 * SPACING_A)
    assert per_site_atomistic == pytest.approx(cauchy_born, rel=1e-13)


@pytest.mark.parametrize("stretch", STRETCHES)
def test_sharp_qce_ghost_forces_equal_the_analytic_prediction(stretch: float) -> None:
    n_sites, n_atomistic = 40, 20
    forces = chain_ghost_forces("sharp", n_sites, stretch, 1, PAIR, n_atomistic=n_atomistic,
                                spacing_A=SPACING_A)
    expected = np.zeros(n_sites)
    expected[n_atomistic - 2:n_atomistic + 2] = sharp_ghost_force_analytic(PAIR, stretch, SPACING_A)
    np.testing.assert_allclose(forces, expected, rtol=0, atol=1e-12)
    # The classical magnitude φ'(2Fa)/2, nonzero: ~0.01 eV/Å for Cu-like Morse.
    assert np.max(np.abs(forces)) == pytest.approx(
        0.5 * PAIR.derivative(2 * stretch * SPACING_A), rel=1e-12)
    assert 0.005 < np.max(np.abs(forces)) < 0.02
    # The same forces from an independent (complex-step) gradient of the energy.
    weights = blending_weights(n_sites, n_atomistic, 1)
    numerical = complex_step_forces(uniform_chain(n_sites, stretch), weights)
    free = slice(N_CLAMPED_SITES, n_sites - N_CLAMPED_SITES)
    np.testing.assert_allclose(numerical[free], expected[free], rtol=0, atol=1e-12)


@pytest.mark.parametrize("blending", ["quintic", "septic"])
def test_bqce_ghost_forces_equal_the_exact_discrete_formula(blending: str) -> None:
    n_sites, n_atomistic, width, stretch = 40, 14, 10, 1.01
    weights = blending_weights(n_sites, n_atomistic, width, blending)
    forces = chain_ghost_forces("bqce", n_sites, stretch, width, PAIR, n_atomistic=n_atomistic,
                                spacing_A=SPACING_A, blending=blending)
    expected = blended_ghost_force_analytic(weights, PAIR, stretch, SPACING_A)
    np.testing.assert_allclose(forces, expected, rtol=0, atol=1e-12)
    assert np.max(np.abs(expected)) > 1e-5  # the comparison is not between two zero arrays
    # Support: sites n_a-2 .. n_a+L; zero elsewhere.
    assert np.all(expected[: n_atomistic - 2] == 0)
    assert np.all(expected[n_atomistic + width + 1:] == 0)


def test_bqce_gradient_is_the_gradient_of_its_energy() -> None:
    rng = np.random.default_rng(19)
    n_sites = 30
    positions = uniform_chain(n_sites, 1.01) + rng.normal(0.0, 0.05, n_sites)
    weights = blending_weights(n_sites, 10, 8)
    forces = coupled_forces(positions, weights, PAIR)
    step_A = 1e-5
    central = np.empty(n_sites)
    for k in range(n_sites):
        plus, minus = positions.copy(), positions.copy()
        plus[k] += step_A
        minus[k] -= step_A
        central[k] = -(coupled_energy(plus, weights, PAIR)
                       - coupled_energy(minus, weights, PAIR)) / (2 * step_A)
    np.testing.assert_allclose(forces, central, rtol=0, atol=1e-8)
    np.testing.assert_allclose(forces, complex_step_forces(positions, weights), rtol=0, atol=1e-12)
    assert np.max(np.abs(forces)) > 0.01  # a genuinely non-uniform state


def test_full_atomistic_region_gives_the_atomistic_energy_exactly() -> None:
    rng = np.random.default_rng(3)
    positions = uniform_chain(20, 0.99) + rng.normal(0.0, 0.05, 20)
    pair_sum = sum(float(PAIR.energy(positions[j] - positions[i]))
                   for i in range(20) for j in range(i + 1, min(i + 3, 20)))
    assert coupled_energy(positions, np.zeros(20), PAIR) == pytest.approx(pair_sum, rel=1e-14)
    # Fully continuum: the P1 Cauchy–Born energy Σ_e [φ(r_e) + φ(2 r_e)].
    bonds = np.diff(positions)
    continuum = float(np.sum(PAIR.energy(bonds) + PAIR.energy(2 * bonds)))
    assert coupled_energy(positions, np.ones(20), PAIR) == pytest.approx(continuum, rel=1e-14)


@pytest.mark.parametrize("stretch", STRETCHES)
@pytest.mark.parametrize("width", [1, 4, 8])
def test_bqcf_has_no_ghost_forces(stretch: float, width: int) -> None:
    forces = chain_ghost_forces("bqcf", 40, stretch, width, PAIR, spacing_A=SPACING_A)
    assert np.max(np.abs(forces)) < 1e-12
    # ... while the energy coupling on the same blend has them.
    bqce = chain_ghost_forces("bqce", 40, stretch, width, PAIR, spacing_A=SPACING_A)
    assert np.max(np.abs(bqce)) > 1e-4


def test_bqce_ghost_stress_decays_as_inverse_square_of_the_width() -> None:
    result = ghost_force_decay(PAIR, [8, 16, 32, 64], stretch=1.0, blending="quintic")
    assert result["slope_stress"] == pytest.approx(-2.0, abs=0.2)
    # Leading coefficient φ'(2a) max|s''| / L², max|s''| = 10/√3: within 10 % at L = 32 and 64.
    second, third = blending_derivative_maxima("quintic")
    assert second == pytest.approx(10 / np.sqrt(3), rel=1e-12) and third == pytest.approx(60.0)
    measured = np.array(result["max_ghost_stress_eV_per_A"])
    predicted = np.array(result["predicted_stress_eV_per_A"])
    np.testing.assert_allclose(measured[2:], predicted[2:], rtol=0.1)
    # Pointwise: |f| <= φ'(2a) max|s'''| / L³ exactly (a positive averaging kernel).
    assert np.all(np.array(result["max_ghost_force_eV_per_A"])
                  <= np.array(result["predicted_force_eV_per_A"]) * (1 + 1e-12))


def test_bqce_pointwise_ghost_force_decays_as_inverse_cube_for_a_c3_blend() -> None:
    result = ghost_force_decay(PAIR, [8, 16, 32, 64], stretch=1.02, blending="septic")
    assert result["slope_force"] == pytest.approx(-3.0, abs=0.2)
    assert blending_derivative_maxima("septic")[1] == pytest.approx(52.5, rel=1e-12)
    np.testing.assert_allclose(result["max_ghost_force_eV_per_A"][2:],
                               result["predicted_force_eV_per_A"][2:], rtol=0.1)
    assert result["slope_stress"] == pytest.approx(-2.0, abs=0.3)


def test_bad_input_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match="coupling 'qcf'"):
        chain_ghost_forces("qcf", 40, 1.0, 4, PAIR)
    with pytest.raises(ConfigError, match="blend_width_sites must be >= 1"):
        chain_ghost_forces("bqce", 40, 1.0, 0, PAIR)
    with pytest.raises(ConfigError, match="touches the 2 clamped sites"):
        chain_ghost_forces("bqce", 40, 1.0, 34, PAIR)
    with pytest.raises(ConfigError, match="blending 'cubic'"):
        blending_weights(10, 4, 3, blending="cubic")
    folded = uniform_chain(10, 1.0)
    folded[5] = folded[4] - 0.1
    with pytest.raises(DataError, match="not ordered"):
        bqcf_forces(folded, np.zeros(10), PAIR)
