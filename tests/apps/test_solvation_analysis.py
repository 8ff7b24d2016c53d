"""Solvation-shell analysis against analytic answers: ideal-gas RDFs and shell counts, the
running CN, residence times of a two-state series of known lifetime, the most probable CN."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units

from nnpkit.apps.solvation.analysis import (
    first_minimum,
    ion_group_distances,
    most_probable_cn,
    radial_distribution,
    residence_times,
    shell_indicator,
    state_free_energies,
)
from nnpkit.errors import DataError


def _uniform_ball(rng: np.random.Generator, n: int, radius: float) -> np.ndarray:
    directions = rng.normal(size=(n, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return directions * radius * rng.random(n)[:, None] ** (1 / 3)


def test_ideal_gas_cluster_rdf_is_one_and_shell_counts_are_analytic() -> None:
    """24 "O" atoms uniform in a ball of R = 6 Å about the ion, 400 frames: the mean count
    in the shell [r1, r2) is N (r2³ − r1³)/R³, so g = 1 and N(r) = N (r/R)³. Tolerance: 4
    binomial σ per shell (a wrong shell volume, e.g. 4πr²dr at the inner edge, is off by
    2–3x in the first shells; a wrong density by the ratio of the volumes)."""
    rng = np.random.default_rng(0)
    n_o, radius, n_frames = 24, 6.0, 400
    frames = [Atoms("Na" + "O" * n_o, positions=np.vstack([[0, 0, 0],
                                                           _uniform_ball(rng, n_o, radius)]))
              for _ in range(n_frames)]
    distances = ion_group_distances(frames, 0, list(range(1, n_o + 1)))
    assert distances.shape == (n_frames, n_o)
    rdf = radial_distribution(distances, r_max_A=radius, n_bins=12)
    edges = rdf.edges_A
    fraction = (edges[1:] ** 3 - edges[:-1] ** 3) / radius**3  # per atom, per frame
    expected = n_o * fraction  # mean count per shell
    counts = np.diff(np.concatenate([[0.0], rdf.running_cn]))
    sigma = np.sqrt(n_o * fraction * (1 - fraction) / n_frames)
    assert np.all(np.abs(counts - expected) < 4 * sigma)
    assert np.all(np.abs(rdf.g[2:] - 1.0) < 0.1)  # the first shells hold few atoms
    np.testing.assert_allclose(rdf.running_cn, n_o * (edges[1:] / radius) ** 3,
                               atol=4 * np.sqrt(n_o / n_frames))
    assert rdf.running_cn[-1] == pytest.approx(n_o)  # every atom within R
    assert rdf.cn_at(3.0) == pytest.approx(n_o / 8, abs=0.2)


def test_periodic_ideal_gas_rdf_uses_minimum_images() -> None:
    """Uniform atoms in a 10 Å cube: g = 1 up to L/2 with ρ = N/V (minimum image);
    2000 frames: the shells from 1.5 Å on hold >= 1000 atoms, so 0.1 is > 3σ."""
    rng = np.random.default_rng(1)
    length, n_o = 10.0, 30
    frames = [Atoms("Na" + "O" * n_o, positions=rng.random((n_o + 1, 3)) * length,
                    cell=[length] * 3, pbc=True) for _ in range(2000)]
    distances = ion_group_distances(frames, 0, list(range(1, n_o + 1)))
    assert distances.max() <= np.sqrt(3) * length / 2 + 1e-9
    rdf = radial_distribution(distances, r_max_A=5.0, n_bins=10, volume_A3=length**3)
    assert np.all(np.abs(rdf.g[3:] - 1.0) < 0.1)


def test_first_minimum_of_a_shell_structure() -> None:
    """A first shell of 6 at 2.4 Å and a second at 4.5 Å: the minimum between is ~3.3 Å,
    and N at the minimum is 6."""
    rng = np.random.default_rng(2)
    first = rng.normal(2.4, 0.12, (500, 6))
    second = rng.normal(4.5, 0.3, (500, 12))
    rdf = radial_distribution(np.hstack([first, second]), r_max_A=6.0, n_bins=60,
                              reference_radius_A=6.0)
    cutoff = first_minimum(rdf)
    assert 3.0 < cutoff < 3.6
    assert rdf.cn_at(cutoff) == pytest.approx(6.0, abs=0.05)
    with pytest.raises(DataError, match="no minimum"):
        first_minimum(radial_distribution(np.full((3, 2), 1.0), 2.0, 10))


def test_residence_time_of_a_two_state_series() -> None:
    """Each atom leaves the shell with probability p = 0.05 per frame and re-enters with
    q = 0.1: stays are geometric with mean 1/p = 20 frames. 40 atoms × 20 000 frames give
    ~13 000 stays: the mean within 3 % (its relative σ is ~1 %)."""
    rng = np.random.default_rng(4)
    p_exit, p_enter, n_frames, n_atoms = 0.05, 0.1, 20_000, 40
    inside = np.zeros((n_frames, n_atoms), dtype=bool)
    state = rng.random(n_atoms) < p_enter / (p_enter + p_exit)
    draws = rng.random((n_frames, n_atoms))
    for t in range(n_frames):
        inside[t] = state
        state = np.where(state, draws[t] >= p_exit, draws[t] < p_enter)
    result = residence_times(inside, frame_interval_fs=5.0)
    assert result.lengths_frames.size > 10_000
    assert result.mean_fs == pytest.approx(5.0 / p_exit, rel=0.03)


def test_residence_tolerance_and_truncated_stays() -> None:
    """1 = inside. Stay 1 is cut by the start (left out); then a stay of 3, an excursion
    of 1 frame, 2 more (one stay of 6 with tolerance 1, two of 3 and 2 without); the last
    stay is cut by the end (left out)."""
    series = np.array([1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1], dtype=bool)[:, None]
    strict = residence_times(series, 1.0)
    assert strict.lengths_frames.tolist() == [3, 2]
    tolerant = residence_times(series, 1.0, tolerance_frames=1)
    assert tolerant.lengths_frames.tolist() == [6]
    assert np.isnan(residence_times(np.ones((5, 1), dtype=bool), 1.0).mean_fs)
    np.testing.assert_array_equal(shell_indicator(np.array([[2.0, 3.5]]), 3.0), [[True, False]])


def test_most_probable_cn_integrates_each_integer_state() -> None:
    """A sharp peak at CN 5.05 (30 % of the probability) and a broad plateau over CN 6
    (60 %): the density is highest at 5.05, but the integer state 6 is the most probable."""
    centres = np.arange(3.05, 8.0, 0.1)
    density = np.full(centres.size, 1e-6)
    density[np.abs(centres - 5.05) < 0.01] = 0.30 / 0.1  # one bin
    plateau = np.abs(centres - 6.0) < 0.45
    density[plateau] = 0.60 / (0.1 * plateau.sum())
    kT = units.kB * 300.0
    free = -kT * np.log(density)
    assert most_probable_cn(centres, free, 300.0) == 6.0
    assert most_probable_cn(centres, free, 300.0, integer=False) == pytest.approx(5.05)
    free[plateau] = np.nan  # no samples there: no weight
    assert most_probable_cn(centres, free, 300.0) == 5.0
    with pytest.raises(DataError, match="no finite"):
        most_probable_cn(centres, np.full(centres.size, np.nan), 300.0)


def test_state_free_energies_of_a_profile() -> None:
    """On a flat profile a state twice as wide is lower by kT ln 2; a state where F is
    higher by 1 kT throughout is higher by 1 kT (±1 % of kT: the grid is exact here)."""
    kT = units.kB * 300.0
    s = np.arange(0.0, 4.0, 0.01) + 0.005
    free = np.where(s >= 3.0, kT, 0.0)
    values = state_free_energies(s, free, 300.0, {"narrow": (0.0, 1.0), "wide": (1.0, 3.0),
                                                  "high": (3.0, 4.0)})
    assert values["wide"] == 0.0
    assert values["narrow"] == pytest.approx(kT * np.log(2.0), abs=0.01 * kT)
    assert values["high"] == pytest.approx(kT * (1 + np.log(2.0)), abs=0.01 * kT)
    with pytest.raises(DataError, match="state far"):
        state_free_energies(s, free, 300.0, {"far": (10.0, 11.0)})
