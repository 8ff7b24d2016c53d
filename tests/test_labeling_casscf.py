"""State-averaged CASSCF labels: couplings and gradients against finite differences, the
checks that turn a bad calculation into a recorded failure, and the labels' way through
the farm, the store, an extxyz export and back."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from nnpkit.data import read_structures
from nnpkit.errors import ConfigError, DataError, LabelingError
from nnpkit.labeling import DatasetStore, label_structures, label_to_store, parse_method

pytest.importorskip("pyscf")

from nnpkit.labeling.casscf_calculator import SACASSCFCalculator, state_pairs  # noqa: E402
from nnpkit.labeling.casscf_checks import (  # noqa: E402
    check_orbital_window,
    check_root_overlaps,
    n_spin_adapted_states,
    root_overlaps,
    weyl_csf_count,
)
from nnpkit.labeling.excited_states import n_states_of, state_labels  # noqa: E402


def heh_cation() -> Atoms:
    """HeH⁺, off the axes (no component of a coupling vanishes by symmetry)."""
    return Atoms("HeH", positions=[(0.02, -0.03, 0.0), (0.1, 0.05, 0.85)],
                 info={"charge": 1})


def lithium_hydride(bond_A: float = 1.6) -> Atoms:
    direction = np.array([0.3, -0.2, 0.93]) / np.linalg.norm([0.3, -0.2, 0.93])
    return Atoms("LiH", positions=[(0.1, 0.0, -0.1), (0.1, 0.0, -0.1) + bond_A * direction])


def labels(atoms: Atoms, **options: object) -> dict[str, np.ndarray]:
    calc = SACASSCFCalculator(**options)
    work = atoms.copy()
    work.calc = calc
    work.get_potential_energy()
    return dict(calc.results)


def wavefunction_overlaps(bra: object, ket: object) -> np.ndarray:
    """<ψ_i(bra geometry)|ψ_j(ket geometry)> ([n, n]) of two all-electron-active CASSCFs:
    the CI overlap in the MO overlap C_bra^T S_AO(R_bra, R_ket) C_ket."""
    from pyscf import fci, gto

    assert bra.ncore == 0 and ket.ncore == 0  # type: ignore[attr-defined]
    n = bra.ncas  # type: ignore[attr-defined]
    mo_overlap = (bra.mo_coeff[:, :n].T  # type: ignore[attr-defined]
                  @ gto.intor_cross("int1e_ovlp", bra.mol, ket.mol)  # type: ignore[attr-defined]
                  @ ket.mo_coeff[:, :n])  # type: ignore[attr-defined]
    return np.array([[fci.addons.overlap(x, y, n, bra.nelecas, mo_overlap)  # type: ignore
                      for y in ket.ci] for x in bra.ci])  # type: ignore[attr-defined]


def h3_radical() -> Atoms:
    return Atoms("H3", positions=[(0.0, 0.0, 0.0), (0.05, 0.0, 0.9), (-0.1, 0.8, 0.4)])


@pytest.mark.parametrize("case", ["HeH+ singlets", "H3 doublets"])
def test_nac_matches_finite_differences_of_wavefunction_overlaps(case: str) -> None:
    """d_01 = <ψ0|∂ψ1/∂R> by central differences (h = 1e-3 Å) of <ψ0(R)|ψ1(R±h)>: HeH⁺
    6-31g SA-2-CASSCF(2,3) singlets and H3 6-31g SA-2-CASSCF(3,3) doublets (ROHF orbitals),
    every electron active (the CAS overlap is the whole overlap) and some orbitals outside,
    so the orbital response enters. Displaced states start from the reference orbitals and
    are signed to overlap positively with the reference ones. Measured: 1.3e-5 and 2.3e-5
    (HeH⁺, largest component 1.006/Å), 7.2e-5 and 5.2e-5 (H3, 8.29/Å) of the largest
    component apart (tolerance 1e-3); the opposite sign is 2 apart."""
    atoms, options = (
        (heh_cation(), dict(active_electrons=2, active_orbitals=3)) if case.startswith("HeH")
        else (h3_radical(), dict(active_electrons=3, active_orbitals=3, spin=1)))
    options.update(basis="6-31g", n_states=2, nac_etfs=False, conv_tol=1e-12)
    analytic = labels(atoms, **options)["nacs"][0]  # [n_atoms, 3], 1/Å
    calc = SACASSCFCalculator(**options)
    reference = calc.solve(atoms)
    step_A = 1e-3
    scale = np.abs(analytic).max()
    assert scale > 0.5  # a coupling worth checking
    largest = np.unravel_index(int(np.argmax(np.abs(analytic))), analytic.shape)
    components = (largest, (1, 0))  # the largest and another one
    finite = []
    for atom, axis in components:
        coupling = []
        for sign in (1.0, -1.0):
            displaced = atoms.copy()
            displaced.positions[atom, axis] += sign * step_A
            overlaps = wavefunction_overlaps(
                reference, calc.solve(displaced, mo_guess=reference.mo_coeff))
            overlaps = overlaps * np.sign(np.diag(overlaps))  # align the displaced phases
            coupling.append(overlaps[0, 1])
        finite.append((coupling[0] - coupling[1]) / (2.0 * step_A))
    expected = np.array([analytic[atom, axis] for atom, axis in components])
    assert np.abs(np.array(finite) - expected).max() < 1e-3 * scale
    assert np.abs(np.array(finite) + expected).max() > 1.0 * scale  # the sign is resolved


def test_etf_coupling_is_translation_invariant_and_differs_from_the_full_one() -> None:
    """Without the CSF term the coupling sums to zero over the atoms; the full one does
    not (for HeH⁺ it sums to ~1.1/Å)."""
    options = dict(basis="6-31g", n_states=2, active_electrons=2, active_orbitals=3)
    etf = labels(heh_cation(), **options)["nacs"][0]
    full = labels(heh_cation(), nac_etfs=False, **options)["nacs"][0]
    assert np.abs(etf.sum(axis=0)).max() < 1e-6
    assert np.abs(full.sum(axis=0)).max() > 0.1


def test_each_state_gradient_matches_finite_differences_of_its_energy() -> None:
    """LiH sto-3g SA-2-CASSCF(2,2) (one core orbital): −∂E_k/∂x of the H atom by central
    differences (h = 1e-3 Å) against the analytic forces of both states: measured 6e-7
    eV/Å apart on forces of 0.27 and 0.24 eV/Å (tolerance 1e-5 eV/Å)."""
    atoms = lithium_hydride()
    options = dict(basis="sto-3g", n_states=2, active_electrons=2, active_orbitals=2)
    results = labels(atoms, **options)
    assert results["state_forces"].shape == (2, 2, 3)
    np.testing.assert_array_equal(results["forces"], results["state_forces"][0])
    assert results["energy"] == results["state_energies"][0]
    step_A = 1e-3
    energies = []
    for sign in (1.0, -1.0):
        displaced = atoms.copy()
        displaced.positions[1, 0] += sign * step_A
        energies.append(labels(displaced, **options)["state_energies"])
    finite = -(energies[0] - energies[1]) / (2.0 * step_A)  # [n_states], eV/Å
    assert np.abs(results["state_forces"][:, 1, 0]).min() > 0.1
    np.testing.assert_allclose(finite, results["state_forces"][:, 1, 0], rtol=0, atol=1e-5)


def test_spin_adapted_configuration_counts() -> None:
    assert n_spin_adapted_states(2, 2, 0) == 3 and n_spin_adapted_states(2, 2, 2) == 1
    assert n_spin_adapted_states(4, 4, 0) == 20
    for n_orbitals, n_electrons, spin in ((3, 2, 0), (5, 4, 2), (6, 6, 0), (4, 3, 1)):
        assert n_spin_adapted_states(n_orbitals, n_electrons, spin) == weyl_csf_count(
            n_orbitals, n_electrons, spin)


def test_root_overlap_check_on_crafted_vectors() -> None:
    """A higher root that entered the average shows as a small overlap with the CASCI root
    of the same rank."""
    e = np.eye(4)
    casci = [e[0], e[1], e[2]]
    np.testing.assert_allclose(root_overlaps([e[0], -e[1]], casci), [1.0, 1.0])
    check_root_overlaps(root_overlaps([e[0], -e[1]], casci), 0.9)
    flipped = [e[0], (0.3 * e[1] + np.sqrt(0.91) * e[2])]  # state 1 is mostly root 2
    overlaps = root_overlaps(flipped, casci)
    np.testing.assert_allclose(overlaps, [1.0, 0.3])
    with pytest.raises(LabelingError, match=r"root flipping: state\(s\) \[1\].*0\.3"):
        check_root_overlaps(overlaps, 0.9)


def test_bad_active_spaces_and_state_counts_are_recorded_with_the_index() -> None:
    """H2 has 2 electrons and 2 sto-3g orbitals: CAS(4,3) does not fit; LiH does. Four
    states exceed the 3 singlet configurations of CAS(2,2)."""
    h2 = Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.74)])
    labelled, failures = label_structures(
        [lithium_hydride(), h2], parse_method("sa-casscf/sto-3g", active_electrons=4,
                                              active_orbitals=3), progress=False,
        properties=("energy", "forces", "states"))
    assert len(labelled) == 1 and n_states_of(labelled[0]) == 2
    assert [f["index"] for f in failures] == [1]
    assert "CAS(4, 3)" in failures[0]["error"] and "2 electrons" in failures[0]["error"]
    assert failures[0]["error"].startswith("LabelingError")
    _, failures = label_structures(
        [h2], parse_method("sa-casscf/sto-3g", n_states=4, active_electrons=2,
                           active_orbitals=2), progress=False)
    assert [f["index"] for f in failures] == [0]
    assert "n_states = 4 exceeds the 3 spin-adapted configurations" in failures[0]["error"]


def test_an_active_space_that_splits_a_degenerate_set_is_recorded_with_the_index() -> None:
    """LiH sto-3g: the RHF orbitals 3 and 4 are the Li 2p π pair (0.164 Ha at 1.5 Å).
    CAS(2,3) takes orbitals 1–3, i.e. one member of the pair, chosen by round-off (two runs
    of the old code gave couplings 0.29 and −0.19 /Å for the same x component); CAS(2,4)
    holds the pair and CAS(2,2) none of it."""
    assert labels(lithium_hydride(1.5), basis="sto-3g", active_electrons=2,
                  active_orbitals=2)["state_energies"].shape == (2,)
    labels(lithium_hydride(1.5), basis="sto-3g", n_states=2, active_electrons=2,
           active_orbitals=4)
    labelled, failures = label_structures(
        [lithium_hydride(1.5)], parse_method("sa-casscf/sto-3g", n_states=3,
                                             active_electrons=2, active_orbitals=3),
        progress=False)
    assert labelled == [] and [f["index"] for f in failures] == [0]
    assert re.search(r"LabelingError.*orbitals 1\.\.3\) splits a degenerate set: orbital "
                     r"3 is in it and orbital 4 is not, both at 0\.1637", failures[0]["error"])
    check_orbital_window(np.array([-1.0, -0.5, 0.2, 0.3, 0.3]), 1, 2)  # edge 2 | 3
    with pytest.raises(LabelingError, match="orbital 1 is in it and orbital 0 is not"):
        check_orbital_window(np.array([-0.5, -0.5, 0.2, 0.3]), 1, 2)
    with pytest.raises(LabelingError, match="orbital 2 is in it and orbital 3 is not"):
        check_orbital_window(np.array([-1.0, -0.5, 0.3, 0.3 + 1e-7]), 1, 2)


def test_an_unconverged_casscf_is_recorded_not_raised() -> None:
    spec = parse_method("sa-casscf/sto-3g", active_electrons=2, active_orbitals=2,
                        max_cycle=1)
    with pytest.raises(LabelingError, match="did not converge in 1 macro cycles"):
        labels(lithium_hydride(), **{"basis": "sto-3g", **spec.options})
    labelled, failures = label_structures([lithium_hydride()], spec, progress=False,
                                          retry_factory=partial(spec.make_calculator))
    assert labelled == [] and [f["index"] for f in failures] == [0]
    assert "did not converge" in failures[0]["error"]
    # the safer settings (300 cycles) of the default retry converge it
    labelled, failures = label_structures([lithium_hydride()], spec, progress=False)
    assert len(labelled) == 1 and not failures


def test_avas_must_choose_the_requested_active_space() -> None:
    atoms = lithium_hydride()
    ok = labels(atoms, basis="sto-3g", active_electrons=2, active_orbitals=2,
                active_ao_labels=["Li 2s", "H 1s"])
    plain = labels(atoms, basis="sto-3g", active_electrons=2, active_orbitals=2)
    np.testing.assert_allclose(ok["state_energies"], plain["state_energies"], atol=1e-6)
    with pytest.raises(LabelingError, match=r"AVAS on \['H 1s'\] chose CAS\(2, 1\).*"
                                            r"CAS\(2, 2\) was requested"):
        labels(atoms, basis="sto-3g", active_electrons=2, active_orbitals=2,
               active_ao_labels=["H 1s"])


def test_method_options_are_checked_at_parse_time() -> None:
    spec = parse_method("SA-CASSCF/6-31g*", active_electrons=2, active_orbitals=2,
                        active_ao_labels=("Li 2s", "F 2pz"))
    assert (spec.kind, spec.functional, spec.basis) == ("casscf", "sa-casscf", "6-31g*")
    assert spec.provenance()["code"] == "pyscf"
    assert spec.settings()["options"]["active_ao_labels"] == ["Li 2s", "F 2pz"]
    assert isinstance(spec.make_calculator(safer=True), SACASSCFCalculator)
    assert spec.make_calculator(safer=True).parameters["max_cycle"] == 300
    assert "nacs" in spec.make_calculator().implemented_properties
    assert "nacs" not in parse_method("sa-casscf/sto-3g", active_electrons=2,
                                      active_orbitals=2, nacs=False
                                      ).make_calculator().implemented_properties
    with pytest.raises(ConfigError, match=r"does not take option\(s\) \['n_roots'\]; "
                                          r"known: .*active_ao_labels"):
        parse_method("sa-casscf/sto-3g", active_electrons=2, active_orbitals=2, n_roots=3)
    with pytest.raises(ConfigError, match="needs the option.*active_orbitals"):
        parse_method("sa-casscf/sto-3g", active_electrons=2)
    with pytest.raises(ConfigError, match="n_states must be an integer >= 2"):
        parse_method("sa-casscf/sto-3g", active_electrons=2, active_orbitals=2, n_states=1)
    with pytest.raises(ConfigError, match="basis set"):
        parse_method("sa-casscf/no-such-basis", active_electrons=2, active_orbitals=2)


def test_state_labels_name_the_file_index_and_key() -> None:
    atoms = lithium_hydride()
    with pytest.raises(DataError, match="labels.xyz: structure 3: no 'state_energies'"):
        state_labels(atoms, index=3, source="labels.xyz")
    atoms.info["state_energies"] = np.array([0.0, 1.0, 2.0])
    atoms.arrays["state_forces"] = np.zeros((2, 6))
    with pytest.raises(DataError, match=r"structure 0: key 'state_forces' has shape "
                                        r"\(2, 6\), expected \(2, 9\)"):
        state_labels(atoms, index=0)


def test_farm_store_export_read_round_trip_keeps_the_state_labels(tmp_path: Path) -> None:
    """Three states of HeH⁺ (three pairs of couplings; 6-31g has no π orbitals to split):
    the farm adds ``states`` itself and passes the charge from ``info``."""
    pytest.importorskip("distributed")
    spec = parse_method("sa-casscf/6-31g", n_states=3, active_electrons=2,
                        active_orbitals=3)
    structures = [heh_cation(), heh_cation()]
    structures[1].positions[1] += (0.0, 0.1, 0.4)
    db = tmp_path / "labels.db"
    report = label_to_store(structures, spec, db, properties=("energy", "forces"),
                            n_workers=1, processes=False, progress=False)
    assert report.n_computed == 2 and not report.failures
    path = tmp_path / "labels.xyz"
    assert DatasetStore(db).export(path) == 2
    stored = {int(a.info["source_index"]): a for a in DatasetStore(db).structures()}
    read = read_structures(path)
    assert len(state_pairs(3)) == 3
    for atoms in read:
        index = int(atoms.info["source_index"])
        expected = labels(structures[index], basis="6-31g", n_states=3,
                          active_electrons=2, active_orbitals=3)
        got = state_labels(atoms, index=index, source=str(path))
        in_store = state_labels(stored[index])
        assert got.nacs is not None and in_store.nacs is not None
        assert got.forces.shape == (3, 2, 3) and got.nacs.shape == (3, 2, 3)
        for value, exact in ((in_store.energies, expected["state_energies"]),
                             (in_store.forces, expected["state_forces"]),
                             (in_store.nacs, expected["nacs"])):
            np.testing.assert_allclose(value, exact, rtol=0, atol=1e-9)  # reruns agree
        np.testing.assert_array_equal(got.energies, in_store.energies)  # full precision
        np.testing.assert_allclose(got.forces, in_store.forces, rtol=0, atol=1e-8)  # %.8f
        np.testing.assert_allclose(got.nacs, in_store.nacs, rtol=0, atol=1e-8)
        assert atoms.get_potential_energy() == pytest.approx(got.energies[0], abs=1e-12)
        assert np.abs(got.nacs).max() > 1e-3


def test_lif_avas_gives_the_two_sigma_states_and_their_avoided_crossing() -> None:
    """LiF 6-31g*, SA-2-CASSCF(2,2). At 1.6 Å the HOMO/LUMO space would hold one F 2p π
    orbital of a degenerate pair, which is refused; AVAS on Li 2s / F 2pz keeps the σ: the
    ionic and covalent Σ states, coupled along the bond. Their gap (measured 5.16, 2.43,
    1.55, 1.46, 2.43, 3.36 eV at 1.6, 2.5, 3.0, 3.5, 5.0, 7.0 Å) has its minimum near
    3.5 Å, where the states change character."""
    avas = dict(basis="6-31g*", active_electrons=2, active_orbitals=2,
                active_ao_labels=["Li 2s", "F 2pz"])

    def lif(bond_A: float) -> Atoms:
        return Atoms("LiF", positions=[(0.0, 0.0, 0.0), (0.0, 0.0, bond_A)])

    with pytest.raises(LabelingError, match="orbital 5 is in it and orbital 4 is not"):
        labels(lif(1.6), **{**avas, "active_ao_labels": None})
    sigma = labels(lif(1.6), **avas)
    assert np.abs(sigma["nacs"][0, :, 2]).min() > 0.1
    assert np.abs(sigma["nacs"][0, :, :2]).max() < 1e-6
    calc = SACASSCFCalculator(**avas)
    bonds_A = (1.6, 2.5, 3.0, 3.5, 5.0, 7.0)
    gaps = []
    for bond_A in bonds_A:
        e_states = calc.solve(lif(bond_A)).e_states
        gaps.append(float(e_states[1] - e_states[0]) * 27.211386)
    assert bonds_A[int(np.argmin(gaps))] == 3.5
    assert gaps[0] > 5.0 and min(gaps) < 1.6 and gaps[-1] > 3.0
