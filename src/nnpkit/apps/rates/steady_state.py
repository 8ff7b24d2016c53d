"""Mean-field steady state: Newton on log-coverages with site balance, stiff ODE (BDF).

Unknowns are y = ln θ of every surface species (adsorbates and the free site) that the
network can populate from the clean surface (the others stay exactly 0). Equations: the
balance dθ_i/dt = 0 of every intermediate, each scaled by its gross rate Σ|S_ij|(r+ + r−)
so a relative imbalance is what converges (rates spanning 10¹⁵ stay well conditioned),
and the site balance Σ sites·θ = 1 in place of the free site's (dependent) balance. The
Jacobian is analytic; steps are capped at |Δy| ≤ 10 with a backtracking line search.
The ODE dθ/dt = S·(r+ − r−) is integrated by scipy's BDF from the clean surface in
growing time windows until the scaled residual is below 1e-8: it is the fallback when
Newton fails (then polished by Newton) and the cross-check of a Newton solution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from nnpkit.apps.rates.constants import STANDARD_PRESSURE_BAR
from nnpkit.apps.rates.energies import StateEnergy
from nnpkit.apps.rates.mechanism import Mechanism
from nnpkit.apps.rates.tst import RateProblem, rate_problem
from nnpkit.errors import DataError

__all__ = ["CoverageSolution", "SteadyState", "solve_rate_equations", "solve_steady_state",
           "solve_problem"]

_NEWTON_TOL = 1e-10
_ODE_TOL = 1e-8
_COMPARE_FLOOR = 1e-9


@dataclass(frozen=True)
class CoverageSolution:
    """Steady coverages ``theta`` ``[n_surface]`` (order of ``mechanism.surface``).

    ``method``: "newton", "ode+newton" (the ODE end state polished by Newton) or "ode";
    ``residual``: largest scaled balance residual; ``newton_ode_max_rel_diff``: largest
    relative difference of the TOF and of every coverage ≥ 1e-9 between the Newton and the
    ODE solution (None without the cross-check).
    """

    theta: np.ndarray
    method: str
    converged: bool
    residual: float
    newton_ode_max_rel_diff: float | None = None


class _System:
    """The scaled balance equations of one (mechanism, k+, k−, activities)."""

    def __init__(self, mechanism: Mechanism, forward: np.ndarray, reverse: np.ndarray,
                 activities: np.ndarray) -> None:
        self.mechanism, self.forward, self.reverse = mechanism, forward, reverse
        self.activities = activities
        self.S = mechanism.surface_stoichiometry                    # [n_s, n_steps]
        self.R = mechanism.surface_reactant_orders
        self.P = mechanism.surface_product_orders
        self.S_plus, self.S_minus = np.maximum(self.S, 0.0), np.maximum(-self.S, 0.0)
        self.sites = mechanism.sites                                # [n_s]
        self.active = mechanism.populated(forward, reverse, activities)
        self.cols = np.flatnonzero(self.active)                     # unknowns
        self.rows = self.cols[self.cols != len(mechanism.surface) - 1]  # balanced intermediates

    def theta(self, y: np.ndarray) -> np.ndarray:
        theta = np.zeros(len(self.mechanism.surface))
        theta[self.cols] = np.exp(y)
        return theta

    def rates(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.mechanism.rates(theta, self.activities, self.forward, self.reverse)

    def scaled(self, theta: np.ndarray) -> np.ndarray:
        """Balances / gross rate of the intermediates, then the site balance (the reported
        residual: 0 at steady state, ±1 when one side dominates)."""
        rf, rr = self.rates(theta)
        f = self.S @ (rf - rr)
        g = np.maximum(np.abs(self.S) @ (rf + rr), 1e-300)
        return np.append(f[self.rows] / g[self.rows], self.sites @ theta - 1.0)

    def log_balance(self, theta: np.ndarray, jacobian: bool = False
                    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Newton's equations ``[n_unknowns]``: ln(production) − ln(consumption) of every
        intermediate and ln(Σ sites·θ); each a difference of log-sum-exps of linear
        functions of y = ln θ (no saturation far from the solution). Jacobian over y."""
        rf, rr = self.rates(theta)
        produce = np.maximum(self.S_plus @ rf + self.S_minus @ rr, 1e-300)
        consume = np.maximum(self.S_minus @ rf + self.S_plus @ rr, 1e-300)
        occupied = float(self.sites @ theta)
        residual = np.append(np.log(produce[self.rows]) - np.log(consume[self.rows]),
                             np.log(max(occupied, 1e-300)))
        if not jacobian:
            return residual, None
        d_forward, d_reverse = (self.R * rf).T, (self.P * rr).T    # [n_steps, n_s]
        d_produce = (self.S_plus @ d_forward + self.S_minus @ d_reverse) / produce[:, None]
        d_consume = (self.S_minus @ d_forward + self.S_plus @ d_reverse) / consume[:, None]
        dG = d_produce - d_consume
        J = np.vstack([dG[np.ix_(self.rows, self.cols)],
                       (self.sites * theta)[self.cols] / max(occupied, 1e-300)])
        return residual, J

    def ode_rhs(self, _t: float, theta: np.ndarray) -> np.ndarray:
        rf, rr = self.rates(theta)
        return self.S @ (rf - rr)

    def ode_jacobian(self, _t: float, theta: np.ndarray) -> np.ndarray:
        mech = self.mechanism
        base_f = self.forward * np.prod(self.activities[:, None] ** mech.gas_reactant_orders, 0)
        base_r = self.reverse * np.prod(self.activities[:, None] ** mech.gas_product_orders, 0)
        jac = np.zeros((len(theta), len(theta)))
        for k in range(len(theta)):
            d = np.zeros(self.S.shape[1])
            for orders, base, sign in ((self.R, base_f, 1.0), (self.P, base_r, -1.0)):
                mask = orders[k] > 0
                if np.any(mask):
                    reduced = orders[:, mask].copy()
                    reduced[k] -= 1
                    d[mask] += sign * base[mask] * orders[k, mask] * np.prod(
                        theta[:, None] ** reduced, axis=0)
            jac[:, k] = self.S @ d
        return jac


