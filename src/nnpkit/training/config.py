"""Typed configuration of a training run (``nnpkit train CONFIG.yaml``).

Unknown keys are rejected, every field has a default and a one-line description, and
``--set key=value`` overrides use dotted paths (``training.max_epochs=10``).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nnpkit.errors import ConfigError
from nnpkit.models.registry import MODEL_REGISTRY, model_config_class
from nnpkit.typed_config import StrictConfig, apply_overrides, load_typed_config

__all__ = ["DataConfig", "TrainingConfig", "StatisticsConfig", "RunConfig", "load_config",
           "apply_overrides", "response_weights", "check_response_model"]


class _Strict(StrictConfig):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    """Where the labelled structures come from."""

    train: str = Field(..., description="Training data: extxyz path or ASE database URL.")
    test: str | None = Field(None, description="Test data; default: hold out test_fraction.")
    validation: str | None = Field(
        None, description="Validation data (model selection, LR schedule); default: hold "
        "out validation_fraction of train.")
    validation_fraction: float = Field(
        0.1, ge=0, lt=1, description="Of train, for validation, when validation is unset.")
    test_fraction: float = Field(0.1, ge=0, lt=1, description="Of train, when test is unset.")
    energy_key: str = Field("energy", description="Name of the energy label (eV).")
    forces_key: str = Field("forces", description="Name of the forces label (eV/Å).")
    stress_key: str = Field("stress", description="Name of the stress label (eV/Å³).")
    dipole_key: str = Field("dipole", description="Name of the dipole label (e·Å, [3]).")
    polarizability_key: str = Field(
        "polarizability", description="Name of the polarizability label (e·Å²/V, [3, 3]).")
    min_distance_A: float = Field(0.1, ge=0, description="Reject atoms closer than this, Å.")


class TrainingConfig(_Strict):
    """The optimisation."""

    max_epochs: int = Field(1000, ge=1, description="Upper bound on epochs.")
    time_limit_min: float | None = Field(
        None, gt=0, description="Stop cleanly after this many minutes; null: no limit.")
    time_clock: Literal["wall", "process"] = Field(
        "wall", description="Clock of time_limit_min: wall time or this process's CPU time.")
    batch_size: int = Field(8, ge=1, description="Structures per optimiser step.")
    learning_rate: float = Field(3e-3, gt=0, description="Initial Adam(W) learning rate.")
    min_learning_rate: float = Field(
        1e-5, gt=0, description="plateau: stop when the LR decays below; cosine: the final LR.")
    lr_schedule: Literal["plateau", "cosine"] = Field(
        "plateau", description="plateau: cut the LR when validation stalls; cosine: anneal "
        "it to min_learning_rate over the budget (max_epochs or time_limit_min).")
    lr_decay_fraction: float = Field(
        1.0, gt=0, le=1, description="cosine: anneal over this last fraction of the budget "
        "only, at the initial LR before it (1: the whole budget).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW decoupled weight decay.")
    scheduler_patience: int = Field(10, ge=1, description="Epochs without progress per LR cut.")
    scheduler_factor: float = Field(0.5, gt=0, lt=1, description="LR multiplier on a plateau.")
    early_stopping_patience: int = Field(60, ge=1, description="Epochs without progress to stop.")
    energy_weight: float = Field(1.0, ge=0, description="Weight of (ΔE/atom)², eV².")
    forces_weight: float = Field(1.0, ge=0, description="Weight of ΔF², (eV/Å)².")
    stress_weight: float = Field(1.0, ge=0, description="Weight of (Δσ·V/atom)², eV².")
    dipole_weight: float = Field(
        0.0, ge=0, description="Weight of (Δμ/atom)² per component, (e·Å)²; needs a model "
        "that responds to the field and a dipole on every training molecule.")
    polarizability_weight: float = Field(
        0.0, ge=0, description="Weight of (Δα/atom)² per component, (e·Å²/V)²; needs a "
        "model that responds to the field and α on every training molecule.")
    ema_decay: float | None = Field(0.99, ge=0, lt=1, description="EMA of weights; null: off.")
    gradient_clip: float | None = Field(10.0, gt=0, description="Max gradient norm; null: off.")
    seed: int = Field(0, description="Seed of initialisation, splits and shuffling.")
    dtype: Literal["float32", "float64"] = Field("float32", description="Training precision.")
    device: str = Field("cpu", description="Torch device.")
    num_threads: int | None = Field(None, ge=1, description="torch threads; default: torch's.")
    normalization_sample: int = Field(500, ge=1, description="Structures for feature stats.")
    progress: bool = Field(True, description="Show a progress bar.")
    precompute_descriptors: bool | None = Field(
        None, description="BPNN: compute the symmetry functions and their derivatives once "
        "instead of in every epoch (the same numbers, faster epochs); null: wherever the "
        "model is a BPNN, the run is not distributed, has no response loss terms and the "
        "terms take at most 2 GiB.")
    select_on_train: bool = Field(
        False, description="Without validation data, choose the best epoch on the first 50 "
        "training structures (biased; warned and recorded) instead of refusing.")

    @model_validator(mode="after")
    def _decay_fraction_needs_cosine(self) -> TrainingConfig:
        if self.lr_decay_fraction != 1.0 and self.lr_schedule != "cosine":
            raise ValueError(f"training.lr_decay_fraction={self.lr_decay_fraction} acts only "
                             "with training.lr_schedule=cosine (the schedule is "
                             f"{self.lr_schedule!r})")
        return self


class StatisticsConfig(_Strict):
    """Per-element reference energies (E0s) added to the network's per-atom energies."""

    reference_energies: Literal["fit", "isolated_atoms"] | dict[str, float] = Field(
        "fit", description="fit (least squares), isolated_atoms (the reference method's free "
        "atoms), or {symbol: eV} for every element.")
    reference_method: str | None = Field(
        None, description="Method of isolated_atoms: gfn2, emt, <functional>/<basis>, ...")
    reference_method_options: dict[str, Any] = Field(
        default_factory=dict, description="Options of reference_method (as for labelling).")

    @model_validator(mode="after")
    def _method_for_isolated_atoms(self) -> StatisticsConfig:
        if self.reference_energies == "isolated_atoms" and not self.reference_method:
            raise ValueError("statistics.reference_energies=isolated_atoms needs "
                             "statistics.reference_method (the method that labelled the data, "
                             "e.g. gfn2 or pbe/def2-svp)")
        return self


