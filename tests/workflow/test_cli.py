"""The nnpkit command: eval, md, train, sample, and error messages (run in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.io import read, write

from nnpkit.calculators import load_calculator
from nnpkit.cli.main import main
from nnpkit.md import run_batched_md, run_md
from nnpkit.models.model_file import load_model

EVAL_KEYS = {"energy_mae_meV_per_atom", "energy_rmse_meV_per_atom", "forces_mae_meV_per_A",
             "forces_rmse_meV_per_A", "stress_mae_GPa", "n_structures", "dipole_mae_D",
             "dipole_mae_eA", "polarizability_iso_mae_A3", "polarizability_component_mae_A3",
             "polarizability_iso_mape_percent"}


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


def _batched(model: Path, start: Path, steps: int, dtype: torch.dtype = torch.float32,
             **settings: object) -> np.ndarray:
    """Final positions of ``run_batched_md`` called directly, as ``nnpkit md`` calls it
    (one replica at 300 K, 1 fs steps, seed 0)."""
    result = run_batched_md(load_model(model, dtype=dtype), [read(start)], steps=steps,
                            temperature_K=300.0, timestep_fs=1.0, seed=0, progress=False,
                            **settings)  # type: ignore[arg-type]
    return result.atoms[0].positions


LOG_COLUMNS = {"time_fs", "potential_energy_eV", "kinetic_energy_eV", "total_energy_eV",
               "temperature_K", "volume_A3"}
SUMMARY_KEYS = {"trajectory", "log", "plot", "steps", "ensemble", "engine", "device", "dtype",
                "start_time_fs", "mean_temperature_K", "total_energy_drift_eV_per_atom",
                "final_volume_A3"}


@pytest.mark.parametrize(("ensemble", "suffix", "engine"),
                         [("nve", ".extxyz", "batched"), ("nvt", ".traj", "batched"),
                          ("npt", ".extxyz", "batched"), ("npt", ".traj", "ase"),
                          ("nvt", ".xyz", "ase")])
def test_md_writes_trajectory_log_and_plot(trained_run: Path, tmp_path: Path, ensemble: str,
                                           suffix: str, engine: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Both engines write the same files, log columns and summary keys."""
    out = tmp_path / f"{ensemble}{suffix}"
    summary = _md(capsys, trained_run, str(_start(tmp_path)), "--steps", "20", "--ensemble",
                  ensemble, "--out", str(out), "--log-interval", "5", "--engine", engine)
    assert set(summary) == SUMMARY_KEYS and summary["engine"] == engine
    frames = read(out, index=":")
    assert len(frames) == 5
    assert [frame.info["time_fs"] for frame in frames] == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert all(frame.has("momenta") for frame in frames)  # what --restart continues from
    assert Path(summary["log"]) == tmp_path / f"{ensemble}_log.json"
    assert Path(summary["plot"]).is_file()
    log = json.loads(Path(summary["log"]).read_text())
    assert set(log["log"]) == LOG_COLUMNS | ({"pressure_GPa"} if ensemble == "npt" else set())
    assert len(log["log"]["volume_A3"]) == 5
    assert log["settings"]["engine"] == engine
    np.testing.assert_allclose(log["final_atoms"]["positions_A"], frames[-1].positions,
                               rtol=0, atol=1e-6)


def _final_positions(path: Path) -> np.ndarray:
    return read(path, index=-1).positions