def _newton(system: _System, theta0: np.ndarray, max_iterations: int = 100
            ) -> tuple[np.ndarray, float]:
    """Damped Newton on :meth:`_System.log_balance`; returns θ and the scaled residual."""
    ceiling = -np.log(system.sites[system.cols])      # θ_i ≤ 1/sites_i
    y = np.minimum(np.log(np.clip(theta0[system.cols], 1e-300, None)), ceiling)
    residual, jacobian = system.log_balance(system.theta(y), jacobian=True)
    for _ in range(max_iterations):
        J = np.asarray(jacobian)
        if not np.all(np.isfinite(residual)) or np.max(np.abs(residual)) < 1e-14:
            break
        try:
            step = np.linalg.solve(J, -residual)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(J, -residual, rcond=None)[0]
        if not np.all(np.isfinite(step)):
            break
        step *= min(1.0, 10.0 / max(np.max(np.abs(step)), 1e-300))
        merit, alpha, accepted = float(residual @ residual), 1.0, False
        while alpha > 1e-8 and not accepted:
            trial = np.minimum(y + alpha * step, ceiling)
            trial_residual, _ = system.log_balance(system.theta(trial))
            if np.all(np.isfinite(trial_residual)) and \
                    trial_residual @ trial_residual <= (1.0 - 1e-4 * alpha) * merit:
                accepted = True
            else:
                alpha *= 0.5
        if not accepted:
            break
        y = trial
        residual, jacobian = system.log_balance(system.theta(y), jacobian=True)
    theta = system.theta(y)
    error = system.scaled(theta)
    return theta, float(np.max(np.abs(error))) if np.all(np.isfinite(error)) else np.inf


