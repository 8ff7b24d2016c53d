"""Active learning: Morse levels from few points, Müller–Brown stationary points."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import CalculationFailed

from nnpkit.apps.quantum.active import (
    candidate_points,
    initial_points,
    learn_actively,
    learn_by_placement,
    reference_from_potential,
)
from nnpkit.apps.quantum.eigenstates import grid_eigenstates
from nnpkit.apps.quantum.potentials import Morse, MullerBrown, evaluate_on_grid
from nnpkit.apps.quantum.stationary import match_points, stationary_points
from nnpkit.errors import ConfigError, LabelingError
from nnpkit.wavepackets.grid import Grid

MASS_OH = 0.9483 * 1822.888
CM_PER_HARTREE = 219474.63


def _level_error_cm(surface, morse: Morse) -> float:
    grid = Grid(*morse.default_bounds(), [160])
    levels = grid_eigenstates(grid, evaluate_on_grid(surface, grid.mesh()), MASS_OH, 5)
    return float(np.max(np.abs(levels.energies - morse.levels(MASS_OH, 5)))) * CM_PER_HARTREE


@pytest.mark.parametrize(("use_gradients", "budget"), [(False, 15), (True, 8)])
def test_active_gp_reproduces_five_morse_levels_within_1_wavenumber(
        use_gradients: bool, budget: int, capsys) -> None:
    morse = Morse()
    reference = reference_from_potential(morse, use_gradients)
    bounds = morse.default_bounds()
    result = learn_actively(reference, bounds, use_gradients=use_gradients, budget=budget,
                            energy_cutoff=0.1, acquisition="integrated")
    assert len(result.energies) <= budget
    active = _level_error_cm(result.model, morse)
    uniform = _level_error_cm(learn_by_placement(reference, bounds, budget, "uniform",
                                                 use_gradients), morse)
    random = _level_error_cm(learn_by_placement(reference, bounds, budget, "random",
                                                use_gradients, seed=0), morse)
    with capsys.disabled():
        print(f"\nMorse, {budget} points, gradients={use_gradients}: max level error "
              f"active {active:.3f}, uniform {uniform:.3f}, random {random:.3f} cm^-1")
    assert active < 1.0
    assert active < random


def test_tolerance_stops_early_and_history_is_recorded() -> None:
    morse = Morse()
    result = learn_actively(reference_from_potential(morse, True), morse.default_bounds(),
                            use_gradients=True, budget=30, tolerance=1e-4, energy_cutoff=0.1)
    assert result.converged and len(result.energies) < 30
    assert result.history[-1]["max_weighted_std"] < 1e-4
    assert result.history[0]["n_points"] == 3


def test_placements_and_errors() -> None:
    bounds = ([0.0, 0.0], [1.0, 2.0])
    grid_points = initial_points(bounds, 9)
    assert grid_points.shape == (9, 2) and np.allclose(np.sort(np.unique(grid_points[:, 1])),
                                                       [1 / 3, 1.0, 5 / 3])
    assert initial_points(bounds, 5).shape == (5, 2)
    assert candidate_points(bounds, 11).shape == (121, 2)
    with pytest.raises(ConfigError, match="upper > lower"):
        candidate_points(([1.0], [0.0]))

    def broken(point: np.ndarray) -> float:
        raise CalculationFailed("SCF did not converge")

    with pytest.raises(LabelingError, match="SCF did not converge"):
        learn_actively(broken, ([0.0], [1.0]))
    with pytest.raises(LabelingError, match=r"\(energy, gradient\)"):
        learn_actively(lambda q: 1.0, ([0.0], [1.0]), use_gradients=True)


@pytest.mark.slow
def test_muller_brown_stationary_points_located_on_the_learned_surface(capsys) -> None:
    surface = MullerBrown()
    bounds = surface.default_bounds()
    starts = candidate_points(bounds, 12)
    exact = stationary_points(surface, starts, bounds)
    assert [p.kind for p in exact].count("minimum") == 3
    assert [p.kind for p in exact].count("saddle") == 2
    result = learn_actively(reference_from_potential(surface, True), bounds,
                            use_gradients=True, n_initial=9, budget=60, energy_cutoff=50.0)
    rows = match_points(exact, stationary_points(result.model, starts, bounds))
    with capsys.disabled():
        print(f"\nMüller–Brown, {len(result.energies)} points with gradients: distances "
              f"{[round(row['distance'], 4) for row in rows]}")
    assert max(row["distance"] for row in rows) < 0.01
