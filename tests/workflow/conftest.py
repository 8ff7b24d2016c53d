"""Fixtures of the workflow tests: a small EMT copper dataset on disk and a trained model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nnpkit.data import write_structures
from nnpkit.labeling.datasets import copper_emt_dataset
from nnpkit.training import fit, load_config


@pytest.fixture(scope="session", autouse=True)
def _single_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def copper_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train.extxyz (160 structures) and test.extxyz (40), generated with EMT."""
    root = tmp_path_factory.mktemp("copper")
    structures = copper_emt_dataset(200, seed=1)
    paths = {"train": root / "train.extxyz", "test": root / "test.extxyz"}
    write_structures(paths["train"], structures[:160])
    write_structures(paths["test"], structures[160:])
    return paths


def small_config(copper_files: dict[str, Path], output: Path, **training: object) -> dict:
    """A fast BPNN config on the copper files."""
    return {
        "data": {"train": str(copper_files["train"]), "test": str(copper_files["test"])},
        "model": {"kind": "bpnn", "cutoff_A": 4.5, "angular_cutoff_A": 3.0, "hidden": [32, 32]},
        "training": {"max_epochs": 3, "batch_size": 8, "progress": False, "num_threads": 1,
                     **training},
        "output": str(output),
    }


@pytest.fixture(scope="session")
def trained_run(copper_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                ) -> Path:
    """A run directory of a briefly trained copper model."""
    output = tmp_path_factory.mktemp("run") / "cu"
    fit(load_config(small_config(copper_files, output, max_epochs=5)))
    return output
