"""Dipole, polarizability and total charge in extxyz files and ASE databases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from nnpkit.data import read_structures, validate_structures
from nnpkit.data.io import LabelKeys, write_database, write_structures
from nnpkit.errors import DataError


def labelled(seed: int, charge: int | None = None) -> Atoms:
    """Water with energy, forces, a dipole (e·Å) and a polarizability (e·Å²/V)."""
    rng = np.random.default_rng(seed)
    atoms = molecule("H2O")
    atoms.rattle(0.05, seed=seed)
    atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal()),
                                       forces=rng.normal(size=(3, 3)),  # [3, 3]
                                       dipole=rng.normal(size=3))  # [3]
    alpha = rng.normal(size=(3, 3))
    atoms.info["polarizability"] = alpha @ alpha.T  # [3, 3], symmetric
    atoms.info["molecule"] = "H2O"
    if charge is not None:
        atoms.info["charge"] = charge
    return atoms


def assert_same_labels(read: list[Atoms], written: list[Atoms], info: bool = True) -> None:
    assert len(read) == len(written)
    for got, expected in zip(read, written, strict=True):
        np.testing.assert_allclose(got.get_dipole_moment(), expected.get_dipole_moment(),
                                   atol=1e-12)
        assert got.info["polarizability"].shape == (3, 3)
        np.testing.assert_allclose(got.info["polarizability"],
                                   expected.info["polarizability"], atol=1e-12)
        assert got.info.get("charge") == expected.info.get("charge")
        if "charge" in got.info:
            assert isinstance(got.info["charge"], int)
        if info:  # extxyz keeps all info; read_structures gives a database row's charge only
            assert got.info["molecule"] == "H2O"


def test_extxyz_round_trip_keeps_dipole_polarizability_and_charge(tmp_path: Path) -> None:
    written = [labelled(0, charge=-1), labelled(1), labelled(2, charge=2)]
    path = tmp_path / "response.xyz"
    write_structures(path, written)
    assert_same_labels(read_structures(path), written)
    assert "dipole" not in read_structures(path)[0].info  # on the calculator, not in info
    # and once more: what was read writes back the same
    write_structures(tmp_path / "again.xyz", read_structures(path))
    assert_same_labels(read_structures(tmp_path / "again.xyz"), written)


def test_database_round_trip_keeps_dipole_polarizability_and_charge(tmp_path: Path) -> None:
    written = [labelled(3, charge=1), labelled(4)]
    db = tmp_path / "response.db"
    write_database(db, written)
    assert_same_labels(read_structures(db), written, info=False)


def test_dipole_and_polarizability_are_found_in_info_under_custom_keys(tmp_path: Path) -> None:
    atoms = molecule("HF")
    atoms.info.update(REF_energy=-1.0, REF_dipole=[0.0, 0.0, 0.35],
                      REF_alpha=list(np.arange(9.0)))  # 9 values: read as [3, 3]
    atoms.arrays["REF_forces"] = np.zeros((2, 3))
    path = tmp_path / "custom.xyz"
    write_structures(path, [atoms])
    keys = LabelKeys(energy="REF_energy", forces="REF_forces", dipole="REF_dipole",
                     polarizability="REF_alpha")
    (read,) = read_structures(path, keys=keys)
    np.testing.assert_allclose(read.get_dipole_moment(), [0.0, 0.0, 0.35])
    np.testing.assert_allclose(read.info["polarizability"], np.arange(9.0).reshape(3, 3))
    assert "REF_dipole" not in read.info and "REF_alpha" not in read.info


def test_a_per_frame_dipole_key_in_an_extxyz_file_is_read(tmp_path: Path) -> None:
    """ASE's extxyz reader moves ``dipole=...`` into the calculator results."""
    path = tmp_path / "plain.xyz"
    path.write_text('2\nenergy=-1.5 dipole="0.1 0.2 0.3" pbc="F F F"\n'
                    "H 0 0 0\nF 0 0 0.92\n")
    (read,) = read_structures(path, require=("energy",))
    np.testing.assert_allclose(read.get_dipole_moment(), [0.1, 0.2, 0.3])
    assert "polarizability" not in read.info


@pytest.mark.parametrize(("line", "key", "expected"), [
    ('dipole="0.1 0.2"', "dipole", r"dipole must have shape \(3,\), got \(2,\)"),
    ('polarizability="1 2 3 4"', "polarizability",
     r"polarizability must have shape \(3, 3\), got \(4,\)"),
    ("charge=0.5", "charge", r"= 0.5 is not an integer"),
    ("charge=abc", "charge", r"is not a number"),
])
def test_bad_response_labels_name_file_structure_and_key(tmp_path: Path, line: str, key: str,
                                                         expected: str) -> None:
    path = tmp_path / "bad.xyz"
    good = "2\nenergy=-1.0 pbc=\"F F F\"\nH 0 0 0\nF 0 0 0.92\n"
    path.write_text(good + f'2\nenergy=-1.0 {line} pbc="F F F"\nH 0 0 0\nF 0 0 0.92\n')
    with pytest.raises(DataError, match=rf"bad\.xyz: structure 1 (label|key) '{key}'.*"
                                        rf"{expected}"):
        read_structures(path, require=("energy",))


def test_validate_finds_a_non_finite_polarizability_or_dipole() -> None:
    atoms = labelled(5)
    atoms.info["polarizability"][1, 2] = np.nan
    with pytest.raises(DataError, match=r"structure 0: polarizability contains NaN"):
        validate_structures([atoms])
    atoms = labelled(6)
    atoms.calc.results["dipole"][0] = np.inf
    with pytest.raises(DataError, match=r"structure 0: dipole contains NaN"):
        validate_structures([atoms])
    validate_structures([labelled(7, charge=-1)])