class RunConfig(_Strict):
    """A whole training run: data, model, training, output directory."""

    data: DataConfig
    model: Any = Field(default_factory=lambda: {"kind": "bpnn"},
                       description="Model family and its hyperparameters (by `kind`).")
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    statistics: StatisticsConfig = Field(default_factory=StatisticsConfig,
                                         description="Reference energies (E0s).")
    output: str = Field("runs/model", description="Run directory.")

    @field_validator("model", mode="before")
    @classmethod
    def _typed_model(cls, value: Any) -> BaseModel:
        if isinstance(value, BaseModel):
            return value
        if not isinstance(value, dict):
            raise ValueError("model must be a mapping with a 'kind'")
        kind = value.get("kind", "bpnn")
        try:
            return model_config_class(kind).model_validate({**value, "kind": kind})
        except ConfigError as error:
            raise ValueError(str(error)) from error


def load_config(source: str | os.PathLike | dict, overrides: list[str] | None = None
                ) -> RunConfig:
    """Read, override and validate a run config; errors name the file and the key."""
    return load_typed_config(source, RunConfig, overrides)


def response_weights(config: RunConfig) -> dict[str, float]:
    """The response-label loss terms switched on: ``{"dipole": w, "polarizability": w}``
    for the weights above zero (an empty dict for an energy/forces/stress run)."""
    settings = config.training
    weights = {"dipole": settings.dipole_weight,
               "polarizability": settings.polarizability_weight}
    return {name: weight for name, weight in weights.items() if weight > 0}


def check_response_model(config: RunConfig) -> None:
    """Refuse dipole/polarizability loss terms for a model family without a field coupling.

    Raises:
        ConfigError: ``training.dipole_weight`` or ``training.polarizability_weight`` is
            above zero and ``model.kind`` does not respond to an electric field (naming
            the weight's key and the model kind).
    """
    kind = getattr(config.model, "kind", "bpnn")
    weights = response_weights(config)
    if not weights or kind not in MODEL_REGISTRY or MODEL_REGISTRY[kind][1].responds_to_field:
        return  # an unknown kind: the registry's own error names it when the model is built
    name, weight = next(iter(weights.items()))
    responsive = sorted(k for k, (_, cls) in MODEL_REGISTRY.items() if cls.responds_to_field)
    raise ConfigError(
        f"training.{name}_weight={weight:g} needs a model that responds to an electric "
        f"field, but model.kind={kind!r} has no {name}; set training.{name}_weight: 0 "
        f"or use model.kind: {' or '.join(repr(k) for k in responsive)}")