def test_md_dtype_and_device_choose_the_inference(trained_run: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--dtype float64 gives run_batched_md in float64, --dtype float32 (and the default,
    the model's precision) in float32, to the last bit (.traj is float64); the forces of
    the starting frame differ between the two by float32 rounding."""
    start = _start(tmp_path)
    finals, first_forces = {}, {}
    for dtype in ("float32", "float64"):
        out = tmp_path / f"{dtype}.traj"
        summary = _md(capsys, trained_run, str(start), "--steps", "10", "--ensemble", "nve",
                      "--dtype", dtype, "--device", "cpu", "--out", str(out))
        assert summary["dtype"] == dtype and summary["device"] == "cpu"
        assert summary["engine"] == "batched"
        finals[dtype] = _final_positions(out)
        first_forces[dtype] = read(out, index=0).get_forces()
        np.testing.assert_allclose(
            finals[dtype], _batched(trained_run, start, 10, getattr(torch, dtype),
                                    ensemble="nve"), rtol=0, atol=1e-12)
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


def test_md_field_needs_a_model_with_a_field_coupling(trained_run: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    assert main(["md", str(trained_run), str(_start(tmp_path)), "--temperature-K", "300",
                 "--steps", "2", "--field", "0", "0", "0.1"]) == 2
    assert "model kind 'bpnn' has no coupling to an electric field" in capsys.readouterr().err


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


@pytest.mark.parametrize("device", [
    "cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                         reason="no CUDA device"))])
def test_md_npt_pressure_and_friction_reach_the_engine(trained_run: Path, tmp_path: Path,
                                                       device: str,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """--pressure-GPa and --friction are run_batched_md's pressure_GPa and friction_per_fs
    (NPT: Langevin plus stochastic cell rescaling; same seed, same trajectory, 1e-12 Å on
    the CPU); a different pressure is another trajectory."""
    start = _start(tmp_path)
    summary = _md(capsys, trained_run, str(start), "--steps", "20", "--ensemble", "npt",
                  "--pressure-GPa", "5", "--friction", "0.05", "--device", device,
                  "--out", str(tmp_path / "npt.traj"))
    settings = json.loads(Path(summary["log"]).read_text())["settings"]
    assert settings["pressure_GPa"] == 5.0 and settings["friction_per_fs"] == 0.05
    reference = _batched(trained_run, start, 20, ensemble="npt", pressure_GPa=5.0,
                         friction_per_fs=0.05, device=device)
    # on a GPU the reductions' order may differ between two runs: float32 round-off
    atol = 1e-12 if device == "cpu" else 1e-5
    np.testing.assert_allclose(_final_positions(tmp_path / "npt.traj"), reference, rtol=0,
                               atol=atol)
    assert summary["final_volume_A3"] == pytest.approx(
        abs(np.linalg.det(read(tmp_path / "npt.traj", index=-1).cell.array)), rel=1e-12)
    other = _batched(trained_run, start, 20, ensemble="npt", pressure_GPa=0.0,
                     friction_per_fs=0.05, device=device)
    assert np.abs(other - reference).max() > 1e-6


def test_md_friction_reaches_langevin(trained_run: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """--friction 0.05 is run_batched_md's friction_per_fs=0.05 (same seed, same
    trajectory) and is recorded in the log; the default 0.01/fs is another trajectory."""
    start = _start(tmp_path)
    summary = _md(capsys, trained_run, str(start), "--steps", "10", "--friction", "0.05",
                  "--out", str(tmp_path / "nvt.traj"))
    settings = json.loads(Path(summary["log"]).read_text())["settings"]
    assert settings["friction_per_fs"] == 0.05
    reference = _batched(trained_run, start, 10, friction_per_fs=0.05)
    np.testing.assert_allclose(_final_positions(tmp_path / "nvt.traj"), reference, rtol=0,
                               atol=1e-12)
    _md(capsys, trained_run, str(start), "--steps", "10", "--out", str(tmp_path / "d.traj"))
    assert np.abs(_final_positions(tmp_path / "d.traj") - reference).max() > 1e-6


def test_md_engine_ase_is_run_md(trained_run: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--engine ase is run_md over the calculator (same seed, same trajectory to 1e-12 Å);
    the batched engine from the same seed is another trajectory (its own velocity draw)."""
    start = _start(tmp_path)
    summary = _md(capsys, trained_run, str(start), "--steps", "10", "--friction", "0.05",
                  "--engine", "ase", "--out", str(tmp_path / "ase.traj"))
    assert summary["engine"] == "ase"
    reference = run_md(read(start), load_calculator(trained_run), temperature_K=300.0,
                       steps=10, timestep_fs=1.0, friction_per_fs=0.05, seed=0,
                       progress=False)
    np.testing.assert_allclose(_final_positions(tmp_path / "ase.traj"),
                               reference.atoms.positions, rtol=0, atol=1e-12)
    batched = _batched(trained_run, start, 10, friction_per_fs=0.05)
    assert np.abs(batched - reference.atoms.positions).max() > 1e-6


def test_md_constraints_fall_back_to_ase(trained_run: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A structure with FixAtoms runs on ASE's integrators (a one-line notice, summary
    engine "ase"): run_md's trajectory, and the fixed atoms stay where they were."""
    from ase.constraints import FixAtoms

    from nnpkit.md.from_files import EngineFallbackNotice

    atoms = read(_start(tmp_path))
    atoms.set_constraint(FixAtoms(indices=[0, 1, 2]))
    write(tmp_path / "fixed.traj", atoms)  # .traj keeps the constraint
    with pytest.warns(EngineFallbackNotice, match=r"fixed\.traj: .*FixAtoms.*--engine ase"):
        summary = _md(capsys, trained_run, str(tmp_path / "fixed.traj"), "--steps", "10",
                      "--out", str(tmp_path / "md.traj"))
    assert summary["engine"] == "ase"
    reference = run_md(atoms, load_calculator(trained_run), temperature_K=300.0, steps=10,
                       timestep_fs=1.0, seed=0, progress=False)
    final = _final_positions(tmp_path / "md.traj")
    np.testing.assert_allclose(final, reference.atoms.positions, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(final[:3], atoms.positions[:3])
    assert np.abs(final[3:] - atoms.positions[3:]).max() > 1e-3


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


@pytest.mark.parametrize("ensemble", ["nvt", "npt"])
def test_md_restart_continues_the_stochastic_run(trained_run: Path, tmp_path: Path,
                                                 ensemble: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Langevin (and the NPT barostat) draw their noise from counters keyed by (seed,
    step), so 15 steps plus --restart for 15 more equal 30 steps in one run to 1e-10 Å
    (.traj: float64), in positions, momenta and cell (the restart at step 15 is between
    two barostat moves, which happen every 10 steps of the absolute step count)."""
    start = str(_start(tmp_path))
    common = ["--ensemble", ensemble, "--log-interval", "5", "--friction", "0.05",
              "--pressure-GPa", "2"]
    _md(capsys, trained_run, start, "--steps", "30", "--out", str(tmp_path / "whole.traj"),
        *common)
    out = str(tmp_path / "md.traj")
    _md(capsys, trained_run, start, "--steps", "15", "--out", out, *common)
    summary = _md(capsys, trained_run, "--restart", "--steps", "15", "--out", out, *common)
    assert summary["start_time_fs"] == 15.0 and summary["engine"] == "batched"
    frames, expected = read(out, index=":"), read(tmp_path / "whole.traj", index=":")
    assert [frame.info["time_fs"] for frame in frames] == [0, 5, 10, 15, 20, 25, 30]
    for frame, reference in zip(frames, expected, strict=True):
        np.testing.assert_allclose(frame.positions, reference.positions, rtol=0, atol=1e-10)
        np.testing.assert_allclose(frame.get_momenta(), reference.get_momenta(), rtol=0,
                                   atol=1e-10)
        np.testing.assert_allclose(frame.cell.array, reference.cell.array, rtol=0,
                                   atol=1e-10)
    if ensemble == "npt":  # the cell did move
        assert abs(frames[-1].get_volume() - frames[0].get_volume()) > 1e-3


def test_md_nve_conserves_energy(trained_run: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """NVE on the default path (batched engine, float32 model): 32 Cu atoms at 300 K, 1 fs,
    1000 steps. Measured: the total energy deviates by at most 7e-6 eV/atom and drifts
    by 4e-6 eV/atom; bounds 3e-5 and 1.5e-5 (4x). A half-step force error or a
    first-order integrator gives 1e-3 and more."""
    summary = _md(capsys, trained_run, str(_start(tmp_path)), "--steps", "1000",
                  "--ensemble", "nve", "--log-interval", "10",
                  "--out", str(tmp_path / "nve.extxyz"))
    total = np.asarray(json.loads(Path(summary["log"]).read_text())["log"]["total_energy_eV"])
    assert np.abs(total - total[0]).max() / 32 < 3e-5
    assert abs(summary["total_energy_drift_eV_per_atom"]) < 1.5e-5
    # the run is not trivially still: the kinetic energy was 300 K's at the start
    assert summary["mean_temperature_K"] > 50.0


def test_md_nvt_mean_temperature(trained_run: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """NVT on the default path: Langevin (γ = 0.1/fs) on 32 Cu atoms at 300 K, 3000 steps
    of 1 fs, sampled every 10. The instantaneous temperature (3N degrees of freedom) has
    relative spread sqrt(2 / 96) = 14 %; the mean over t > 500 fs, with its standard error
    from blocks of 200 fs (longer than the thermostat's 1/γ = 10 fs and the lattice's
    energy exchange), must be within 4 standard errors of 300 K, and the error must be
    below 2 % (measured: 303.6 ± 3.4 K from 12 blocks)."""
    summary = _md(capsys, trained_run, str(_start(tmp_path)), "--steps", "3000",
                  "--friction", "0.1", "--log-interval", "10",
                  "--out", str(tmp_path / "nvt.extxyz"))
    kelvin = np.asarray(json.loads(Path(summary["log"]).read_text())["log"]["temperature_K"])
    samples = kelvin[50:]  # t > 500 fs
    blocks = samples[: len(samples) // 20 * 20].reshape(-1, 20).mean(axis=1)
    error = blocks.std(ddof=1) / np.sqrt(len(blocks))
    assert error < 0.02 * 300.0
    assert abs(samples.mean() - 300.0) < 4 * error


def _committee(trained_run: Path, directory: Path) -> Path:
    """A two-member committee: the trained model and a copy with perturbed weights."""
    from nnpkit.data.stats import DatasetStatistics
    from nnpkit.models.committee_file import write_committee_file
    from nnpkit.models.model_file import save_model

    model = load_model(trained_run)
    statistics = DatasetStatistics.from_dict(model.metadata["statistics"])
    paths = [save_model(directory / "member_0.nnp", model, statistics)]
    torch.manual_seed(3)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.02 * torch.randn_like(parameter))
    paths.append(save_model(directory / "member_1.nnp", model, statistics))
    write_committee_file(directory, paths, [0, 1], bootstrap=False)
    return directory


@pytest.mark.filterwarnings("ignore::nnpkit.calculators.ase_calculator.FastPathNotice")
def test_md_uncertainty_guard_stops_and_flags(trained_run: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--max-force-std on the batched engine checks every step: with a threshold crossed
    first at step k of the same seeded run, "stop" ends there (the frames up to k stay,
    no log) and "flag" counts the steps above it; the values are the committee's."""
    from nnpkit.models.committee_file import load_committee

    committee = _committee(trained_run, tmp_path / "committee")
    start = _start(tmp_path)
    direct = run_batched_md(load_committee(committee), [read(start)], steps=20,
                            temperature_K=300.0, timestep_fs=1.0, seed=0, progress=False,
                            max_force_std=1e6, uncertainty_action="flag",
                            uncertainty_interval=1)
    values = np.array([float(v[0]) for _, v in direct.uncertainty["history"]])  # [21]
    assert len(values) == 21
    threshold = float(np.sort(values)[-4])  # three steps above it
    first = int(np.flatnonzero(values > threshold)[0])
    arguments = ["--steps", "20", "--log-interval", "5", "--max-force-std", str(threshold)]
    flagged = _md(capsys, committee, str(start), *arguments, "--uncertainty-action", "flag",
                  "--out", str(tmp_path / "flag.extxyz"))
    assert flagged["n_flagged_steps"] == 3 and flagged["first_flagged_step"] == first
    assert flagged["max_force_std_eV_per_A"] == pytest.approx(values.max(), rel=1e-9)
    out = tmp_path / "stop.extxyz"
    stopped = _md(capsys, committee, str(start), *arguments, "--out", str(out))
    assert stopped["stopped_at_step"] == first and stopped["engine"] == "batched"
    assert stopped["max_force_std_eV_per_A"] == pytest.approx(values[first], rel=1e-9)
    assert stopped["threshold_eV_per_A"] == threshold and "log" not in stopped
    assert len(read(out, index=":")) == first // 5 + 1  # the frames written before it
    assert not (tmp_path / "stop_log.json").exists()


def test_md_bad_engine_and_suffix_are_errors(trained_run: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from nnpkit.errors import ConfigError
    from nnpkit.md.from_files import run_md_from_files

    with pytest.raises(ConfigError, match="--engine 'fast'"):
        run_md_from_files(trained_run, _start(tmp_path), 300.0, 2, 1.0,
                          engine="fast")  # type: ignore[arg-type]
    assert main(["md", str(trained_run), str(_start(tmp_path)), "--temperature-K", "300",
                 "--steps", "2", "--out", str(tmp_path / "md.pdb")]) == 2
    assert "md.pdb" in capsys.readouterr().err
    molecule_file = tmp_path / "cu2.xyz"
    write(molecule_file, Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]]))
    assert main(["md", str(trained_run), str(molecule_file), "--temperature-K", "300",
                 "--steps", "2", "--ensemble", "npt"]) == 2
    assert "cu2.xyz: NPT needs a cell periodic" in capsys.readouterr().err


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
