"""Rate formulas: Eyring and harmonic (Vineyard) TST, collision theory, detailed balance.

Rate constants of a mechanism's steps (:func:`step_rate_constants`) are per unit gas
activity a = P/P° (P° = 1 bar), from free energies at P°, so the pressures enter only as
activities and the reverse of every step follows from detailed balance, K = exp(−ΔG°/kT):

- a step with a transition state (any kind): Eyring, k_f = kB·T/h·exp(−ΔG‡/kT) with
  ΔG‡ = max(G_TS − G_IS, ΔG, 0) (a TS below an end state is not a barrier); for an
  activated adsorption G_IS contains the gas at P°, i.e. TST with an immobile TS;
- a non-activated adsorption: collision theory, k_f = s0·P°·A_site/sqrt(2π·m·kB·T);
- a non-activated desorption: its reverse (the adsorption) by collision theory, k_f = k_r·K;
- a non-activated surface step: Eyring with ΔG‡ = max(0, ΔG);
- reverse: k_r = k_f / K (0 for an irreversible step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nnpkit.apps.rates.constants import (
    AMU_KG,
    BAR_PA,
    BOLTZMANN_J_PER_K,
    STANDARD_PRESSURE_BAR,
    eV_to_Hz,
    kB_T_over_h_per_s,
    kT_eV,
)
from nnpkit.apps.rates.energies import StateEnergy, free_energies_eV
from nnpkit.apps.rates.mechanism import Mechanism
from nnpkit.errors import ConfigError, DataError

__all__ = [
    "eyring_rate_per_s", "vineyard_prefactor_Hz", "zero_point_corrected_barrier_eV",
    "harmonic_tst_rate_per_s", "collision_adsorption_rate_per_s", "equilibrium_constant",
    "reverse_rate_per_s", "step_free_energies_eV", "step_rate_constants", "RateProblem",
    "rate_problem",
]


def eyring_rate_per_s(barrier_free_energy_eV: float, temperature_K: float) -> float:
    """Eyring rate constant kB·T/h·exp(−ΔG‡/kT), 1/s."""
    return kB_T_over_h_per_s(temperature_K) * math.exp(
        -barrier_free_energy_eV / kT_eV(temperature_K))


def _positive_modes(modes: Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(modes, dtype=float)
    if array.ndim != 1 or np.any(~(array > 0)):
        raise DataError(f"{what}: vibrational energies must be real and positive (eV)")
    return array


def vineyard_prefactor_Hz(initial_vibrations_eV: Sequence[float],
                          saddle_vibrations_eV: Sequence[float]) -> float:
    """Vineyard prefactor ν = Π ν_IS / Π ν_TS, Hz.

    ``initial_vibrations_eV`` ``[n]``: every mode of the initial state; ``saddle_vibrations_eV``
    ``[n − 1]``: the real modes of the saddle (its imaginary mode left out).
    """
    initial = _positive_modes(initial_vibrations_eV, "initial state")
    saddle = _positive_modes(saddle_vibrations_eV, "saddle")
    if len(initial) != len(saddle) + 1:
        raise DataError(f"Vineyard prefactor: the initial state has {len(initial)} modes, the "
                        f"saddle {len(saddle)} real modes; expected one fewer at the saddle")
    # the ratio of products in log space (no overflow for hundreds of modes)
    log_ratio = np.sum(np.log(initial[:-1] / saddle)) + math.log(eV_to_Hz(float(initial[-1])))
    return float(math.exp(log_ratio))


def zero_point_corrected_barrier_eV(barrier_eV: float, initial_vibrations_eV: Sequence[float],
                                    saddle_vibrations_eV: Sequence[float]) -> float:
    """ΔE + ZPE_TS − ZPE_IS (eV), ZPE = Σ ħω/2 over the real modes."""
    initial = _positive_modes(initial_vibrations_eV, "initial state")
    saddle = _positive_modes(saddle_vibrations_eV, "saddle")
    return float(barrier_eV + 0.5 * saddle.sum() - 0.5 * initial.sum())


def harmonic_tst_rate_per_s(barrier_eV: float, initial_vibrations_eV: Sequence[float],
                            saddle_vibrations_eV: Sequence[float], temperature_K: float, *,
                            zero_point_corrected: bool = False) -> float:
    """Harmonic TST k = ν_Vineyard·exp(−ΔE/kT), 1/s; with ``zero_point_corrected`` the
    barrier is ΔE + ZPE_TS − ZPE_IS."""
    barrier = (zero_point_corrected_barrier_eV(barrier_eV, initial_vibrations_eV,
                                               saddle_vibrations_eV)
               if zero_point_corrected else barrier_eV)
    return vineyard_prefactor_Hz(initial_vibrations_eV, saddle_vibrations_eV) * math.exp(
        -barrier / kT_eV(temperature_K))


def collision_adsorption_rate_per_s(pressure_Pa: float, mass_amu: float, temperature_K: float,
                                    site_area_A2: float, sticking_coefficient: float = 1.0
                                    ) -> float:
    """Adsorption rate per site by collision theory, s0·P·A/sqrt(2π·m·kB·T), 1/s."""
    if not (mass_amu > 0 and site_area_A2 > 0 and 0 < sticking_coefficient <= 1):
        raise DataError("collision theory needs mass_amu > 0, site_area_A2 > 0, 0 < s0 <= 1")
    flux = pressure_Pa / math.sqrt(2.0 * math.pi * mass_amu * AMU_KG * BOLTZMANN_J_PER_K
                                   * temperature_K)  # molecules / (m² s)
    return sticking_coefficient * flux * site_area_A2 * 1e-20


def equilibrium_constant(reaction_free_energy_eV: float, temperature_K: float) -> float:
    """K = exp(−ΔG/kT) (dimensionless, standard state P°)."""
    return math.exp(-reaction_free_energy_eV / kT_eV(temperature_K))


def reverse_rate_per_s(forward_per_s: float, reaction_free_energy_eV: float,
                       temperature_K: float) -> float:
    """Detailed balance: k_r = k_f / K."""
    return forward_per_s / equilibrium_constant(reaction_free_energy_eV, temperature_K)


def step_free_energies_eV(mechanism: Mechanism, free_energies: Mapping[str, float]
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Per step ``[n_steps]``: reaction free energy ΔG° and forward barrier ΔG‡ (eV;
    ΔG‡ = nan for a non-activated adsorption/desorption)."""
    reaction, barrier = [], []
    for step in mechanism.steps:
        initial = sum(n * free_energies[s] for s, n in step.reactants.items())
        final = sum(n * free_energies[s] for s, n in step.products.items())
        delta = final - initial
        reaction.append(delta)
        if step.transition_state is not None:
            barrier.append(max(free_energies[step.transition_state] - initial, delta, 0.0))
        elif step.kind == "surface":
            barrier.append(max(delta, 0.0))
        else:
            barrier.append(math.nan)
    return np.array(reaction), np.array(barrier)


