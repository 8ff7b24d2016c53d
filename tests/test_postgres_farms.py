"""Concurrent ``nnpkit label`` processes on one store (PostgreSQL, and SQLite alike).

Each farm is a real ``nnpkit label`` process. A ``sitecustomize`` hook, loaded by those
processes only, makes ASE's EMT append one line per calculation (the structure's rounded
positions) to a file, so that the test can count how often each structure was computed,
and sleep a little per call. With a gate folder set, each farm's first calculation waits
until the test opens the gate, which it does once every farm is ready: the farms really
compute side by side, however long each took to start.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from nnpkit.data import read_structures, write_structures
from nnpkit.labeling import DatasetStore, parse_method, rattle_structures

pytest.importorskip("distributed")

N_STRUCTURES = 200
CHUNK = 5
#: Seconds each EMT call sleeps (about 7 ms of computing each): a farm alone takes ~2.5 s.
DELAY_S = 0.005

_HOOK = '''
import os
if os.environ.get("NNPKIT_TEST_COUNT_FILE"):
    import hashlib, time
    import numpy as np
    from ase.calculators.emt import EMT
    _calculate = EMT.calculate
    _gate = os.environ.get("NNPKIT_TEST_GATE")
    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        global _gate
        if _gate:
            open(os.path.join(_gate, f"ready.{os.getpid()}"), "w").close()
            deadline = time.monotonic() + 120
            while not os.path.exists(os.path.join(_gate, "go")):
                assert time.monotonic() < deadline, "the test never opened the gate"
                time.sleep(0.01)
            _gate = None
        _calculate(self, atoms, properties, system_changes or ["positions"])
        time.sleep(float(os.environ["NNPKIT_TEST_DELAY_S"]))
        key = hashlib.sha1(np.round(self.atoms.positions, 6).tobytes()).hexdigest()
        with open(os.environ["NNPKIT_TEST_COUNT_FILE"], "a") as out:
            out.write(f"{os.getpid()} {key}\\n")
    EMT.calculate = calculate
'''


def _key(atoms: Atoms) -> str:
    return hashlib.sha1(np.round(atoms.positions, 6).tobytes()).hexdigest()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store: an SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "labels.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def farm_inputs(tmp_path: Path) -> tuple[Path, list[Atoms]]:
    structures = rattle_structures(bulk("Cu", cubic=True), N_STRUCTURES, stdev_A=0.05,
                                   strain_max=0.02, seed=11)
    path = tmp_path / "cu.extxyz"
    write_structures(path, structures)
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(_HOOK)
    return path, read_structures(path, require=())  # what the farms read


def _start(path: Path, url: str, tmp_path: Path, lease_s: float,
           gate: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NNPKIT_TEST_DELAY_S": str(DELAY_S),
           "NNPKIT_TEST_COUNT_FILE": str(tmp_path / "computed.txt"),
           "NNPKIT_TEST_GATE": str(gate or ""),
           "PYTHONPATH": os.pathsep.join([str(tmp_path / "hook"),
                                          os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "nnpkit.cli.main", "label", str(path), "--method",
               "emt", "--db", url, "--workers", "1", "--threads", "--chunk-size",
               str(CHUNK), "--lease-s", str(lease_s), "--no-progress", "--json"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _report(farm: subprocess.Popen) -> dict:
    out, err = farm.communicate(timeout=240)
    assert farm.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _computed(tmp_path: Path) -> Counter:
    lines = (tmp_path / "computed.txt").read_text().split()
    return Counter(lines[1::2])


def _check_store(url: str, structures: list[Atoms]) -> None:
    store = DatasetStore(url)
    hashes = store.row_hashes()
    assert len(hashes) == N_STRUCTURES == len(set(hashes))  # exactly one row each
    assert set(hashes) == set(store.hashes_of(structures, parse_method("emt")))
    assert store.count() == N_STRUCTURES and store.n_hashes() == N_STRUCTURES
    assert store.claims() == []  # every lease dropped once its structure is stored


def test_two_farms_on_one_store_compute_each_structure_once(
        store_url: str, farm_inputs: tuple[Path, list[Atoms]], tmp_path: Path) -> None:
    path, structures = farm_inputs
    gate = tmp_path / "gate"
    gate.mkdir()
    farms = [_start(path, store_url, tmp_path, 30.0, gate) for _ in range(2)]
    deadline = time.monotonic() + 120
    while len(list(gate.glob("ready.*"))) < 2:  # each farm holds its first chunk's lease
        for farm in farms:
            assert farm.poll() is None, farm.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the farms did not start within 120 s"
        time.sleep(0.02)
    (gate / "go").touch()
    reports = [_report(farm) for farm in farms]
    _check_store(store_url, structures)
    # Together they computed each structure exactly once (counted in the calculator), and
    # each farm accounts for every input: computed by itself or found stored by the other.
    computed = _computed(tmp_path)
    assert set(computed) == {_key(atoms) for atoms in structures}
    assert set(computed.values()) == {1}
    assert sum(r["n_computed"] for r in reports) == N_STRUCTURES
    for report in reports:
        assert report["n_computed"] + report["n_existing"] == N_STRUCTURES
        assert report["n_failed"] == 0 and report["n_duplicates"] == 0
    # each computed at least the chunk it had leased when the gate opened
    assert min(r["n_computed"] for r in reports) >= CHUNK


def test_a_killed_farm_is_completed_by_a_rerun_redoing_only_its_chunk_in_flight(
        store_url: str, farm_inputs: tuple[Path, list[Atoms]], tmp_path: Path) -> None:
    path, structures = farm_inputs
    lease_s = 1.0
    farm = _start(path, store_url, tmp_path, lease_s)
    store = DatasetStore(store_url)
    deadline = time.monotonic() + 120
    while store.n_hashes() < 60 and time.monotonic() < deadline and farm.poll() is None:
        time.sleep(0.05)
    assert farm.poll() is None, farm.communicate()[1][-3000:]  # still running: kill it
    os.killpg(farm.pid, signal.SIGKILL)
    farm.wait(timeout=30)
    stored = set(store.row_hashes())
    # What the killed farm held: leased, not stored (its chunk in flight, at most one
    # chunk for its single worker thread).
    in_flight = {hash_ for hash_, _, _ in store.claims()} - stored
    assert 60 <= len(stored) < N_STRUCTURES, "the kill did not land mid-run"
    assert len(in_flight) <= CHUNK
    report = _report(_start(path, store_url, tmp_path, lease_s))
    _check_store(store_url, structures)
    assert (report["n_existing"], report["n_computed"]) == (len(stored),
                                                            N_STRUCTURES - len(stored))
    # Nothing lost: every structure computed; only the in-flight ones at most twice.
    spec = parse_method("emt")
    by_hash = dict(zip(store.hashes_of(structures, spec), structures, strict=True))
    computed = _computed(tmp_path)
    assert set(computed) == {_key(atoms) for atoms in structures}
    redone = {key for key, n in computed.items() if n > 1}
    assert redone <= {_key(by_hash[hash_]) for hash_ in in_flight}
    assert max(computed.values()) <= 2
