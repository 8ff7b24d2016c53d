"""Tests for nnpkit.labeling: reference calculators, labelling, sampling, datasets."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc100, molecule
from ase.calculators.calculator import CalculationFailed, Calculator, all_changes
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms

from nnpkit.errors import ConfigError
from nnpkit.labeling import (
    copper_emt_dataset,
    ethanol_xtb_dataset,
    label_structures,
    make_reference_calculator,
    rattle_structures,
    sample_md,
)


def _assert_labels_match_emt(atoms: Atoms, stress: bool) -> None:
    """The attached labels equal EMT recomputed on a fresh copy; ``stress``: whether a stress
    label must be there (exactly for periodic cells, when it was asked for)."""
    fresh = atoms.copy()
    fresh.calc = EMT()
    assert atoms.get_potential_energy() == pytest.approx(fresh.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(
        atoms.calc.results["forces"], fresh.get_forces(apply_constraint=False), atol=1e-10
    )
    assert ("stress" in atoms.calc.results) == stress
    np.testing.assert_allclose(atoms.calc.results.get("stress", np.zeros(6)),
                               fresh.get_stress() if stress else np.zeros(6), atol=1e-10)


# --- reference calculators -----------------------------------------------------------------


def test_make_reference_calculator_emt_and_unknown() -> None:
    assert isinstance(make_reference_calculator("EMT"), EMT)
    with pytest.raises(ConfigError, match="dft-magic.*gfn2"):
        make_reference_calculator("dft-magic")
    with pytest.raises(ConfigError, match="bogus"):
        make_reference_calculator("emt", bogus=1)


def test_make_reference_calculator_gfn2_options() -> None:
    pytest.importorskip("tblite")
    calc = make_reference_calculator("gfn2-xtb", charge=0, uhf=0)
    assert calc.parameters["method"] == "GFN2-xTB"
    assert calc.parameters["multiplicity"] == 1
    assert calc.parameters["verbosity"] == 0
    assert make_reference_calculator("gfn1").parameters["method"] == "GFN1-xTB"
    with pytest.raises(ConfigError, match="disagree"):
        make_reference_calculator("gfn2", uhf=1, multiplicity=1)


# --- label_structures ----------------------------------------------------------------------


class _FailOnSmall(EMT):
    """EMT that raises on structures with fewer than ``min_atoms`` atoms; logs each call."""

    def __init__(self, min_atoms: int, calls: list[int]) -> None:
        super().__init__()
        self.min_atoms = min_atoms
        self.calls = calls

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        self.calls.append(len(atoms))
        if len(atoms) < self.min_atoms:
            raise CalculationFailed("SCF did not converge")
        super().calculate(atoms, properties, system_changes)


class _FailIfFirst(EMT):
    """EMT that fails while it is the only calculator made so far (in ``made``)."""

    def __init__(self, made: list[Calculator]) -> None:
        super().__init__()
        self.made = made
        made.append(self)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if len(self.made) == 1:
            raise CalculationFailed("transient failure")
        super().calculate(atoms, properties, system_changes)


def test_label_structures_records_failure_after_retry() -> None:
    structures = [bulk("Cu", cubic=True), bulk("Cu"), bulk("Cu", cubic=True).repeat((2, 1, 1))]
    originals = [a.copy() for a in structures]
    calls: list[int] = []
    labelled, failures = label_structures(
        structures, lambda: _FailOnSmall(2, calls), ("energy", "forces"), progress=False
    )
    assert [len(a) for a in labelled] == [4, 8]
    assert len(failures) == 1 and failures[0]["index"] == 1
    assert "SCF did not converge" in failures[0]["error"]
    assert calls.count(1) == 2  # tried, then retried once
    for atoms in labelled:
        _assert_labels_match_emt(atoms, stress=False)  # only energy and forces were asked
        assert "stress" not in atoms.calc.results  # not requested
    for before, after in zip(originals, structures, strict=True):  # inputs untouched
        assert after.calc is None
        np.testing.assert_array_equal(before.positions, after.positions)


def test_label_structures_retry_with_fresh_calculator_succeeds() -> None:
    made: list[Calculator] = []
    labelled, failures = label_structures(
        [bulk("Cu", cubic=True)], lambda: _FailIfFirst(made), progress=False
    )
    assert failures == [] and len(labelled) == 1
    assert len(made) == 2


def test_label_structures_stress_only_for_fully_periodic() -> None:
    slab = fcc100("Cu", size=(2, 2, 3), vacuum=5.0)
    slab.set_constraint(FixAtoms(indices=[0, 1]))
    labelled, failures = label_structures(
        [bulk("Cu", cubic=True), slab], EMT, ("energy", "forces", "stress"), progress=False
    )
    assert failures == []
    assert "stress" in labelled[0].calc.results
    assert "stress" not in labelled[1].calc.results
    _assert_labels_match_emt(labelled[1], stress=False)  # raw (unconstrained) forces
    with pytest.raises(ConfigError, match="dipole"):
        label_structures([slab], EMT, ("energy", "dipole"), progress=False)


# --- sampling ------------------------------------------------------------------------------


def test_sample_md_snapshots_carry_emt_labels() -> None:
    atoms = bulk("Cu", cubic=True).repeat((2, 2, 2))
    before = atoms.positions.copy()
    samples = sample_md(
        atoms, EMT(), 600.0, n_samples=4, interval_steps=5, timestep_fs=2.0,
        equilibration_steps=10, progress=False,
    )  # fmt: skip
    assert len(samples) == 4
    np.testing.assert_array_equal(atoms.positions, before)
    assert atoms.calc is None and not atoms.constraints
    for snapshot in samples:
        assert not snapshot.constraints
        assert "stress" in snapshot.calc.results
        _assert_labels_match_emt(snapshot, stress=True)
    # snapshots differ from each other: the MD moved
    assert np.abs(samples[0].positions - samples[-1].positions).max() > 1e-3
    again = sample_md(
        atoms, EMT(), 600.0, n_samples=4, interval_steps=5, timestep_fs=2.0,
        equilibration_steps=10, progress=False,
    )  # fmt: skip
    np.testing.assert_array_equal(samples[-1].positions, again[-1].positions)


def test_rattle_structures_strains_and_displaces() -> None:
    atoms = bulk("Cu", cubic=True)
    rattled = rattle_structures(atoms, 5, stdev_A=0.05, strain_max=0.03, seed=3)
    assert len(rattled) == 5
    for copy in rattled:
        assert copy.calc is None
        assert not np.allclose(copy.cell.array, atoms.cell.array)
        # cell deformation is a symmetric strain within 3 % per component
        strain = np.linalg.solve(atoms.cell.array, copy.cell.array) - np.eye(3)
        np.testing.assert_allclose(strain, strain.T, atol=1e-12)
        assert np.abs(strain).max() <= 0.03
    again = rattle_structures(atoms, 5, stdev_A=0.05, strain_max=0.03, seed=3)
    np.testing.assert_array_equal(rattled[4].positions, again[4].positions)
    molecule_copies = rattle_structures(molecule("H2O"), 2, stdev_A=0.1, strain_max=0.03)
    assert np.abs(molecule_copies[0].positions - molecule("H2O").positions).max() > 0.01


# --- datasets ------------------------------------------------------------------------------


def test_copper_emt_dataset_labels_and_determinism() -> None:
    dataset = copper_emt_dataset(21, seed=1)
    assert len(dataset) == 21
    types = {atoms.info["config_type"] for atoms in dataset}
    assert {"bulk_primitive_1", "slab_fcc100", "slab_fcc111", "bulk_vacancy_31"} <= types
    assert any(len(a) == 1 and a.cell.lengths().min() < 5.0 for a in dataset)
    for atoms in dataset:
        assert set(atoms.calc.results) >= {"energy", "forces"}
        assert ("stress" in atoms.calc.results) == bool(np.all(atoms.pbc))
        _assert_labels_match_emt(atoms, stress=bool(np.all(atoms.pbc)))
    slabs = [a for a in dataset if a.info["config_type"].startswith("slab")]
    assert all(a.pbc.tolist() == [True, True, False] for a in slabs)
    same = copper_emt_dataset(21, seed=1)
    other = copper_emt_dataset(21, seed=2)
    for a, b in zip(dataset, same, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.get_potential_energy() == b.get_potential_energy()
    assert not np.allclose(dataset[0].positions, other[0].positions)


def test_ethanol_xtb_dataset_three_structures() -> None:
    pytest.importorskip("tblite")
    dataset = ethanol_xtb_dataset(3, interval_steps=5, progress=False)
    assert len(dataset) == 3
    for atoms in dataset:
        assert atoms.get_chemical_formula() == "C2H6O"
        energy = atoms.get_potential_energy()
        assert np.isfinite(energy) and energy < -100.0  # GFN2 ethanol is about -312 eV
        assert atoms.calc.results["forces"].shape == (9, 3)
        assert "stress" not in atoms.calc.results
    recomputed = dataset[-1].copy()
    recomputed.calc = make_reference_calculator("gfn2")
    assert recomputed.get_potential_energy() == pytest.approx(
        dataset[-1].get_potential_energy(), abs=1e-5
    )
    # the MD reused the previous SCF solution as a guess: agreement to SCF tolerance
    np.testing.assert_allclose(
        recomputed.get_forces(), dataset[-1].calc.results["forces"], atol=1e-3
    )
