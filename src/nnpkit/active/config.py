"""Typed configuration of the active-learning loop (``nnpkit learn CONFIG.yaml``).

Unknown keys are rejected and every field has a default and a description. ``model`` and
``training`` are those of ``nnpkit train`` (:class:`nnpkit.training.config.RunConfig`), used
for every committee member of every iteration.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, model_validator

from nnpkit.training.config import DataConfig, RunConfig, TrainingConfig
from nnpkit.typed_config import StrictConfig, load_typed_config

__all__ = ["ActiveLearningConfig", "load_active_config"]


class ReferenceSettings(StrictConfig):
    """The reference method that labels the selected structures."""

    method: str = Field("gfn2", description="gfn2, gfn1, emt or <functional>/<basis>.")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="Method options (charge, spin, ...).")


class FarmSettings(StrictConfig):
    """Where the labels are computed."""

    scheduler: str | None = Field(None, description="Dask scheduler address; null: local.")
    n_workers: int | None = Field(None, ge=1, description="Local workers; null: all cores.")
    processes: bool = Field(True, description="Local workers as processes (else threads).")
    db: str | None = Field(None, description="Dataset store URL; null: <output>/labels.db.")


class InitialSettings(StrictConfig):
    """The first labelled set, before any model exists."""

    data: str | None = Field(None, description="Structures to label first (any ASE file).")
    structure: str = Field("CH3CH2OH", description="Start structure: file or g2 molecule.")
    sampling: Literal["normal_modes", "md", "rattle"] = Field(
        "normal_modes", description="How to sample the initial set when data is null.")
    n_structures: int = Field(50, ge=2, description="Initial set size when data is null.")
    temperature_K: float = Field(300.0, gt=0, description="Sampling temperature, K.")
    rattle_stdev_A: float = Field(0.05, ge=0, description="rattle: displacement std, Å.")
    strain_max: float = Field(0.0, ge=0, description="rattle: largest strain (crystals).")


class ExplorationSettings(StrictConfig):
    """Committee-driven Langevin MD that looks for uncertain configurations."""

    temperatures_K: list[float] = Field(default_factory=lambda: [300.0, 500.0, 800.0],
                                        description="MD temperatures, K.")
    trajectories_per_temperature: int = Field(2, ge=1, description="Runs per temperature.")
    steps: int = Field(1000, ge=1, description="Steps per run (stops early if unsure).")
    timestep_fs: float = Field(0.5, gt=0, description="MD time step, fs.")
    interval_steps: int = Field(10, ge=1, description="Steps between recorded frames.")
    friction_per_fs: float = Field(0.01, gt=0, description="Langevin friction, 1/fs.")
    start_from_training: bool = Field(True, description="Start runs from training frames.")


class SelectionSettings(StrictConfig):
    """Which explored frames are labelled."""

    strategy: Literal["uncertainty", "random"] = Field(
        "uncertainty", description="Uncertain frames with diversity, or random frames.")
    min_force_std: float = Field(0.1, gt=0, description="Uncertain above this, eV/Å.")
    max_force_std: float = Field(2.0, gt=0, description="Stop MD and skip above, eV/Å.")
    max_per_iteration: int = Field(50, ge=1, description="Labels added per iteration.")
    diversity: bool = Field(True, description="Farthest-point selection on descriptors.")
    pool_factor: int = Field(3, ge=1, description="FPS among the N×this most uncertain.")


class BudgetSettings(StrictConfig):
    """When to stop (besides finding nothing uncertain)."""

    max_labels: int = Field(500, ge=1, description="Stop once this many labels exist.")
    max_iterations: int = Field(20, ge=1, description="Exploration rounds at most.")


class ActiveLearningConfig(StrictConfig):
    """The whole loop: reference, farm, initial set, committee, exploration, selection."""

    reference: ReferenceSettings = Field(default_factory=ReferenceSettings,
                                         description="The labelling method.")
    farm: FarmSettings = Field(default_factory=FarmSettings, description="The farm.")
    initial: InitialSettings = Field(default_factory=InitialSettings,
                                     description="The first labelled set.")
    committee_size: int = Field(3, ge=2, description="Members of each committee.")
    bootstrap: bool = Field(False, description="Members on bootstrap resamples.")
    model: dict[str, Any] = Field(default_factory=lambda: {"kind": "bpnn"},
                                  description="Model of the members (as in nnpkit train).")
    training: TrainingConfig = Field(default_factory=TrainingConfig,
                                     description="Training of the members.")
    validation_fraction: float = Field(0.1, gt=0, lt=1, description="Of labels, validation.")
    test_data: str | None = Field(
        None, description="Labelled test set of the curve; null: a fixed set of n_test "
        "structures held out of the initial pool.")
    n_test: int = Field(
        20, ge=1, description="Without test_data: structures drawn once from the initial pool "
        "as the curve's test set, labelled once, never trained on (not in max_labels).")
    exploration: ExplorationSettings = Field(default_factory=ExplorationSettings,
                                             description="Exploration MD.")
    selection: SelectionSettings = Field(default_factory=SelectionSettings,
                                         description="Selection of frames.")
    budget: BudgetSettings = Field(default_factory=BudgetSettings, description="Limits.")
    seed: int = Field(0, description="Seed of sampling, MD and random selection.")
    progress: bool = Field(True, description="Show progress bars.")
    output: str = Field("runs/active", description="Run directory.")

    @model_validator(mode="after")
    def _consistent(self) -> ActiveLearningConfig:
        if self.selection.max_force_std <= self.selection.min_force_std:
            raise ValueError("selection.max_force_std must exceed selection.min_force_std")
        self.run_config("train.extxyz", "check")  # the model settings must validate
        return self

    def run_config(self, train: str, output: str, test: str | None = None) -> RunConfig:
        """The :class:`RunConfig` of one iteration's committee (``test``: its test set,
        default ``test_data``; given a test set, nothing is held out of ``train`` for it)."""
        data = DataConfig(train=train, test=test if test is not None else self.test_data,
                          validation_fraction=self.validation_fraction)
        return RunConfig(data=data, model=dict(self.model), training=self.training,
                         output=output)


def load_active_config(source: str | os.PathLike | dict,
                       overrides: list[str] | None = None) -> ActiveLearningConfig:
    """Read, override and validate an active-learning config; errors name file and key."""
    return load_typed_config(source, ActiveLearningConfig, overrides)
