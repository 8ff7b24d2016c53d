"""Per-element reference energies (E0s): fitted, given, or isolated atoms of the method."""

from __future__ import annotations

from pathlib import Path

import pytest
from ase.units import Hartree

from nnpkit.data import write_structures
from nnpkit.errors import ConfigError, DataError
from nnpkit.labeling import copper_emt_dataset, parse_method
from nnpkit.labeling.isolated_atoms import (
    free_atom_method,
    isolated_atom_energies,
    unpaired_electrons,
)
from nnpkit.models.model_file import load_model
from nnpkit.training import fit, load_config

TINY_MODEL = {"kind": "bpnn", "cutoff_A": 4.0, "angular_cutoff_A": 3.0, "n_radial": 6,
              "n_angular_radial": 2, "zetas": [1], "hidden": [16]}


def _config(tmp_path: Path, statistics: dict) -> dict:
    data = tmp_path / "cu.extxyz"
    if not data.is_file():
        write_structures(data, copper_emt_dataset(20, seed=0))
    return {"data": {"train": str(data), "validation_fraction": 0.2, "test_fraction": 0.2},
            "model": TINY_MODEL, "statistics": statistics,
            "training": {"max_epochs": 1, "batch_size": 4, "progress": False,
                         "num_threads": 1, "time_limit_min": None},
            "output": str(tmp_path / "run")}


def test_ground_state_spins_follow_hunds_rule() -> None:
    assert [unpaired_electrons(s) for s in ("H", "C", "N", "O", "Ne", "Cu", "Fe")] == [
        1, 2, 3, 2, 0, 1, 4]


def test_free_atom_replaces_the_molecules_charge_and_spin() -> None:
    xtb = free_atom_method(parse_method("gfn2", charge=-1, multiplicity=1), "O")
    assert xtb.options["charge"] == 0 and xtb.options["multiplicity"] == 3
    dft = free_atom_method(parse_method("hf/sto-3g", charge=1, spin=0), "N")
    assert dft.options["charge"] == 0 and dft.options["spin"] == 3
    assert dft.options["restricted"] is None  # unrestricted for the open shell


def test_hydrogen_atom_hartree_fock_sto3g_matches_the_textbook_value() -> None:
    """UHF/STO-3G hydrogen atom: -0.466582 Hartree (Szabo & Ostlund, the STO-3G 1s
    exponent 1.24); the spin-doublet setting is what makes it computable at all."""
    energies = isolated_atom_energies(parse_method("hf/sto-3g"), ["H"])
    assert energies["H"] / Hartree == pytest.approx(-0.466582, abs=2e-6)


def test_gfn2_oxygen_is_computed_as_a_triplet() -> None:
    """The O atom's E0 is the triplet's energy (the labeller's settings otherwise), not the
    closed-shell singlet's that a plain single-atom call would give (they differ by 49 meV)."""
    from ase import Atoms

    energy = isolated_atom_energies(parse_method("gfn2"), ["O"])["O"]
    energies = {}
    for multiplicity in (1, 3):
        atom = Atoms("O", positions=[(0, 0, 0)])
        atom.calc = parse_method("gfn2", multiplicity=multiplicity).make_calculator()
        energies[multiplicity] = atom.get_potential_energy()
    assert energy == pytest.approx(energies[3], abs=1e-9)
    assert abs(energies[3] - energies[1]) > 0.01


def test_gfn2_hydrogen_atom_matches_xtb() -> None:
    """GFN2-xTB hydrogen atom (doublet): -0.393483 Hartree, as the xtb program prints."""
    energy = isolated_atom_energies(parse_method("gfn2"), ["H"])["H"]
    assert energy / Hartree == pytest.approx(-0.393483, abs=2e-6)


def test_training_with_isolated_atom_references(tmp_path: Path) -> None:
    result = fit(load_config(_config(tmp_path, {"reference_energies": "isolated_atoms",
                                                "reference_method": "emt"})))
    model = load_model(result.model_path)
    expected = isolated_atom_energies(parse_method("emt"), ["Cu"])["Cu"]
    assert float(model.reference_energies[0]) == pytest.approx(expected, abs=1e-12)
    assert model.metadata["statistics"]["reference_source"] == "isolated_atoms:emt"


def test_training_with_given_references(tmp_path: Path) -> None:
    result = fit(load_config(_config(tmp_path, {"reference_energies": {"Cu": -1.25}})))
    model = load_model(result.model_path)
    assert float(model.reference_energies[0]) == -1.25
    assert model.metadata["statistics"]["reference_source"] == "given"


def test_bad_reference_settings_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="statistics.reference_method"):
        load_config(_config(tmp_path, {"reference_energies": "isolated_atoms"}))
    with pytest.raises(ConfigError, match="reference_energies"):
        load_config(_config(tmp_path, {"reference_energies": "mean"}))
    with pytest.raises(DataError, match="Cu"):
        fit(load_config(_config(tmp_path, {"reference_energies": {"Au": -3.0}})))
