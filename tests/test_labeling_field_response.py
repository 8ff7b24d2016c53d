"""Dipoles and polarizabilities from the PySCF labeller, the charge of each structure, and
their way through the farm, the store and an extxyz export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.units import Bohr

from nnpkit.data import read_structures
from nnpkit.errors import ConfigError, LabelingError
from nnpkit.labeling import DatasetStore, label_to_store, parse_method
from nnpkit.labeling.pyscf_calculator import AU_POLARIZABILITY_E_A2_PER_V, PySCFCalculator
from nnpkit.units import E_A2_PER_V_TO_A3

pytest.importorskip("pyscf")

RESPONSE = ("energy", "forces", "dipole", "polarizability")


def water(seed: int = 0) -> Atoms:
    """H2O, rotated and moved off the origin so that no tensor component is zero."""
    atoms = molecule("H2O")
    atoms.rotate(37.0, (1.0, 2.0, 0.5), center="COM")
    atoms.translate((0.3, -0.2, 0.4))
    atoms.rattle(0.02, seed=seed)
    return atoms


def hydroxide(shift_A: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Atoms:
    atoms = Atoms("OH", positions=[(0.1, 0.2, 0.3), (0.1, 0.2, 1.27)], info={"charge": -1})
    atoms.translate(shift_A)
    return atoms


def response(atoms: Atoms, **options: object) -> dict[str, np.ndarray]:
    calc = PySCFCalculator(field_response=True, **{"conv_tol": 1e-11, **options})
    work = atoms.copy()
    work.calc = calc
    work.get_potential_energy()
    return dict(calc.results)


def test_dipole_is_pyscfs_dip_moment_in_e_angstrom() -> None:
    from pyscf import gto, scf

    atoms = water()
    results = response(atoms, functional="hf", basis="6-31g")
    mol = gto.M(atom=[(s, tuple(p)) for s, p in zip(atoms.get_chemical_symbols(),
                                                    atoms.positions, strict=True)],
                basis="6-31g", unit="Angstrom", verbose=0)
    mf = scf.RHF(mol)
    mf.conv_tol = 1e-11
    mf.kernel()
    expected = mf.dip_moment(unit="au", verbose=0) * Bohr  # e·Å
    assert results["dipole"].shape == (3,)
    np.testing.assert_allclose(results["dipole"], expected, atol=1e-6)
    assert 0.3 < np.linalg.norm(results["dipole"]) < 0.8  # ~2.5 D for HF/6-31G water


def test_a_charged_molecule_dipole_moves_with_the_origin_by_charge_times_shift() -> None:
    """OH⁻ (info["charge"] = -1): μ is about (0, 0, 0), so translating by t adds Q·t."""
    shift_A = np.array([1.5, -0.7, 2.0])
    before = response(hydroxide(), functional="hf", basis="sto-3g")
    after = response(hydroxide(tuple(shift_A)), functional="hf", basis="sto-3g")
    np.testing.assert_allclose(after["dipole"] - before["dipole"], -1.0 * shift_A, atol=1e-5)
    # the polarizability of any molecule does not depend on the origin
    np.testing.assert_allclose(after["polarizability"], before["polarizability"], atol=1e-6)


def test_finite_field_polarizability_matches_analytic_cpks_and_is_symmetric() -> None:
    """Central differences with h = 1e-3 a.u. against pyscf-properties' coupled-perturbed
    SCF: measured differences 2e-5 a.u. (HF) and 6e-5 a.u. (PBE, grid noise) on α ≈ 1-10
    a.u.; tolerance 3e-4 a.u. (all nine components, off-diagonal ones included, since the
    molecule is rotated)."""
    pytest.importorskip("pyscf.prop")
    atoms = water(seed=1)
    for functional in ("hf", "pbe"):
        finite = response(atoms, functional=functional, basis="6-31g")["polarizability"]
        analytic = response(atoms, functional=functional, basis="6-31g",
                            polarizability_method="analytic")["polarizability"]
        au = AU_POLARIZABILITY_E_A2_PER_V
        assert finite.shape == (3, 3)
        assert np.abs(analytic - analytic.T).max() < 1e-8 * au  # CPKS is symmetric itself
        np.testing.assert_allclose(finite / au, analytic / au, atol=3e-4)
        assert np.abs(finite - finite.T).max() == 0.0
        eigenvalues = np.linalg.eigvalsh(finite) * E_A2_PER_V_TO_A3  # Å³
        assert np.all((eigenvalues > 0.1) & (eigenvalues < 1.5))  # water: ~0.2-1.0 Å³


def test_polarizability_rotates_as_a_tensor() -> None:
    atoms = water(seed=2)
    rotated = atoms.copy()
    rotated.rotate(71.0, (0.3, -1.0, 0.8), center=(0.0, 0.0, 0.0))
    angle = np.deg2rad(71.0)
    axis = np.array([0.3, -1.0, 0.8]) / np.linalg.norm([0.3, -1.0, 0.8])
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross
    np.testing.assert_allclose(rotated.positions, atoms.positions @ rotation.T, atol=1e-10)
    alpha = response(atoms, functional="hf", basis="6-31g")
    alpha_rotated = response(rotated, functional="hf", basis="6-31g")
    np.testing.assert_allclose(alpha_rotated["dipole"], rotation @ alpha["dipole"], atol=1e-6)
    np.testing.assert_allclose(alpha_rotated["polarizability"],
                               rotation @ alpha["polarizability"] @ rotation.T, atol=2e-6)


def test_energy_in_a_field_is_second_order_in_dipole_and_polarizability() -> None:
    """E(F) = E0 − μ·F − ½ Fᵀα F + O(F³); |F| = 0.3 V/Å (5.8e-3 a.u.): the remainder
    (β F³/6) is measured at 0.8 % of the α term (tolerance 2 %), and the dipole in the
    field is μ + αF to 1.1 % of αF (tolerance 5 %)."""
    atoms = water(seed=3)
    calc = PySCFCalculator(functional="hf", basis="6-31g", field_response=True,
                           conv_tol=1e-11)
    results = response(atoms, functional="hf", basis="6-31g")
    field_V_per_A = 0.3 * np.array([0.6, -0.48, 0.64])  # [3]
    energy_eV, dipole_eA = calc.energy_in_field(atoms, field_V_per_A)
    first = -results["dipole"] @ field_V_per_A
    second = -0.5 * field_V_per_A @ results["polarizability"] @ field_V_per_A
    remainder = energy_eV - (results["energy"] + first + second)
    assert abs(second) > 1e-3  # eV: the test resolves it
    assert abs(remainder) < 0.02 * abs(second)
    # the dipole in the field is μ + α F to first order
    induced = results["polarizability"] @ field_V_per_A  # [3], e·Å
    assert np.abs(dipole_eA - results["dipole"] - induced).max() < 0.05 * np.linalg.norm(induced)


def test_an_unconverged_scf_with_field_response_raises_labeling_error() -> None:
    with pytest.raises(LabelingError, match="did not converge"):
        response(water(), functional="pbe", basis="6-31g", max_cycle=2)


def test_method_options_validate_and_enter_the_settings() -> None:
    spec = parse_method("pbe/aug-cc-pvdz", field_response=True, density_fit=True)
    assert spec.settings()["options"] == {"density_fit": True, "field_response": True}
    calc = spec.make_calculator()
    assert {"dipole", "polarizability"} <= set(calc.implemented_properties)
    assert "dipole" not in parse_method("pbe/sto-3g").make_calculator().implemented_properties
    with pytest.raises(ConfigError, match="field_step_au"):
        parse_method("hf/sto-3g", field_response=True, field_step_au=0.0)
    with pytest.raises(ConfigError, match="polarizability_method"):
        parse_method("hf/sto-3g", field_response=True, polarizability_method="cphf")
    with pytest.raises(ConfigError, match="not an integer"):
        parse_method("hf/sto-3g", charge=0.5)


def test_the_charge_comes_from_info_and_must_agree_with_the_option() -> None:
    anion = response(hydroxide(), functional="hf", basis="sto-3g")
    radical = hydroxide()
    radical.info["charge"] = 0
    neutral = response(radical, functional="hf", basis="sto-3g", spin=1)
    assert anion["energy"] != pytest.approx(neutral["energy"], abs=0.1)
    with pytest.raises(ConfigError, match="disagree"):
        response(hydroxide(), functional="hf", basis="sto-3g", charge=0)
    half = hydroxide()
    half.info["charge"] = -0.5
    with pytest.raises(ConfigError, match="not an integer"):
        response(half, functional="hf", basis="sto-3g")
    assert parse_method("gfn2").charge_of(Atoms("H2")) == 0
    with pytest.raises(ConfigError, match="options only"):
        parse_method("emt").charge_of(Atoms("Cu", info={"charge": 1}))


def test_farm_refuses_a_non_integer_charge_naming_the_structure(tmp_path: Path) -> None:
    structures = [water(), hydroxide()]
    structures[1].info["charge"] = -1.5
    with pytest.raises(ConfigError, match="structure 1: .*not an integer"):
        label_to_store(structures, "hf/sto-3g", tmp_path / "labels.db", n_workers=1,
                       processes=False, progress=False)


def test_farm_store_export_read_round_trip_keeps_dipole_polarizability_and_charge(
        tmp_path: Path) -> None:
    spec = parse_method("hf/sto-3g", field_response=True, conv_tol=1e-11)
    structures = [water(), hydroxide()]
    structures[0].info["name"] = "H2O"
    structures[1].info["name"] = "OH-"
    db = tmp_path / "labels.db"
    report = label_to_store(structures, spec, db, properties=RESPONSE, n_workers=1,
                            processes=False, progress=False)
    assert report.n_computed == 2 and not report.failures
    path = tmp_path / "labels.xyz"
    assert DatasetStore(db).export(path) == 2
    read = {atoms.info["name"]: atoms for atoms in read_structures(path)}
    for atoms in structures:
        expected = response(atoms, functional="hf", basis="sto-3g")
        got = read[atoms.info["name"]]
        np.testing.assert_allclose(got.get_dipole_moment(), expected["dipole"], atol=1e-7)
        np.testing.assert_allclose(got.info["polarizability"], expected["polarizability"],
                                   atol=1e-7)
        assert got.info["polarizability"].shape == (3, 3)
        np.testing.assert_allclose(got.get_potential_energy(), expected["energy"], atol=1e-6)
    assert read["OH-"].info["charge"] == -1 and isinstance(read["OH-"].info["charge"], int)
    assert "charge" not in read["H2O"].info
    # the anion and a neutral OH (same geometry) are different calculations: different hashes
    neutral = hydroxide()
    neutral.info["charge"] = 0
    hashes = DatasetStore(db).hashes_of([hydroxide(), neutral], spec)
    assert hashes[0] != hashes[1]
