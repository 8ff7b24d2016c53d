"""Typed YAML configs of the microkinetic model: mechanism, conditions, uncertainty, report.

A ``nnpkit rates tof`` config has the top-level blocks ``mechanism`` (species and steps),
``conditions``, ``energies`` (see :mod:`nnpkit.apps.rates.energies`), an optional
``uncertainty`` and ``analysis``, and ``output``. Unknown keys are refused everywhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from nnpkit.apps.rates.energies import EnergyEntryConfig
from nnpkit.errors import ConfigError
from nnpkit.typed_config import StrictConfig

__all__ = [
    "SpeciesConfig", "StepConfig", "MechanismConfig", "ConditionsConfig", "UncertaintyConfig",
    "AnalysisConfig", "TofConfig",
]


class SpeciesConfig(StrictConfig):
    """A species whose kind, composition or site count is not read off its name."""

    kind: Literal["gas", "adsorbate"] | None = Field(
        None, description="gas or adsorbate (default: '_g' suffix → gas, '*' suffix → adsorbate).")
    composition: dict[str, int] | None = Field(
        None, description="Element counts, e.g. {C: 1, O: 1}, for names that are not formulas.")
    sites: int | None = Field(
        None, ge=1, description="Sites an adsorbate occupies (default: its trailing '*' count).")


class StepConfig(StrictConfig):
    """One elementary step: ``{name: O2_ads, equation: 'O2_g + 2* -> 2O*', kind: adsorption}``."""

    name: str = Field(..., min_length=1, description="Unique step name.")
    equation: str = Field(..., description="'A + 2* -> 2B*': '+'-separated terms, one '->'.")
    kind: Literal["adsorption", "desorption", "surface"] = Field(
        ..., description="adsorption/desorption: collision theory unless a TS is given; "
                         "surface: transition-state theory.")
    transition_state: str | None = Field(
        None, description="Name of the TS in the energies (null: a non-activated step).")
    sticking_coefficient: float | None = Field(
        None, gt=0, le=1, description="s0 of a non-activated adsorption/desorption (default 1).")
    reversible: bool = Field(True, description="Reverse rate from detailed balance (else 0).")

    @model_validator(mode="after")
    def _sticking_needs_collision(self) -> StepConfig:
        if self.sticking_coefficient is not None and (
                self.kind == "surface" or self.transition_state is not None):
            raise ValueError(f"step {self.name!r}: sticking_coefficient is only for "
                             "non-activated adsorption/desorption (collision theory)")
        return self


class MechanismConfig(StrictConfig):
    """The reaction network: steps (species read off the equations) and the TOF product."""

    species: dict[str, SpeciesConfig] = Field(
        default_factory=dict, description="Declarations for names that need one.")
    steps: list[StepConfig] = Field(..., min_length=1, description="The elementary steps.")
    tof_of: str | None = Field(
        None, description="TOF = net production rate of this gas per site, or net rate of "
                          "this step, 1/s.")


class ConditionsConfig(StrictConfig):
    """Reaction conditions of the steady state."""

    temperature_K: float = Field(..., gt=0, description="Temperature of the main solve, K.")
    temperatures_K: list[float] = Field(
        default_factory=list, description="Temperatures of the TOF table and Arrhenius fit, K.")
    pressures_bar: dict[str, float] = Field(
        ..., description="Partial pressure of every gas of the mechanism, bar (0 allowed).")
    site_area_A2: float | None = Field(
        None, gt=0, description="Area per site, Å² (needed by collision theory).")

    @model_validator(mode="after")
    def _positive(self) -> ConditionsConfig:
        if any(not t > 0 for t in self.temperatures_K):
            raise ValueError("temperatures_K: every temperature must be positive")
        bad = [name for name, value in self.pressures_bar.items() if not value >= 0]
        if bad:
            raise ValueError(f"pressures_bar: negative pressure of {', '.join(bad)}")
        return self


class UncertaintyConfig(StrictConfig):
    """Committee members and/or independent errors of the energies.

    ``sampling``: ``normal`` draws every energy from a multivariate normal with the members'
    mean and covariance (errors correlated within a member) plus independent ``sigma_eV``;
    ``resample`` picks a member with replacement per draw (plus ``sigma_eV``); ``members``
    solves each member once, no draws.
    """

    members: list[dict[str, float]] = Field(
        default_factory=list, description="Per member: state → energy, eV (replaces the "
                                          "formation energy, or the free energy where given).")
    sigma_eV: dict[str, float] = Field(
        default_factory=dict, description="Independent normal error of a state's energy, eV.")
    sampling: Literal["normal", "resample", "members"] = Field(
        "normal", description="How draws are made (see the class docstring).")
    n_samples: int = Field(500, ge=2, description="Draws (normal, resample).")
    seed: int = Field(0, description="Seed of the draws.")

    @model_validator(mode="after")
    def _consistent(self) -> UncertaintyConfig:
        if any(not s >= 0 for s in self.sigma_eV.values()):
            raise ValueError("uncertainty.sigma_eV: every sigma must be non-negative")
        return self

    def check_complete(self) -> None:
        """Refuse an uncertainty block with nothing to sample (called once the members of
        an energies file have been merged in).

        Raises:
            ConfigError: no members and no sigma_eV, or too few members for ``sampling``.
        """
        if not self.members and not self.sigma_eV:
            raise ConfigError("uncertainty: give members and/or sigma_eV (or energies from "
                              "a committee's `nnpkit rates neb` run, which carry members)")
        if self.sampling == "members" and len(self.members) < 1:
            raise ConfigError("uncertainty.sampling: members needs at least one member")
        if self.sampling == "normal" and len(self.members) == 1:
            raise ConfigError("uncertainty.members: a covariance needs at least two members")


class AnalysisConfig(StrictConfig):
    """Finite-difference steps of the sensitivity analysis."""

    drc_delta_kT: float = Field(1e-4, gt=0, le=0.1, description="±δ of the DRC, in units of kT.")
    order_delta_ln_pressure: float = Field(1e-4, gt=0, le=0.1,
                                           description="±δ ln P of the reaction orders.")
    cross_check_ode: bool = Field(True, description="Also integrate the ODE (BDF) and compare.")


class TofConfig(StrictConfig):
    """The whole ``nnpkit rates tof`` run from energies given directly."""

    mechanism: MechanismConfig = Field(..., description="Species and elementary steps.")
    conditions: ConditionsConfig = Field(..., description="T, pressures, site area.")
    energies: dict[str, EnergyEntryConfig] | str = Field(
        ..., description="State name → energies (species, '*' and transition states), or "
                         "the path (relative to the config) of the energies.yaml that "
                         "`nnpkit rates neb` wrote; its committee members are used when "
                         "this config gives no uncertainty block.")
    uncertainty: UncertaintyConfig | None = Field(None, description="Energy errors (optional).")
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig, description="FD steps.")
    output: str | None = Field("runs/rates_tof", description="Output directory (null: none).")
    plots: bool = Field(True, description="Write the PNGs.")
    progress: bool = Field(False, description="Show a progress bar over the draws.")
