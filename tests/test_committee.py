"""Committees: training N members (on the same split, or on bootstrap resamples of it),
the committee calculator's mean and spread, the spread ranking the error, refusing members
that disagree, the MD uncertainty guard, and the CLI (train, eval, md)."""

from __future__ import annotations

import copy as copy_module
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from ase.md.verlet import VelocityVerlet
from conftest import build_small_model, perturbed_committee, statistics_for
from scipy.stats import spearmanr

from nnpkit.calculators import CommitteeCalculator, NNPCalculator, load_calculator
from nnpkit.cli.main import main
from nnpkit.data import write_structures
from nnpkit.data.graph import AtomicGraph
from nnpkit.errors import ConfigError, ModelFileError
from nnpkit.labeling.datasets import copper_emt_dataset
from nnpkit.md.runner import run_md
from nnpkit.md.uncertainty import UncertaintyExceeded, UncertaintyGuard
from nnpkit.models.committee import Committee
from nnpkit.models.committee_file import load_committee
from nnpkit.models.model_file import load_model, save_model
from nnpkit.training import load_config
from nnpkit.training.committee import fit_committee
from nnpkit.training.evaluation import evaluate_file

EVAL_KEYS = {"energy_mae_meV_per_atom", "energy_rmse_meV_per_atom", "forces_mae_meV_per_A",
             "forces_rmse_meV_per_A", "stress_mae_GPa", "n_structures", "dipole_mae_D",
             "dipole_mae_eA", "polarizability_iso_mae_A3", "polarizability_component_mae_A3",
             "polarizability_iso_mape_percent"}


