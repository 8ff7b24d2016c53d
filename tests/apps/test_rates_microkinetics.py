"""Mean-field microkinetics against analytic steady states, DRC, orders and E_app."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from nnpkit.apps.rates.analysis import (
    apparent_activation_energy_eV,
    degree_of_rate_control,
    local_apparent_activation_energy_eV,
    reaction_orders,
)
from nnpkit.apps.rates.energies import StateEnergy, energy_table_from_config
from nnpkit.apps.rates.mechanism import build_mechanism, load_mechanism
from nnpkit.apps.rates.steady_state import solve_problem, solve_steady_state
from nnpkit.apps.rates.tof import load_tof_config, tof_report
from nnpkit.apps.rates.tst import rate_problem
from nnpkit.errors import ConfigError

KB, H, E = 1.380649e-23, 6.62607015e-34, 1.602176634e-19
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rates" / "user_energies.yaml"
ISOMERS = {"A_g": {"composition": {"C": 1}}, "A*": {"composition": {"C": 1}},
           "B_g": {"composition": {"C": 1}}, "B*": {"composition": {"C": 1}}}


def _free(values: dict[str, float]) -> dict[str, StateEnergy]:
    return {name: StateEnergy(value, free_energy_eV=value) for name, value in values.items()}


def _eyring(barrier_eV: float, temperature_K: float) -> float:
    return KB * temperature_K / H * math.exp(-barrier_eV * E / (KB * temperature_K))


TWO_STEP = {"species": {k: v for k, v in ISOMERS.items() if k != "B*"}, "tof_of": "B_g",
            "steps": [{"name": "adsorption", "equation": "A_g + * -> A*", "kind": "adsorption",
                       "transition_state": "TS1"},
                      {"name": "reaction", "equation": "A* -> B_g + *", "kind": "surface",
                       "transition_state": "TS2"}]}


def test_two_step_model_against_the_analytic_solution() -> None:
    """A(g) + * ⇌ A* (TS1), A* → B(g) + * (TS2, P_B = 0 so no reverse).

    Balance of A*: k1·P·θ* = (k−1 + k2)·θ_A with θ* = 1 − θ_A, so with D = k1P + k−1 + k2:
    θ_A = k1P/D and TOF = k2·θ_A = k1·k2·P/D.
    DRC (kinetic: k_i and k−i scaled by λ, K_i fixed): X_TS1 = ∂lnTOF/∂lnλ1 =
    1 − (k1P + k−1)/D = k2/D; X_TS2 = 1 − k2/D = (k1P + k−1)/D; their sum is 1.
    A*: G_A* → G_A* + δ with TS1, TS2 fixed multiplies k−1 and k2 by e^u (u = δ/kT) and leaves
    k1 alone: lnTOF = ln k2 + u + ln k1P − ln(k1P + (k−1 + k2)e^u), so
    X_A* = −∂lnTOF/∂u = −(1 − (k−1 + k2)/D) = −k1P/D = −θ_A.
    Order in A: ∂lnTOF/∂lnP = 1 − k1P/D = 1 − θ_A.
    """
    T, P = 400.0, 1e-6
    G = {"A_g": 0.0, "A*": -0.5, "B_g": -1.0, "TS1": 0.3, "TS2": 0.28}
    mechanism = load_mechanism(TWO_STEP)
    k1, km1, k2 = (_eyring(0.3 - 0.0, T), _eyring(0.3 - (-0.5), T), _eyring(0.28 - (-0.5), T))
    D = k1 * P + km1 + k2
    theta_A, tof = k1 * P / D, k1 * k2 * P / D
    assert 0.2 < theta_A < 0.8 and 0.1 < k2 / D < 0.9       # every term matters

    problem = rate_problem(mechanism, _free(G), T, {"A_g": P, "B_g": 0.0})
    state = solve_problem(problem, cross_check=True)
    assert state.coverages["A*"] == pytest.approx(theta_A, rel=1e-9)
    assert state.coverages["*"] == pytest.approx(1 - theta_A, rel=1e-9)
    assert state.tof_per_s == pytest.approx(tof, rel=1e-9)
    control = degree_of_rate_control(problem, state)
    assert control.transition_states["TS1"] == pytest.approx(k2 / D, abs=1e-6)
    assert control.transition_states["TS2"] == pytest.approx((k1 * P + km1) / D, abs=1e-6)
    assert control.intermediates["A*"] == pytest.approx(-theta_A, abs=1e-6)
    assert control.sum_transition_states == pytest.approx(1.0, abs=1e-6)
    orders = reaction_orders(problem, state)
    assert orders == pytest.approx({"A_g": 1 - theta_A}, abs=1e-6)


def test_a_species_fed_only_by_an_absent_gas_stays_exactly_empty() -> None:
    """D(g) at zero pressure is the only source of D*: θ_D = 0 exactly (the Newton unknowns
    leave it out) and the A/B chemistry is the analytic two-step one."""
    config = {**TWO_STEP, "species": {**TWO_STEP["species"], "D_g": {"composition": {"N": 1}},
                                      "D*": {"composition": {"N": 1}}},
              "steps": [*TWO_STEP["steps"],
                        {"name": "D_adsorption", "equation": "D_g + * -> D*",
                         "kind": "adsorption", "transition_state": "TS3"},
                        {"name": "D_reaction", "equation": "D* + A* -> D_g + A_g + 2*",
                         "kind": "surface", "transition_state": "TS4"}]}
    T, P = 400.0, 1e-6
    G = {"A_g": 0.0, "A*": -0.5, "B_g": -1.0, "TS1": 0.3, "TS2": 0.28, "D_g": 0.0, "D*": -0.3,
         "TS3": 0.1, "TS4": 0.1}
    state = solve_steady_state(load_mechanism(config), _free(G), T,
                               {"A_g": P, "B_g": 0.0, "D_g": 0.0})
    k1, km1, k2 = (_eyring(0.3, T), _eyring(0.8, T), _eyring(0.78, T))
    assert state.coverages["D*"] == 0.0
    assert state.coverages["A*"] == pytest.approx(k1 * P / (k1 * P + km1 + k2), rel=1e-9)
    assert state.solution.newton_ode_max_rel_diff < 1e-6


CHAIN = {"species": ISOMERS, "tof_of": "B_g",
         "steps": [{"name": "adsorption", "equation": "A_g + * -> A*", "kind": "adsorption",
                    "transition_state": "TS1"},
                   {"name": "isomerisation", "equation": "A* -> B*", "kind": "surface",
                    "transition_state": "TS2"},
                   {"name": "desorption", "equation": "B* -> B_g + *", "kind": "desorption",
                    "transition_state": "TS3"}]}


def _chain_analytic(k: np.ndarray, P: float) -> tuple[float, float, float, float]:
    """A(g)+* ⇌ A* ⇌ B* → B(g)+* (P_B = 0): θ_B = k2θ_A/(k−2 + k3); the A* balance gives
    k1Pθ* = (k−1 + k2k3/(k−2 + k3))θ_A; then θ* + θ_A + θ_B = 1 and TOF = k3θ_B."""
    k1, km1, k2, km2, k3 = k
    a = k1 * P / (km1 + k2 * k3 / (km2 + k3))    # θ_A / θ*
    b = k2 * a / (km2 + k3)                      # θ_B / θ*
    free = 1.0 / (1.0 + a + b)
    return a * free, b * free, free, k3 * b * free


@pytest.mark.parametrize(("G", "T", "span"), [
    ({"A_g": 0.0, "A*": -0.4, "B*": -0.5, "B_g": -0.6, "TS1": 0.1, "TS2": 0.2, "TS3": 0.3},
     500.0, 1e3),
    # stiff: rate constants from ~1e12 down to ~1e-4 1/s
    ({"A_g": 0.0, "A*": -0.2, "B*": -0.9, "B_g": -1.0, "TS1": -0.2, "TS2": 0.0, "TS3": 0.05},
     300.0, 1e15)])
def test_newton_and_ode_agree_and_match_the_analytic_chain(G: dict, T: float,
                                                           span: float) -> None:
    mechanism = load_mechanism(CHAIN)
    P = 0.1
    problem = rate_problem(mechanism, _free(G), T, {"A_g": P, "B_g": 0.0})
    forward, reverse = problem.rate_constants()
    constants = np.array([forward[0], reverse[0], forward[1], reverse[1], forward[2]])
    assert constants.max() / constants.min() >= span
    state = solve_problem(problem, cross_check=True)
    assert state.solution.method == "newton"
    assert state.solution.newton_ode_max_rel_diff < 1e-6
    theta_A, theta_B, free, tof = _chain_analytic(constants, P)
    assert state.coverages == pytest.approx({"A*": theta_A, "B*": theta_B, "*": free}, rel=1e-8)
    assert state.tof_per_s == pytest.approx(tof, rel=1e-8)

    # an independent stiff integration (Radau, here) from the clean surface
    def rhs(_t: float, theta: np.ndarray) -> np.ndarray:
        rf, rr = mechanism.rates(theta, problem.activities, forward, reverse)
        return mechanism.surface_stoichiometry @ (rf - rr)

    ode = solve_ivp(rhs, (0.0, 1e3 / constants.min()), [0.0, 0.0, 1.0], method="Radau",
                    rtol=1e-9, atol=1e-20)
    np.testing.assert_allclose(ode.y[:, -1], [theta_A, theta_B, free], rtol=1e-6)


def test_four_step_network_newton_matches_ode() -> None:
    config = load_tof_config(EXAMPLE)
    mechanism = build_mechanism(config.mechanism)
    energies = energy_table_from_config(config.energies)
    c = config.conditions
    state = solve_steady_state(mechanism, energies, c.temperature_K, c.pressures_bar,
                               site_area_A2=c.site_area_A2)
    assert len(mechanism.steps) == 4
    assert state.solution.method == "newton"
    assert state.solution.newton_ode_max_rel_diff < 1e-6
    assert sum(state.coverages.values()) == pytest.approx(1.0, abs=1e-12)
    net = {n: r["net_per_s"] for n, r in state.rates_per_step.items()}
    # stoichiometry of the cycle: 2 CO2 per O2
    assert net["CO_oxidation"] == pytest.approx(2 * net["O2_dissociation"], rel=1e-8)
    assert net["CO_adsorption"] == pytest.approx(state.tof_per_s, rel=1e-8)


def test_langmuir_equilibrium_from_collision_theory_and_detailed_balance() -> None:
    """A reversible non-activated adsorption alone reaches θ/θ* = K·P/P°, K = exp(−ΔG°/kT),
    whatever the sticking coefficient and the site area (thermodynamic consistency)."""
    from ase.build import molecule

    from nnpkit.apps.rates.energies import GasProperties
    mechanism = load_mechanism({"steps": [{"name": "ads", "equation": "CO_g + * -> CO*",
                                           "kind": "adsorption", "sticking_coefficient": 0.2}]})
    gas = GasProperties(molecule("CO"), "linear", 1, 0.0, 28.0)
    table = {"CO_g": StateEnergy(0.0, (0.266,), gas, free_energy_eV=0.0),
             "CO*": StateEnergy(-0.9, free_energy_eV=-0.9)}
    T, P = 600.0, 0.05
    K = math.exp(0.9 * E / (KB * T))
    for area in (5.0, 9.0):
        state = solve_steady_state(mechanism, table, T, {"CO_g": P}, site_area_A2=area)
        assert state.coverages["CO*"] == pytest.approx(K * P / (1 + K * P), rel=1e-9)


ONE_STEP = {"species": {"A_g": {"composition": {"C": 1}}, "B_g": {"composition": {"C": 1}}},
            "tof_of": "B_g", "steps": [{"name": "turnover", "equation": "A_g + * -> B_g + *",
                                        "kind": "surface", "transition_state": "TS"}]}


def test_apparent_activation_energy_of_an_eyring_step() -> None:
    """TOF = kB·T/h·exp(−ΔG‡/kT)·P with T-independent ΔG‡: ln TOF = c + ln T − ΔG‡/(kB·T), so
    −kB·∂lnTOF/∂(1/T) = ΔG‡ + kB·T exactly; an Arrhenius least-squares fit over a set of
    temperatures gives ΔG‡ − kB·slope(ln T against 1/T). The order in A is exactly 1."""
    mechanism = load_mechanism(ONE_STEP)
    table = _free({"A_g": 0.0, "B_g": -0.5, "TS": 0.8})
    T, pressures = 450.0, {"A_g": 0.5, "B_g": 0.0}
    local = local_apparent_activation_energy_eV(mechanism, table, T, pressures)
    assert local == pytest.approx(0.8 + KB * T / E, abs=1e-4)
    temperatures = [400.0, 450.0, 500.0, 550.0]
    tofs = [solve_steady_state(mechanism, table, t, pressures).tof_per_s for t in temperatures]
    assert tofs[1] == pytest.approx(_eyring(0.8, 450.0) * 0.5, rel=1e-9)
    slope = np.polyfit(1 / np.array(temperatures), np.log(temperatures), 1)[0]
    assert apparent_activation_energy_eV(temperatures, tofs) == pytest.approx(
        0.8 - KB / E * slope, abs=1e-8)
    problem = rate_problem(mechanism, table, T, pressures)
    orders = reaction_orders(problem, solve_problem(problem))
    assert orders == pytest.approx({"A_g": 1.0}, abs=1e-8)


@pytest.mark.parametrize(("steps", "message"), [
    ([{"name": "bad_atoms", "equation": "CO_g + * -> CO2*", "kind": "adsorption"}],
     r"step 'bad_atoms'.*does not balance: 1 O atoms on the left, 2"),
    ([{"name": "bad_sites", "equation": "O2_g + * -> 2O*", "kind": "adsorption",
       "transition_state": "TS"}], r"step 'bad_sites'.*does not balance: 1 sites on the left"),
    ([{"name": "mystery", "equation": "CO + * -> CO*", "kind": "adsorption"}],
     r"step 'mystery': unknown species 'CO'"),
    ([{"name": "no_formula", "equation": "Xy_g + * -> Xy*", "kind": "adsorption"}],
     r"species 'Xy_g' is not a formula"),
    ([{"name": "ads", "equation": "CO_g + * -> CO*", "kind": "desorption"}],
     r"step 'ads'.*desorption step has gases on the right only"),
])
def test_bad_mechanisms_are_refused_naming_the_step(steps: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_mechanism({"steps": steps})


def test_missing_energies_and_bad_pressures_are_named() -> None:
    mechanism = load_mechanism(TWO_STEP)
    full = {"A_g": 0.0, "A*": -0.5, "B_g": -1.0, "TS1": 0.3, "TS2": 0.28}
    pressures = {"A_g": 1.0, "B_g": 0.0}
    with pytest.raises(ConfigError, match=r"transition state 'TS2' of step 'reaction'"):
        solve_steady_state(mechanism, _free({k: v for k, v in full.items() if k != "TS2"}),
                           400.0, pressures)
    with pytest.raises(ConfigError, match=r"species 'A\*' \(step 'adsorption'\)"):
        solve_steady_state(mechanism, _free({k: v for k, v in full.items() if k != "A*"}),
                           400.0, pressures)
    with pytest.raises(ConfigError, match=r"unknown species 'C_g'"):
        solve_steady_state(mechanism, _free(full), 400.0, {**pressures, "C_g": 1.0})
    with pytest.raises(ConfigError, match=r"no pressure for B_g"):
        solve_steady_state(mechanism, _free(full), 400.0, {"A_g": 1.0})
    with pytest.raises(ConfigError, match=r"steps\.0\.colour: unknown key"):
        load_mechanism({"steps": [{**TWO_STEP["steps"][0], "colour": "red"}]})


def test_tof_report_on_the_example_writes_json_and_pngs(tmp_path: Path) -> None:
    report = tof_report(EXAMPLE, tmp_path, overrides=["uncertainty.n_samples=21"])
    written = json.loads((tmp_path / "tof.json").read_text())
    for key in ("tof_per_s", "tof_percentiles_per_s", "coverages", "degree_of_rate_control",
                "drc_sum_transition_states", "apparent_activation_energy_eV",
                "reaction_orders", "rates_per_step", "steady_state", "temperatures"):
        assert key in written, key
    for png in ("tof_vs_temperature.png", "degree_of_rate_control.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = load_tof_config(EXAMPLE)
    mechanism = build_mechanism(config.mechanism)
    c = config.conditions
    direct = solve_steady_state(mechanism, energy_table_from_config(config.energies),
                                c.temperature_K, c.pressures_bar, site_area_A2=c.site_area_A2)
    assert written["tof_point_per_s"] == pytest.approx(direct.tof_per_s, rel=1e-9)
    assert written["coverages"] == pytest.approx(direct.coverages, rel=1e-9, abs=1e-15)
    percentiles = written["tof_percentiles_per_s"]
    assert set(percentiles) == {"5", "50", "95"}
    assert written["tof_per_s"] == percentiles["50"]
    assert percentiles["5"] < percentiles["50"] < percentiles["95"]
    assert written["drc_sum_transition_states"] == pytest.approx(1.0, abs=1e-4)
    names = {*mechanism.transition_states, *mechanism.adsorbates, "CO_adsorption",
             "O2_adsorption"}
    assert set(written["degree_of_rate_control"]) == names
    assert written["steady_state"]["newton_ode_max_rel_diff"] < 1e-6
    assert [row["temperature_K"] for row in written["temperatures"]] == c.temperatures_K
    assert written["uncertainty"]["n_draws"] == 21
    assert report["output_files"]["json"] == str(tmp_path / "tof.json")
