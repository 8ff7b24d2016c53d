"""The active-learning loop: config, selection, the whole loop on EMT copper, resuming."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from nnpkit.active import load_active_config, run_active_learning, select_frames
from nnpkit.active.config import SelectionSettings
from nnpkit.cli.labeling import register
from nnpkit.data import read_structures
from nnpkit.errors import ConfigError, DataError
from nnpkit.labeling import DatasetStore, rattle_structures
from nnpkit.labeling.methods import parse_method
from nnpkit.labeling.store import structure_hash

pytest.importorskip("distributed")

TINY_MODEL = {"kind": "bpnn", "cutoff_A": 4.0, "angular_cutoff_A": 3.0, "n_radial": 4,
              "n_angular_radial": 2, "zetas": [1], "hidden": [8]}


def _config(tmp_path: Path, **changes: object) -> dict:
    structure = tmp_path / "cu.extxyz"
    bulk("Cu", cubic=True).write(structure)
    config = {
        "reference": {"method": "emt"},
        "farm": {"n_workers": 1, "processes": False},
        "initial": {"structure": str(structure), "sampling": "rattle", "n_structures": 8,
                    "rattle_stdev_A": 0.1, "strain_max": 0.02},
        "committee_size": 2, "model": TINY_MODEL, "validation_fraction": 0.25, "n_test": 4,
        "training": {"max_epochs": 2, "time_limit_min": None, "batch_size": 4,
                     "progress": False, "num_threads": 1},
        "exploration": {"temperatures_K": [800.0], "trajectories_per_temperature": 1,
                        "steps": 20, "timestep_fs": 2.0, "interval_steps": 5},
        "selection": {"min_force_std": 1e-4, "max_force_std": 100.0, "max_per_iteration": 3},
        "budget": {"max_labels": 11, "max_iterations": 5},
        "progress": False, "output": str(tmp_path / "run"),
    }
    config.update(changes)
    return config


def test_config_rejects_unknown_keys_and_inconsistent_thresholds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="budget.max_lables: unknown key"):
        load_active_config(_config(tmp_path, budget={"max_lables": 3}))
    with pytest.raises(ConfigError, match="max_force_std must exceed"):
        load_active_config(_config(tmp_path, selection={"min_force_std": 1.0,
                                                        "max_force_std": 0.5}))
    with pytest.raises(ConfigError, match="model"):
        load_active_config(_config(tmp_path, model={"kind": "no-such-model"}))


def _frames(stds: list[float]) -> list:
    frames = rattle_structures(bulk("Cu", cubic=True), len(stds), stdev_A=0.2, seed=5)
    for frame, std in zip(frames, stds, strict=True):
        frame.info["max_force_std"] = std
    return frames


def test_selection_takes_uncertain_frames_only_and_random_ignores_uncertainty() -> None:
    stds = [0.01, 0.5, 0.02, 0.7, 5.0, float("nan"), 0.3, 0.6]
    frames = _frames(stds)
    settings = SelectionSettings(min_force_std=0.1, max_force_std=2.0)
    assert sorted(select_frames(frames, settings, 10)) == [1, 3, 6, 7]
    picks = select_frames(frames, settings, 2)
    assert len(picks) == 2 and set(picks) <= {1, 3, 6, 7}
    no_diversity = settings.model_copy(update={"diversity": False})
    assert select_frames(frames, no_diversity, 2) == [3, 7]  # the two most uncertain
    assert select_frames(_frames([0.01, 0.05]), settings, 5) == []
    random = settings.model_copy(update={"strategy": "random"})
    chosen = select_frames(frames, random, 3, seed=1)
    assert len(chosen) == 3 and not {4, 5} & set(chosen)  # never past max or NaN


def test_loop_runs_to_the_budget_and_writes_the_curve(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    config_path = tmp_path / "learn.yaml"
    config_path.write_text(json.dumps(_config(tmp_path)))  # JSON is YAML
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["learn", str(config_path), "--json"])
    assert args.handler(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["stop_reason"] == "label_budget"
    assert [row["n_labels"] for row in summary["curve"]] == [8, 11]
    run = tmp_path / "run"
    rows = list(csv.DictReader((run / "learning_curve.csv").open()))
    assert [int(row["n_labels"]) for row in rows] == [8, 11]
    assert int(rows[0]["n_selected"]) == 3
    # the CSV and the JSON report the same error of the same committee on the same test set
    assert [float(row["test_forces_mae_meV_per_A"]) for row in rows] == pytest.approx(
        [row["test_forces_mae_meV_per_A"] for row in summary["curve"]], rel=1e-9)
    assert {row["test_set_sha256"] for row in summary["curve"]} == {rows[0]["test_set_sha256"]}
    assert (run / "learning_curve.png").stat().st_size > 1000
    assert (run / "iter_001" / "committee" / "committee.json").is_file()
    store = DatasetStore(run / "labels.db")
    assert store.count() == 11 and store.count("failed") == 0
    stds = [a.info["max_force_std"] for a in store.structures()[8:]]
    assert all(np.isfinite(stds)) and min(stds) >= 1e-4  # labelled frames were uncertain
    # a finished run reruns instantly with the same answer and no new labels
    again = run_active_learning(load_active_config(config_path))
    assert again.stop_reason == "label_budget" and store.count() == 11
    _assert_one_fixed_test_set_never_trained_on(run, rows, store)
    (run / "test_set.extxyz").write_text((run / "test_set.extxyz").read_text()[:-1] + " \n")
    with pytest.raises(DataError, match="changed since this run began"):
        run_active_learning(load_active_config(config_path))


def _assert_one_fixed_test_set_never_trained_on(run: Path, rows: list[dict],
                                                store: DatasetStore) -> None:
    """Every curve point is on test_set.extxyz (same SHA-256), which no iteration's
    training set and no row of the training store contains."""
    import hashlib

    test_path = run / "test_set.extxyz"
    digest = hashlib.sha256(test_path.read_bytes()).hexdigest()
    assert [row["test_set_sha256"] for row in rows] == [digest] * len(rows)
    assert {row["test_set"] for row in rows} == {str(test_path)}
    assert [int(row["n_test"]) for row in rows] == [4] * len(rows)
    state = json.loads((run / "state.json").read_text())
    assert state["test_set"]["sha256"] == digest and state["test_set"]["n_structures"] == 4
    test = {structure_hash(atoms, {}) for atoms in read_structures(test_path)}
    assert len(test) == 4
    for iteration in range(len(rows)):
        folder = run / f"iter_{iteration:03d}"
        trained = {structure_hash(atoms, {}) for atoms in read_structures(folder / "train.extxyz")}
        assert trained and not trained & test, iteration
        for member in (folder / "committee").glob("member_*"):  # members tested on it too
            metrics = json.loads((member / "metrics.json").read_text())
            assert metrics["n_test"] == 4 and metrics["n_train"] + metrics["n_validation"] == len(
                trained)
    in_store = store.status_by_hash()
    spec = parse_method("emt")
    assert not set(store.hashes_of(read_structures(test_path), spec)) & set(in_store)


def test_interrupted_loop_resumes_without_retraining_or_relabelling(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nnpkit.active.loop as loop
    import nnpkit.training.committee as committee

    config = load_active_config(_config(tmp_path))
    real_label = loop.label_to_store
    calls = {"label": 0, "fit": 0}

    def label_then_die(*args: object, **kwargs: object) -> object:
        calls["label"] += 1
        if calls["label"] == 3:  # after the test set and the first set: interrupted
            raise KeyboardInterrupt
        return real_label(*args, **kwargs)

    monkeypatch.setattr(loop, "label_to_store", label_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_active_learning(config)
    frames = tmp_path / "run" / "iter_000" / "frames.extxyz"
    frames_time = frames.stat().st_mtime_ns
    test_set = tmp_path / "run" / "test_set.extxyz"
    test_time = test_set.stat().st_mtime_ns
    monkeypatch.setattr(loop, "label_to_store", real_label)
    real_fit = committee.fit

    def counting_fit(*args: object, **kwargs: object) -> object:
        calls["fit"] += 1
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(committee, "fit", counting_fit)
    result = run_active_learning(config)
    assert result.stop_reason == "label_budget"
    assert calls["fit"] == 2  # only iteration 1's two members; iteration 0 was kept
    assert frames.stat().st_mtime_ns == frames_time  # exploration not redone
    assert test_set.stat().st_mtime_ns == test_time  # the same test set, not redrawn
    assert len({row["test_set_sha256"] for row in result.rows}) == 1
    assert [row["n_labels"] for row in result.rows] == [8, 11]
    assert DatasetStore(tmp_path / "run" / "labels.db").count() == 11


@pytest.mark.parametrize("name", ["ethanol_gfn2.yaml", "copper_emt.yaml"])
def test_example_configs_validate(name: str) -> None:
    path = Path(__file__).resolve().parents[1] / "examples" / "active" / name
    config = load_active_config(path)
    assert config.budget.max_labels >= 60
    assert config.run_config("train.extxyz", "out").model.kind == "bpnn"


@pytest.mark.slow
def test_copper_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    config = load_active_config(root / "examples" / "active" / "copper_emt.yaml",
                                [f"output={tmp_path / 'run'}", "training.time_limit_min=0.05",
                                 "budget.max_labels=30"])
    result = run_active_learning(config)
    assert result.stop_reason in ("label_budget", "no_uncertain_configurations")
    assert result.rows[-1]["n_labels"] >= 20
    assert (tmp_path / "run" / "learning_curve.png").is_file()