def _ode(system: _System, rtol: float = 1e-10, atol: float = 1e-22,
         target: float = _ODE_TOL) -> tuple[np.ndarray, float]:
    """BDF from the clean surface over growing windows until the scaled residual (of the
    coverages above 1e-15) is below ``target``; returns θ and that residual."""
    theta = np.zeros(len(system.mechanism.surface))
    theta[-1] = 1.0
    rf, rr = system.rates(np.where(system.active, 1.0, 0.0))
    fastest = max(float(np.max(np.abs(system.S) @ (rf + rr))), 1e-300)
    t, t_end, error = 0.0, 1e-2 / fastest, np.inf
    while t < 1e25:
        solution = solve_ivp(system.ode_rhs, (t, t_end), theta, method="BDF",
                             jac=system.ode_jacobian, rtol=rtol, atol=atol)
        if not solution.success:
            break
        t, theta = t_end, np.clip(solution.y[:, -1], 0.0, None)
        residual = system.scaled(theta)
        significant = np.append(theta[system.rows] > 1e-15, True)
        error = float(np.max(np.abs(residual[significant])))
        if error < target:
            break
        t_end *= 100.0
    return theta, error


def _max_rel_diff(system: _System, a: np.ndarray, b: np.ndarray) -> float:
    big = (a >= _COMPARE_FLOOR) | (b >= _COMPARE_FLOOR)
    diffs = list(np.abs(a - b)[big] / np.maximum(a, b)[big])
    if system.mechanism.tof_of is not None:
        tof_a = system.mechanism.tof_per_s(*system.rates(a))
        tof_b = system.mechanism.tof_per_s(*system.rates(b))
        scale = max(abs(tof_a), abs(tof_b))
        diffs.append(abs(tof_a - tof_b) / scale if scale > 0 else 0.0)
    return float(max(diffs, default=0.0))


def solve_rate_equations(mechanism: Mechanism, forward_per_s: np.ndarray,
                         reverse_per_s: np.ndarray, activities: np.ndarray, *,
                         initial_theta: np.ndarray | None = None,
                         cross_check: bool = False) -> CoverageSolution:
    """Steady coverages of the rate equations.

    Args:
        forward_per_s, reverse_per_s: ``[n_steps]`` rate constants (per unit activity).
        activities: ``[n_gas]`` P/P° of ``mechanism.gases``.
        initial_theta: ``[n_surface]`` Newton start (e.g. a neighbouring solution); else a
            uniform and a nearly clean surface are tried.
        cross_check: also integrate the ODE and report the agreement.
    """
    system = _System(mechanism, np.asarray(forward_per_s, float),
                     np.asarray(reverse_per_s, float), np.asarray(activities, float))
    n = len(mechanism.surface)
    starts = [] if initial_theta is None else [np.asarray(initial_theta, float)]
    uniform = np.where(system.active, 1.0 / max(system.sites @ system.active, 1.0), 0.0)
    clean = np.where(system.active, 1e-6, 0.0)
    clean[-1] = 1.0
    starts += [uniform, clean]
    theta, error = np.full(n, np.nan), np.inf
    for start in starts:
        theta, error = _newton(system, start)
        if error < _NEWTON_TOL:
            break
    if error < _NEWTON_TOL and not cross_check:
        return CoverageSolution(theta, "newton", True, error)
    if error < _NEWTON_TOL:
        ode_theta, _ = _ode(system)
        return CoverageSolution(theta, "newton", True, error,
                                _max_rel_diff(system, theta, ode_theta))
    # fallback: a loose integration polished by Newton, else the strict integration
    rough, _ = _ode(system, rtol=1e-6, atol=1e-14, target=1e-4)
    polished, polished_error = _newton(system, rough)
    if polished_error < _NEWTON_TOL:
        difference = _max_rel_diff(system, polished, _ode(system)[0]) if cross_check else None
        return CoverageSolution(polished, "ode+newton", True, polished_error, difference)
    ode_theta, ode_error = _ode(system)
    polished, polished_error = _newton(system, ode_theta)
    if polished_error < _NEWTON_TOL:
        return CoverageSolution(polished, "ode+newton", True, polished_error,
                                _max_rel_diff(system, polished, ode_theta))
    return CoverageSolution(ode_theta, "ode", ode_error < _ODE_TOL, ode_error, None)