def step_rate_constants(mechanism: Mechanism, free_energies: Mapping[str, float],
                        temperature_K: float, gas_masses_amu: Mapping[str, float],
                        site_area_A2: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Forward and reverse rate constants ``[n_steps]`` (1/s per unit activity; see the
    module docstring for the formula of each kind of step)."""
    kT = kT_eV(temperature_K)
    reaction, barrier = step_free_energies_eV(mechanism, free_energies)
    forward, reverse = np.zeros(len(mechanism.steps)), np.zeros(len(mechanism.steps))
    for j, step in enumerate(mechanism.steps):
        if math.isnan(barrier[j]):
            if site_area_A2 is None:
                raise ConfigError(f"step {step.name!r} uses collision theory: set "
                                  "conditions.site_area_A2")
            side = step.reactants if step.kind == "adsorption" else step.products
            gas = next(s for s in side if mechanism.species[s].kind == "gas")
            adsorption = collision_adsorption_rate_per_s(
                STANDARD_PRESSURE_BAR * BAR_PA, gas_masses_amu[gas], temperature_K, site_area_A2,
                step.sticking_coefficient)
            log_k = math.log(adsorption)
            log_kf = log_k if step.kind == "adsorption" else log_k - reaction[j] / kT
        else:
            log_kf = math.log(kB_T_over_h_per_s(temperature_K)) - barrier[j] / kT
        log_kr = log_kf + reaction[j] / kT
        if max(log_kf, log_kr) > 700.0:
            raise DataError(f"step {step.name!r}: a rate constant overflows at {temperature_K} K "
                            f"(ΔG° = {reaction[j]:.3f} eV): check its energies")
        forward[j] = math.exp(log_kf)
        reverse[j] = math.exp(log_kr) if step.reversible else 0.0
    return forward, reverse


@dataclass(frozen=True)
class RateProblem:
    """A mechanism at one temperature and set of pressures, with its states' free energies.

    ``activities`` ``[n_gas]``: P/P° of ``mechanism.gases``; ``free_energies_eV``: every
    state of :meth:`Mechanism.state_names` at ``temperature_K`` (gases at P°).
    """

    mechanism: Mechanism
    temperature_K: float
    activities: np.ndarray
    free_energies_eV: dict[str, float]
    gas_masses_amu: dict[str, float]
    site_area_A2: float | None

    def rate_constants(self, free_energy_shifts_eV: Mapping[str, float] | None = None,
                       step_log_factors: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """``[n_steps]`` k+ and k− with some free energies shifted (eV) and/or both rate
        constants of each step multiplied by ``exp(step_log_factors)`` (K kept)."""
        energies = dict(self.free_energies_eV)
        for name, shift in (free_energy_shifts_eV or {}).items():
            energies[name] += shift
        forward, reverse = step_rate_constants(self.mechanism, energies, self.temperature_K,
                                               self.gas_masses_amu, self.site_area_A2)
        if step_log_factors is not None:
            factor = np.exp(np.asarray(step_log_factors, dtype=float))
            forward, reverse = forward * factor, reverse * factor
        return forward, reverse


def rate_problem(mechanism: Mechanism, energies: Mapping[str, StateEnergy],
                 temperature_K: float, pressures_bar: Mapping[str, float], *,
                 site_area_A2: float | None = None) -> RateProblem:
    """Check the energies and pressures against the mechanism and evaluate free energies.

    Raises ConfigError naming a missing state, a gas without a pressure, or a pressure of a
    species that is not a gas of the mechanism.
    """
    mechanism.check_energies(energies)
    for name in pressures_bar:
        if name not in mechanism.gases:
            raise ConfigError(f"conditions.pressures_bar: unknown species {name!r} (the gases "
                              f"are {', '.join(mechanism.gases)})")
    missing = [g for g in mechanism.gases if g not in pressures_bar]
    if missing:
        raise ConfigError(f"conditions.pressures_bar: no pressure for {', '.join(missing)}")
    if any(not pressures_bar[g] >= 0 for g in mechanism.gases):
        raise ConfigError("conditions.pressures_bar: pressures must be >= 0")
    activities = np.array([pressures_bar[g] / STANDARD_PRESSURE_BAR for g in mechanism.gases])
    masses = {g: energies[g].gas.mass_amu for g in mechanism.gases  # type: ignore[union-attr]
              if energies[g].gas is not None}
    return RateProblem(mechanism, float(temperature_K), activities,
                       free_energies_eV(energies, mechanism.state_names(), temperature_K),
                       masses, site_area_A2)
