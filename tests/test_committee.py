"""Committees: training N members, the committee calculator's mean and spread, refusing
members that disagree, the MD uncertainty guard, and the CLI (train, eval, md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.build import bulk
from ase.io import read, write
from ase.md.verlet import VelocityVerlet
from conftest import build_small_model, statistics_for

from nnpkit.calculators import CommitteeCalculator, NNPCalculator, load_calculator
from nnpkit.cli.main import main
from nnpkit.data import write_structures
from nnpkit.errors import ConfigError, ModelFileError
from nnpkit.labeling.datasets import copper_emt_dataset
from nnpkit.md.runner import run_md
from nnpkit.md.uncertainty import UncertaintyExceeded, UncertaintyGuard
from nnpkit.models.committee import Committee
from nnpkit.models.committee_file import load_committee
from nnpkit.models.model_file import load_model, save_model
from nnpkit.training import load_config
from nnpkit.training.committee import fit_committee

EVAL_KEYS = {"energy_mae_meV_per_atom", "energy_rmse_meV_per_atom", "forces_mae_meV_per_A",
             "forces_rmse_meV_per_A", "stress_mae_GPa", "n_structures"}


@pytest.fixture(scope="module")
def copper_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("committee_data")
    structures = copper_emt_dataset(60, seed=1)
    paths = {"train": root / "train.extxyz", "test": root / "test.extxyz"}
    write_structures(paths["train"], structures[:48])
    write_structures(paths["test"], structures[48:])
    return paths


def tiny_config(data: dict[str, Path], output: Path) -> dict:
    return {
        "data": {"train": str(data["train"]), "test": str(data["test"])},
        "model": {"kind": "bpnn", "cutoff_A": 4.5, "angular_cutoff_A": 3.0, "hidden": [16, 16]},
        "training": {"max_epochs": 2, "batch_size": 8, "progress": False, "num_threads": 1},
        "output": str(output),
    }


@pytest.fixture(scope="module")
def committee_dir(copper_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                  ) -> Path:
    output = tmp_path_factory.mktemp("committee") / "cu"
    fit_committee(load_config(tiny_config(copper_data, output)), 3)
    return output


def copper_supercell() -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(0.1, seed=2)
    return atoms


# --- training --------------------------------------------------------------------------------


def test_fit_committee_writes_members_and_skips_finished(committee_dir: Path,
                                                         copper_data: dict[str, Path]) -> None:
    document = json.loads((committee_dir / "committee.json").read_text())
    assert document["members"] == [f"member_{k}/model.nnp" for k in range(3)]
    assert document["seeds"] == [0, 1, 2]
    weights = []
    for k in range(3):
        assert (committee_dir / f"member_{k}" / "metrics.json").is_file()
        model = load_model(committee_dir / f"member_{k}")
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[1], weights[2])
    stamps = [(committee_dir / f"member_{k}/model.nnp").stat().st_mtime_ns for k in range(3)]
    again = fit_committee(load_config(tiny_config(copper_data, committee_dir)), 3)
    assert again.skipped == [0, 1, 2]
    assert [(committee_dir / f"member_{k}/model.nnp").stat().st_mtime_ns
            for k in range(3)] == stamps


def test_fit_committee_needs_two_members(copper_data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 2"):
        fit_committee(load_config(tiny_config(copper_data, tmp_path / "c")), 1)


# --- calculator ------------------------------------------------------------------------------


def test_committee_calculator_mean_and_spread(committee_dir: Path) -> None:
    calculator = load_calculator(committee_dir, dtype=torch.float64)
    assert isinstance(calculator, CommitteeCalculator)
    atoms = copper_supercell()
    atoms.calc = calculator
    energy = atoms.get_potential_energy()
    stress = atoms.get_stress()
    members = [NNPCalculator(load_model(committee_dir / f"member_{k}"), dtype=torch.float64)
               for k in range(3)]
    energies = np.array([m.get_potential_energy(atoms.copy()) for m in members])
    forces = np.stack([m.get_forces(atoms.copy()) for m in members])  # [3, N, 3]
    stresses = np.stack([m.get_stress(atoms.copy()) for m in members])
    assert energy == pytest.approx(energies.mean(), abs=1e-9)
    np.testing.assert_allclose(atoms.get_forces(), forces.mean(0), atol=1e-9)
    np.testing.assert_allclose(stress, stresses.mean(0), atol=1e-9)
    results = calculator.results
    assert isinstance(results["energy_std"], float)
    assert results["energy_std"] == pytest.approx(np.std(energies), abs=1e-9)
    expected_std = np.linalg.norm(np.std(forces, axis=0), axis=1)  # [N]
    assert results["forces_std"].shape == (len(atoms),)
    np.testing.assert_allclose(results["forces_std"], expected_std, atol=1e-9)
    assert results["max_force_std"] == pytest.approx(expected_std.max(), abs=1e-9)
    assert results["energy_std"] > 0 and results["max_force_std"] > 0
    assert (results["forces_std"] > 0).all()
    assert calculator.get_property("max_force_std", atoms) == results["max_force_std"]


def test_committee_calculator_runs_ase_md(committee_dir: Path) -> None:
    atoms = copper_supercell()
    atoms.calc = load_calculator(committee_dir)
    dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    dynamics.run(5)
    assert dynamics.nsteps == 5
    assert np.isfinite(atoms.get_forces()).all()
    assert atoms.calc.results["forces_std"].shape == (len(atoms),)


def test_single_model_path_still_gives_plain_calculator(committee_dir: Path) -> None:
    calculator = load_calculator(committee_dir / "member_0")
    assert type(calculator) is NNPCalculator


# --- refusing members that disagree -----------------------------------------------------------


def _committee_with(committee_dir: Path, other: Path, tmp_path: Path) -> Path:
    document = {"format": "nnpkit-committee", "format_version": 1,
                "members": [str(committee_dir / "member_0/model.nnp"), str(other)]}
    path = tmp_path / "committee.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("elements", [["Cu"], ["Cu", "Au"]])
def test_members_that_disagree_are_refused_naming_the_member(
        committee_dir: Path, tmp_path: Path, elements: list[str]) -> None:
    # conftest's small model has a 5.0 Å cutoff (the committee's is 4.5 Å)
    other = save_model(tmp_path / "other.nnp", build_small_model(elements),
                       statistics_for(elements))
    path = _committee_with(committee_dir, other, tmp_path)
    with pytest.raises(ModelFileError, match="member 1") as error:
        load_committee(path)
    assert "other.nnp" in str(error.value)
    assert ("elements" if len(elements) == 2 else "cutoff") in str(error.value)


def test_committee_of_different_elements_in_memory_is_refused() -> None:
    with pytest.raises(ModelFileError, match="member 1 has elements"):
        Committee([build_small_model(["Cu"]), build_small_model(["Cu", "Au"])])


def test_missing_member_file_names_it(committee_dir: Path, tmp_path: Path) -> None:
    path = _committee_with(committee_dir, tmp_path / "absent.nnp", tmp_path)
    with pytest.raises(ModelFileError, match="member 1.*absent.nnp"):
        load_committee(path)


# --- the uncertainty guard in MD --------------------------------------------------------------


def test_guard_stops_md_when_threshold_is_passed(committee_dir: Path) -> None:
    calculator = load_calculator(committee_dir)
    guard = UncertaintyGuard(calculator, None, max_force_std=1e-8, action="stop")
    with pytest.raises(UncertaintyExceeded) as stop:
        run_md(copper_supercell(), calculator, temperature_K=300, steps=10, timestep_fs=1.0,
               progress=False, observers=[guard.observer()])
    assert stop.value.step == 0 and stop.value.max_force_std > 1e-8
    assert guard.flags == [(0, stop.value.max_force_std)]


def test_guard_flags_and_md_completes(committee_dir: Path) -> None:
    calculator = load_calculator(committee_dir)
    flagging = UncertaintyGuard(calculator, None, max_force_std=1e-8, action="flag",
                                interval=2)
    quiet = UncertaintyGuard(calculator, None, max_force_std=1e6, action="stop")
    result = run_md(copper_supercell(), calculator, temperature_K=300, steps=6,
                    timestep_fs=1.0, progress=False, log_interval=2,
                    observers=[flagging.observer(), quiet.observer()])
    assert len(result.log["time_fs"]) == 4
    assert [step for step, _ in flagging.flags] == [0, 2, 4, 6]
    assert quiet.flags == [] and len(quiet.history) == 7


def test_guard_refuses_a_calculator_without_uncertainty(committee_dir: Path) -> None:
    with pytest.raises(ConfigError, match="committee"):
        UncertaintyGuard(load_calculator(committee_dir / "member_0"), None, 0.3)


def test_cli_md_stops_on_uncertainty(committee_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "start.xyz", copper_supercell())
    out = tmp_path / "md.extxyz"
    arguments = ["md", str(committee_dir), str(tmp_path / "start.xyz"), "--temperature-K",
                 "300", "--steps", "10", "--timestep-fs", "1", "--out", str(out),
                 "--log-interval", "1", "--max-force-std", "1e-8"]
    assert main(arguments) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["stopped_at_step"] == 0
    assert len(read(out, index=":")) == 1  # the frame written before the stop stays
    assert main([*arguments[:-1], "1e6"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert "stopped_at_step" not in summary and summary["n_flagged_steps"] == 0
    assert len(read(out, index=":")) == 11


def test_cli_md_max_force_std_needs_a_committee(committee_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "start.xyz", copper_supercell())
    assert main(["md", str(committee_dir / "member_0"), str(tmp_path / "start.xyz"),
                 "--temperature-K", "300", "--steps", "2", "--out",
                 str(tmp_path / "md.extxyz"), "--max-force-std", "0.3"]) == 2
    error = capsys.readouterr().err
    assert "--max-force-std needs a committee" in error and "member_0" in error


# --- CLI: eval and train ----------------------------------------------------------------------


def test_cli_eval_json_adds_spearman_only_for_committees(
        committee_dir: Path, copper_data: dict[str, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(committee_dir), str(copper_data["test"]), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) == EVAL_KEYS | {"forces_std_spearman"}
    assert isinstance(metrics["forces_std_spearman"], float)
    assert -1.0 <= metrics["forces_std_spearman"] <= 1.0
    assert metrics["n_structures"] == 12
    assert main(["eval", str(committee_dir / "committee.json"), str(copper_data["test"])]) == 0
    assert "Spearman" in capsys.readouterr().out
    assert main(["eval", str(committee_dir / "member_0"), str(copper_data["test"]),
                 "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == EVAL_KEYS


def test_cli_train_committee(copper_data: dict[str, Path], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    config = tiny_config(copper_data, tmp_path / "run")
    config["training"]["max_epochs"] = 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(tmp_path / "config.yaml"), "--committee", "2",
                 "--bootstrap"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert Path(summary["committee"]) == tmp_path / "run" / "committee.json"
    document = json.loads((tmp_path / "run" / "committee.json").read_text())
    assert document["bootstrap"] is True and len(document["members"]) == 2
    assert len(load_committee(tmp_path / "run")) == 2
