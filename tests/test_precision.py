"""Precision: float64 models load as float64; large reference energies keep their digits.

Each test failed on the code before these fixes: ``load_model`` returned ``model.float()``
(energies then agree only to ~1e-7 relative), and reference energies were added and summed
in float32 (a 300-atom structure at -2000 eV/atom is resolved to ~0.06 eV).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from nnpkit.calculators import load_calculator
from nnpkit.data import write_structures
from nnpkit.data.graph import atoms_to_graph
from nnpkit.data.stats import DatasetStatistics
from nnpkit.derivatives import compute_properties
from nnpkit.labeling import copper_emt_dataset
from nnpkit.models import BehlerParrinello, BPNNConfig
from nnpkit.models.model_file import load_model
from nnpkit.training import fit, load_config

TINY_MODEL = {"kind": "bpnn", "cutoff_A": 4.0, "angular_cutoff_A": 3.0, "n_radial": 6,
              "n_angular_radial": 2, "zetas": [1], "hidden": [16]}


def _write_copper(path: Path, shift_eV_per_atom: float = 0.0, n: int = 40) -> Path:
    structures = copper_emt_dataset(n, seed=0)
    shifted = []
    for atoms in structures:
        copied = atoms.copy()
        labels = dict(atoms.calc.results)
        labels["energy"] = labels["energy"] + shift_eV_per_atom * len(atoms)
        copied.calc = SinglePointCalculator(copied, **labels)
        shifted.append(copied)
    write_structures(path, shifted)
    return path


def _config(train: Path, output: Path, dtype: str = "float32") -> dict:
    return {"data": {"train": str(train), "validation_fraction": 0.2, "test_fraction": 0.2},
            "model": TINY_MODEL,
            "training": {"max_epochs": 3, "batch_size": 4, "progress": False,
                         "num_threads": 1, "dtype": dtype, "time_limit_min": None},
            "output": str(output)}


def test_float64_training_loads_as_float64_and_evaluates_identically(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model written at the end of a float64 training, loaded back: same energies to
    1e-12 relative (float64 round-off of a few operations, far below float32's 6e-8)."""
    import nnpkit.training.trainer as trainer

    saved: list[torch.nn.Module] = []
    original = trainer.save_model

    def capture(path, model, statistics, extra=None):  # noqa: ANN001, ANN202
        saved.append(copy.deepcopy(model))
        return original(path, model, statistics, extra)

    monkeypatch.setattr(trainer, "save_model", capture)
    train = _write_copper(tmp_path / "cu.extxyz")
    result = fit(load_config(_config(train, tmp_path / "run", dtype="float64")))
    in_memory = saved[-1].eval()
    loaded = load_model(result.model_path)
    assert loaded.metadata["dtype"] == "float64"
    assert next(loaded.parameters()).dtype == torch.float64
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    graph = atoms_to_graph(atoms, loaded.cutoff, torch.float64)
    expected = compute_properties(in_memory, graph, forces=True)
    got = compute_properties(loaded, graph, forces=True)
    torch.testing.assert_close(got["energy"], expected["energy"], rtol=1e-12, atol=0)
    torch.testing.assert_close(got["forces"], expected["forces"], rtol=1e-12, atol=1e-14)
    # the calculator takes the file's precision unless told otherwise
    assert load_calculator(result.model_path).dtype == torch.float64
    assert load_calculator(result.model_path, dtype=torch.float32).dtype == torch.float32


def _model_with_references(reference_eV: float) -> BehlerParrinello:
    statistics = DatasetStatistics(("Cu",), (reference_eV,), 0.3, 0.01)
    torch.manual_seed(0)
    return BehlerParrinello(["Cu"], BPNNConfig(cutoff_A=4.0, angular_cutoff_A=3.0, n_radial=6,
                                               n_angular_radial=2, zetas=[1], hidden=[16]),
                            statistics).float().eval()


def test_large_reference_energies_keep_their_digits_in_float32() -> None:
    """-2000 eV per atom on 300 atoms (|E| = 6e5 eV, float32 resolution 0.06 eV): the
    float32 model's energy equals the reference-free energy + 300 * -2000 to 1e-6 eV,
    and the forces are bit-identical (the references do not depend on positions)."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((5, 5, 3))  # 300 atoms
    atoms.rattle(0.05, seed=2)
    assert len(atoms) == 300
    graph = atoms_to_graph(atoms, 4.0, torch.float32)
    plain, heavy = _model_with_references(0.0), _model_with_references(-2000.0)
    heavy.load_state_dict({**plain.state_dict(),
                           "reference_energies": heavy.reference_energies})
    assert heavy.reference_energies.dtype == torch.float64
    light_out = compute_properties(plain, graph, forces=True)
    heavy_out = compute_properties(heavy, graph, forces=True)
    assert heavy_out["energy"].dtype == torch.float64
    difference = float(heavy_out["energy"][0]) - float(light_out["energy"][0])
    assert difference == pytest.approx(-600000.0, abs=1e-6)
    torch.testing.assert_close(heavy_out["forces"], light_out["forces"], rtol=0, atol=0)
    # and .float()/.to() keep the references float64
    assert heavy.float().reference_energies.dtype == torch.float64


def test_training_on_all_electron_sized_energies(tmp_path: Path) -> None:
    """The same copper data once as it is and once shifted by -5e5 eV per atom: the same
    training gives the same errors (before the fix: 1.0 vs 69.5 meV/atom energy MAE)."""
    metrics = []
    for shift in (0.0, -5e5):
        train = _write_copper(tmp_path / f"cu{shift}.extxyz", shift)
        result = fit(load_config(_config(train, tmp_path / f"run{shift}")))
        metrics.append(result.test_metrics)
    plain, shifted = metrics
    # the references absorb the shift exactly and the energy error is formed in float64,
    # so the float32 network sees the same targets: measured agreement 1e-9 relative; the
    # bound 1e-6 leaves room for summation order (the old code differed by 3 % here)
    assert shifted["energy_mae_meV_per_atom"] == pytest.approx(
        plain["energy_mae_meV_per_atom"], rel=1e-6)
    assert shifted["forces_mae_meV_per_A"] == pytest.approx(
        plain["forces_mae_meV_per_A"], rel=1e-6)
    assert np.isfinite(shifted["energy_mae_meV_per_atom"])
