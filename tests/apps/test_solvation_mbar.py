"""MBAR and the statistics around it: harmonic oscillators, statistical inefficiency of an
AR(1) series, overlap warnings naming the windows, disjoint windows refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from ase import units

from nnpkit.apps.solvation.mbar import (
    PoorOverlapWarning,
    decorrelated_indices,
    harmonic_reduced_potentials,
    state_free_energy_differences,
    statistical_inefficiency,
    umbrella_free_energy,
)
from nnpkit.errors import ConfigError, DataError


def test_mbar_on_harmonic_oscillators_gives_half_log_spring_ratios() -> None:
    """K wells u_k(x) = ½ K_k (x − x_k)² (β = 1), exact samples: f_k = −ln √(2π/K_k), so
    Δf_ij = f_j − f_i = ½ ln(K_j/K_i). Tolerance: within 3σ of MBAR's uncertainty and
    0.02 absolute (σ ≈ 0.005–0.01 here); a wrong sign or a missing ½ misses by > 0.2."""
    rng = np.random.default_rng(7)
    springs = np.array([1.0, 2.0, 4.0, 3.0, 8.0])
    centres = np.array([0.0, 0.3, 0.6, -0.4, 0.2])
    n_k = np.full(springs.size, 4000)
    x_n = np.concatenate([rng.normal(c, 1.0 / np.sqrt(k), n)
                          for c, k, n in zip(centres, springs, n_k, strict=True)])
    u_kn = 0.5 * springs[:, None] * (x_n[None, :] - centres[:, None]) ** 2  # [K, N]
    delta, sigma = state_free_energy_differences(u_kn, n_k)
    exact = 0.5 * np.log(springs[None, :] / springs[:, None])
    off = ~np.eye(springs.size, dtype=bool)
    assert np.all(sigma[off] > 0)
    assert np.all(np.abs(delta - exact)[off] <= 3 * sigma[off])
    np.testing.assert_allclose(delta, exact, atol=0.02)


def test_statistical_inefficiency_of_an_ar1_series() -> None:
    """x_t = φ x_{t−1} + ε_t has C(t) = φ^t, so g = 1 + 2 Σ φ^t = (1 + φ)/(1 − φ) = 9 for
    φ = 0.8. Tolerance 10 % (the estimate's relative error for 2·10⁵ samples is ~3 %)."""
    rng = np.random.default_rng(3)
    phi, n = 0.8, 200_000
    noise = rng.normal(size=n)
    series = np.empty(n)
    series[0] = noise[0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        series[t] = phi * series[t - 1] + noise[t]
    g = statistical_inefficiency(series)
    assert g == pytest.approx((1 + phi) / (1 - phi), rel=0.10)
    kept = decorrelated_indices(series, g)
    assert len(kept) == pytest.approx(n / g, rel=0.01)
    assert statistical_inefficiency(np.ones(50)) == 1.0  # constant: nothing to correlate


def _window_samples(centres: np.ndarray, spring: float, temperature_K: float, n: int,
                    seed: int = 0) -> list[np.ndarray]:
    """Exact samples of a flat landscape restrained by each window: N(s0, kT/K)."""
    rng = np.random.default_rng(seed)
    width = np.sqrt(units.kB * temperature_K / spring)
    return [rng.normal(c, width, n) for c in centres]


def test_flat_landscape_profile_is_flat_and_states_have_the_interval_free_energy() -> None:
    """Without a potential F(s) is constant, and a state [a, b) has F = −kT ln(b − a) + c:
    a state twice as wide is lower by kT ln 2. Tolerance 0.1 kT about the mean (σ of a
    bin ≈ 0.02 kT with 20 000 samples per window)."""
    temperature, kT = 300.0, units.kB * 300.0
    centres = np.linspace(0.0, 3.0, 7)
    spring = kT / 0.3**2  # width 0.3 for a spacing of 0.5
    samples = _window_samples(centres, spring, temperature, 20_000)
    profile = umbrella_free_energy(samples, centres, spring, temperature,
                                   bins=np.linspace(0.0, 3.0, 16), decorrelate=False,
                                   states={"narrow": (0.5, 1.0), "wide": (1.5, 2.5)})
    free = profile.free_energy_eV
    assert np.isfinite(free).all() and np.nanmin(free) == 0.0
    assert np.max(np.abs(free - free.mean())) < 0.1 * kT
    assert 0 < np.max(profile.sigma_eV) < 0.05 * kT
    value, sigma = profile.delta_F_eV["narrow->wide"]
    assert value == pytest.approx(-kT * np.log(2.0), abs=0.1 * kT)
    assert 0 < sigma < 0.05 * kT
    assert profile.rows()[0].keys() == {"cn", "F_eV", "sigma_eV"}
    assert profile.poor_overlap == []
    # the unbiased weights of the (pooled) samples give the flat density back
    pooled = np.concatenate(samples)
    weights = profile.unbiased_weights(pooled)
    narrow = weights[(pooled >= 0.5) & (pooled < 1.0)].sum()
    wide = weights[(pooled >= 1.5) & (pooled < 2.5)].sum()
    assert wide / narrow == pytest.approx(2.0, rel=0.05)


def test_poor_overlap_names_the_windows() -> None:
    """Windows 0–1–2 spaced 0.1 apart overlap well; window 3 sits 0.9 away (about 4.5
    widths): its overlap with window 2 is far below 0.03, and only that pair is named."""
    temperature, kT = 300.0, units.kB * 300.0
    centres = np.array([0.0, 0.1, 0.2, 1.1])
    spring = kT / 0.2**2  # width 0.2
    samples = _window_samples(centres, spring, temperature, 4000, seed=1)
    with pytest.warns(PoorOverlapWarning, match=r"windows 2 and 3 \(centres 0.2, 1.1\)"):
        profile = umbrella_free_energy(samples, centres, spring, temperature, bins=20,
                                       decorrelate=False)
    assert [(i, j) for i, j, _ in profile.poor_overlap] == [(2, 3)]
    assert profile.poor_overlap[0][2] < 0.03
    assert profile.overlap[0, 1] > 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        umbrella_free_energy(samples, centres, spring, temperature, bins=20,
                             decorrelate=False, warn=False)


def test_disjoint_windows_are_refused_by_name() -> None:
    centres = np.array([0.0, 0.1, 5.0])
    samples = _window_samples(centres, 50.0, 300.0, 500)
    with pytest.raises(DataError, match=r"windows 1 \(centre 0.1.*and 2 \(centre 5"):
        umbrella_free_energy(samples, centres, 50.0, 300.0)
    with pytest.raises(ConfigError, match="2 sample series for 3"):
        umbrella_free_energy(samples[:2], centres, 50.0, 300.0)
    with pytest.raises(ConfigError, match=r"unknown state\(s\) \['B'\]"):
        umbrella_free_energy(_window_samples(centres[:2], 50.0, 300.0, 500), centres[:2],
                             50.0, 300.0, states={"A": (0.0, 0.1)}, delta_pairs=[("A", "B")])


def test_reduced_potentials_are_beta_times_the_bias() -> None:
    u = harmonic_reduced_potentials(np.array([0.0, 1.0]), np.array([0.5]), np.array([2.0]),
                                    300.0)
    np.testing.assert_allclose(u, [[0.25 / (units.kB * 300.0)] * 2])
