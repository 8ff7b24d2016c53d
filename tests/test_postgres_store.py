"""The dataset store on PostgreSQL and SQLite: records, unique hashes, leases, racing writers.

Every test runs on a fresh SQLite file and on a fresh PostgreSQL database (marked
``postgres``; skipped, with the reason, where no server can be had).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk, molecule

from nnpkit.labeling import (
    DatasetStore,
    label_each,
    parse_method,
    rattle_structures,
    structure_hash,
)

PROPERTIES = ("energy", "forces", "stress")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store: an SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "labels.db")
    return str(request.getfixturevalue("postgres_url"))


def _labelled(n: int, seed: int = 0) -> tuple[list, list, list[str]]:
    spec = parse_method("emt")
    structures = rattle_structures(bulk("Cu", cubic=True), n, stdev_A=0.05, strain_max=0.02,
                                   seed=seed)
    outcomes = list(label_each(enumerate(structures), spec, PROPERTIES))
    return structures, outcomes, [structure_hash(a, spec.settings()) for a in structures]


def test_labels_and_provenance_round_trip_exactly(url: str) -> None:
    spec = parse_method("emt")
    structures = [bulk("Cu", cubic=True), molecule("H2O")]
    structures[0].rattle(0.05, seed=1)
    structures[1].info["config_type"] = "water"
    store = DatasetStore(url)
    hashes = store.hashes_of(structures, spec)
    outcomes = list(label_each(enumerate(structures), spec, PROPERTIES))
    assert len(store.add(outcomes, structures, hashes, spec)) == 2
    records = store.structures("emt")
    assert [r.info["nnpkit_hash"] for r in records] == hashes
    assert records[1].info["config_type"] == "water" and records[0].info["code"] == "ase"
    for record, outcome in zip(records, outcomes, strict=True):
        # float64 in both databases (PostgreSQL: DOUBLE PRECISION arrays): bit-exact
        assert record.get_potential_energy() == outcome.atoms.get_potential_energy()
        np.testing.assert_array_equal(record.get_forces(), outcome.atoms.get_forces())
        np.testing.assert_array_equal(record.positions, structures[record.info[
            "source_index"]].positions)
    np.testing.assert_array_equal(records[0].get_stress(), outcomes[0].atoms.get_stress())
    assert "stress" not in records[1].calc.results


def test_a_stored_structure_is_never_stored_again(url: str) -> None:
    structures, outcomes, hashes = _labelled(6)
    spec = parse_method("emt")
    store = DatasetStore(url)
    assert len(store.add(outcomes[:4], structures, hashes, spec)) == 4
    assert store.add(outcomes[:4], structures, hashes, spec) == []  # all there: nothing
    # a chunk mixing stored and new structures, one of them twice: only the new, once
    assert len(store.add(outcomes[2:] + outcomes[5:], structures, hashes, spec)) == 2
    assert store.row_hashes() == hashes and store.n_hashes() == 6
    # a reopened store (a second process) sees the same unique hashes
    assert DatasetStore(url).add(outcomes, structures, hashes, spec) == []


def test_racing_writers_store_each_structure_once(url: str) -> None:
    structures, outcomes, hashes = _labelled(20, seed=2)
    spec = parse_method("emt")
    DatasetStore(url)  # create the tables once, as a farm's client does
    barrier = threading.Barrier(4)

    def writer(order: int) -> list[int]:
        store = DatasetStore(url)  # its own connection
        chunk = outcomes[::-1] if order % 2 else outcomes  # opposite lock orders
        barrier.wait()
        return store.add(chunk, structures, hashes, spec)

    with ThreadPoolExecutor(4) as pool:
        written = [i for ids in pool.map(writer, range(4)) for i in ids]  # re-raises
    store = DatasetStore(url)
    # 4 writers x 20 rows raced; the database let exactly one row per structure through
    assert len(written) == 20 and sorted(store.row_hashes()) == sorted(hashes)


def test_leases_are_exclusive_renewed_released_and_taken_over_when_expired(url: str) -> None:
    structures, outcomes, hashes = _labelled(4, seed=3)
    spec = parse_method("emt")
    store = DatasetStore(url)
    first = store.claim(hashes[:3], "farm-a/0", lease_s=0.5)
    assert first.mine == set(hashes[:3]) and not first.busy and not first.stored
    second = store.claim(hashes[1:], "farm-b/0", lease_s=30.0)
    assert second.mine == {hashes[3]} and second.busy == {h: "farm-a/0" for h in hashes[1:3]}
    assert store.claim_state(hashes) == (set(), set())  # all leased, none stored
    store.add(outcomes[:1], structures, hashes, spec, owner="farm-a/0")  # stored: released
    assert [c[0] for c in store.claims()] == sorted(hashes[1:])
    store.renew("farm-a/0", hashes[1:3], lease_s=0.5)
    time.sleep(0.7)  # farm-a's leases (0.5 s) have expired, farm-b's (30 s) have not
    assert store.claim_state(hashes) == ({hashes[0]}, set(hashes[1:3]))
    taken = store.claim(hashes, "farm-c/0", lease_s=30.0)
    assert taken.mine == set(hashes[1:3]) and taken.stored == {hashes[0]}
    assert taken.busy == {hashes[3]: "farm-b/0"}
    store.release_claims("farm-c/")
    assert [c[:2] for c in store.claims()] == [(hashes[3], "farm-b/0")]
