"""Tests for nnpkit.data.io: extxyz and ASE database round trips, label lookup, errors."""

from __future__ import annotations

import os

import ase.db
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

import nnpkit.data.io as data_io
from nnpkit.data import LabelKeys, read_structures, write_database, write_structures
from nnpkit.errors import DataError

QUANTITIES = ("energy", "forces", "stress")


def _cu_with_emt() -> Atoms:
    atoms = bulk("Cu", cubic=True)
    atoms.rattle(0.05, seed=1)
    atoms.calc = EMT()
    atoms.get_potential_energy()
    atoms.get_forces()
    atoms.get_stress()
    return atoms


def _water(energy: float = -14.2) -> Atoms:
    atoms = molecule("H2O")
    forces = np.arange(9, dtype=float).reshape(3, 3) / 10
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


def _water_custom_keys() -> Atoms:
    atoms = molecule("H2O")
    atoms.info["REF_energy"] = -3.5
    atoms.arrays["REF_forces"] = np.full((3, 3), 0.25)
    return atoms


def _assert_same_labels(read: Atoms, original: Atoms) -> None:
    assert np.array_equal(read.numbers, original.numbers)
    assert np.allclose(read.positions, original.positions)
    assert np.allclose(read.cell, original.cell)
    assert np.array_equal(read.pbc, original.pbc)
    assert read.get_potential_energy() == pytest.approx(original.calc.results["energy"])
    assert np.allclose(read.get_forces(), original.calc.results["forces"])


def test_extxyz_round_trip_standard_keys(tmp_path):
    structures = [_cu_with_emt(), _water()]
    path = tmp_path / "train.extxyz"
    write_structures(path, structures)
    read = read_structures(path)
    assert len(read) == 2
    for new, old in zip(read, structures, strict=True):
        _assert_same_labels(new, old)
        assert isinstance(new.calc, SinglePointCalculator)
    assert np.allclose(read[0].get_stress(), structures[0].get_stress())
    assert "stress" not in read[1].calc.results
    assert [a.info["nnpkit_source_index"] for a in read] == [0, 1]


def test_read_returns_new_atoms_and_write_leaves_input_alone(tmp_path):
    original = _cu_with_emt()
    calc = original.calc
    positions = original.positions.copy()
    write_structures(tmp_path / "a.extxyz", [original])
    assert original.calc is calc and np.array_equal(original.positions, positions)
    assert original.info == {}


def test_extxyz_custom_keys(tmp_path):
    path = tmp_path / "ref.extxyz"
    write_structures(path, [_water_custom_keys(), _water_custom_keys()])
    keys = LabelKeys(energy="REF_energy", forces="REF_forces")
    read = read_structures(path, keys=keys)
    assert len(read) == 2
    assert read[1].get_potential_energy() == pytest.approx(-3.5)
    assert np.allclose(read[1].get_forces(), 0.25)
    # Without the custom keys the labels are not found.
    with pytest.raises(DataError, match="structure 0 has no 'energy' label"):
        read_structures(path)


def test_custom_keys_take_precedence_over_standard_labels(tmp_path):
    atoms = _water(energy=-1.0)
    atoms.info["REF_energy"] = -2.0
    atoms.arrays["REF_forces"] = np.zeros((3, 3))
    write_structures(tmp_path / "both.extxyz", [atoms])
    keys = LabelKeys(energy="REF_energy", forces="REF_forces")
    (read,) = read_structures(tmp_path / "both.extxyz", keys=keys)
    assert read.get_potential_energy() == pytest.approx(-2.0)
    assert np.allclose(read.get_forces(), 0.0)


def test_index_selects_and_keeps_source_index(tmp_path):
    structures = [_water(energy=-float(k)) for k in range(5)]
    write_structures(tmp_path / "w.extxyz", structures)
    read = read_structures(tmp_path / "w.extxyz", index="1:5:2")
    assert [a.info["nnpkit_source_index"] for a in read] == [1, 3]
    assert [a.get_potential_energy() for a in read] == pytest.approx([-1.0, -3.0])
    (last,) = read_structures(tmp_path / "w.extxyz", index="-1")
    assert last.info["nnpkit_source_index"] == 4


