"""The energies' errors carried into the TOF: log-normal statistics and correlated members."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnpkit.apps.rates.energies import StateEnergy, with_energy_values
from nnpkit.apps.rates.mechanism import load_mechanism
from nnpkit.apps.rates.mechanism_config import ConditionsConfig
from nnpkit.apps.rates.steady_state import solve_problem
from nnpkit.apps.rates.tof import microkinetic_report
from nnpkit.apps.rates.tst import rate_problem
from nnpkit.apps.rates.uncertainty import EnergyDraws, draw_energy_shifts, tof_distribution
from nnpkit.errors import ConfigError

KB, H, E = 1.380649e-23, 6.62607015e-34, 1.602176634e-19
ONE_STEP = {"species": {"A_g": {"composition": {"C": 1}}, "B_g": {"composition": {"C": 1}}},
            "tof_of": "B_g", "steps": [{"name": "turnover", "equation": "A_g + * -> B_g + *",
                                        "kind": "surface", "transition_state": "TS"}]}
TWO_STEP = {"species": {"A_g": {"composition": {"C": 1}}, "A*": {"composition": {"C": 1}},
                        "B_g": {"composition": {"C": 1}}}, "tof_of": "B_g",
            "steps": [{"name": "adsorption", "equation": "A_g + * -> A*", "kind": "adsorption",
                       "transition_state": "TS1"},
                      {"name": "reaction", "equation": "A* -> B_g + *", "kind": "surface",
                       "transition_state": "TS2"}]}


def _free(values: dict[str, float]) -> dict[str, StateEnergy]:
    return {name: StateEnergy(value, free_energy_eV=value) for name, value in values.items()}


def test_one_step_median_and_log_normal_width() -> None:
    """Barrier ~ N(E0, σ²) and TOF = c·exp(−E/kT): ln TOF ~ N(ln TOF(E0), s²), s = σ/kT.

    - TOF is monotonic in E, so the sample median TOF is the TOF at the sample median barrier
      (n odd: exactly the middle draw), and the population median is TOF(E0); the sample
      median of a normal has standard error sqrt(π/2)·s/sqrt(n).
    - Percentiles: ln(p95/p5) = 2·z95·s with z95 = 1.6449. The quantile estimates have
      var(q̂_p) = p(1−p)/(n f²) and cov(q̂_5, q̂_95) = 0.05·0.05/(n f²), f = φ(z95)/s =
      0.10314/s, so sd(ln p95 − ln p5) = sqrt(2·(0.0475 − 0.0025)/n)/f = 2.909·s/sqrt(n).
    - The step's rate uncertainty factor is exp(ŝ), ŝ the sample std of ln k (sd s/sqrt(2n)).
    Tolerances are 4 standard errors.
    """
    sigma, T, n, E0 = 0.05, 500.0, 2001, 0.8
    kT = KB * T / E
    s = sigma / kT
    mechanism = load_mechanism(ONE_STEP)
    table = _free({"A_g": 0.0, "B_g": -0.5, "TS": E0})
    problem = rate_problem(mechanism, table, T, {"A_g": 0.5, "B_g": 0.0})
    draws = draw_energy_shifts(table, sigma_eV={"TS": sigma}, n_samples=n, seed=7)
    result = tof_distribution(problem, draws)

    def tof(barrier: float) -> float:
        return KB * T / H * math.exp(-barrier / kT) * 0.5

    median_barrier = E0 + float(np.median(draws.shifts_eV[:, 0]))
    assert result.median_per_s == pytest.approx(tof(median_barrier), rel=1e-9)
    assert abs(math.log(result.median_per_s / tof(E0))) < 4 * math.sqrt(math.pi / 2) * s / \
        math.sqrt(n)
    width = math.log(result.percentiles_per_s["95"] / result.percentiles_per_s["5"])
    assert width == pytest.approx(2 * 1.6449 * s, abs=4 * 2.909 * s / math.sqrt(n))
    factor = math.log(result.rate_uncertainty_factor["turnover"])
    assert factor == pytest.approx(s, abs=4 * s / math.sqrt(2 * n))
    assert result.barrier_sigma_eV["turnover"] == pytest.approx(kT * factor, rel=1e-12)
    assert result.n_failed == 0
    mean = float(np.mean(result.tof_per_s))      # the log-normal mean is exp(s²/2) ≈ 2× larger
    assert math.log(mean / result.median_per_s) == pytest.approx(s**2 / 2, abs=0.25)


def _members() -> tuple[dict[str, StateEnergy], list]:
    base = _free({"A_g": 0.0, "A*": -0.5, "B_g": -1.0, "TS1": 0.3, "TS2": 0.28})
    shifts = [-0.12, -0.05, 0.0, 0.04, 0.09, 0.15]
    tilts = [0.03, -0.06, 0.02, 0.05, -0.01, -0.04]
    # each member moves A* and TS2 together (their difference, the barrier, is exact) and
    # TS1 independently
    members = [with_energy_values(base, {"A*": -0.5 + d, "TS2": 0.28 + d, "TS1": 0.3 + t})
               for d, t in zip(shifts, tilts, strict=True)]
    return base, members


def test_normal_draws_keep_the_members_covariance_and_correlations() -> None:
    base, members = _members()
    draws = draw_energy_shifts(base, members, sampling="normal", n_samples=4000, seed=3)
    values = np.array([[m[n].free_energy_eV for n in draws.names] for m in members])
    expected = np.cov(values.T)
    np.testing.assert_allclose(np.cov(draws.shifts_eV.T), expected, atol=0.12 * expected.max())
    np.testing.assert_allclose(draws.shifts_eV.mean(axis=0),
                               values.mean(axis=0) - [base[n].free_energy_eV
                                                      for n in draws.names], atol=0.01)
    a, ts2 = draws.names.index("A*"), draws.names.index("TS2")
    np.testing.assert_allclose(draws.shifts_eV[:, ts2], draws.shifts_eV[:, a], atol=1e-12)

    mechanism = load_mechanism(TWO_STEP)
    problem = rate_problem(mechanism, base, 400.0, {"A_g": 1e-6, "B_g": 0.0})
    subset = EnergyDraws(draws.names, draws.shifts_eV[:300], draws.sampling, draws.seed)
    result = tof_distribution(problem, subset, initial_theta=solve_problem(problem).solution.theta)
    assert result.rate_uncertainty_factor["reaction"] == pytest.approx(1.0, abs=1e-9)
    # the same per-state widths drawn independently would spread the barrier
    independent = draw_energy_shifts(base, sigma_eV={"A*": float(np.sqrt(expected[a, a])),
                                                     "TS2": float(np.sqrt(expected[ts2, ts2]))},
                                     n_samples=400, seed=3)
    spread = tof_distribution(problem, independent).rate_uncertainty_factor["reaction"]
    assert math.log(spread) == pytest.approx(
        math.sqrt(2 * expected[a, a]) / (KB * 400.0 / E), rel=0.2)


def test_resample_and_members_sampling_and_seeds() -> None:
    base, members = _members()
    resampled = draw_energy_shifts(base, members, sampling="resample", n_samples=50, seed=1)
    names = resampled.names
    assert set(names) == set(base)
    rows = np.array([[m[n].free_energy_eV - base[n].free_energy_eV for n in names]
                     for m in members])
    for shift in resampled.shifts_eV:
        assert np.min(np.abs(rows - shift).sum(axis=1)) < 1e-12
    exact = draw_energy_shifts(base, members, sampling="members")
    np.testing.assert_allclose(exact.shifts_eV, rows, atol=1e-12)
    again = draw_energy_shifts(base, members, sampling="normal", n_samples=20, seed=5)
    same = draw_energy_shifts(base, members, sampling="normal", n_samples=20, seed=5)
    other = draw_energy_shifts(base, members, sampling="normal", n_samples=20, seed=6)
    np.testing.assert_array_equal(again.shifts_eV, same.shifts_eV)
    assert np.max(np.abs(again.shifts_eV - other.shifts_eV)) > 1e-3
    with pytest.raises(ConfigError, match="'TS9' is not in the energies"):
        draw_energy_shifts(base, sigma_eV={"TS9": 0.1})
    with pytest.raises(ConfigError, match="at least two members"):
        draw_energy_shifts(base, members[:1], sampling="normal")


def test_report_gives_median_percentiles_and_factors_beside_the_drc() -> None:
    base, members = _members()
    conditions = ConditionsConfig(temperature_K=400.0, temperatures_K=[380.0, 400.0, 420.0],
                                  pressures_bar={"A_g": 1e-6, "B_g": 0.0})
    report = microkinetic_report(load_mechanism(TWO_STEP), base, conditions, members=members,
                                 sampling="normal", n_samples=101, seed=0)
    percentiles = report["tof_percentiles_per_s"]
    assert report["tof_per_s"] == percentiles["50"]
    assert percentiles["5"] < percentiles["50"] < percentiles["95"]
    assert len(report["uncertainty"]["members_tof_per_s"]) == len(members)
    steps = report["uncertainty"]["steps"]
    assert steps["reaction"]["rate_uncertainty_factor"] == pytest.approx(1.0, abs=1e-9)
    assert steps["adsorption"]["rate_uncertainty_factor"] > 1.5
    assert steps["reaction"]["degree_of_rate_control"] == \
        report["degree_of_rate_control"]["TS2"]
    assert [set(row["tof_percentiles_per_s"]) for row in report["temperatures"]] == \
        [{"5", "50", "95"}] * 3
    e_app = report["apparent_activation_energy_percentiles_eV"]
    assert e_app["5"] <= e_app["50"] <= e_app["95"]
