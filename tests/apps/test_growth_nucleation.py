"""Nucleation theory: with irreversible aggregation (i* = 1) the saturation island density
scales as (D/F)^(−1/3); the exponent fitted over three decades of D/F must be within 0.05
of 1/3 (about 8 s on one core)."""

from __future__ import annotations

import numpy as np
import pytest

from nnpkit.apps.growth.nucleation import saturation_island_density, scaling_exponent


def test_island_density_exponent_is_one_third() -> None:
    # D/F over three decades, each lattice holding ~300-450 islands at saturation: measured
    # χ = 0.320, 0.332, 0.329, 0.318 for seeds 1-4 (i* = 2 would give 1/2)
    ratios = np.array([1e4, 1e5, 1e6, 1e7])
    sizes = [192, 256, 384, 512]
    densities = np.array([saturation_island_density(r, L) for r, L in zip(ratios, sizes,
                                                                        strict=True)])
    assert scaling_exponent(ratios, densities) == pytest.approx(1 / 3, abs=0.05), densities


def test_scaling_exponent_of_an_exact_power_law() -> None:
    ratios = np.array([1e4, 1e5, 1e6])
    assert scaling_exponent(ratios, 0.3 * ratios ** (-0.25)) == pytest.approx(0.25)