@pytest.mark.parametrize("shape", ["voigt", "3x3"])
def test_periodic_stress_round_trip(tmp_path, shape):
    voigt = np.array([0.01, 0.02, 0.03, 0.004, 0.005, 0.006])
    xx, yy, zz, yz, xz, xy = voigt
    full = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    atoms = bulk("Cu", cubic=True)
    atoms.info["REF_energy"] = -1.0
    atoms.arrays["REF_forces"] = np.zeros((4, 3))
    atoms.info["REF_stress"] = voigt if shape == "voigt" else full
    write_structures(tmp_path / "s.extxyz", [atoms])
    keys = LabelKeys(energy="REF_energy", forces="REF_forces", stress="REF_stress")
    (read,) = read_structures(tmp_path / "s.extxyz", keys=keys, require=QUANTITIES)
    assert np.allclose(read.get_stress(), voigt)
    # The 3x3 input also round-trips through a SinglePointCalculator with standard keys.
    atoms2 = bulk("Cu", cubic=True)
    atoms2.calc = SinglePointCalculator(
        atoms2, energy=-1.0, forces=np.zeros((4, 3)), stress=voigt if shape == "voigt" else full
    )
    write_structures(tmp_path / "s2.extxyz", [atoms2])
    (read2,) = read_structures(tmp_path / "s2.extxyz", require=QUANTITIES)
    assert np.allclose(read2.get_stress(), voigt)


def test_stress_ignored_for_non_periodic(tmp_path):
    atoms = _water_custom_keys()
    atoms.info["REF_stress"] = np.ones(6)
    write_structures(tmp_path / "m.extxyz", [atoms])
    keys = LabelKeys(energy="REF_energy", forces="REF_forces", stress="REF_stress")
    (read,) = read_structures(tmp_path / "m.extxyz", keys=keys)
    assert "stress" not in read.calc.results
    with pytest.raises(DataError, match="structure 0 has no 'REF_stress' label"):
        read_structures(tmp_path / "m.extxyz", keys=keys, require=QUANTITIES)


@pytest.mark.parametrize("how", ["url", "path", "json"])
def test_database_round_trip(tmp_path, how):
    structures = [_cu_with_emt(), _water()]
    if how == "url":
        target = f"sqlite:///{tmp_path}/x.db"
        on_disk = tmp_path / "x.db"
    else:
        target = str(tmp_path / ("x.db" if how == "path" else "x.json"))
        on_disk = target
    ids = write_database(target, structures, dataset="unit")
    assert len(ids) == 2
    assert os.path.exists(on_disk)
    read = read_structures(target, require=QUANTITIES[:2])
    assert len(read) == 2
    for new, old in zip(read, structures, strict=True):
        _assert_same_labels(new, old)
    assert np.allclose(read[0].get_stress(), structures[0].get_stress())
    # Appending adds rows.
    write_database(target, [_water()])
    assert len(read_structures(target)) == 3


def test_database_custom_keys(tmp_path):
    target = tmp_path / "ref.db"
    write_database(target, [_water_custom_keys()])
    keys = LabelKeys(energy="REF_energy", forces="REF_forces")
    (read,) = read_structures(target, keys=keys)
    assert read.get_potential_energy() == pytest.approx(-3.5)
    assert np.allclose(read.get_forces(), 0.25)


def test_missing_file_names_path(tmp_path):
    for name in ("nope.extxyz", "nope.db", "nope.json"):
        with pytest.raises(DataError, match="nope") as info:
            read_structures(tmp_path / name)
        assert str(tmp_path / name) in str(info.value)
    with pytest.raises(DataError, match="no such file"):
        read_structures(f"sqlite:///{tmp_path}/nope.db")
    assert not (tmp_path / "nope.db").exists()  # reading never creates a database


def test_corrupt_files_name_path_and_parser_error(tmp_path):
    bad = tmp_path / "bad.extxyz"
    bad.write_text("3\nProperties=species:S:1:pos:R:3\nH 0 0\n")
    with pytest.raises(DataError, match="cannot read structures") as info:
        read_structures(bad)
    assert str(bad) in str(info.value)
    bad_db = tmp_path / "bad.db"
    bad_db.write_bytes(b"this is not sqlite" * 10)
    with pytest.raises(DataError, match="cannot read structures") as info:
        read_structures(bad_db)
    assert str(bad_db) in str(info.value)


