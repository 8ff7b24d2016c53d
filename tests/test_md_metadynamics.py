"""Well-tempered metadynamics (nnpkit.md.metadynamics): hill heights, the bias as a sum of
Gaussians and its forces, shared and independent walkers, the grid, the hills file (round
trip, a torn last line, other settings refused) and a killed run continued from its file
and its last frames, which must give the bias of the uninterrupted run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.emt import EMT

from nnpkit.errors import ConfigError, DataError
from nnpkit.md import run_batched_md
from nnpkit.md.batched_state import BatchedState, state_from_atoms
from nnpkit.md.collective_variables import DistanceCV
from nnpkit.md.metadynamics import WellTemperedMetadynamics

HEIGHT, SIGMA, GAMMA, KELVIN = 0.05, 0.2, 8.0, 300.0


def dimers(lengths: list[float]) -> list[Atoms]:
    """H2 along x with the given bond lengths (the CV), Å."""
    return [Atoms("H2", positions=[[0, 0.1 * b, 0], [length, 0.1 * b, 0]])
            for b, length in enumerate(lengths)]


def state_at(lengths: list[float], step: int = 0) -> BatchedState:
    state = state_from_atoms(dimers(lengths))
    state.step = step
    return state


def metadynamics(n_replicas: int, **options) -> WellTemperedMetadynamics:
    cv = DistanceCV(0, 1, [2] * n_replicas)
    return WellTemperedMetadynamics(cv, n_replicas, HEIGHT, SIGMA, GAMMA, KELVIN,
                                    pace_steps=10, **options)


def gaussians(s: np.ndarray, centers: list[float], heights: list[float]) -> np.ndarray:
    s = np.asarray(s, dtype=float)[:, None]
    return (np.asarray(heights) * np.exp(-((s - np.asarray(centers)) ** 2)
                                         / (2 * SIGMA**2))).sum(axis=1)


def test_hills_have_the_well_tempered_height_and_sum_to_the_bias() -> None:
    kT_delta = units.kB * KELVIN * (GAMMA - 1)
    bias = metadynamics(1)
    centers = [1.0, 1.1, 0.85, 1.3]
    heights: list[float] = []
    for k, center in enumerate(centers):
        before = gaussians([center], centers[:k], heights)[0] if heights else 0.0
        heights.append(HEIGHT * math.exp(-before / kT_delta))
        bias.deposit(state_at([center], step=10 * k), 10 * k, update_state=False)
    assert heights[1] < 0.8 * HEIGHT  # the tempering is visible
    np.testing.assert_allclose(bias.hills["height_eV"], heights, rtol=1e-13)
    np.testing.assert_allclose(bias.hills["center"], centers, rtol=1e-15)
    grid = np.linspace(0.0, 2.5, 101)
    np.testing.assert_allclose(bias.bias_on_grid(grid), gaussians(grid, centers, heights),
                               rtol=1e-13, atol=1e-300)
    expected_free = -GAMMA / (GAMMA - 1) * gaussians(grid, centers, heights)
    np.testing.assert_allclose(bias.free_energy_estimate(grid),
                               expected_free - expected_free.min(), atol=1e-13)


def test_bias_energy_and_forces_are_the_hills_and_their_gradient() -> None:
    bias = metadynamics(2)
    for k, lengths in enumerate([[1.0, 1.4], [1.15, 1.3], [0.9, 1.5]]):
        bias.deposit(state_at(lengths, 10 * k), 10 * k, update_state=False)
    hills = bias.hills
    structures = dimers([1.05, 1.35])
    state = state_from_atoms(structures)
    energy, forces = bias(state.positions, state.batch)
    lengths = np.linalg.norm(state.positions[1::2].numpy() - state.positions[::2].numpy(),
                             axis=1)
    np.testing.assert_allclose(energy.numpy(), gaussians(lengths, hills["center"],
                                                         hills["height_eV"]), rtol=1e-13)
    step = 1e-5
    numeric = np.zeros((4, 3))
    for i in range(4):
        for k in range(3):
            plus, minus = state.positions.clone(), state.positions.clone()
            plus[i, k] += step
            minus[i, k] -= step
            numeric[i, k] = -(bias(plus, state.batch)[0].sum()
                              - bias(minus, state.batch)[0].sum()) / (2 * step)
    np.testing.assert_allclose(forces.numpy(), numeric, rtol=1e-6, atol=1e-9)
    assert np.abs(forces.numpy()).max() > 0.05


@pytest.mark.parametrize("walkers", ["shared", "independent"])
def test_shared_and_independent_walkers(walkers: str) -> None:
    kT_delta = units.kB * KELVIN * (GAMMA - 1)
    bias = metadynamics(2, walkers=walkers)
    bias.deposit(state_at([1.0, 1.3]), 0, update_state=False)
    bias.deposit(state_at([1.1, 1.2], 10), 10, update_state=False)
    heights = bias.hills["height_eV"]
    assert heights[:2].tolist() == [HEIGHT, HEIGHT]  # same step: the earlier bias (none)
    # shared: every walker feels both first hills; independent: each only its own
    seen = {"shared": [gaussians([s], [1.0, 1.3], [HEIGHT] * 2)[0] for s in (1.1, 1.2)],
            "independent": [gaussians([1.1], [1.0], [HEIGHT])[0],
                            gaussians([1.2], [1.3], [HEIGHT])[0]]}[walkers]
    np.testing.assert_allclose(heights[2:], HEIGHT * np.exp(-np.asarray(seen) / kT_delta),
                               rtol=1e-13)
    state = state_at([1.05, 1.25])
    energy, _ = bias(state.positions, state.batch)
    hills = bias.hills
    own = {"shared": [np.ones(4, bool)] * 2,
           "independent": [hills["replica"] == b for b in range(2)]}[walkers]
    expected = [gaussians([s], hills["center"][m], hills["height_eV"][m])[0]
                for s, m in zip((1.05, 1.25), own, strict=True)]
    np.testing.assert_allclose(energy.numpy(), expected, rtol=1e-13)
    np.testing.assert_allclose(bias.bias_on_grid(np.array([1.25]), replica=1), expected[1:],
                               rtol=1e-13)


def test_grid_interpolation_is_accurate_and_conservative() -> None:
    exact, gridded = metadynamics(2), metadynamics(2, grid=(0.0, 3.0, 301))
    for k, lengths in enumerate([[1.0, 1.4], [1.2, 1.3], [0.9, 1.6]]):
        for bias in (exact, gridded):
            bias.deposit(state_at(lengths, 10 * k), 10 * k, update_state=False)
    np.testing.assert_array_equal(exact.hills["height_eV"], gridded.hills["height_eV"])
    state = state_at([1.07, 1.333])
    energy, forces = gridded(state.positions, state.batch)
    energy_exact, forces_exact = exact(state.positions, state.batch)
    # cubic Hermite on a 0.01 grid with exact slopes: error ~ h⁴ V'''' / 384 ≈ 1e-8 eV
    np.testing.assert_allclose(energy.numpy(), energy_exact.numpy(), rtol=1e-6)
    np.testing.assert_allclose(forces.numpy(), forces_exact.numpy(), rtol=1e-4, atol=1e-7)
    # outside the grid the exact sums take over
    outside = state_at([1.07, 3.2])
    np.testing.assert_allclose(gridded(outside.positions, outside.batch)[0].numpy()[1],
                               exact(outside.positions, outside.batch)[0].numpy()[1],
                               rtol=1e-13)
    with pytest.raises(ConfigError, match="grid"):
        metadynamics(1, grid=(1.0, 1.0, 10))


def test_hills_file_round_trips_and_refuses_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "hills.txt"
    bias = metadynamics(2, hills_path=path)
    for k, lengths in enumerate([[1.0, 1.4], [1.1 + 1e-13, 1.3], [0.9, 1.5]]):
        bias.deposit(state_at(lengths, 10 * k), 10 * k, update_state=False)
    again = metadynamics(2, hills_path=path)
    for key, values in bias.hills.items():
        np.testing.assert_array_equal(again.hills[key], values)  # bit for bit
    grid = np.linspace(0.5, 2.0, 7)
    np.testing.assert_array_equal(again.bias_on_grid(grid), bias.bias_on_grid(grid))
    # steps already in the file are not deposited again
    again.deposit(state_at([1.2, 1.2], 20), 20, update_state=False)
    assert len(again.hills["step"]) == 6
    with pytest.raises(ConfigError, match="sigma"):
        WellTemperedMetadynamics(DistanceCV(0, 1, [2, 2]), 2, HEIGHT, 0.3, GAMMA, KELVIN, 10,
                                 hills_path=path)
    with pytest.raises(ConfigError, match="n_replicas"):
        metadynamics(3, hills_path=path)
    bad = tmp_path / "bad.txt"
    bad.write_text(path.read_text().replace("\n20 1 ", "\n20 one "))
    with pytest.raises(DataError, match="bad.txt, line 12: not a hill"):
        metadynamics(2, hills_path=bad)


def test_a_torn_last_line_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "hills.txt"
    bias = metadynamics(1, hills_path=path)
    bias.deposit(state_at([1.0]), 0, update_state=False)
    bias.deposit(state_at([1.2], 10), 10, update_state=False)
    with open(path, "a") as handle:
        handle.write("20 0 1.3000")  # killed in the middle of a write
    with pytest.warns(RuntimeWarning, match="incomplete.*dropped"):
        resumed = metadynamics(1, hills_path=path)
    np.testing.assert_array_equal(resumed.hills["step"], [0, 10])
    assert path.read_text().endswith("\n")
    resumed.deposit(state_at([1.3], 20), 20, update_state=False)
    np.testing.assert_array_equal(metadynamics(1, hills_path=path).hills["step"], [0, 10, 20])


def copper_dimers() -> list[Atoms]:
    return [Atoms("Cu2", positions=[[0, 0, 0], [2.3, 0, 0]]),
            Atoms("Cu2", positions=[[0, 0, 0], [0.1, 2.5, 0.2]])]


def run(bias: WellTemperedMetadynamics, structures: list[Atoms], steps: int,
        start_step: int = 0):
    return run_batched_md(EMT(), structures, ensemble="nvt", temperature_K=600.0,
                          timestep_fs=2.0, steps=steps, friction_per_fs=0.05, seed=3,
                          bias=bias, observers=[bias.observer()], log_interval=5,
                          velocities="keep" if start_step else "thermal",
                          start_step=start_step, progress=False)


def test_a_killed_run_resumes_to_the_uninterrupted_bias(tmp_path: Path) -> None:
    def make(path: Path) -> WellTemperedMetadynamics:
        cv = DistanceCV(0, 1, [2, 2])
        return WellTemperedMetadynamics(cv, 2, 0.1, 0.05, 5.0, 600.0, pace_steps=5,
                                        hills_path=path)

    whole = make(tmp_path / "whole.txt")
    run(whole, copper_dimers(), 40)
    first = make(tmp_path / "killed.txt")
    halfway = run(first, copper_dimers(), 20)
    resumed = make(tmp_path / "killed.txt")  # a new process: only the file and the frames
    run(resumed, halfway.atoms, 20, start_step=20)
    hills = resumed.hills
    assert hills["step"].tolist() == sorted([5 * k for k in range(9)] * 2)
    np.testing.assert_array_equal(hills["step"], whole.hills["step"])
    np.testing.assert_allclose(hills["center"], whole.hills["center"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(hills["height_eV"], whole.hills["height_eV"], rtol=0,
                               atol=1e-12)
    grid = np.linspace(1.8, 3.2, 57)
    np.testing.assert_allclose(resumed.bias_on_grid(grid), whole.bias_on_grid(grid), rtol=0,
                               atol=1e-12)
    assert np.ptp(hills["center"]) > 0.05 and hills["height_eV"].min() < 0.09
