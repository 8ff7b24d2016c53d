"""Errors that must stay errors: only a failed reference calculation is recorded.

Code that runs reference calculations (the NEB catalogue, the stability relaxations, the
labeller, the active learner) catches exactly :data:`nnpkit.errors.REFERENCE_FAILURES`
(ASE's ``CalculationFailed``, ...) and records it with its message. A programming error
(``TypeError``) or bad input (an element the calculator does not know) propagates with its
message instead of being recorded as a "failed NEB/relaxation". File readers turn what ASE
raises for a bad file into a DataError, but let programming errors through.
"""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.calculator import CalculationFailed
from ase.calculators.emt import EMT
from conftest import build_small_model

from nnpkit.apps.growth.catalogue import neb_environment, random_environments
from nnpkit.apps.growth.config import BarrierConfig
from nnpkit.apps.quantum.active import learn_actively
from nnpkit.apps.stability.dataset import StabilityDataset, build_dataset
from nnpkit.apps.stability.relaxation import relax
from nnpkit.calculators import NNPCalculator
from nnpkit.data.io import read_structures
from nnpkit.errors import (
    REFERENCE_FAILURES,
    DataError,
    LabelingError,
    ModelFileError,
    UnknownElementError,
)
from nnpkit.labeling.reference import label_each, label_structures
from nnpkit.md.from_files import read_first_structure
from nnpkit.training.checkpoint import load_checkpoint

CONFIG = BarrierConfig(n_environments=2, n_images=1, fmax_eV_per_A=0.1, max_steps=150,
                       lattice_constant_A=3.59, down_hop_fraction=0.0, progress=False)


def _bad_factory() -> EMT:
    """A calculator factory with a bug in it (a wrong call, as a typo would make)."""
    return EMT(1, 2, 3)  # type: ignore[call-arg]


class _SCFFails(EMT):
    """A reference whose every calculation fails as tblite's unconverged SCF does."""

    def calculate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise CalculationFailed("SCF did not converge in 250 cycles")


class _Buggy(EMT):
    """A calculator with a programming error in its calculate()."""

    def calculate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise TypeError("unsupported operand type(s) for +: 'float' and 'NoneType'")


def test_the_recorded_errors_are_calculation_failures_only() -> None:
    for error in (TypeError, AttributeError, KeyError, UnknownElementError, NotImplementedError,
                  RuntimeError):
        assert not issubclass(error, REFERENCE_FAILURES), error
    assert issubclass(CalculationFailed, REFERENCE_FAILURES)
    assert issubclass(LabelingError, REFERENCE_FAILURES)


# --- the NEB catalogue ---------------------------------------------------------------------


def test_neb_propagates_a_bad_calculator_factory() -> None:
    environment = random_environments(CONFIG)[0]
    with pytest.raises(TypeError, match="positional argument"):
        neb_environment(environment, _bad_factory, 3.59, CONFIG)
    with pytest.raises(TypeError, match="unsupported operand"):
        neb_environment(environment, _Buggy, 3.59, CONFIG)


def test_neb_propagates_an_unknown_element() -> None:
    """A gold-only model asked about the copper slab: bad input, not a failed NEB."""
    model = build_small_model(["Au"])
    with pytest.raises(UnknownElementError, match="Cu not known to this model"):
        neb_environment(random_environments(CONFIG)[0],
                        lambda: NNPCalculator(model, dtype=torch.float64), 3.59, CONFIG)


def test_neb_records_a_failed_calculation_with_its_message() -> None:
    record = neb_environment(random_environments(CONFIG)[0], _SCFFails, 3.59, CONFIG)
    assert record["error"] == "CalculationFailed: SCF did not converge in 250 cycles"
    assert record["converged"] is False
    assert record["barrier_forward_eV"] is None and record["barrier_reverse_eV"] is None


