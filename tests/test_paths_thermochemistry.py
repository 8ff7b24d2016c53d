"""nnpkit.paths.thermochemistry against closed forms written out here.

Harmonic oscillators: ``F = E + Σ [ε/2 + kT ln(1 − e^{−ε/kT})]``. Ideal gas:
``G = E − kT ln(kT / (P λ³))`` (Sackur–Tetrode, ``λ = h / sqrt(2π m kT)``) for an atom,
plus ``−kT ln(8π² I kT / (σ h²))`` (classical rigid rotor), the harmonic vibration and
``−kT ln(2S+1)`` for a diatomic. Constants are ASE's (``ase.units``), so the comparison
tests the formulas and the bookkeeping, not a CODATA revision.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms, units

from nnpkit.errors import ConfigError
from nnpkit.paths import harmonic_free_energy_eV, ideal_gas_free_energy_eV, zero_point_energy_eV

MODES_eV = [0.012, 0.035, 0.08, 0.21, 0.37]  # a spread from soft to stiff


def _kT_eV(temperature_K: float) -> float:
    return units.kB * temperature_K


def test_zero_point_energy_is_half_the_sum() -> None:
    assert zero_point_energy_eV(MODES_eV) == pytest.approx(0.5 * sum(MODES_eV), abs=1e-15)
    assert zero_point_energy_eV([]) == 0.0


@pytest.mark.parametrize("temperature_K", [50.0, 300.0, 1200.0])
def test_harmonic_free_energy_is_the_closed_form(temperature_K: float) -> None:
    kT = _kT_eV(temperature_K)
    expected = -1.5 + sum(e / 2 + kT * math.log(1 - math.exp(-e / kT)) for e in MODES_eV)
    assert harmonic_free_energy_eV(MODES_eV, temperature_K, potential_energy_eV=-1.5) \
        == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize(("temperature_K", "pressure_Pa"), [(300.0, 1e5), (800.0, 2.5e3)])
def test_monatomic_gas_is_sackur_tetrode(temperature_K: float, pressure_Pa: float) -> None:
    argon = Atoms("Ar")
    mass_kg = argon.get_masses()[0] * units._amu
    kT_J = units._k * temperature_K
    wavelength_m = units._hplanck / math.sqrt(2 * math.pi * mass_kg * kT_J)
    expected = 0.25 - _kT_eV(temperature_K) * math.log(kT_J / (pressure_Pa
                                                               * wavelength_m**3))
    got = ideal_gas_free_energy_eV(argon, [], temperature_K, pressure_Pa, "monatomic", 1,
                                   0.0, potential_energy_eV=0.25)
    assert got == pytest.approx(expected, rel=1e-8)
    triplet = ideal_gas_free_energy_eV(argon, [], temperature_K, pressure_Pa,
                                       "monatomic", 1, 1.0, potential_energy_eV=0.25)
    assert triplet - got == pytest.approx(-_kT_eV(temperature_K) * math.log(3), rel=1e-8)


def test_diatomic_gas_adds_rotor_vibration_and_spin() -> None:
    temperature_K, pressure_Pa, stretch_eV = 500.0, 1e5, 0.196
    oxygen = Atoms("O2", positions=[(0, 0, 0), (0, 0, 1.21)])
    kT, kT_J = _kT_eV(temperature_K), units._k * temperature_K
    mass_kg = oxygen.get_masses().sum() * units._amu
    mu_amu = oxygen.get_masses()[0] / 2
    inertia_kg_m2 = mu_amu * 1.21**2 * units._amu * 1e-20
    wavelength_m = units._hplanck / math.sqrt(2 * math.pi * mass_kg * kT_J)
    expected = (-4.9 - kT * math.log(kT_J / (pressure_Pa * wavelength_m**3))
                - kT * math.log(8 * math.pi**2 * inertia_kg_m2 * kT_J
                                / (2 * units._hplanck**2))
                + stretch_eV / 2 + kT * math.log(1 - math.exp(-stretch_eV / kT))
                - kT * math.log(3))
    got = ideal_gas_free_energy_eV(oxygen, [stretch_eV], temperature_K, pressure_Pa,
                                   "linear", 2, 1.0, potential_energy_eV=-4.9)
    assert got == pytest.approx(expected, rel=1e-8)


def test_bad_input_is_refused_naming_the_value() -> None:
    with pytest.raises(ConfigError, match="vibrational energy 1 is -0.02 eV"):
        harmonic_free_energy_eV([0.1, -0.02], 300.0)
    with pytest.raises(ConfigError, match="vibrational energy 0 is imaginary"):
        zero_point_energy_eV(np.array([0.05j, 0.1]))
    with pytest.raises(ConfigError, match="is 0.0 eV"):
        zero_point_energy_eV([0.0])
    with pytest.raises(ConfigError, match="temperature_K must be positive, got 0"):
        harmonic_free_energy_eV([0.1], 0.0)
    oxygen = Atoms("O2", positions=[(0, 0, 0), (0, 0, 1.21)])
    with pytest.raises(ConfigError, match="linear O2 has 1 internal modes, got 2"):
        ideal_gas_free_energy_eV(oxygen, [0.1, 0.2], 300.0, 1e5, "linear", 2, 1.0)
    with pytest.raises(ConfigError, match="monatomic molecule cannot have 2 atoms"):
        ideal_gas_free_energy_eV(oxygen, [], 300.0, 1e5, "monatomic", 1, 0.0)
    with pytest.raises(ConfigError, match="pressure_Pa must be positive"):
        ideal_gas_free_energy_eV(oxygen, [0.2], 300.0, 0.0, "linear", 2, 1.0)
    with pytest.raises(ConfigError, match="geometry must be one of"):
        ideal_gas_free_energy_eV(oxygen, [0.2], 300.0, 1e5, "bent", 2, 1.0)
    with pytest.raises(ConfigError, match="symmetry_number"):
        ideal_gas_free_energy_eV(oxygen, [0.2], 300.0, 1e5, "linear", 0, 1.0)
    with pytest.raises(ConfigError, match="spin"):
        ideal_gas_free_energy_eV(oxygen, [0.2], 300.0, 1e5, "linear", 2, 0.3)
    with pytest.raises(ConfigError, match="needs the molecule as ASE Atoms"):
        ideal_gas_free_energy_eV(None, [], 300.0, 1e5, "monatomic", 1, 0.0)  # type: ignore[arg-type]
