"""Typed configs of the growth application (``nnpkit growth run|barriers``)."""

from __future__ import annotations

import os
from typing import Literal, TypeVar

from pydantic import Field, model_validator

from nnpkit.typed_config import StrictConfig, load_typed_config

__all__ = ["RatesConfig", "GrowthRunConfig", "BarrierConfig", "load_growth_config"]


class RatesConfig(StrictConfig):
    """Where the hop barriers come from; every rate is ``prefactor·exp(−Ea/kT)``."""

    kind: Literal["bond_counting", "model"] = Field(
        "bond_counting", description="Fixed Clarke–Vvedensky table, or a trained barrier model.")
    engine: Literal["auto", "grouped", "tree"] = Field(
        "auto", description="Selection scheme: grouped classes (bond counting only) or a sum "
                            "tree over sites (any table); auto picks grouped when it can.")
    prefactor_Hz: float = Field(1.0e13, gt=0, description="Attempt frequency ν0, 1/s.")
    diffusion_barrier_eV: float = Field(0.40, ge=0, description="E_d: free-adatom hop, eV.")
    bond_energy_eV: float = Field(0.25, ge=0, description="E_b: per lateral bond broken, eV.")
    step_edge_barrier_eV: float = Field(
        0.0, ge=0, description="Ehrlich–Schwoebel extra barrier of interlayer hops, eV "
                               "(added to the model's barriers too).")
    model: str | None = Field(None, description="Barrier model file (kind: model).")
    strain_percent: float = Field(0.0, description="Biaxial strain fed to the barrier model, %.")

    @model_validator(mode="after")
    def _consistent(self) -> RatesConfig:
        if self.kind == "model" and not self.model:
            raise ValueError("rates.model: a barrier model file is required for kind: model")
        if self.kind == "model" and self.engine == "grouped":
            raise ValueError("rates.engine: grouped needs bond-counting rates; use tree or auto")
        return self


class GrowthRunConfig(StrictConfig):
    """One growth (or equilibrium) run on an L×L solid-on-solid fcc(100) surface."""

    lattice_size: int = Field(128, ge=4, description="L: the surface has L×L columns.")
    temperature_K: float = Field(500.0, gt=0, description="Substrate temperature, K.")
    flux_ML_per_s: float = Field(1.0, ge=0, description="Deposition flux F, ML/s (0: none).")
    coverage_ML: float | None = Field(1.0, gt=0, description="Stop after this much deposit.")
    max_time_s: float | None = Field(None, gt=0, description="Stop at this simulated time, s.")
    max_events: int | None = Field(None, gt=0, description="Stop after this many events.")
    observe_every_ML: float = Field(0.02, gt=0, description="Observation interval, ML.")
    observe_every_s: float | None = Field(
        None, gt=0, description="Observation interval in s (default: from observe_every_ML).")
    snapshots_ML: list[float] = Field(default_factory=list,
                                      description="Coverages with a PNG snapshot (plus the end).")
    rates: RatesConfig = Field(default_factory=RatesConfig, description="Barrier source.")
    seed: int = Field(0, description="Seed of the kMC random numbers.")
    output: str | None = Field("runs/growth", description="Run directory (null: write nothing).")
    plots: bool = Field(True, description="Write PNG time series and snapshots.")
    progress: bool = Field(True, description="Show a progress bar.")

    @model_validator(mode="after")
    def _stops(self) -> GrowthRunConfig:
        if self.flux_ML_per_s == 0 and self.max_time_s is None and self.max_events is None:
            raise ValueError("without deposition set max_time_s or max_events")
        if self.flux_ML_per_s > 0 and self.coverage_ML is None and self.max_time_s is None \
                and self.max_events is None:
            raise ValueError("set coverage_ML, max_time_s or max_events")
        return self


class BarrierConfig(StrictConfig):
    """NEB barrier catalogue of Cu(100) hop environments and the barrier network."""

    n_environments: int = Field(60, ge=2, description="Hop environments (one NEB each).")
    down_hop_fraction: float = Field(0.35, ge=0, le=1, description="Share of step-edge hops.")
    strains_percent: list[float] = Field(default_factory=lambda: [-2.0, 0.0, 2.0],
                                         description="Biaxial strains sampled, %.")
    surface_size: int = Field(5, ge=5, le=8, description="Periodic slab: N×N surface cells.")
    substrate_layers: int = Field(3, ge=2, le=6, description="Full substrate layers.")
    fixed_layers: int = Field(1, ge=1, description="Bottom layers held fixed.")
    n_images: int = Field(3, ge=1, le=9, description="Intermediate NEB images.")
    fmax_eV_per_A: float = Field(0.05, gt=0, description="NEB and relaxation force limit.")
    max_steps: int = Field(300, ge=10, description="Optimizer steps per NEB before failure.")
    calculator: str = Field("emt", description="'emt' or the path of an nnpkit model file.")
    lattice_constant_A: float | None = Field(
        None, gt=0, description="fcc lattice constant; null: relaxed for the calculator.")
    catalogue: str | None = Field(None, description="Reuse this catalogue JSON (skip NEB).")
    hidden: list[int] = Field(default_factory=lambda: [32, 32], description="MLP widths.")
    epochs: int = Field(3000, ge=1, description="Full-batch Adam steps.")
    learning_rate: float = Field(3e-3, gt=0, description="Adam learning rate.")
    weight_decay: float = Field(1e-4, ge=0, description="Adam weight decay.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Held-out share of environments.")
    seed: int = Field(0, description="Seed of the environments, the split and the network.")
    output: str = Field("runs/growth_barriers", description="Directory of catalogue and model.")
    progress: bool = Field(True, description="Show a progress bar.")


ConfigT = TypeVar("ConfigT", GrowthRunConfig, BarrierConfig)


def load_growth_config(source: str | os.PathLike | dict, kind: type[ConfigT],
                       overrides: list[str] | None = None) -> ConfigT:
    """Read and validate a YAML (or dict) config; errors name the file and the key."""
    return load_typed_config(source, kind, overrides)