@pytest.fixture(scope="module")
def copper_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train (48) and test (12) EMT copper structures, and "mixed": the test structures
    plus copies rattled by a further 0.2 Å (outside the training distribution, whose
    rattles are 0.02–0.1 Å), labelled by EMT."""
    root = tmp_path_factory.mktemp("committee_data")
    structures = copper_emt_dataset(60, seed=1)
    paths = {"train": root / "train.extxyz", "test": root / "test.extxyz",
             "mixed": root / "mixed.extxyz"}
    write_structures(paths["train"], structures[:48])
    write_structures(paths["test"], structures[48:])
    rng = np.random.default_rng(5)
    far = []
    for atoms in structures[48:]:
        copy = atoms.copy()
        copy.positions += rng.normal(0.0, 0.2, copy.positions.shape)
        copy.calc = EMT()
        labels = {"energy": copy.get_potential_energy(), "forces": copy.get_forces()}
        if copy.pbc.all():
            labels["stress"] = copy.get_stress()
        copy.calc = SinglePointCalculator(copy, **labels)
        far.append(copy)
    write_structures(paths["mixed"], [*structures[48:], *far])
    return paths


def tiny_config(data: dict[str, Path], output: Path) -> dict:
    return {
        "data": {"train": str(data["train"]), "test": str(data["test"])},
        "model": {"kind": "bpnn", "cutoff_A": 4.5, "angular_cutoff_A": 3.0, "hidden": [16, 16]},
        "training": {"max_epochs": 2, "batch_size": 8, "progress": False, "num_threads": 1},
        "output": str(output),
    }


def _label(graph: AtomicGraph) -> float:
    """A structure's identity in a split: its reference energy (eV; distinct for these
    randomly strained and rattled structures)."""
    return round(float(graph.energy[0]), 9)


@dataclass
class SeenByMembers:
    """What each member's training was given and what its optimiser steps saw.

    given: per member, the multiset of training structures handed to ``fit``.
    batches: per member, the multiset of structures in its training batches (all epochs).
    epochs: per member, the epochs it trained.
    """

    given: list[Counter] = field(default_factory=list)
    batches: list[Counter] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)


def fit_committee_recording(config: dict, n_members: int, bootstrap: bool) -> SeenByMembers:
    """``fit_committee``, recording the training data of each member at two levels: the
    data ``fit`` is given, and the structures batched by the trainer's ``collate``."""
    import nnpkit.training.committee as committee_module
    import nnpkit.training.trainer as trainer_module

    seen = SeenByMembers()
    real_fit, real_collate = committee_module.fit, trainer_module.collate

    def fit(member, resume=False, data=None, **kwargs):  # noqa: ANN001, ANN202
        seen.given.append(Counter(_label(graph) for graph in data.train))
        seen.batches.append(Counter())
        result = real_fit(member, resume=resume, data=data, **kwargs)
        seen.epochs.append(result.epochs)
        return result

    def collate(graphs):  # noqa: ANN001, ANN202
        seen.batches[-1].update(_label(graph) for graph in graphs)
        return real_collate(graphs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(committee_module, "fit", fit)
        patch.setattr(trainer_module, "collate", collate)
        fit_committee(load_config(config), n_members, bootstrap=bootstrap)
    return seen


@pytest.fixture(scope="module")
def committee_run(copper_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[Path, SeenByMembers]:
    output = tmp_path_factory.mktemp("committee") / "cu"
    return output, fit_committee_recording(tiny_config(copper_data, output), 3, False)


@pytest.fixture(scope="module")
def committee_dir(committee_run: tuple[Path, SeenByMembers]) -> Path:
    return committee_run[0]


@pytest.fixture(scope="module")
def bootstrap_run(copper_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[Path, SeenByMembers]:
    output = tmp_path_factory.mktemp("bootstrap") / "cu"
    config = tiny_config(copper_data, output)
    config["training"]["max_epochs"] = 4
    return output, fit_committee_recording(config, 3, True)


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


def test_members_without_bootstrap_train_on_the_whole_split(
        committee_run: tuple[Path, SeenByMembers]) -> None:
    _, seen = committee_run
    full = seen.given[0]
    assert sum(full.values()) == len(full) > 30  # the split: distinct structures
    for k in range(3):
        assert seen.given[k] == full
        # every epoch's batches hold each training structure exactly once
        assert seen.batches[k] == Counter({label: seen.epochs[k] for label in full})


def test_bootstrap_members_saw_different_resamples(
        committee_run: tuple[Path, SeenByMembers],
        bootstrap_run: tuple[Path, SeenByMembers]) -> None:
    """Each member trains on n draws with replacement from the n-structure training split
    (the same split as without bootstrap), a different draw per member.

    Band: the fraction of distinct structures in a bootstrap sample is 1 - (1 - 1/n)^n
    = 0.63 on average, with a standard deviation of ~0.045 for n ≈ 43: 0.45–0.82 is
    four standard deviations (the whole split, fraction 1, fails; so does a shuffle)."""
    (_, plain), (path, seen) = committee_run, bootstrap_run
    split = plain.given[0]
    n = sum(split.values())
    for k in range(3):
        resample = seen.given[k]
        assert sum(resample.values()) == n
        assert set(resample) <= set(split)
        assert 0.45 < len(resample) / n < 0.82
        # the optimiser saw that resample, duplicates included, once per epoch
        assert seen.batches[k] == Counter(
            {label: count * seen.epochs[k] for label, count in resample.items()})
    assert seen.given[0] != seen.given[1] and seen.given[1] != seen.given[2] \
        and seen.given[0] != seen.given[2]
    assert json.loads((path / "committee.json").read_text())["bootstrap"] is True


def test_committee_spread_ranks_the_error(bootstrap_run: tuple[Path, SeenByMembers],
                                          copper_data: dict[str, Path]) -> None:
    """Spearman(σ_F, |ΔF|) per atom of the bootstrap committee (3 members, 4 epochs).

    Floors: 0.75 on the mixed set (the test structures and copies rattled 0.2 Å beyond
    the training distribution; measured 0.92) and 0.3 on the test set alone (measured
    0.54). A spread that does not rank the error (per-atom noise, the spread of a single
    repeated member, a standard deviation over atoms instead of members) gives ~0 or
    None."""
    path, _ = bootstrap_run
    mixed = evaluate_file(str(path), str(copper_data["mixed"]))["forces_std_spearman"]
    alone = evaluate_file(str(path), str(copper_data["test"]))["forces_std_spearman"]
    assert mixed is not None and mixed > 0.75
    assert alone is not None and alone > 0.3


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


def test_member_energies_are_each_members_own_energy() -> None:
    """``member_energies`` [M] holds every member's total energy, in member order (an
    in-memory committee of two different small models); their mean is the energy."""
    first, second = build_small_model(["Cu"]), build_small_model(["Cu"])
    torch.manual_seed(11)
    for parameter in second.element_networks.parameters():
        parameter.data += 0.05 * torch.randn_like(parameter)
    atoms = copper_supercell()
    own = [NNPCalculator(copy_module.deepcopy(member), dtype=torch.float64)
           .get_potential_energy(atoms.copy()) for member in (first, second)]
    calculator = CommitteeCalculator(Committee([first, second]), dtype=torch.float64)
    energy = calculator.get_potential_energy(atoms)
    members = calculator.results["member_energies"]
    assert members.shape == (2,)
    np.testing.assert_allclose(members, own, rtol=0, atol=1e-9)
    assert abs(own[0] - own[1]) > 1e-3  # the members differ, so the order is checked
    assert energy == pytest.approx(np.mean(own), abs=1e-9)
    np.testing.assert_array_equal(calculator.get_property("member_energies", atoms), members)


def test_committee_calculator_runs_ase_md(committee_dir: Path) -> None:
    """NVE with the committee conserves the committee's mean energy: its forces are the
    gradient of that mean. Measured 7.5e-6 eV/atom over 20 steps of 1 fs; bound 1e-4.
    Forces of one member with the mean energy would miss by ~1e-2 eV/atom (the members'
    forces differ by ~0.3 eV/Å, the atoms move ~0.05 Å)."""
    atoms = copper_supercell()
    atoms.calc = load_calculator(committee_dir)
    dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    total: list[float] = []
    dynamics.attach(lambda: total.append(atoms.get_total_energy()), interval=1)
    dynamics.run(20)
    assert len(total) == 21
    assert np.abs(np.asarray(total) - total[0]).max() / len(atoms) < 1e-4
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
    assert metrics["n_structures"] == 12
    # the same statistic from the member calculators, computed here independently
    structures = read(copper_data["test"], index=":")
    members = [NNPCalculator(load_model(committee_dir / f"member_{k}"), dtype=torch.float64)
               for k in range(3)]
    forces = np.stack([np.concatenate([member.get_forces(atoms.copy()) for atoms in structures])
                       for member in members])  # [3, N, 3]
    reference = np.concatenate([atoms.get_forces() for atoms in structures])  # [N, 3]
    spread = np.linalg.norm(forces.std(axis=0), axis=1)
    error = np.linalg.norm(forces.mean(axis=0) - reference, axis=1)
    assert metrics["forces_std_spearman"] == pytest.approx(
        spearmanr(spread, error).statistic, abs=1e-6)
    # floor: 3 members after 2 epochs rank their own error (measured 0.53); see
    # test_committee_spread_ranks_the_error for the bootstrap committee
    assert metrics["forces_std_spearman"] > 0.3
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


def test_batched_md_of_a_committee_compiled_equals_autograd() -> None:
    # 50 Langevin steps of three replicas of different sizes (float64, same seed): the
    # compiled committee path and autograd give the same trajectory (positions to 1e-8 Å)
    # and the same committee spread at every guard check (1e-10 eV/Å)
    from ase.build import molecule

    from nnpkit.md import run_batched_md
    from nnpkit.models.committee_fast import FastCommittee

    committee = perturbed_committee(["H", "C", "O"])
    structures = [molecule("CH3CH2OH"), molecule("H2O"), molecule("CH3OH")]
    for seed, atoms in enumerate(structures):
        atoms.rattle(0.05, seed=seed)
    runs = [run_batched_md(committee, structures, ensemble="nvt", temperature_K=500.0,
                           steps=50, log_interval=10, max_force_std=1e6,
                           uncertainty_action="flag", dtype=torch.float64, seed=2,
                           fast_path=fast_path, progress=False)
            for fast_path in (True, False)]
    fast, slow = runs
    for got, expected, start in zip(fast.atoms, slow.atoms, structures, strict=True):
        np.testing.assert_allclose(got.positions, expected.positions, rtol=0, atol=1e-8)
        assert np.abs(got.positions - start.positions).max() > 0.01  # the atoms moved
    np.testing.assert_allclose(fast.log["potential_energy_eV"], slow.log["potential_energy_eV"],
                               rtol=0, atol=1e-8)
    # the guard checks with every log line: steps 0, 10, ..., 50
    assert len(fast.uncertainty["history"]) == len(slow.uncertainty["history"]) == 6
    for (step, got_std), (_, expected_std) in zip(fast.uncertainty["history"],
                                                  slow.uncertainty["history"], strict=True):
        np.testing.assert_allclose(got_std, expected_std, rtol=0, atol=1e-10,
                                   err_msg=f"step {step}")
    assert CommitteeCalculator(committee).fast_path is not None
    assert isinstance(CommitteeCalculator(committee).fast_path, FastCommittee)