def test_neb_marks_an_unconverged_end_point_relaxation() -> None:
    """10 BFGS steps cannot reach 1e-4 eV/Å on the ~80-atom slab (its first forces are
    ~0.1 eV/Å): the record says so, and carries no barrier."""
    strict = CONFIG.model_copy(update={"fmax_eV_per_A": 1e-4, "max_steps": 10})
    record = neb_environment(random_environments(strict)[0], EMT, 3.59, strict)
    assert record["converged"] is False and record["barrier_forward_eV"] is None
    assert "initial state's relaxation not converged" in record["error"]


# --- the stability relaxations -------------------------------------------------------------


def test_relax_propagates_programming_errors_and_records_failed_calculations() -> None:
    with pytest.raises(TypeError, match="positional argument"):
        relax(bulk("Cu"), _bad_factory)
    with pytest.raises(TypeError, match="unsupported operand"):
        relax(bulk("Cu"), _Buggy)
    relaxed, info = relax(bulk("Cu"), _SCFFails)
    assert info["error"] == "CalculationFailed: SCF did not converge in 250 cycles"
    assert info["converged"] is False and relaxed.calc is None


def test_build_dataset_propagates_an_unknown_element() -> None:
    """EMT has no parameters for Fe: today's code recorded every Fe cell as 'failed'."""
    with pytest.raises(NotImplementedError, match="No EMT-potential for Fe"):
        build_dataset(("Cu", "Fe"), max_species=2, progress=False, n_random_per_system=0)


# --- the labeller and the active learner ---------------------------------------------------


def test_labelling_propagates_bugs_and_unknown_elements_but_records_failures() -> None:
    with pytest.raises(TypeError, match="unsupported operand"):
        list(label_each([(0, bulk("Cu"))], _Buggy))
    with pytest.raises(NotImplementedError, match="No EMT-potential for Fe"):
        label_structures([bulk("Cu"), bulk("Fe")], EMT, progress=False)
    labelled, failures = label_structures([bulk("Cu")], _SCFFails, progress=False)
    assert labelled == []
    assert failures == [{"index": 0,
                         "error": "CalculationFailed: SCF did not converge in 250 cycles"}]


def test_active_learning_propagates_a_buggy_reference() -> None:
    def buggy(point: np.ndarray) -> float:
        return float(point[0] + None)  # type: ignore[operator]

    def unconverged(point: np.ndarray) -> float:
        raise CalculationFailed("SCF did not converge")

    with pytest.raises(TypeError, match="unsupported operand"):
        learn_actively(buggy, ([0.0], [1.0]))
    with pytest.raises(LabelingError, match=r"reference failed at \[.*SCF did not converge"):
        learn_actively(unconverged, ([0.0], [1.0]))


# --- file readers --------------------------------------------------------------------------


def test_readers_turn_bad_files_into_data_errors_but_let_bugs_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    garbage = tmp_path / "garbage.extxyz"
    garbage.write_bytes(bytes(range(256)))  # not UTF-8: ASE raises UnicodeDecodeError
    short = tmp_path / "short.xyz"
    short.write_text("3\n\nCu 0 0 0\n")  # ASE raises XYZError (an OSError)
    for bad in (garbage, short):
        with pytest.raises(DataError, match="cannot read"):
            read_structures(bad)
        with pytest.raises(DataError, match="cannot read"):
            read_first_structure(bad)
        with pytest.raises(DataError, match="cannot read"):
            StabilityDataset.load(bad)
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(bytes(range(256)))
    with pytest.raises(ModelFileError, match="not a readable nnpkit checkpoint"):
        load_checkpoint(checkpoint)

    def bug(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise TypeError("read() got an unexpected keyword argument")

    good = tmp_path / "good.extxyz"
    ase.io.write(good, bulk("Cu"))
    monkeypatch.setattr(ase.io, "read", bug)
    monkeypatch.setattr(torch, "load", bug)
    for call in (lambda: read_structures(good), lambda: read_first_structure(good),
                 lambda: StabilityDataset.load(good), lambda: load_checkpoint(checkpoint)):
        with pytest.raises(TypeError, match="unexpected keyword"):
            call()
