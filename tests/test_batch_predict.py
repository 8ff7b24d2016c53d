"""``nnpkit.calculators.batch.predict_structures``: one model call per batch equals one
calculator call per structure."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from conftest import build_small_model, copper_cubic, cuau_triclinic

from nnpkit.calculators import NNPCalculator
from nnpkit.calculators.batch import predict_structures
from nnpkit.errors import ConfigError, UnknownElementError


def _structures() -> list[Atoms]:
    """Mixed sizes and cells, one structure without a cell (no stress for it)."""
    rattled = bulk("Cu", "fcc", a=3.6).repeat((2, 2, 2))
    rattled.rattle(0.04, seed=7)
    cluster = bulk("Cu", "fcc", a=3.6, cubic=True)
    cluster.pbc = False
    cluster.center(vacuum=4.0)
    cluster.rattle(0.03, seed=8)
    return [copper_cubic(), cuau_triclinic(), rattled, cluster, cuau_triclinic()[::-1]]


def _per_structure(calculator: NNPCalculator, structures: list[Atoms]) -> list[dict]:
    results = []
    for atoms in structures:
        work = atoms.copy()
        work.calc = calculator
        result = {"energy": work.get_potential_energy(), "forces": work.get_forces()}
        if work.pbc.all():
            result["stress"] = work.get_stress()
        results.append(result)
    return results


def _assert_equal(batched: list[dict], expected: list[dict], rtol: float) -> None:
    """Energies to ``rtol`` relative; forces and stress to ``rtol`` of each quantity's
    largest component (a force near zero has no relative precision of its own)."""
    assert len(batched) == len(expected)
    for index, (got, want) in enumerate(zip(batched, expected, strict=True)):
        assert set(got) == set(want), f"structure {index}"
        assert got["energy"] == pytest.approx(want["energy"], rel=rtol), f"structure {index}"
        for key in ("forces", "stress"):
            if key in want:
                scale = float(np.max(np.abs(want[key])))
                np.testing.assert_allclose(got[key], want[key], rtol=0, atol=rtol * scale,
                                           err_msg=f"{key} of structure {index}")


@pytest.mark.parametrize(("dtype", "rtol"), [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_batched_equals_per_structure_autograd_calls(dtype: torch.dtype, rtol: float) -> None:
    # The tolerances: 1e-6 in float32 (rounding of a batch's longer sums) and
    # 1e-12 in float64, against the calculator's autograd path, which is the computation
    # predict_structures batches.
    calculator = NNPCalculator(build_small_model(["Cu", "Au"]), dtype=dtype, fast_path=False)
    structures = _structures()
    expected = _per_structure(calculator, structures)
    for batch_size in (2, 32):  # several batches, and all in one
        _assert_equal(predict_structures(calculator, structures, batch_size=batch_size),
                      expected, rtol)


def test_batched_equals_the_compiled_path_in_float64(
        make_calculator: Callable[..., NNPCalculator]) -> None:
    # NNPCalculator's default for BPNN models is the compiled float64 path; batched
    # autograd in float64 equals it to 1e-12 as well
    calculator = make_calculator(["Cu", "Au"], dtype=torch.float64)
    assert calculator.fast_path is not None
    structures = _structures()
    _assert_equal(predict_structures(calculator, structures), _per_structure(calculator,
                                                                             structures), 1e-12)


def test_other_calculators_loop_and_match_emt() -> None:
    structures = [copper_cubic(), bulk("Cu", "fcc", a=3.55).repeat((2, 1, 1))]
    batched = predict_structures(EMT(), structures)
    for atoms, got in zip(structures, batched, strict=True):
        atoms.calc = EMT()
        # same calculator, same structure: identical to the last bit
        assert got["energy"] == atoms.get_potential_energy()
        np.testing.assert_array_equal(got["forces"], atoms.get_forces())
        np.testing.assert_array_equal(got["stress"], atoms.get_stress())


def test_unknown_element_names_the_structure(
        make_calculator: Callable[..., NNPCalculator]) -> None:
    calculator = make_calculator(["Cu", "Au"])
    structures = [copper_cubic(), copper_cubic(), molecule("H2O")]
    with pytest.raises(UnknownElementError, match=r"structure 2 \(H2O\).*H, O"):
        predict_structures(calculator, structures)


def test_bad_batch_size(make_calculator: Callable[..., NNPCalculator]) -> None:
    with pytest.raises(ConfigError, match="batch_size must be >= 1, got 0"):
        predict_structures(make_calculator(["Cu"]), [copper_cubic()], batch_size=0)


def test_stress_is_optional(make_calculator: Callable[..., NNPCalculator]) -> None:
    results = predict_structures(make_calculator(["Cu"]), [copper_cubic()], stress=False)
    assert set(results[0]) == {"energy", "forces"}
