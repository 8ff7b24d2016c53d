"""Reference methods behind one interface: method strings, PySCF DFT/HF, any ASE calculator."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.emt import EMT
from ase.units import Hartree

from nnpkit.errors import ConfigError
from nnpkit.labeling import ase_method, label_structures, parse_method

pytest.importorskip("pyscf")


def test_unknown_method_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match=r"b3lyp.*gfn2.*emt.*pbe/def2-svp"):
        parse_method("b3lyp")
    with pytest.raises(ConfigError, match="functional 'magicxc'"):
        parse_method("magicxc/sto-3g")
    with pytest.raises(ConfigError, match="basis set 'no-such-basis'"):
        parse_method("pbe/no-such-basis")
    with pytest.raises(ConfigError, match="bogus"):
        parse_method("pbe/sto-3g", bogus=1)
    with pytest.raises(ConfigError, match="restricted=True needs spin=0"):
        parse_method("pbe/sto-3g", spin=1, restricted=True)
    with pytest.raises(ConfigError, match="disagree"):
        parse_method("pbe/sto-3g", spin=0, multiplicity=3)


def test_method_spec_settings_and_provenance() -> None:
    spec = parse_method("PBE/Def2-SVP", charge=1, multiplicity=2)
    assert spec.name == "pbe/def2-svp" and spec.kind == "dft"
    assert spec.options == {"charge": 1, "spin": 1}
    provenance = spec.provenance()
    assert provenance["code"] == "pyscf" and provenance["basis"] == "def2-svp"
    assert provenance["code_version"].startswith("2.")
    assert parse_method("gfn2-xtb").settings()["method"] == "gfn2"
    assert parse_method("emt").provenance()["code"] == "ase"


def test_hartree_fock_h2_and_h_atom_sto3g_reference_energies() -> None:
    """Szabo & Ostlund: RHF/STO-3G H2 at R = 1.4 bohr is -1.1167 Ha; UHF H atom -0.4666 Ha."""
    h2 = Atoms("H2", positions=[[0, 0, 0], [0, 0, 1.4 * 0.529177210903]])
    h2.calc = parse_method("hf/sto-3g").make_calculator()
    assert h2.get_potential_energy() / Hartree == pytest.approx(-1.1167, abs=2e-4)
    h = Atoms("H", positions=[[0, 0, 0]])
    h.calc = parse_method("hf/sto-3g", spin=1).make_calculator()  # unrestricted (spin != 0)
    assert h.get_potential_energy() / Hartree == pytest.approx(-0.46658, abs=1e-4)


def _finite_difference_forces(atoms: Atoms, delta: float = 1e-3) -> np.ndarray:
    forces = np.zeros((len(atoms), 3))
    for atom in range(len(atoms)):
        for axis in range(3):
            energies = []
            for sign in (1, -1):
                displaced = atoms.copy()
                displaced.positions[atom, axis] += sign * delta
                displaced.calc = atoms.calc
                energies.append(displaced.get_potential_energy())
            forces[atom, axis] = -(energies[0] - energies[1]) / (2 * delta)
    return forces


def test_analytic_forces_match_finite_differences() -> None:
    water = molecule("H2O")
    water.positions[0] += [0.0, 0.05, 0.02]
    water.calc = parse_method("hf/sto-3g", conv_tol=1e-11).make_calculator()
    analytic = water.get_forces()
    np.testing.assert_allclose(analytic, _finite_difference_forces(water), atol=2e-4)
    assert np.abs(analytic.sum(axis=0)).max() < 1e-6  # no net force


def test_charge_and_spin_give_a_physical_ionisation_energy() -> None:
    water = molecule("H2O")
    neutral = water.copy()
    neutral.calc = parse_method("pbe/sto-3g").make_calculator()
    cation = water.copy()
    cation.calc = parse_method("pbe/sto-3g", charge=1, spin=1).make_calculator()  # UKS
    ionisation_eV = cation.get_potential_energy() - neutral.get_potential_energy()
    assert 8.0 < ionisation_eV < 15.0  # water's vertical IE is 12.6 eV


def test_scf_failure_is_retried_with_safer_settings() -> None:
    spec = parse_method("pbe/sto-3g", max_cycle=2)  # cannot converge in 2 cycles
    with pytest.raises(Exception, match="SCF did not converge in 2 cycles"):
        water = molecule("H2O")
        water.calc = spec.make_calculator()
        water.get_potential_energy()
    labelled, failures = label_structures([molecule("H2O")], spec, progress=False)
    assert failures == [] and len(labelled) == 1
    reference = molecule("H2O")
    reference.calc = parse_method("pbe/sto-3g").make_calculator()
    assert labelled[0].get_potential_energy() == pytest.approx(
        reference.get_potential_energy(), abs=1e-5)


def test_pyscf_failure_records_structure_index_and_error() -> None:
    hydroxyl = Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.97]])  # 9 electrons, spin 0
    labelled, failures = label_structures([molecule("H2"), hydroxyl], "pbe/sto-3g",
                                          progress=False)
    assert len(labelled) == 1
    assert failures[0]["index"] == 1
    assert "spin" in failures[0]["error"].lower()


def test_any_ase_calculator_through_ase_method() -> None:
    spec = ase_method(EMT, "my-emt", {"flavour": "asap"})
    assert spec.provenance()["code"].startswith("ase.")
    assert spec.settings()["options"] == {"flavour": "asap"}
    labelled, failures = label_structures([molecule("H2")], spec, progress=False)
    assert failures == [] and labelled[0].get_potential_energy() == pytest.approx(
        _emt_energy(molecule("H2")))
    with pytest.raises(ConfigError, match="callable"):
        ase_method("EMT", "x")  # type: ignore[arg-type]


def _emt_energy(atoms: Atoms) -> float:
    atoms.calc = EMT()
    return float(atoms.get_potential_energy())
