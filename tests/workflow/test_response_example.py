"""The charge-aware water example (examples/response/water_charge_aware.yaml) on the
shipped PBE/6-31G* data: `nnpkit train` with the response loss terms learns the dipole
and the polarizability (a few epochs cut the errors of the untrained model), `nnpkit
eval` reports them, and `nnpkit response properties` reads the trained run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nnpkit.cli.main import main
from nnpkit.data import read_structures
from nnpkit.models.model_file import load_model
from nnpkit.training import load_config
from nnpkit.training.dataset import prepare_data
from nnpkit.training.prediction import evaluate

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "response" / "water_charge_aware.yaml"
DATA = ROOT / "tests" / "data" / "water_pbe631gs_response.extxyz"


def test_shipped_labels_are_pbe_dipoles_and_polarizabilities() -> None:
    structures = read_structures(DATA)
    assert len(structures) == 48
    for atoms in structures:
        assert atoms.info["method"] == "pbe/6-31g*"
        assert np.shape(atoms.calc.results["dipole"]) == (3,)
        alpha = np.asarray(atoms.info["polarizability"])
        np.testing.assert_allclose(alpha, alpha.T, atol=1e-12)
        assert 0.03 < np.trace(alpha) / 3 < 0.1  # e·Å²/V: about 0.9 Å³ at PBE/6-31G*


def test_example_trains_response_and_the_commands_read_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    run = tmp_path / "run"
    overrides = ["--set", "training.max_epochs=25", "--set", "training.ema_decay=0.9",
                 "--set", f"output={run}",
                 "--set", "training.progress=false"]
    assert main(["train", str(EXAMPLE), *overrides]) == 0
    capsys.readouterr()
    config = load_config(str(EXAMPLE), [f"output={run}"])
    data = prepare_data(config)
    torch.manual_seed(config.training.seed)
    untrained = load_model(run / "model.nnp").double()
    for parameter in untrained.element_networks.parameters():  # back to a fresh start
        torch.nn.init.normal_(parameter, 0.0, 0.1)
    before, _ = evaluate(untrained, data.test)
    after = json.loads((run / "metrics.json").read_text())["test"]
    assert after["dipole_mae_eA"] < before["dipole_mae_eA"] / 2
    assert after["polarizability_component_mae_A3"] < before[
        "polarizability_component_mae_A3"] / 2
    assert main(["eval", str(run), str(DATA), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n_structures"] == 48 and metrics["dipole_mae_D"] is not None
    assert main(["response", "properties", str(run), str(DATA), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed) == 48
    assert all(abs(sum(entry["charges_e"])) < 1e-10 for entry in printed)
