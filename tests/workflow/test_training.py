"""Training: accuracy on EMT copper, exact resume, SIGKILL resume, artefacts, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nnpkit.errors import ConfigError, DataError, UnknownElementError
from nnpkit.training import fit, load_config
from nnpkit.training.checkpoint import load_checkpoint
from nnpkit.training.config import TrainingConfig

from .conftest import small_config


def test_run_directory_has_every_artefact(trained_run: Path) -> None:
    for name in ("model.nnp", "checkpoint.pt", "config.yaml", "metrics.csv", "metrics.json",
                 "parity.png", "learning_curve.png"):
        assert (trained_run / name).is_file(), name
    summary = json.loads((trained_run / "metrics.json").read_text())
    assert summary["test"]["n_structures"] == 40
    assert summary["epochs"] == 5
    assert summary["test"]["stress_mae_GPa"] is not None
    assert summary["model_selection"] == "validation" and summary["n_validation"] == 16
    rows = (trained_run / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 5


def test_resume_reproduces_an_uninterrupted_run(copper_files: dict[str, Path],
                                                tmp_path: Path) -> None:
    straight = fit(load_config(small_config(copper_files, tmp_path / "a", max_epochs=4)))
    fit(load_config(small_config(copper_files, tmp_path / "b", max_epochs=2)))
    resumed = fit(load_config(small_config(copper_files, tmp_path / "b", max_epochs=4)),
                  resume=True)
    assert resumed.epochs == 4
    first, second = load_file(straight.model_path), load_file(resumed.model_path)
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=0, atol=0)
    history_a = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
    history_b = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    strip = [",".join(line.split(",")[:-1]) for line in history_a]  # drop elapsed time
    assert strip == [",".join(line.split(",")[:-1]) for line in history_b]


@pytest.mark.parametrize("clock", ["wall", "process"])
def test_time_limit_stops_on_either_clock(clock: str, copper_files: dict[str, Path],
                                          tmp_path: Path) -> None:
    """A budget of 0.1 s ends the run after its first epoch on the wall or the CPU clock."""
    config = small_config(copper_files, tmp_path / clock, max_epochs=50,
                          time_limit_min=0.1 / 60.0, time_clock=clock)
    result = fit(load_config(config))
    assert (result.stop_reason, result.epochs) == ("time_limit", 1)
    history = json.loads((tmp_path / clock / "metrics.json").read_text())
    assert history["training_time_s"] >= 0.1


def test_resume_without_checkpoint_is_refused(copper_files: dict[str, Path],
                                              tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="checkpoint"):
        fit(load_config(small_config(copper_files, tmp_path / "none")), resume=True)


def test_sigkill_then_resume_loses_at_most_one_epoch(copper_files: dict[str, Path],
                                                     tmp_path: Path) -> None:
    import yaml

    output = tmp_path / "killed"
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(small_config(copper_files, output, max_epochs=500)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "nnpkit.cli.main", "train",
                                str(config_path)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    checkpoint = output / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if checkpoint.exists() and load_checkpoint(checkpoint)["epoch"] >= 2:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = load_checkpoint(checkpoint)["epoch"]
    assert done >= 2
    # a kill during a write leaves that write's temporary file (never a torn target);
    # the resumed run removes it
    left = [p.name for p in output.iterdir() if p.name.endswith(".tmp")]
    assert all(name.startswith(".") for name in left), left
    result = fit(load_config(small_config(copper_files, output, max_epochs=done + 1)),
                 resume=True)
    assert result.epochs == done + 1
    assert not [p for p in output.iterdir() if p.name.endswith(".tmp")]
    epochs = [int(line.split(",")[0]) for line in
              (output / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == list(range(1, done + 2))


def test_resume_removes_what_a_killed_write_left(copper_files: dict[str, Path],
                                                 tmp_path: Path) -> None:
    output = tmp_path / "run"
    fit(load_config(small_config(copper_files, output, max_epochs=1)))
    stale = output / ".checkpoint.pt.x1y2z3w4.tmp"
    stale.write_bytes(b"half a checkpoint")
    fit(load_config(small_config(copper_files, output, max_epochs=2)), resume=True)
    assert not stale.exists()
    assert (output / "model.nnp").is_file() and load_checkpoint(output / "checkpoint.pt")


def test_config_typo_names_the_key(copper_files: dict[str, Path], tmp_path: Path) -> None:
    config = small_config(copper_files, tmp_path / "run")
    config["training"]["max_epoch"] = 3
    with pytest.raises(ConfigError, match=r"training\.max_epoch: unknown key"):
        load_config(config)
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.extxyz}\nmodel: {kind: bpnn, cutof_A: 4}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: model\.cutof_A: unknown key"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_missing_data_file_names_the_path(copper_files: dict[str, Path], tmp_path: Path) -> None:
    config = small_config(copper_files, tmp_path / "run")
    config["data"]["train"] = str(tmp_path / "nowhere.extxyz")
    with pytest.raises(DataError, match="nowhere.extxyz"):
        fit(load_config(config))


def test_test_set_with_unknown_element_names_it(copper_files: dict[str, Path],
                                                tmp_path: Path) -> None:
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    from nnpkit.data import write_structures

    gold = bulk("Au", cubic=True)
    gold.calc = EMT()
    gold.calc = SinglePointCalculator(gold, energy=gold.get_potential_energy(),
                                      forces=gold.get_forces())
    write_structures(tmp_path / "gold.extxyz", [gold])
    config = small_config(copper_files, tmp_path / "run")
    config["data"]["test"] = str(tmp_path / "gold.extxyz")
    with pytest.raises(UnknownElementError, match="Au"):
        fit(load_config(config))


def test_no_validation_data_is_refused_before_reading_the_data(copper_files: dict[str, Path],
                                                               tmp_path: Path) -> None:
    """validation_fraction 0 without data.validation would choose the best epoch on the
    training data: refused, naming the keys, before the (here missing) data is read."""
    config = small_config(copper_files, tmp_path / "run")
    config["data"].update(train=str(tmp_path / "not-read.extxyz"), validation_fraction=0.0)
    with pytest.raises(ConfigError, match=r"data\.validation_fraction is 0.*select_on_train"):
        fit(load_config(config))


def test_selection_on_train_warns_records_it_and_summarises_the_stop(
        copper_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = small_config(copper_files, tmp_path / "run", max_epochs=1, select_on_train=True)
    config["data"]["validation_fraction"] = 0.0
    with pytest.warns(UserWarning, match="chosen on the first 50 TRAINING structures"):
        fit(load_config(config))
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (summary["model_selection"], summary["n_validation"]) == ("train", 0)
    assert summary["n_train"] == 160  # nothing held out
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("nnpkit train: stopped by max_epochs (training.max_epochs=1) "
                           "after 1 epoch; best epoch 1 on TRAIN data: force MAE")


def test_validation_file_selects_the_model_and_nothing_is_held_out(
        copper_files: dict[str, Path], tmp_path: Path) -> None:
    from nnpkit.data import read_structures, write_structures

    validation = tmp_path / "validation.extxyz"
    write_structures(validation, read_structures(copper_files["test"])[:12])
    config = small_config(copper_files, tmp_path / "run", max_epochs=1)
    config["data"]["validation"] = str(validation)
    fit(load_config(config))
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (summary["model_selection"], summary["n_validation"]) == ("validation", 12)
    assert (summary["n_train"], summary["n_test"]) == (160, 40)


def test_no_time_limit_by_default() -> None:
    """A production run is not cut at 20 minutes unless asked to be."""
    assert TrainingConfig().time_limit_min is None
