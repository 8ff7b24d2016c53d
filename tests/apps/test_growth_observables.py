"""Observables and hop descriptors on hand-made height maps (exact answers)."""

from __future__ import annotations

import numpy as np
import pytest

from nnpkit.apps.growth import (
    bond_counting_barriers,
    count_islands,
    decode_codes,
    hop_codes_of,
    layer_coverages,
    roughness_ML,
    step_density,
    surface_observables,
)
from nnpkit.apps.growth.lattice import DESCRIPTOR_NAMES, FREE_HOP_CODE, N_CODES


def test_flat_surface_and_a_stripe() -> None:
    flat = np.zeros((8, 8), dtype=np.int64)
    assert step_density(flat) == 0 and roughness_ML(flat) == 0
    stripe = flat.copy()
    stripe[:4] = 1  # two straight steps of length 8 across 2·64 bonds
    assert step_density(stripe) == pytest.approx(16 / 128)
    assert roughness_ML(stripe) == pytest.approx(0.5)
    assert layer_coverages(stripe, 2).tolist() == [0.5, 0.0]
    values = surface_observables(stripe)
    assert values["coverage_ML"] == 0.5 and values["anti_bragg_intensity"] == 0.0


def test_islands_monomers_and_periodic_wrapping() -> None:
    h = np.zeros((10, 10), dtype=np.int64)
    h[0, 0] = h[9, 0] = 1  # one dimer across the periodic boundary
    h[5, 5] = 1  # a monomer
    h[2:4, 2:5] = 1  # a 2×3 island with a second-layer dimer on top
    h[2, 2:4] = 2
    assert count_islands(h) == (3, 1)
    assert surface_observables(h)["island_density_per_site"] == pytest.approx(0.03)


def test_hop_descriptors_of_known_environments() -> None:
    h = np.zeros((6, 6), dtype=np.int64)
    h[2, 2] = 1
    names = DESCRIPTOR_NAMES
    free_code = hop_codes_of(h, np.array([[2, 2]]), np.array([0]))
    assert free_code.tolist() == [FREE_HOP_CODE]
    assert not decode_codes(free_code)[0].any()
    h[1, 2] = 1  # a neighbour behind (−x): detachment when hopping +x
    h[3, 3] = 1  # beside the final site and diagonal to the source
    codes = hop_codes_of(h, np.array([[2, 2]]), np.array([0]))
    desc = dict(zip(names, decode_codes(codes)[0].tolist(), strict=True))
    assert desc == {"n1_initial": 1, "n2_initial": 1, "n1_final": 1, "n2_final": 0,
                    "n_saddle": 1, "dz": 0}
    h2 = np.zeros((6, 6), dtype=np.int64)
    h2[2, 2] = 2  # on top of a one-atom pillar: the hop goes down
    h2[2, 1] = h2[2, 3] = 1
    down = decode_codes(hop_codes_of(h2, np.array([[2, 2]]), np.array([0])))[0]
    assert down[names.index("dz")] == -1 and down[names.index("n1_final")] == 1
    up = decode_codes(hop_codes_of(h2, np.array([[2, 1]]), np.array([2])))[0]
    assert up[names.index("dz")] == 1 and up[names.index("n1_initial")] == 1


def test_codes_roundtrip_and_bond_counting_table() -> None:
    descriptors = decode_codes(np.arange(N_CODES))
    assert descriptors.shape == (N_CODES, 6)
    assert len({tuple(row) for row in descriptors}) == N_CODES
    barriers = bond_counting_barriers(0.4, 0.25, 0.1)
    expected = 0.4 + 0.25 * descriptors[:, 0] + 0.1 * (descriptors[:, 5] != 0)
    np.testing.assert_allclose(barriers, expected)
