"""Sensitivities of the TOF: degree of rate control, apparent activation energy, orders.

All are logarithmic derivatives by central finite differences around a converged steady
state (each perturbed solve starts Newton from it):

- Campbell's degree of rate control of a transition state, X_TS = ∂lnTOF/∂(−G_TS/kT),
  taken as the kinetic DRC of its step(s): k+ and k− multiplied by exp(±δ) with K fixed,
  which is the same derivative whenever the TS sets the step's rate constants (a TS above
  both end states). A step without a TS (collision theory, a non-activated surface step)
  gets the same kinetic DRC under the step's name, so that the sum rule
  Σ X_TS (+ non-activated steps) = 1 holds and is reported as a check;
- thermodynamic DRC of an intermediate, X_i = ∂lnTOF/∂(−G_i/kT) with every TS fixed;
- apparent activation energy E_app = −kB·∂lnTOF/∂(1/T) (least-squares fit of ln TOF vs
  1/T over a set of temperatures, or a local central difference);
- reaction orders n_i = ∂lnTOF/∂ln P_i of every gas with P_i > 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from nnpkit.apps.rates.constants import BOLTZMANN_EV_PER_K, kT_eV
from nnpkit.apps.rates.energies import StateEnergy
from nnpkit.apps.rates.mechanism import Mechanism
from nnpkit.apps.rates.steady_state import SteadyState, solve_problem
from nnpkit.apps.rates.tst import RateProblem, rate_problem
from nnpkit.errors import DataError

__all__ = [
    "RateControl", "degree_of_rate_control", "reaction_orders", "apparent_activation_energy_eV",
    "local_apparent_activation_energy_eV",
]


@dataclass(frozen=True)
class RateControl:
    """Degrees of rate control (dimensionless) at one steady state."""

    transition_states: dict[str, float]       # X of every TS
    non_activated_steps: dict[str, float]     # kinetic DRC of every step without a TS
    intermediates: dict[str, float]           # thermodynamic DRC of every adsorbate
    steps: dict[str, float]                   # kinetic DRC of every step

    @property
    def sum_transition_states(self) -> float:
        """Σ X over the TS and the non-activated steps: 1 by the sum rule."""
        return float(sum(self.transition_states.values()) + sum(self.non_activated_steps.values()))

    def as_dict(self) -> dict[str, float]:
        """{name: X} over TS, non-activated steps and intermediates (names are unique)."""
        return {**self.transition_states, **self.non_activated_steps, **self.intermediates}


def _ln_tof(state: SteadyState, what: str) -> float:
    tof = state.tof_per_s
    if tof is None or not tof > 0:
        raise DataError(f"{what}: the TOF is {tof} at {state.temperature_K} K; its logarithmic "
                        "derivatives (DRC, E_app, orders) need a positive TOF (check tof_of)")
    return math.log(tof)


def _solve(problem: RateProblem, base: SteadyState, forward: np.ndarray,
           reverse: np.ndarray) -> SteadyState:
    return solve_problem(problem, forward, reverse, initial_theta=base.solution.theta)


def degree_of_rate_control(problem: RateProblem, base: SteadyState, *,
                           delta_kT: float = 1e-4) -> RateControl:
    """Every TS, non-activated step and intermediate of ``problem`` (``base``: its steady
    state); central differences with ±``delta_kT`` (in units of kT)."""
    _ln_tof(base, "degree of rate control")
    mech = problem.mechanism
    n_steps = len(mech.steps)

    def kinetic(mask: np.ndarray) -> float:
        values = []
        for sign in (1.0, -1.0):
            forward, reverse = problem.rate_constants(step_log_factors=sign * delta_kT * mask)
            values.append(_ln_tof(_solve(problem, base, forward, reverse), "DRC"))
        return (values[0] - values[1]) / (2.0 * delta_kT)

    steps = {s.name: kinetic(np.eye(n_steps)[j]) for j, s in enumerate(mech.steps)}
    transition_states = {}
    for ts in mech.transition_states:
        mask = np.array([float(s.transition_state == ts) for s in mech.steps])
        transition_states[ts] = kinetic(mask) if mask.sum() > 1 else \
            steps[mech.steps[int(np.argmax(mask))].name]
    non_activated = {s.name: steps[s.name] for s in mech.steps if s.transition_state is None}
    shift = delta_kT * kT_eV(problem.temperature_K)
    intermediates = {}
    for name in mech.adsorbates:
        values = []
        for sign in (1.0, -1.0):
            forward, reverse = problem.rate_constants({name: sign * shift})
            values.append(_ln_tof(_solve(problem, base, forward, reverse), "DRC"))
        intermediates[name] = -(values[0] - values[1]) / (2.0 * delta_kT)
    return RateControl(transition_states, non_activated, intermediates, steps)


def reaction_orders(problem: RateProblem, base: SteadyState, *,
                    delta_ln_pressure: float = 1e-4) -> dict[str, float]:
    """n_i = ∂lnTOF/∂ln P_i (central differences) of every gas with a nonzero pressure."""
    _ln_tof(base, "reaction orders")
    forward, reverse = problem.rate_constants()
    orders = {}
    for g, gas in enumerate(problem.mechanism.gases):
        if problem.activities[g] <= 0:
            continue
        values = []
        for sign in (1.0, -1.0):
            activities = problem.activities.copy()
            activities[g] *= math.exp(sign * delta_ln_pressure)
            state = _solve(replace(problem, activities=activities), base, forward, reverse)
            values.append(_ln_tof(state, "reaction orders"))
        orders[gas] = (values[0] - values[1]) / (2.0 * delta_ln_pressure)
    return orders


def apparent_activation_energy_eV(temperatures_K: Sequence[float],
                                  tofs_per_s: Sequence[float]) -> float:
    """E_app = −kB·slope of the least-squares line of ln TOF against 1/T (eV)."""
    temperatures, tofs = np.asarray(temperatures_K, float), np.asarray(tofs_per_s, float)
    if len(temperatures) < 2 or len(set(temperatures.tolist())) < 2:
        raise DataError("Arrhenius fit: needs at least two distinct temperatures")
    if np.any(~(tofs > 0)):
        raise DataError("Arrhenius fit: every TOF must be positive")
    slope = np.polyfit(1.0 / temperatures, np.log(tofs), 1)[0]
    return float(-BOLTZMANN_EV_PER_K * slope)


def local_apparent_activation_energy_eV(
        mechanism: Mechanism, energies: Mapping[str, StateEnergy], temperature_K: float,
        pressures_bar: Mapping[str, float], *, site_area_A2: float | None = None,
        initial_theta: np.ndarray | None = None, relative_step: float = 1e-4) -> float:
    """E_app = −kB·∂lnTOF/∂(1/T) at ``temperature_K`` (central difference in 1/T, eV);
    the free energies are re-evaluated at each temperature."""
    inverse = 1.0 / temperature_K
    values = []
    for sign in (1.0, -1.0):
        temperature = 1.0 / (inverse * (1.0 + sign * relative_step))
        problem = rate_problem(mechanism, energies, temperature, pressures_bar,
                               site_area_A2=site_area_A2)
        state = solve_problem(problem, initial_theta=initial_theta)
        values.append(_ln_tof(state, "apparent activation energy"))
    return float(-BOLTZMANN_EV_PER_K * (values[0] - values[1]) / (2.0 * relative_step * inverse))
