"""Rate formulas against the exact SI constants, written out here as literals (not imported)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnpkit.apps.rates.constants import kB_T_over_h_per_s, kT_eV
from nnpkit.apps.rates.energies import GasProperties, StateEnergy, free_energies_eV
from nnpkit.apps.rates.mechanism import load_mechanism
from nnpkit.apps.rates.tst import (
    collision_adsorption_rate_per_s,
    equilibrium_constant,
    eyring_rate_per_s,
    harmonic_tst_rate_per_s,
    reverse_rate_per_s,
    step_rate_constants,
    vineyard_prefactor_Hz,
    zero_point_corrected_barrier_eV,
)
from nnpkit.errors import DataError

KB = 1.380649e-23          # J/K, exact
H = 6.62607015e-34         # J s, exact
E = 1.602176634e-19        # C, exact
AMU = 1.66053906660e-27    # kg


@pytest.mark.parametrize("temperature_K", [77.0, 298.15, 500.0, 1234.5])
def test_kT_over_h_and_kT_are_codata_exact(temperature_K: float) -> None:
    assert kB_T_over_h_per_s(temperature_K) == pytest.approx(KB * temperature_K / H, rel=1e-12)
    assert kT_eV(temperature_K) == pytest.approx(KB * temperature_K / E, rel=1e-12)


@pytest.mark.parametrize(("barrier_eV", "temperature_K"), [(0.75, 500.0), (1.2, 300.0),
                                                          (0.05, 150.0)])
def test_eyring_rate_is_codata_exact(barrier_eV: float, temperature_K: float) -> None:
    expected = KB * temperature_K / H * math.exp(-barrier_eV * E / (KB * temperature_K))
    assert eyring_rate_per_s(barrier_eV, temperature_K) == pytest.approx(expected, rel=1e-9)


def test_vineyard_prefactor_zero_point_barrier_and_harmonic_tst() -> None:
    initial, saddle = [0.20, 0.05, 0.03], [0.19, 0.04]
    nu = 0.20 * 0.05 * 0.03 * E / (0.19 * 0.04 * H)    # Π ν_IS / Π ν_TS, ν = E/h
    assert vineyard_prefactor_Hz(initial, saddle) == pytest.approx(nu, rel=1e-12)
    zpe_barrier = 0.5 + 0.5 * (0.19 + 0.04) - 0.5 * (0.20 + 0.05 + 0.03)
    assert zero_point_corrected_barrier_eV(0.5, initial, saddle) == pytest.approx(zpe_barrier,
                                                                                  rel=1e-12)
    kT = KB * 400.0 / E
    assert harmonic_tst_rate_per_s(0.5, initial, saddle, 400.0) == pytest.approx(
        nu * math.exp(-0.5 / kT), rel=1e-12)
    assert harmonic_tst_rate_per_s(0.5, initial, saddle, 400.0, zero_point_corrected=True) == \
        pytest.approx(nu * math.exp(-zpe_barrier / kT), rel=1e-12)
    with pytest.raises(DataError, match="one fewer"):
        vineyard_prefactor_Hz(initial, [0.19, 0.04, 0.02])


def test_eyring_with_harmonic_free_energies_tends_to_vineyard_at_high_temperature() -> None:
    """Classical limit: kT/h·exp(−ΔF/kT) → ν_Vineyard·exp(−ΔE/kT). Per mode the quantum
    partition function is (x/2)/sinh(x/2) ≈ 1 − x²/24 (x = ħω/kT) of the classical one, so
    the ratio Eyring/Vineyard is Π_TS(1 − x²/24)/Π_IS(1 − x²/24) ≈ 1 + Σ_IS x²/24 − Σ_TS x²/24
    (next order x⁴/2880 ≈ 4e-8 here). Tolerance 1e-5: ASE's HarmonicThermo uses the CODATA
    2014 kB (3.4e-7 relative off the exact one), ~1e-6 in this ratio; the correction tested
    is 2.6e-4."""
    from nnpkit.paths.thermochemistry import harmonic_free_energy_eV

    initial, saddle, temperature = [0.030, 0.020, 0.015], [0.028, 0.018], 3000.0
    kT = KB * temperature / E
    delta_F = harmonic_free_energy_eV(saddle, temperature, 0.4) - \
        harmonic_free_energy_eV(initial, temperature, 0.0)
    eyring = eyring_rate_per_s(delta_F, temperature)
    vineyard = harmonic_tst_rate_per_s(0.4, initial, saddle, temperature)
    expected_ratio = 1 + sum((w / kT) ** 2 / 24 for w in initial) - \
        sum((w / kT) ** 2 / 24 for w in saddle)
    assert eyring / vineyard == pytest.approx(expected_ratio, rel=1e-5)
    assert abs(eyring / vineyard - 1) > 1e-5      # the quantum correction is resolved


def test_collision_theory_and_detailed_balance() -> None:
    mass, temperature, area, pressure = 28.0101, 300.0, 6.7, 1.0e5
    flux = pressure / math.sqrt(2 * math.pi * mass * AMU * KB * temperature)
    assert collision_adsorption_rate_per_s(pressure, mass, temperature, area, 0.3) == \
        pytest.approx(0.3 * flux * area * 1e-20, rel=1e-12)
    kT = KB * 600.0 / E
    assert equilibrium_constant(-0.4, 600.0) == pytest.approx(math.exp(0.4 / kT), rel=1e-12)
    assert reverse_rate_per_s(5.0, -0.4, 600.0) == pytest.approx(5.0 * math.exp(-0.4 / kT),
                                                                 rel=1e-12)


def test_step_rate_constants_of_each_kind() -> None:
    """Collision adsorption (no TS), desorption from detailed balance, an Eyring surface
    step, a TS lying below its final state (barrier ΔG), each from literal formulas."""
    mechanism = load_mechanism({"steps": [
        {"name": "ads", "equation": "CO_g + * -> CO*", "kind": "adsorption",
         "sticking_coefficient": 0.5},
        {"name": "des", "equation": "CO2* -> CO2_g + *", "kind": "desorption"},
        {"name": "ox", "equation": "CO* + O* -> CO2* + *", "kind": "surface",
         "transition_state": "TS"},
        {"name": "diss", "equation": "O2_g + 2* -> 2O*", "kind": "adsorption",
         "transition_state": "TS_low"}]})
    G = {"CO_g": 0.0, "CO2_g": -3.0, "O2_g": 0.0, "CO*": -1.4, "O*": -1.0, "CO2*": -3.2,
         "*": 0.0, "TS": -1.6, "TS_low": -2.5}
    T, area = 500.0, 6.0
    kT, prefactor = KB * T / E, KB * T / H
    masses = {"CO_g": 28.0, "CO2_g": 44.0, "O2_g": 32.0}
    forward, reverse = step_rate_constants(mechanism, G, T, masses, area)

    def collision(m: float, s0: float) -> float:
        return s0 * 1e5 * area * 1e-20 / math.sqrt(2 * math.pi * m * AMU * KB * T)

    expected_forward = [collision(28.0, 0.5),
                        collision(44.0, 1.0) * math.exp(-(-3.0 - (-3.2)) / kT),
                        prefactor * math.exp(-(-1.6 - (-2.4)) / kT),
                        prefactor * math.exp(-0.0 / kT)]     # ΔG = −2 < 0, TS below IS
    delta_G = [-1.4, 0.2, -3.2 - (-2.4), -2.0]
    np.testing.assert_allclose(forward, expected_forward, rtol=1e-12)
    np.testing.assert_allclose(reverse, np.array(expected_forward) * np.exp(np.array(delta_G)
                                                                            / kT), rtol=1e-12)


def test_free_energies_are_ase_harmonic_and_ideal_gas_at_one_bar() -> None:
    from ase.build import molecule
    from ase.thermochemistry import HarmonicThermo, IdealGasThermo

    co = molecule("CO")
    table = {
        "CO_g": StateEnergy(0.1, (0.266,), GasProperties(co, "linear", 1, 0.0, 28.01)),
        "CO*": StateEnergy(-1.5, (0.25, 0.05, 0.04)),
        "X*": StateEnergy(-0.3, free_energy_eV=-0.7),
    }
    T = 450.0
    values = free_energies_eV(table, ["CO_g", "CO*", "X*", "*"], T)
    gas = IdealGasThermo([0.266], "linear", atoms=co, symmetrynumber=1, spin=0,
                         vib_selection="exact")
    harmonic = HarmonicThermo([0.25, 0.05, 0.04])
    assert values["CO_g"] == pytest.approx(0.1 + gas.get_gibbs_energy(T, 1e5, verbose=False),
                                           abs=1e-12)
    assert values["CO*"] == pytest.approx(-1.5 + harmonic.get_helmholtz_energy(T, verbose=False),
                                          abs=1e-12)
    assert values["X*"] == -0.7 and values["*"] == 0.0
