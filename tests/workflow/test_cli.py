"""The nnpkit command: eval, md, train, sample, and error messages (run in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.io import read, write

from nnpkit.calculators import load_calculator
from nnpkit.cli.main import main
from nnpkit.md import run_md

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


def _start(tmp_path: Path) -> Path:
    path = tmp_path / "start.xyz"
    write(path, bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2))
    return path


def _md(capsys: pytest.CaptureFixture[str], model: Path, *arguments: str) -> dict:
    """``nnpkit md MODEL ARGUMENTS`` at 300 K, 1 fs steps; its JSON summary (exit 0)."""
    assert main(["md", str(model), *arguments, "--temperature-K", "300",
                 "--timestep-fs", "1"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("ensemble", "suffix"),
                         [("nve", ".extxyz"), ("nvt", ".traj"), ("npt", ".extxyz")])
def test_md_writes_trajectory_log_and_plot(trained_run: Path, tmp_path: Path, ensemble: str,
                                           suffix: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"{ensemble}{suffix}"
    summary = _md(capsys, trained_run, str(_start(tmp_path)), "--steps", "20", "--ensemble",
                  ensemble, "--out", str(out), "--log-interval", "5")
    frames = read(out, index=":")
    assert len(frames) == 5
    assert [frame.info["time_fs"] for frame in frames] == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert all(frame.has("momenta") for frame in frames)  # what --restart continues from
    assert Path(summary["log"]) == tmp_path / f"{ensemble}_log.json"
    assert Path(summary["plot"]).is_file()
    log = json.loads(Path(summary["log"]).read_text())
    assert len(log["log"]["volume_A3"]) == 5
    assert ("pressure_GPa" in log["log"]) == (ensemble == "npt")


def _final_positions(path: Path) -> np.ndarray:
    return read(path, index=-1).positions


def test_md_dtype_and_device_choose_the_inference(trained_run: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--dtype float64 gives run_md with the float64 calculator, --dtype float32 (and the
    default, the model's precision) the float32 one, to the last bit (.traj is float64);
    the forces of the starting frame differ between the two by float32 rounding."""
    start = _start(tmp_path)
    finals, first_forces = {}, {}
    for dtype in ("float32", "float64"):
        out = tmp_path / f"{dtype}.traj"
        summary = _md(capsys, trained_run, str(start), "--steps", "10", "--ensemble", "nve",
                      "--dtype", dtype, "--device", "cpu", "--out", str(out))
        assert summary["dtype"] == dtype and summary["device"] == "cpu"
        reference = run_md(read(start), load_calculator(trained_run, dtype=getattr(torch, dtype)),
                           temperature_K=300.0, steps=10, timestep_fs=1.0, ensemble="nve",
                           seed=0, progress=False)
        finals[dtype] = _final_positions(out)
        first_forces[dtype] = read(out, index=0).get_forces()
        np.testing.assert_allclose(finals[dtype], reference.atoms.positions, rtol=0, atol=1e-12)
    # float32 resolves forces of ~0.1 eV/Å to ~1e-8 eV/Å: different, but not by 1e-4
    difference = np.abs(first_forces["float32"] - first_forces["float64"]).max()
    assert 1e-10 < difference < 1e-4
    default = _md(capsys, trained_run, str(start), "--steps", "10", "--ensemble", "nve",
                  "--out", str(tmp_path / "default.traj"))
    assert default["dtype"] == "float32"
    np.testing.assert_array_equal(_final_positions(tmp_path / "default.traj"), finals["float32"])


@pytest.mark.parametrize(("device", "message"), [
    ("gpu0", "--device 'gpu0'"),
    pytest.param("cuda", "--device cuda: not available", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_md_unusable_device_is_an_error(trained_run: Path, tmp_path: Path, device: str,
                                        message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["md", str(trained_run), str(_start(tmp_path)), "--temperature-K", "300",
                 "--steps", "2", "--device", device]) == 2
    assert message in capsys.readouterr().err


def test_md_friction_reaches_langevin(trained_run: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """--friction 0.05 is run_md's friction_per_fs=0.05 (same seed, same trajectory) and
    is recorded in the log; the default 0.01/fs is another trajectory."""
    start = _start(tmp_path)
    summary = _md(capsys, trained_run, str(start), "--steps", "10", "--friction", "0.05",
                  "--out", str(tmp_path / "nvt.traj"))
    settings = json.loads(Path(summary["log"]).read_text())["settings"]
    assert settings["friction_per_fs"] == 0.05
    reference = run_md(read(start), load_calculator(trained_run), temperature_K=300.0,
                       steps=10, timestep_fs=1.0, friction_per_fs=0.05, seed=0,
                       progress=False)
    np.testing.assert_allclose(_final_positions(tmp_path / "nvt.traj"),
                               reference.atoms.positions, rtol=0, atol=1e-12)
    _md(capsys, trained_run, str(start), "--steps", "10", "--out", str(tmp_path / "d.traj"))
    assert np.abs(_final_positions(tmp_path / "d.traj") - reference.atoms.positions).max() > 1e-6


@pytest.mark.parametrize(("suffix", "atol"), [(".traj", 1e-12), (".extxyz", 1e-6)])
def test_md_restart_continues_the_trajectory(trained_run: Path, tmp_path: Path, suffix: str,
                                             atol: float,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """10 NVE steps, then --restart for 10 more, equal 20 steps in one run (extxyz keeps 8
    decimals, hence 1e-6 Å); frames are appended without repeating the restart frame,
    and the log is joined."""
    start = str(_start(tmp_path))
    common = ["--ensemble", "nve", "--log-interval", "5"]
    straight = tmp_path / f"straight{suffix}"
    _md(capsys, trained_run, start, "--steps", "20", "--out", str(straight), *common)
    out = tmp_path / f"md{suffix}"
    _md(capsys, trained_run, start, "--steps", "10", "--out", str(out), *common)
    summary = _md(capsys, trained_run, "--restart", "--steps", "10", "--out", str(out),
                  *common)
    assert summary["start_time_fs"] == 10.0
    frames, expected = read(out, index=":"), read(straight, index=":")
    assert [frame.info["time_fs"] for frame in frames] == [0.0, 5.0, 10.0, 15.0, 20.0]
    for frame, reference in zip(frames, expected, strict=True):
        np.testing.assert_allclose(frame.positions, reference.positions, rtol=0, atol=atol)
        np.testing.assert_allclose(frame.get_momenta(), reference.get_momenta(), rtol=0,
                                   atol=atol)
    log = json.loads(Path(summary["log"]).read_text())["log"]
    assert log["time_fs"] == [0.0, 5.0, 10.0, 15.0, 20.0]


def test_md_restart_needs_a_trajectory_and_no_structure(trained_run: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    base = ["md", str(trained_run), "--temperature-K", "300", "--steps", "2"]
    assert main([*base, "--restart", "--out", str(tmp_path / "none.extxyz")]) == 2
    assert "no trajectory to continue" in capsys.readouterr().err
    assert main(["md", str(trained_run), str(_start(tmp_path)), *base[2:], "--restart", "--out",
                 str(tmp_path / "none.extxyz")]) == 2
    assert "give no structure file" in capsys.readouterr().err
    assert main(base) == 2
    assert "give a structure file, or --restart" in capsys.readouterr().err
    write(tmp_path / "still.extxyz", bulk("Cu", cubic=True))  # a frame without momenta
    assert main([*base, "--restart", "--out", str(tmp_path / "still.extxyz")]) == 2
    assert "no momenta" in capsys.readouterr().err


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
