"""The nnpkit command: eval, md, train, sample, and error messages (run in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ase.build import bulk
from ase.io import read, write

from nnpkit.cli.main import main

EVAL_KEYS = {"energy_mae_meV_per_atom", "energy_rmse_meV_per_atom", "forces_mae_meV_per_A",
             "forces_rmse_meV_per_A", "stress_mae_GPa", "n_structures"}


def test_eval_json_is_exactly_one_object(trained_run: Path, copper_files: dict[str, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(trained_run), str(copper_files["test"]), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) == EVAL_KEYS
    assert metrics["n_structures"] == 40
    assert metrics["stress_mae_GPa"] is not None
    # the same numbers as training's final evaluation of the best model
    summary = json.loads((trained_run / "metrics.json").read_text())["test"]
    assert metrics["forces_mae_meV_per_A"] == pytest.approx(summary["forces_mae_meV_per_A"],
                                                            rel=1e-5)


def test_eval_text_and_molecule_stress_is_null(trained_run: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from ase.build import fcc100
    from ase.calculators.emt import EMT

    slab = fcc100("Cu", (2, 2, 3), vacuum=5.0)
    slab.calc = EMT()
    slab.get_forces()
    write(tmp_path / "slab.extxyz", slab)
    assert main(["eval", str(trained_run / "model.nnp"), str(tmp_path / "slab.extxyz"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stress_mae_GPa"] is None
    assert main(["eval", str(trained_run), str(tmp_path / "slab.extxyz")]) == 0
    assert "force MAE" in capsys.readouterr().out


def test_eval_missing_label_names_index_and_key(trained_run: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "bare.extxyz", [bulk("Cu", cubic=True)] * 2)
    assert main(["eval", str(trained_run), str(tmp_path / "bare.extxyz")]) == 2
    error = capsys.readouterr().err
    assert "bare.extxyz" in error and "structure 0" in error and "'energy'" in error


def test_eval_refuses_a_file_that_is_not_a_model(copper_files: dict[str, Path],
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "fake.nnp"
    fake.write_bytes(b"not a model")
    assert main(["eval", str(fake), str(copper_files["test"])]) == 2
    assert "fake.nnp" in capsys.readouterr().err


@pytest.mark.parametrize("ensemble", ["nve", "nvt", "npt"])
def test_md_writes_trajectory_log_and_plot(trained_run: Path, tmp_path: Path, ensemble: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    start = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    write(tmp_path / "start.xyz", start)
    out = tmp_path / f"{ensemble}.extxyz"
    assert main(["md", str(trained_run), str(tmp_path / "start.xyz"), "--temperature-K", "300",
                 "--steps", "20", "--timestep-fs", "1", "--ensemble", ensemble,
                 "--out", str(out), "--log-interval", "5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    frames = read(out, index=":")
    assert len(frames) == 5
    assert Path(summary["log"]).is_file() and Path(summary["plot"]).is_file()
    log = json.loads(Path(summary["log"]).read_text())
    assert "volume_A3" in json.dumps(log)


def test_md_unknown_element_names_it(trained_run: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "gold.xyz", bulk("Au", cubic=True))
    assert main(["md", str(trained_run), str(tmp_path / "gold.xyz"), "--temperature-K", "300",
                 "--steps", "2"]) == 2
    error = capsys.readouterr().err
    assert "Au" in error and "Cu" in error


def test_train_cli_with_overrides(copper_files: dict[str, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from .conftest import small_config

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(small_config(copper_files, tmp_path / "run")))
    assert main(["train", str(path), "--set", "training.max_epochs=1",
                 "--set", f"output={tmp_path / 'other'}"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epochs"] == 1 and result["run_dir"] == str(tmp_path / "other")
    assert main(["train", str(path), "--set", "training.max_epoks=1"]) == 2
    assert "training.max_epoks: unknown key" in capsys.readouterr().err


def test_sample_with_emt_writes_a_labelled_dataset(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "cu.xyz", bulk("Cu", cubic=True).repeat(2))
    out = tmp_path / "samples.extxyz"
    assert main(["sample", str(tmp_path / "cu.xyz"), "--method", "emt", "--out", str(out),
                 "--n-samples", "3", "--interval-steps", "2", "--temperature-K", "300"]) == 0
    frames = read(out, index=":")
    assert len(frames) == 3
    assert all(frame.calc is not None and "forces" in frame.calc.results for frame in frames)
