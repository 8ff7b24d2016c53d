"""The energies' errors carried into the TOF: committee members and bootstrap draws.

A draw is a set of shifts of state energies from the base table (the thermal parts of
the free energies do not change: a committee member gives its own formation energies,
the vibrations come from the mean). Sampling schemes:

- ``normal``: x = μ + Σ_m w_m (E_m − μ)/sqrt(M − 1) with w ~ N(0, 1)^M, i.e. a multivariate
  normal with the members' mean μ and sample covariance (the errors of all energies of
  one member stay correlated; a rank-deficient covariance is fine), plus independent
  N(0, σ_i²) for the states in ``sigma_eV``; without members, the base energies plus
  those independent errors;
- ``resample``: each draw is a member picked with replacement (plus ``sigma_eV``);
- ``members``: each member once, no draws.

TOF is reported as the median and the 5/50/95 % percentiles (never a mean: ln TOF is
roughly normal, so the mean is dragged by the tail). Per step, the spread of its forward
barrier σ_barrier = kT·std(ln k+) over the draws and the rate uncertainty factor
exp(σ_barrier/kT) show which barrier to label more. Seeded: the same seed gives the same draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from nnpkit.apps.rates.constants import kT_eV
from nnpkit.apps.rates.energies import EnergyTable, StateEnergy, state_energy_value_eV
from nnpkit.apps.rates.steady_state import solve_problem
from nnpkit.apps.rates.tst import RateProblem
from nnpkit.errors import ConfigError, DataError

__all__ = ["EnergyDraws", "draw_energy_shifts", "TofDistribution", "tof_distribution",
           "PERCENTILES"]

#: The reported percentiles of the TOF.
PERCENTILES: tuple[str, ...] = ("5", "50", "95")


@dataclass(frozen=True)
class EnergyDraws:
    """``shifts_eV`` ``[n_draws, len(names)]``: energy of each named state minus the base."""

    names: tuple[str, ...]
    shifts_eV: np.ndarray
    sampling: str
    seed: int


def draw_energy_shifts(base: Mapping[str, StateEnergy], members: Sequence[EnergyTable] = (), *,
                       sigma_eV: Mapping[str, float] | None = None, sampling: str = "normal",
                       n_samples: int = 500, seed: int = 0) -> EnergyDraws:
    """Draws of the state energies relative to ``base`` (see the module docstring).

    ``members``: one EnergyTable per committee member (states missing from a member keep the
    base value). Raises ConfigError naming a state that is not in ``base``.
    """
    sigma = dict(sigma_eV or {})
    for name in [*sigma, *(n for m in members for n in m)]:
        if name not in base:
            raise ConfigError(f"uncertainty: {name!r} is not in the energies")
    names = tuple(dict.fromkeys([*(n for m in members for n in m), *sigma]))
    base_values = np.array([state_energy_value_eV(base[n]) for n in names])
    member_values = np.array([[state_energy_value_eV(m.get(n, base[n])) for n in names]
                              for m in members]).reshape(len(members), len(names))
    rng = np.random.default_rng(seed)
    if sampling == "members":
        if not members:
            raise ConfigError("uncertainty.sampling: members needs committee members")
        return EnergyDraws(names, member_values - base_values, sampling, seed)
    if sampling == "resample":
        if not members:
            raise ConfigError("uncertainty.sampling: resample needs committee members")
        values = member_values[rng.integers(len(members), size=n_samples)]
    elif sampling == "normal":
        if len(members) == 1:
            raise ConfigError("uncertainty: a covariance needs at least two members")
        if members:
            mean = member_values.mean(axis=0)
            deviations = (member_values - mean) / math.sqrt(len(members) - 1)
            values = mean + rng.standard_normal((n_samples, len(members))) @ deviations
        else:
            values = np.tile(base_values, (n_samples, 1))
    else:
        raise ConfigError(f"uncertainty.sampling: unknown scheme {sampling!r}")
    widths = np.array([sigma.get(n, 0.0) for n in names])
    values = values + rng.standard_normal(values.shape) * widths
    return EnergyDraws(names, values - base_values, sampling, seed)


@dataclass(frozen=True)
class TofDistribution:
    """The TOF over the draws at one temperature (1/s per site)."""

    temperature_K: float
    tof_per_s: np.ndarray                     # [n_draws]; nan where no steady state was found
    percentiles_per_s: dict[str, float]       # {"5", "50", "95"}
    barrier_sigma_eV: dict[str, float]        # per step: kT·std(ln k+)
    rate_uncertainty_factor: dict[str, float]  # per step: exp(σ_barrier/kT)
    n_failed: int                             # draws without a steady state (left out)

    @property
    def median_per_s(self) -> float:
        """The median TOF (the 50 % percentile)."""
        return self.percentiles_per_s["50"]


def tof_distribution(problem: RateProblem, draws: EnergyDraws, *,
                     initial_theta: np.ndarray | None = None,
                     progress: bool = False) -> TofDistribution:
    """Solve the steady state of ``problem`` once per draw (Newton from ``initial_theta``)."""
    mech = problem.mechanism
    tofs = np.full(len(draws.shifts_eV), np.nan)
    log_forward = np.zeros((len(draws.shifts_eV), len(mech.steps)))
    n_failed = 0
    for i, shift in enumerate(tqdm(draws.shifts_eV, desc=f"TOF draws {problem.temperature_K} K",
                                   disable=not progress)):
        shifts = dict(zip(draws.names, shift.tolist(), strict=True))
        forward, reverse = problem.rate_constants(shifts)
        log_forward[i] = np.log(np.maximum(forward, 1e-300))
        try:
            state = solve_problem(problem, forward, reverse, initial_theta=initial_theta)
        except DataError:
            n_failed += 1
            continue
        tofs[i] = state.tof_per_s if state.tof_per_s is not None else np.nan
    good = tofs[np.isfinite(tofs)]
    if len(good) == 0:
        raise DataError(f"no draw reached a steady state at {problem.temperature_K} K")
    percentiles = {p: float(np.percentile(good, float(p))) for p in PERCENTILES}
    spread = log_forward.std(axis=0)
    kT = kT_eV(problem.temperature_K)
    names = [s.name for s in mech.steps]
    return TofDistribution(
        problem.temperature_K, tofs, percentiles,
        {n: float(kT * s) for n, s in zip(names, spread, strict=True)},
        {n: float(math.exp(s)) for n, s in zip(names, spread, strict=True)}, n_failed)
