"""The stability dataset: prototypes, relaxation, hull labels against pymatgen, splits."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import CalculationFailed
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition
from pymatgen.io.ase import AseAtomsAdaptor

from nnpkit.apps.stability.dataset import (
    StabilityDataset,
    build_dataset,
    e_above_hull,
    hull_labels,
    label_structures,
)
from nnpkit.apps.stability.prototypes import elemental_references, generate_prototypes
from nnpkit.apps.stability.relaxation import relax
from nnpkit.apps.stability.splits import split_by_group
from nnpkit.errors import DataError

# Hand-checked Cu–Au hull (formation energies, eV/atom). The hull runs through Cu (x_Au=0),
# Cu3Au (0.25, -0.08), CuAu (0.5, -0.1) and Au (1, 0): slopes -0.32, -0.08, +0.2 are
# increasing, so all four are on it. CuAu3 (0.75, -0.02) lies above the segment CuAu–Au,
# which is at -0.05 there: 0.03 eV/atom above the hull. bcc Cu at +0.02 is 0.02 above.
HAND_FORMATION_eV = {"Cu": 0.0, "Au": 0.0, "Cu3Au": -0.08, "CuAu": -0.1, "CuAu3": -0.02}
HAND_E_ABOVE_HULL_eV = {"Cu": 0.0, "Au": 0.0, "Cu3Au": 0.0, "CuAu": 0.0, "CuAu3": 0.03}
REFERENCE_eV = {"Cu": -3.5, "Au": -3.0}  # made-up absolute energies per atom of the elements


def _hand_structures() -> list[Atoms]:
    """fcc cells of the hand-set entries (geometry irrelevant) plus a bcc Cu at +0.02 eV/atom."""
    cells = {
        "Cu": bulk("Cu", "fcc", a=3.6),
        "Au": bulk("Au", "fcc", a=4.08),
        "Cu3Au": bulk("Cu", "fcc", a=3.7, cubic=True),
        "CuAu": bulk("Cu", "fcc", a=3.8, cubic=True),
        "CuAu3": bulk("Au", "fcc", a=3.95, cubic=True),
    }
    cells["Cu3Au"].symbols[0] = "Au"
    cells["CuAu"].symbols[2:] = "Au"
    cells["CuAu3"].symbols[0] = "Cu"
    structures = []
    for name, atoms in cells.items():
        counts = Composition(name)
        per_atom = HAND_FORMATION_eV[name] + sum(
            counts.get_atomic_fraction(el) * REFERENCE_eV[str(el)] for el in counts.elements
        )
        atoms.calc = SinglePointCalculator(atoms, energy=per_atom * len(atoms))
        structures.append(atoms)
    bcc = bulk("Cu", "bcc", a=2.87)
    bcc.calc = SinglePointCalculator(bcc, energy=REFERENCE_eV["Cu"] + 0.02)
    return [*structures, bcc]


def test_hull_labels_match_hand_check_and_pymatgen() -> None:
    names = list(HAND_FORMATION_eV)
    entries = [(name, HAND_FORMATION_eV[name]) for name in names]
    distances, stable = hull_labels(entries, threshold_eV_per_atom=0.0)
    expected = np.array([HAND_E_ABOVE_HULL_eV[name] for name in names])
    np.testing.assert_allclose(distances, expected, atol=1e-9)
    assert stable.tolist() == [True, True, True, True, False]
    # pymatgen directly, on total energies
    pd_entries = [
        PDEntry(Composition(n), HAND_FORMATION_eV[n] * Composition(n).num_atoms) for n in names
    ]
    diagram = PhaseDiagram(pd_entries)
    direct = [diagram.get_e_above_hull(entry) for entry in pd_entries]
    np.testing.assert_allclose(distances, direct, atol=1e-9)
    # a looser threshold makes CuAu3 stable; dict compositions work too
    _, loose = hull_labels([({"Cu": 1, "Au": 3}, -0.02), ("Cu", 0.0), ("Au", 0.0)], 0.05)
    assert loose.all()


def test_label_structures_on_hand_set_energies() -> None:
    structures = _hand_structures()
    energies_before = [a.get_potential_energy() for a in structures]
    labelled, failures = label_structures(structures, threshold_eV_per_atom=0.0)
    assert failures == []
    assert [a.get_potential_energy() for a in structures] == energies_before
    assert "stable" not in structures[0].info  # the caller's Atoms are untouched
    names = [*HAND_FORMATION_eV, "Cu"]
    formation = [a.info["formation_energy_eV_per_atom"] for a in labelled]
    distances = [a.info["e_above_hull_eV_per_atom"] for a in labelled]
    np.testing.assert_allclose(formation, [*HAND_FORMATION_eV.values(), 0.02], atol=1e-9)
    np.testing.assert_allclose(distances, [*HAND_E_ABOVE_HULL_eV.values(), 0.02], atol=1e-9)
    assert [a.info["stable"] for a in labelled] == [True, True, True, True, False, False]
    assert [a.info["is_elemental"] for a in labelled] == [True, True, False, False, False, True]
    assert [a.info["chemical_system"] for a in labelled] == ["Cu", "Au"] + ["Au-Cu"] * 3 + ["Cu"]
    # pymatgen on the raw total energies agrees
    pd_entries = [
        PDEntry(Composition(a.get_chemical_formula()), a.get_potential_energy()) for a in structures
    ]
    diagram = PhaseDiagram(pd_entries)
    direct = [diagram.get_e_above_hull(entry) for entry in pd_entries]
    np.testing.assert_allclose(distances, direct, atol=1e-9)
    assert len(names) == len(labelled)


def test_missing_elemental_reference_is_recorded() -> None:
    structures = [a for a in _hand_structures() if a.get_chemical_formula() != "Au"]
    labelled, failures = label_structures(structures)
    assert len(labelled) == 2  # the two Cu cells
    assert {f["formula"] for f in failures} == {"AuCu3", "AuCu", "Au3Cu"}
    assert all("reference" in f["error"] for f in failures)
    with pytest.raises(DataError, match="no elemental entry"):
        e_above_hull([("CuAu", -0.1), ("Cu", 0.0)])


def _unconverged_set() -> list[Atoms]:
    """Cu, Au, Cu3Au (converged, formation -0.08) plus an unconverged fcc Cu 0.1 eV/atom
    below the converged one and an unconverged CuAu at formation -0.3 (both spurious)."""
    structures = _hand_structures()[:3]
    for atoms in structures:
        atoms.info["relax_converged"] = True
    low_cu = bulk("Cu", "fcc", a=3.5)
    low_cu.calc = SinglePointCalculator(low_cu, energy=REFERENCE_eV["Cu"] - 0.1)
    cu_au = bulk("Cu", "fcc", a=3.8, cubic=True)
    cu_au.symbols[2:] = "Au"
    per_atom = -0.3 + (REFERENCE_eV["Cu"] + REFERENCE_eV["Au"]) / 2
    cu_au.calc = SinglePointCalculator(cu_au, energy=per_atom * len(cu_au))
    for atoms in (low_cu, cu_au):
        atoms.info["relax_converged"] = False
    return [*structures, low_cu, cu_au]


def test_unconverged_relaxations_are_left_off_the_hull_by_default() -> None:
    """Hand-checked (eV/atom): by default the references are the converged Cu (-3.5) and
    Au (-3.0) and the hull is Cu–Cu3Au–Au, so Cu3Au is on it (0) and CuAu, measured
    against it, lies below: -0.3 - (-0.08 + 0.25·0.08/0.75) = -0.24667. The unconverged
    Cu is 0.1 below its reference. Including the unconverged pair makes -3.6 the Cu
    reference (every formation energy rises by 0.1·x_Cu) and the hull Cu–CuAu–Au, which
    leaves Cu3Au 0.12 above it: the spurious structures would relabel a stable phase."""
    labelled, failures = label_structures(_unconverged_set())
    assert failures == []
    names = ["Cu", "Au", "Cu3Au", "Cu (unconverged)", "CuAu (unconverged)"]
    distances = dict(zip(names, (a.info["e_above_hull_eV_per_atom"] for a in labelled),
                         strict=True))
    formation = dict(zip(names, (a.info["formation_energy_eV_per_atom"] for a in labelled),
                         strict=True))
    # tolerance 1e-9: pymatgen's hull is exact arithmetic on these few points
    np.testing.assert_allclose([distances[n] for n in names],
                               [0.0, 0.0, 0.0, -0.1, -0.3 + 0.08 - 0.25 * 0.08 / 0.75],
                               atol=1e-9)
    np.testing.assert_allclose(formation["Cu3Au"], -0.08, atol=1e-9)
    assert [a.info["on_hull"] for a in labelled] == [True, True, True, False, False]
    assert [a.info["relax_converged"] for a in labelled] == [True, True, True, False, False]

    included, _ = label_structures(_unconverged_set(), include_unconverged=True)
    by_name = dict(zip(names, included, strict=True))
    # Cu reference -3.6: Cu3Au formation -0.08 + 0.75·0.1, CuAu -0.3 + 0.5·0.1 = -0.25;
    # the hull at x_Au = 0.25 is then 0.5·(-0.25) = -0.125 (Cu–CuAu segment).
    np.testing.assert_allclose(by_name["Cu3Au"].info["formation_energy_eV_per_atom"],
                               -0.08 + 0.075, atol=1e-9)
    np.testing.assert_allclose(by_name["Cu3Au"].info["e_above_hull_eV_per_atom"],
                               -0.005 + 0.125, atol=1e-9)
    assert not by_name["Cu3Au"].info["stable"] and by_name["CuAu (unconverged)"].info["stable"]
    assert all(a.info["on_hull"] for a in included)


def test_build_dataset_keeps_unconverged_relaxations_off_the_hull() -> None:
    """With 3 optimizer steps some Cu–Au relaxations stop unconverged: they are kept and
    marked, never build the hull, and the summary counts them; the option puts them on."""
    default = build_dataset(("Cu", "Au"), max_species=2, progress=False,
                            n_random_per_system=0, max_steps=3)
    unconverged = [a for a in default.structures if not a.info["relax_converged"]]
    assert unconverged and len(unconverged) < len(default.structures)
    assert all(not a.info["on_hull"] for a in unconverged)
    assert all(a.info["on_hull"] for a in default.structures if a.info["relax_converged"])
    summary = default.to_json_summary()
    assert summary["n_unconverged"] == len(unconverged)
    assert summary["hull_includes_unconverged"] is False
    included = build_dataset(("Cu", "Au"), max_species=2, progress=False,
                             n_random_per_system=0, max_steps=3, include_unconverged=True)
    assert all(a.info["on_hull"] for a in included.structures)
    assert included.to_json_summary()["hull_includes_unconverged"] is True


def test_relax_strained_copper_with_emt() -> None:
    strained = bulk("Cu", "fcc", a=3.59 * 1.04)
    strained.rattle(0.01, seed=1)
    positions = strained.get_positions()
    relaxed, info = relax(strained, EMT)
    assert info["converged"] and "error" not in info and info["steps"] > 0
    a = (4 * relaxed.get_volume() / len(relaxed)) ** (1 / 3)
    assert a == pytest.approx(3.59, rel=5e-3)
    assert np.isfinite(relaxed.get_potential_energy())
    np.testing.assert_array_equal(strained.get_positions(), positions)
    assert strained.calc is None


def test_relax_records_nonfinite_energy() -> None:
    class NaNCalculator(EMT):
        def calculate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().calculate(*args, **kwargs)
            self.results["energy"] = float("nan")

    relaxed, info = relax(bulk("Cu"), NaNCalculator)
    assert "non-finite" in info["error"] and relaxed.calc is None


def test_generate_prototypes_cu_au() -> None:
    structures = generate_prototypes(("Cu", "Au"), max_species=2)
    by_name: dict[tuple[str, str], list[Atoms]] = {}
    for atoms in structures:
        assert atoms.info["chemical_system"] == "Au-Cu"
        assert atoms.info["is_elemental"] is False
        assert atoms.pbc.all() and len(atoms) <= 12
        by_name.setdefault((atoms.info["prototype"], atoms.info["formula"]), []).append(atoms)
    expected = {
        ("L1_2", "AuCu3"), ("L1_2", "Au3Cu"), ("D0_3", "AuCu3"), ("D0_3", "Au3Cu"),
        ("D0_19", "AuCu3"), ("D0_19", "Au3Cu"), ("fcc_A2B_111", "AuCu2"),
        ("fcc_A2B_111", "Au2Cu"), ("L1_0", "AuCu"), ("L1_1", "AuCu"), ("B2", "AuCu"),
        ("B32", "AuCu"), ("hcp_AB_layered", "AuCu"),
    }  # fmt: skip
    for lattice in ("random_fcc", "random_bcc"):
        expected |= {(lattice, f) for f in ("AuCu3", "AuCu", "Au3Cu")}
    assert set(by_name) == expected
    assert all(len(v) == 2 for k, v in by_name.items() if k[0].startswith("random"))
    (l12,) = by_name[("L1_2", "AuCu3")]
    assert len(l12) == 4 and l12.get_chemical_symbols().count("Cu") == 3
    assert l12.cell.cellpar()[:3] == pytest.approx([0.75 * 3.61 + 0.25 * 4.08] * 3)
    # random cells are distinct and never a copy of an ordered prototype
    matcher, adaptor = StructureMatcher(), AseAtomsAdaptor()
    ordered = [a for (p, f), v in by_name.items() for a in v if f == "AuCu"]
    randoms = [a for a in ordered if a.info["prototype"].startswith("random")]
    others = [a for a in ordered if not a.info["prototype"].startswith("random")]
    for k, atoms in enumerate(randoms):
        for other in randoms[k + 1 :] + others:
            assert not matcher.fit(adaptor.get_structure(atoms), adaptor.get_structure(other))
    # deterministic for a seed
    again = generate_prototypes(("Au", "Cu"), max_species=2)
    assert [a.get_chemical_symbols() for a in again] == [
        a.get_chemical_symbols() for a in structures
    ]


def test_generate_ternary_and_references() -> None:
    structures = generate_prototypes(("Cu", "Au", "Pt"), max_species=3, n_random_per_system=1)
    ternary = [a for a in structures if a.info["chemical_system"] == "Au-Cu-Pt"]
    assert {a.info["prototype"] for a in ternary} == {
        "L2_1",
        "fcc_A2BC",
        "random_fcc",
        "random_bcc",
    }
    assert {a.info["formula"] for a in ternary if a.info["prototype"] == "L2_1"} == {
        "Au2CuPt", "AuCu2Pt", "AuCuPt2"
    }  # fmt: skip
    references = elemental_references(["Cu"])
    assert [a.info["prototype"] for a in references["Cu"]] == ["A1", "A2", "A3"]
    volumes = [a.get_volume() / len(a) for a in references["Cu"]]
    assert volumes == pytest.approx([3.61**3 / 4] * 3)
    with pytest.raises(DataError):
        generate_prototypes(("Cu", "Xx"))


@pytest.fixture(scope="module")
def cu_au() -> StabilityDataset:
    return build_dataset(("Cu", "Au"), max_species=2, progress=False)


def test_build_dataset_cu_au(cu_au: StabilityDataset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert cu_au.failures == [] and cu_au.method == "emt"
    assert len(cu_au.structures) == 6 + 25
    elemental = [a for a in cu_au.structures if a.info["is_elemental"]]
    assert {a.info["prototype"] for a in elemental} == {"A1", "A2", "A3"}
    for symbol in ("Cu", "Au"):
        lowest = min(
            a.info["formation_energy_eV_per_atom"] for a in elemental if a.info["formula"] == symbol
        )
        assert lowest == pytest.approx(0.0, abs=1e-12)
    assert all(abs(a.info["formation_energy_eV_per_atom"]) < 0.05 for a in elemental)
    compounds = [a for a in cu_au.structures if not a.info["is_elemental"]]
    assert any(a.info["stable"] for a in compounds)
    assert min(a.info["formation_energy_eV_per_atom"] for a in compounds) < 0
    distances = cu_au.e_above_hull()
    assert (distances > -1e-9).all()
    np.testing.assert_array_equal(cu_au.labels(), distances <= 1e-8)
    assert 0 < cu_au.prevalence < 1
    assert all(a.info["relax_converged"] for a in cu_au.structures)

    path = tmp_path / "cu_au.extxyz"
    cu_au.save(path)
    loaded = StabilityDataset.load(path)
    assert loaded.threshold_eV_per_atom == cu_au.threshold_eV_per_atom
    assert loaded.to_json_summary() == cu_au.to_json_summary()
    for before, after in zip(cu_au.structures, loaded.structures, strict=True):
        for key in ("stable", "is_elemental", "prototype", "chemical_system", "formula"):
            assert after.info[key] == before.info[key] and type(after.info[key]) is type(
                before.info[key]
            )
        assert after.info["e_above_hull_eV_per_atom"] == pytest.approx(
            before.info["e_above_hull_eV_per_atom"], abs=1e-12
        )
        assert after.get_potential_energy() == pytest.approx(before.get_potential_energy())
        np.testing.assert_allclose(after.cell, before.cell, atol=1e-6)


@pytest.mark.parametrize("by", ["prototype", "chemical_system"])
def test_split_by_group(cu_au: StabilityDataset, by: str) -> None:
    structures = list(cu_au.structures)
    if by == "chemical_system":  # one binary system: add a relabelled copy as a second group
        for atoms in cu_au.structures[6:]:
            copy = atoms.copy()
            copy.info["chemical_system"] = "Ag-Cu"
            structures.append(copy)
    train, test = split_by_group(structures, by, test_fraction=0.25, seed=0)  # type: ignore[arg-type]
    assert len(train) and len(test)
    assert sorted([*train, *test]) == list(range(len(structures)))
    train_groups = {structures[i].info[by] for i in train if not structures[i].info["is_elemental"]}
    test_groups = {structures[i].info[by] for i in test}
    assert train_groups and not train_groups & test_groups
    assert all(structures[i].info["is_elemental"] for i in range(6)) and set(range(6)) <= set(train)
    again = split_by_group(structures, by, test_fraction=0.25, seed=0)  # type: ignore[arg-type]
    np.testing.assert_array_equal(again[1], test)


def test_split_by_chemical_system_needs_two_groups(cu_au: StabilityDataset) -> None:
    with pytest.raises(DataError, match="2 non-elemental groups"):
        split_by_group(cu_au, "chemical_system")


def test_failing_calculator_is_recorded() -> None:
    class FailsForCu3Au(EMT):
        def calculate(self, atoms=None, *args, **kwargs):  # type: ignore[no-untyped-def]
            if atoms is not None and atoms.get_chemical_formula(empirical=True) == "AuCu3":
                raise CalculationFailed("no Cu3Au today")
            super().calculate(atoms, *args, **kwargs)

    dataset = build_dataset(
        ("Cu", "Au"), max_species=2, progress=False, calculator_factory=FailsForCu3Au,
        n_random_per_system=0,
    )  # fmt: skip
    assert {f["prototype"] for f in dataset.failures} == {"L1_2", "D0_3", "D0_19"}
    assert all(f["formula"] == "AuCu3" and "no Cu3Au today" in f["error"] for f in dataset.failures)
    assert len(dataset.structures) == 6 + 13 - 3
    assert dataset.method == "custom" and dataset.to_json_summary()["n_failures"] == 3