@dataclass(frozen=True)
class SteadyState:
    """The steady state at one temperature and set of pressures (rates per site, 1/s)."""

    temperature_K: float
    pressures_bar: dict[str, float]
    coverages: dict[str, float]
    tof_per_s: float | None
    rates_per_step: dict[str, dict[str, float]]     # forward_per_s, reverse_per_s, net_per_s
    rate_constants: dict[str, dict[str, float]]     # forward_per_s, reverse_per_s (unit activity)
    free_energies_eV: dict[str, float]
    solution: CoverageSolution

    def to_json(self) -> dict:
        """Everything JSON-ready (no arrays)."""
        return {
            "temperature_K": self.temperature_K, "pressures_bar": self.pressures_bar,
            "tof_per_s": self.tof_per_s, "coverages": self.coverages,
            "rates_per_step": self.rates_per_step, "rate_constants": self.rate_constants,
            "free_energies_eV": self.free_energies_eV,
            "steady_state": {"method": self.solution.method,
                             "converged": self.solution.converged,
                             "residual": self.solution.residual,
                             "newton_ode_max_rel_diff": self.solution.newton_ode_max_rel_diff},
        }


def solve_problem(problem: RateProblem, forward: np.ndarray | None = None,
                  reverse: np.ndarray | None = None, *, initial_theta: np.ndarray | None = None,
                  cross_check: bool = False) -> SteadyState:
    """Steady state of a :class:`RateProblem` (rate constants from it unless given).

    Raises DataError when neither Newton nor the ODE reach a steady state.
    """
    if forward is None or reverse is None:
        forward, reverse = problem.rate_constants()
    mech = problem.mechanism
    solution = solve_rate_equations(mech, forward, reverse, problem.activities,
                                    initial_theta=initial_theta, cross_check=cross_check)
    if not solution.converged:
        raise DataError(f"no steady state found at {problem.temperature_K} K (Newton and the "
                        f"BDF integration failed; residual {solution.residual:.2e})")
    rf, rr = mech.rates(solution.theta, problem.activities, forward, reverse)
    names = [s.name for s in mech.steps]
    return SteadyState(
        temperature_K=problem.temperature_K,
        pressures_bar={g: float(a) * STANDARD_PRESSURE_BAR
                       for g, a in zip(mech.gases, problem.activities, strict=True)},
        coverages={n: float(t) for n, t in zip(mech.surface, solution.theta, strict=True)},
        tof_per_s=mech.tof_per_s(rf, rr) if mech.tof_of is not None else None,
        rates_per_step={n: {"forward_per_s": float(f), "reverse_per_s": float(r),
                            "net_per_s": float(f - r)}
                        for n, f, r in zip(names, rf, rr, strict=True)},
        rate_constants={n: {"forward_per_s": float(f), "reverse_per_s": float(r)}
                        for n, f, r in zip(names, forward, reverse, strict=True)},
        free_energies_eV=dict(problem.free_energies_eV), solution=solution)


def solve_steady_state(mechanism: Mechanism, energies: Mapping[str, StateEnergy],
                       temperature_K: float, pressures_bar: Mapping[str, float], *,
                       site_area_A2: float | None = None, cross_check: bool = True,
                       initial_theta: np.ndarray | None = None) -> SteadyState:
    """Steady state of ``mechanism`` with ``energies`` at ``temperature_K`` and partial
    pressures (bar) of every gas; ``site_area_A2`` is needed by collision theory."""
    problem = rate_problem(mechanism, energies, temperature_K, pressures_bar,
                           site_area_A2=site_area_A2)
    return solve_problem(problem, initial_theta=initial_theta, cross_check=cross_check)
