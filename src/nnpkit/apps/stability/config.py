"""Typed configs of the stability application (``nnpkit stability dataset|train``)."""

from __future__ import annotations

import os
from typing import Literal, TypeVar

from pydantic import Field

from nnpkit.typed_config import StrictConfig, load_typed_config

__all__ = ["StabilityDatasetConfig", "StabilityTrainConfig", "load_stability_config"]

EMT_METALS = ["Cu", "Ag", "Au", "Ni", "Pd", "Pt", "Al"]


class StabilityDatasetConfig(StrictConfig):
    """Building the alloy dataset: prototypes, relaxation, hull, labels."""

    elements: list[str] = Field(default_factory=lambda: list(EMT_METALS),
                                description="Metals to combine (EMT knows Cu Ag Au Ni Pd Pt Al).")
    max_species: Literal[2, 3] = Field(3, description="Binaries only (2) or also ternaries.")
    method: str = Field("emt", description="'emt' or the path of a trained nnpkit model.")
    threshold_eV_per_atom: float = Field(0.0, ge=0, description="Stable if E_hull ≤ this.")
    seed: int = Field(0, description="Seed of the random (SQS-like) decorations.")
    include_unconverged: bool = Field(
        False, description="Let relaxations that did not converge build the hull too.")
    output: str = Field("runs/stability/dataset.extxyz", description="Dataset file to write.")
    progress: bool = Field(True, description="Show a progress bar.")


class StabilityTrainConfig(StrictConfig):
    """Training the classifiers and their baselines, with learning curves."""

    dataset: str = Field("runs/stability/dataset.extxyz", description="Dataset file.")
    split_by: Literal["prototype", "chemical_system"] = Field(
        "prototype", description="Held-out groups: whole prototypes or chemical systems.")
    test_fraction: float = Field(0.25, gt=0, lt=1, description="Share of groups held out.")
    training_fractions: list[float] = Field(
        default_factory=lambda: [0.25, 0.5, 0.75, 1.0],
        description="Training-set sizes of the learning curve, as fractions of train.")
    rotation_copies: int = Field(4, ge=1, description="Rotated copies per structure (baseline).")
    rotate_test: bool = Field(True, description="Randomly rotate, shift, permute test cells.")
    mlp_epochs: int = Field(300, ge=1, description="Epochs of the MLP classifiers.")
    threshold_eV_per_atom: float | None = Field(
        None, ge=0, description="Relabel: stable if E_hull ≤ this; null keeps the dataset's.")
    decision: Literal["top_prevalence", "probability"] = Field(
        "top_prevalence", description="Call the top π_train of candidates stable, or P ≥ 0.5.")
    seed: int = Field(0, description="Seed of splits, subsets, rotations and models.")
    output: str = Field("runs/stability/model", description="Run directory.")


ConfigT = TypeVar("ConfigT", StabilityDatasetConfig, StabilityTrainConfig)


def load_stability_config(source: str | os.PathLike | dict,
                          kind: type[ConfigT]) -> ConfigT:
    """Read and validate a YAML (or dict) config; errors name the file and the key."""
    return load_typed_config(source, kind)
