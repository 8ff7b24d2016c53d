"""The labelling farm: Dask workers, idempotent store writes, resume, the ``label`` CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.emt import EMT

from nnpkit.cli.labeling import register
from nnpkit.data import write_structures
from nnpkit.errors import ConfigError
from nnpkit.labeling import DatasetStore, label_to_store, rattle_structures

pytest.importorskip("distributed")


def _copper(n: int, seed: int = 0) -> list:
    return rattle_structures(bulk("Cu", cubic=True), n, stdev_A=0.05, strain_max=0.02,
                             seed=seed)


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    register(commands)
    args = parser.parse_args(argv)
    assert args.handler(args) == 0
    return capsys.readouterr().out


def test_labels_match_emt_and_duplicates_are_counted_and_skipped(tmp_path: Path) -> None:
    structures = _copper(5)
    structures = structures + [structures[1].copy(), structures[3].copy()]
    before = [atoms.positions.copy() for atoms in structures]
    db = tmp_path / "labels.db"
    report = label_to_store(structures, "emt", db, n_workers=2, processes=False,
                            chunk_size=2, progress=False)
    assert (report.n_computed, report.n_duplicates, report.n_existing) == (5, 2, 0)
    assert report.n_failed == 0 and report.n_workers == 2
    for atoms, positions in zip(structures, before, strict=True):  # inputs untouched
        assert atoms.calc is None
        np.testing.assert_array_equal(atoms.positions, positions)
    records = DatasetStore(db).structures()
    assert sorted(r.info["source_index"] for r in records) == [0, 1, 2, 3, 4]
    for record in records:
        fresh = structures[record.info["source_index"]].copy()
        fresh.calc = EMT()
        assert record.get_potential_energy() == pytest.approx(fresh.get_potential_energy(),
                                                              abs=1e-10)
        np.testing.assert_allclose(record.get_stress(), fresh.get_stress(), atol=1e-10)
    again = label_to_store(structures, "emt", db, n_workers=1, processes=False, progress=False)
    assert (again.n_computed, again.n_existing, again.n_workers) == (0, 7, 1)
    assert DatasetStore(db).count() == 5


def test_interrupt_and_rerun_resumes_with_nothing_lost_or_duplicated(tmp_path: Path) -> None:
    structures = _copper(8, seed=1)
    db = tmp_path / "labels.db"
    seen: list[int] = []

    def interrupt_after_three(outcome: object) -> None:
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        label_to_store(structures, "emt", db, n_workers=1, processes=False, chunk_size=1,
                       progress=False, on_record=interrupt_after_three)
    store = DatasetStore(db)
    # The three records seen are stored; the chunk in flight at the interrupt may have
    # been stored too (its worker writes it); no lease is left behind.
    kept = store.count()
    assert kept >= 3 and store.claims() == []
    resumed = label_to_store(structures, "emt", db, n_workers=1, processes=False,
                             progress=False)
    assert (resumed.n_existing, resumed.n_computed) == (kept, 8 - kept)
    hashes = [row for row in store.status_by_hash()]
    assert store.count() == 8 and len(hashes) == 8 == len(set(hashes))


def test_failures_recorded_with_index_and_error_never_dropped(tmp_path: Path) -> None:
    pytest.importorskip("pyscf")
    from ase import Atoms

    hydroxyl = Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.97]])  # odd electrons, spin 0
    db = tmp_path / "dft.db"
    report = label_to_store([molecule("H2"), hydroxyl], "hf/sto-3g", db, n_workers=1,
                            processes=False, progress=False)
    assert report.n_computed == 1 and report.n_failed == 1
    assert report.failures[0]["index"] == 1 and "spin" in report.failures[0]["error"]
    store = DatasetStore(db)
    assert store.failures()[0]["index"] == 1
    assert store.structures()[0].info["basis"] == "sto-3g"
    rerun = label_to_store([molecule("H2"), hydroxyl], "hf/sto-3g", db, n_workers=1,
                           processes=False, progress=False)
    assert rerun.n_existing == 2 and rerun.n_failed == 0  # not recomputed


@pytest.mark.slow
def test_gfn2_on_worker_processes(tmp_path: Path) -> None:
    pytest.importorskip("tblite")
    from nnpkit.labeling import make_reference_calculator

    structures = rattle_structures(molecule("CH3CH2OH"), 4, stdev_A=0.05, seed=2)
    report = label_to_store(structures, "gfn2", tmp_path / "x.db", n_workers=2,
                            processes=True, progress=False)
    assert report.n_computed == 4
    record = DatasetStore(tmp_path / "x.db").structures()[0]
    fresh = structures[record.info["source_index"]].copy()
    fresh.calc = make_reference_calculator("gfn2")
    assert record.get_potential_energy() == pytest.approx(fresh.get_potential_energy(),
                                                          abs=1e-6)
    assert record.info["code"] == "tblite" and record.info["code_version"]


def test_label_cli_on_an_existing_scheduler(tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    from distributed import LocalCluster

    path = tmp_path / "cu.extxyz"
    write_structures(path, _copper(3))
    db = str(tmp_path / "cli.db")
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        out = _run_cli(["label", str(path), "--method", "emt", "--db", db, "--scheduler",
                        cluster.scheduler_address, "--no-progress", "--json"], capsys)
        summary = json.loads(out)
        assert summary["n_computed"] == 3 and summary["db"] == db
        text = _run_cli(["label", str(path), "--method", "emt", "--db", db, "--scheduler",
                         cluster.scheduler_address, "--lease-s", "30", "--no-progress"],
                        capsys)
    assert "0 labelled" in text and "3 already in the store" in text
    with pytest.raises(ConfigError, match="available: gfn2"):
        _run_cli(["label", str(path), "--method", "dft", "--db", db], capsys)
    with pytest.raises(ConfigError, match="not of the form KEY=VALUE"):
        _run_cli(["label", str(path), "--method", "emt", "--db", db, "--option", "x"], capsys)
    with pytest.raises(ConfigError, match="does not take option"):
        _run_cli(["label", str(path), "--method", "emt", "--db", db, "--option",
                  "charge=1"], capsys)
    with pytest.raises(ConfigError, match="n_workers must be >= 1"):
        label_to_store(_copper(1, seed=9), "emt", db, n_workers=0, progress=False)


def test_a_farm_waits_for_structures_leased_elsewhere_and_takes_over_expired_leases(
        tmp_path: Path) -> None:
    import threading

    from nnpkit.labeling import label_each, parse_method

    spec = parse_method("emt")
    structures = _copper(8, seed=4)
    db = tmp_path / "labels.db"
    store = DatasetStore(db)
    hashes = store.hashes_of(structures, spec)
    # another farm: computes 0-2 under a live lease (stored 0.4 s later); farm "dead"
    # leased 3-4 and was killed (its 0.3 s lease lapses without renewal)
    assert store.claim(hashes[:3], "other/0", lease_s=60.0).mine == set(hashes[:3])
    assert store.claim(hashes[3:5], "dead/0", lease_s=0.3).mine == set(hashes[3:5])
    others = list(label_each(enumerate(structures[:3]), spec, ("energy", "forces", "stress")))

    def other_farm_stores() -> None:  # its own store: one DatasetStore per thread
        DatasetStore(db).add(others, structures, hashes, spec, owner="other/0")

    finisher = threading.Timer(0.4, other_farm_stores)
    finisher.start()
    report = label_to_store(structures, spec, db, n_workers=1, processes=False, chunk_size=2,
                            progress=False, lease_s=5.0)
    finisher.join()
    # 0-2 waited for and found stored (not computed); 3-4 taken over; 5-7 computed
    assert (report.n_existing, report.n_computed) == (3, 5)
    assert sorted(store.row_hashes()) == sorted(hashes) and store.claims() == []