def test_missing_required_label_names_file_index_key(tmp_path):
    structures = [_water(), _water(), molecule("H2O")]
    structures[2].calc = SinglePointCalculator(structures[2], energy=1.0)
    path = tmp_path / "train.extxyz"
    write_structures(path, structures)
    with pytest.raises(DataError) as info:
        read_structures(path)
    message = str(info.value)
    assert str(path) in message
    assert "structure 2 has no 'forces' label" in message
    assert "atoms.arrays['forces']" in message
    # Not required: read without forces.
    read = read_structures(path, require=("energy",))
    assert "forces" not in read[2].calc.results


def test_forces_with_wrong_shape(tmp_path):
    keys = LabelKeys(energy="REF_energy", forces="REF_forces")
    atoms = molecule("H2O")
    atoms.info["REF_energy"] = 0.0
    atoms.arrays["REF_forces"] = np.zeros((3, 2))  # two components instead of three
    path = tmp_path / "shape.extxyz"
    write_structures(path, [_water_custom_keys(), atoms])
    with pytest.raises(DataError) as info:
        read_structures(path, keys=keys)
    message = str(info.value)
    assert str(path) in message
    assert "structure 1" in message and "'REF_forces'" in message and "(3, 2)" in message

    db_path = tmp_path / "shape.db"
    with ase.db.connect(str(db_path)) as connection:
        connection.write(molecule("H2O"), data={"REF_forces": np.zeros((2, 3))}, REF_energy=0.0)
    with pytest.raises(DataError) as info:
        read_structures(db_path, keys=keys)
    message = str(info.value)
    assert "structure 0" in message and "'REF_forces'" in message and "(2, 3)" in message


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out.extxyz"
    write_structures(path, [_water()])
    write_structures(path, [_water(), _water()])
    assert sorted(os.listdir(tmp_path)) == ["out.extxyz"]
    assert len(read_structures(path)) == 2


def test_atomic_write_failure_keeps_existing_file(tmp_path, monkeypatch):
    path = tmp_path / "out.extxyz"
    write_structures(path, [_water()])
    before = path.read_bytes()

    def broken_write(target, images, format):
        with open(target, "w") as handle:
            handle.write("partial garbage")
        raise RuntimeError("disk full")

    monkeypatch.setattr(data_io.ase.io, "write", broken_write)
    with pytest.raises(RuntimeError, match="disk full"):
        write_structures(path, [_water(), _water()])
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.extxyz"]


def test_a_write_killed_midway_leaves_only_its_temporary_which_cleanup_removes(tmp_path):
    """SIGKILL inside atomic_write: the target keeps its old bytes, the temporary file is
    left (nothing can remove it), and remove_stale_temporaries removes just that."""
    import subprocess
    import sys

    from nnpkit.file_writes import remove_stale_temporaries

    target = tmp_path / "model.nnp"
    target.write_bytes(b"old")
    (tmp_path / ".keep").write_text("not a temporary")
    code = ("import os, signal, sys\n"
            "from nnpkit.file_writes import atomic_write\n"
            "def write(tmp):\n"
            "    open(tmp, 'wb').write(b'half')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
            "atomic_write(sys.argv[1], write)\n")
    killed = subprocess.run([sys.executable, "-c", code, str(target)], check=False)
    assert killed.returncode == -9
    assert target.read_bytes() == b"old"
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].name.startswith(".model.nnp.")
    assert remove_stale_temporaries(tmp_path) == left
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep", "model.nnp"]


def test_unknown_require_rejected(tmp_path):
    write_structures(tmp_path / "a.extxyz", [_water()])
    with pytest.raises(DataError, match="dipole"):
        read_structures(tmp_path / "a.extxyz", require=("energy", "dipole"))


def test_bad_index_names_source(tmp_path):
    path = tmp_path / "a.extxyz"
    write_structures(path, [_water()])
    with pytest.raises(DataError, match="index '5'") as info:
        read_structures(path, index="5")
    assert str(path) in str(info.value)


def test_descriptive_info_survives_but_labels_do_not_linger(tmp_path):
    atoms = bulk("Cu", cubic=True)
    atoms.info["config_type"] = "bulk_strained"
    atoms.info["REF_energy"] = -3.5
    atoms.arrays["REF_forces"] = np.zeros((len(atoms), 3))
    path = tmp_path / "info.extxyz"
    ase.io.write(path, atoms)
    (read,) = read_structures(path, LabelKeys(energy="REF_energy", forces="REF_forces"))
    assert read.info["config_type"] == "bulk_strained"
    assert "REF_energy" not in read.info
    assert read.get_potential_energy() == -3.5
