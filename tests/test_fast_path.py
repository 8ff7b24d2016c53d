"""The compiled BPNN path (nnpkit.models.bpnn_fast) against the autograd path.

Tolerances: in float64 both paths do the same arithmetic in a different order, so they
agree to round-off (1e-12 relative on energies, forces and stress: measured ~1e-13). In
float32 the energy agrees to 1e-6 relative; forces and stress of a crystal near
equilibrium are sums of O(1) eV/Å terms that nearly cancel, so float32 round-off is
large against their size: there the fast path must be as accurate as the float32 autograd
path itself, both measured against float64 autograd (error at most twice autograd's, plus
1e-7 eV/Å for round-off of exactly cancelling terms).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from conftest import (
    build_small_model,
    calculator_results,
    copper_cubic,
    copper_slab,
    cuau_triclinic,
    ethanol,
    perturbed_committee,
)

from nnpkit.calculators import CommitteeCalculator, NNPCalculator
from nnpkit.calculators.ase_calculator import FastPathNotice
from nnpkit.errors import ConfigError, UnknownElementError
from nnpkit.models import BehlerParrinello
from nnpkit.models.committee import Committee
from nnpkit.models.committee_fast import FastCommittee
from nnpkit.testing import run_all_checks


def _structures() -> list[tuple[str, Atoms, list[str]]]:
    methanol = molecule("CH3OH")
    methanol.rattle(0.05, seed=9)
    return [("ethanol", ethanol(), ["H", "C", "O"]), ("methanol", methanol, ["H", "C", "O"]),
            ("copper", copper_cubic().repeat(2), ["Cu"]), ("slab", copper_slab(), ["Cu"]),
            ("triclinic", cuau_triclinic().repeat((2, 2, 1)), ["Cu", "Au"])]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name, atoms, elements", _structures(), ids=[s[0] for s in _structures()])
def test_fast_path_equals_autograd(name: str, atoms: Atoms, elements: list[str],
                                   dtype: torch.dtype) -> None:
    model = build_small_model(elements)
    fast = NNPCalculator(model, dtype=dtype, fast_path=True)
    slow = NNPCalculator(model, dtype=dtype, fast_path=False)
    assert fast.fast_path is not None and slow.fast_path is None
    got, expected = calculator_results(fast, atoms), calculator_results(slow, atoms)
    assert ("stress" in got) == bool(atoms.pbc.all())
    if dtype == torch.float64:
        np.testing.assert_allclose(got["energy"], expected["energy"], rtol=1e-12)
        for key in ("energies", "forces", "stress"):
            if key in expected:
                scale = np.abs(expected[key]).max()
                np.testing.assert_allclose(got[key], expected[key], rtol=0,
                                           atol=1e-12 * scale, err_msg=f"{name}: {key}")
        return
    np.testing.assert_allclose(got["energy"], expected["energy"], rtol=1e-6)
    truth = calculator_results(NNPCalculator(model, dtype=torch.float64, fast_path=False), atoms)
    for key in ("energies", "forces", "stress"):
        if key in expected:
            autograd_error = np.abs(expected[key] - truth[key]).max()
            fast_error = np.abs(got[key] - truth[key]).max()
            assert fast_error <= 2.0 * autograd_error + 1e-7, (
                f"{name}: {key} error {fast_error:.3g} vs autograd's {autograd_error:.3g}")


@pytest.mark.parametrize("activation", ["silu", "tanh", "softplus"])
def test_fast_path_equals_autograd_for_each_activation_and_network_kernel(
        activation: str) -> None:
    """29 Cu atoms run through the BLAS products, 3 Au through the small-block loops
    (fewer than ``SMALL_BLOCK_BELOW`` atoms of the element), each activation, float64."""
    from conftest import SMALL_CONFIG, statistics_for

    from nnpkit.data.graph import atoms_to_graph
    from nnpkit.models import BPNNConfig
    from nnpkit.models.bpnn_kernels import SMALL_BLOCK_BELOW

    atoms = copper_cubic().repeat(2)
    atoms.numbers[[0, 9, 21]] = 79
    atoms.rattle(0.05, seed=4)
    assert (atoms.numbers == 29).sum() >= SMALL_BLOCK_BELOW > (atoms.numbers == 79).sum()
    torch.manual_seed(5)
    model = BehlerParrinello(["Cu", "Au"], BPNNConfig(**SMALL_CONFIG, activation=activation),
                             statistics_for(["Cu", "Au"]))
    model.fit_feature_normalization([atoms_to_graph(atoms, model.cutoff)])
    got = calculator_results(NNPCalculator(model, dtype=torch.float64, fast_path=True), atoms)
    expected = calculator_results(NNPCalculator(model, dtype=torch.float64, fast_path=False), atoms)
    np.testing.assert_allclose(got["energy"], expected["energy"], rtol=1e-12)
    for key in ("energies", "forces", "stress"):
        scale = np.abs(expected[key]).max()
        np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=1e-12 * scale,
                                   err_msg=f"{activation}: {key}")


@pytest.mark.parametrize("committee", [False, True], ids=["model", "committee"])
def test_parallel_kernels_give_the_serial_numbers_bit_for_bit(
        committee: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 256-atom crystal through the threaded kernels (``prange`` over atoms, each atom's
    sums in the serial order) and the serial ones: identical energies, forces, stress."""
    import numba

    from nnpkit.models import bpnn_fast

    atoms = copper_cubic().repeat(4)
    atoms.rattle(0.05, seed=11)
    assert len(atoms) >= bpnn_fast.PARALLEL_FROM_ATOMS
    model = (perturbed_committee(["Cu"]) if committee else build_small_model(["Cu"])).double()
    evaluator, _ = bpnn_fast.fast_path_for(model)
    from ase.neighborlist import neighbor_list

    centre, neighbour, shifts = neighbor_list("ijS", atoms, model.cutoff)
    arguments = (atoms.numbers, atoms.positions, np.asarray(atoms.cell), centre, neighbour,
                 shifts.astype(float))
    results = {}
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    for threaded in (False, True):
        monkeypatch.setattr(bpnn_fast, "use_threads", lambda n_atoms, on=threaded: on)
        results[threaded] = evaluator.evaluate(*arguments, stress=True)
    for key in ("energies", "forces", "stress"):
        np.testing.assert_array_equal(results[True][key], results[False][key], err_msg=key)


def test_fast_path_passes_every_physics_check() -> None:
    calculator = NNPCalculator(build_small_model(["H", "C", "O", "Cu", "Au"]),
                               dtype=torch.float64, fast_path=True)
    run_all_checks(calculator, molecule=ethanol(), crystal=cuau_triclinic())


def test_fast_path_is_the_default_for_each_family_and_falls_back_with_a_notice(
        make_model: Callable) -> None:
    assert NNPCalculator(make_model(["Cu"])).fast_path is not None
    from nnpkit.models.equivariant_fused import FusedEquivariant
    from nnpkit.models.registry import build_model, model_config_class

    config = model_config_class("equivariant").model_validate(
        {"kind": "equivariant", "cutoff_A": 4.0, "n_channels": 4, "n_layers": 1, "l_max": 1})
    equivariant = build_model(config, ["Cu"], None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fused form is its fast path: no notice
        for wanted in (None, True):
            calculator = NNPCalculator(equivariant, fast_path=wanted)
            assert calculator.fast_path is None
            assert isinstance(calculator.model, FusedEquivariant)
        calculator = NNPCalculator(equivariant, fast_path=False)  # asked for e3nn's graph
        assert type(calculator.model) is type(equivariant)
    celu_config = model_config_class("bpnn").model_validate(
        {"kind": "bpnn", "cutoff_A": 4.0, "activation": "celu"})
    celu = build_model(celu_config, ["Cu"], None)
    with pytest.warns(FastPathNotice, match="inference with autograd.*'celu'"):
        calculator = NNPCalculator(celu)
    assert calculator.fast_path is None
    with pytest.raises(ConfigError, match="fast_path=True.*'celu'"):
        NNPCalculator(celu, fast_path=True)


def test_fast_path_names_an_unknown_element(make_model: Callable) -> None:
    atoms = molecule("H2O")
    atoms.calc = NNPCalculator(make_model(["H", "C"]))
    with pytest.raises(UnknownElementError, match="O"):
        atoms.get_potential_energy()


def test_fast_path_copies_the_weights(make_model: Callable) -> None:
    """Training the model on after making a calculator does not change the calculator."""
    model: BehlerParrinello = make_model(["Cu"])
    atoms = copper_cubic()
    atoms.calc = NNPCalculator(model)
    before = atoms.get_potential_energy()
    with torch.no_grad():
        model.element_networks[0][0].weight.mul_(2.0)
    atoms.positions[0, 0] += 1e-3
    atoms.positions[0, 0] -= 1e-3
    atoms.calc.reset()
    assert atoms.get_potential_energy() == before


def test_check_state_matches_ase(make_model: Callable) -> None:
    """The exact-comparison check_state reports what ASE's compare_atoms reports."""
    from ase.calculators.calculator import compare_atoms

    base = copper_cubic()
    calculator = NNPCalculator(make_model(["Cu", "Au"]))
    base.calc = calculator
    base.get_potential_energy()
    assert calculator.check_state(base.copy()) == []
    edits: dict[str, Callable[[Atoms], None]] = {
        "positions": lambda a: a.positions.__setitem__((0, 0), a.positions[0, 0] + 1e-9),
        "numbers": lambda a: a.numbers.__setitem__(1, 79),
        "cell": lambda a: a.set_cell(a.cell.array * 1.001),
        "pbc": lambda a: a.set_pbc([True, True, False]),
        "initial_magmoms": lambda a: a.set_initial_magnetic_moments([1.0] * len(a)),
        "initial_charges": lambda a: a.set_initial_charges([0.5] * len(a)),
    }
    for name, edit in edits.items():
        changed = base.copy()
        edit(changed)
        assert calculator.check_state(changed) == compare_atoms(base, changed) == [name], name


def test_direct_calculate_calls_snapshot_the_structure_they_are_given(
        make_model: Callable) -> None:
    """``calculate(atoms)`` without ASE's ``get_property`` (which stores a copy first) still
    computes and remembers ``atoms``; the remembered structure is a copy, not ``atoms``."""
    calculator = NNPCalculator(make_model(["Cu", "Au"]), dtype=torch.float64)
    first, second = copper_cubic(), copper_cubic()
    second.positions[0] += 0.05
    reference = NNPCalculator(make_model(["Cu", "Au"]), dtype=torch.float64, fast_path=False)
    for atoms in (first, second, first):
        calculator.calculate(atoms, ["energy", "forces"])
        assert calculator.atoms is not atoms
        np.testing.assert_array_equal(calculator.atoms.positions, atoms.positions)
        reference.calculate(atoms, ["energy", "forces"])
        assert abs(calculator.results["energy"] - reference.results["energy"]) < 1e-9
    held = calculator.atoms.positions.copy()
    first.positions[1] += 0.1  # the caller moves its atoms: the snapshot does not follow
    np.testing.assert_array_equal(calculator.atoms.positions, held)


def test_evaluate_sorts_shuffled_pairs_and_keeps_element_tables_per_structure() -> None:
    # evaluate() skips its sort where the pairs come sorted by centre (every neighbour
    # list of nnpkit) and keeps per-element tables while the atoms stay the same. Sorted
    # pairs through an evaluator that saw another structure before must give exactly the
    # bits of a fresh evaluator; shuffled pairs are sorted by centre (the order within a
    # centre then differs, so they agree to round-off: 1e-12 of the largest value).
    from nnpkit.models.bpnn_fast import FastBehlerParrinello
    from nnpkit.neighbors import neighbor_list

    rng = np.random.default_rng(11)
    cases = [(ethanol(), ["H", "C", "O"]), (molecule("CH3OH"), ["H", "C", "O"]),
             (copper_cubic().repeat(2), ["Cu"])]
    shared: dict[str, FastBehlerParrinello] = {}
    for atoms, elements in cases:
        model = build_small_model(elements).double()
        evaluator = shared.setdefault("".join(elements), FastBehlerParrinello(model))
        i, j, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                     model.cutoff)
        assert np.all(np.diff(i) >= 0)  # the lists come sorted by centre
        args = (atoms.numbers, atoms.positions, atoms.cell.array)
        periodic = bool(atoms.pbc.all())
        names = ("energies", "forces", "stress") if periodic else ("energies", "forces")
        reference = FastBehlerParrinello(model).evaluate(*args, i, j, shifts, stress=periodic)
        again = evaluator.evaluate(*args, i, j, shifts, stress=periodic)
        assert again["energy"] == reference["energy"]
        for name in names:  # bit for bit
            np.testing.assert_array_equal(again[name], reference[name], err_msg=name)
        order = rng.permutation(len(i))
        shuffled = evaluator.evaluate(*args, i[order], j[order], shifts[order],
                                      stress=periodic)
        assert shuffled["energy"] == pytest.approx(reference["energy"], rel=1e-12)
        for name in names:
            np.testing.assert_allclose(shuffled[name], reference[name], rtol=0,
                                       atol=1e-12 * np.abs(reference[name]).max())


# --- the compiled committee path (nnpkit.models.committee_fast) --------------------------


def _committee_results(calculator: CommitteeCalculator, atoms: Atoms) -> dict[str, np.ndarray]:
    atoms = atoms.copy()
    atoms.calc = calculator
    out = {"energy": np.array(atoms.get_potential_energy()),
           "energies": atoms.get_potential_energies(), "forces": atoms.get_forces()}
    for key in ("member_energies", "energy_std", "forces_std", "max_force_std"):
        out[key] = np.asarray(calculator.get_property(key, atoms))
    if atoms.pbc.all():
        out["stress"] = atoms.get_stress()
    return out


_COMMITTEE_CASES = [("ethanol", ethanol(), ["H", "C", "O"]),
                    ("triclinic", cuau_triclinic().repeat((2, 2, 1)), ["Cu", "Au"])]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name, atoms, elements", _COMMITTEE_CASES,
                         ids=[case[0] for case in _COMMITTEE_CASES])
def test_compiled_committee_equals_autograd(name: str, atoms: Atoms, elements: list[str],
                                            dtype: torch.dtype) -> None:
    # float64: the same arithmetic in another order, 1e-10 of the largest value; float32:
    # the networks round differently (autograd also rounds the geometry), 1e-5 relative
    committee = perturbed_committee(elements, seed=21)
    fast = CommitteeCalculator(committee, dtype=dtype, fast_path=True)
    slow = CommitteeCalculator(committee, dtype=dtype, fast_path=False)
    assert isinstance(fast.fast_path, FastCommittee) and slow.fast_path is None
    assert fast.fast_path.shared_features and len(fast.fast_path) == 3
    got, expected = _committee_results(fast, atoms), _committee_results(slow, atoms)
    assert got.keys() == expected.keys() and ("stress" in got) == bool(atoms.pbc.all())
    assert float(expected["energy_std"]) > 1e-3  # the members really differ
    tolerance = 1e-10 if dtype == torch.float64 else 1e-5
    for key in expected:
        scale = np.abs(expected[key]).max()
        np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=tolerance * scale,
                                   err_msg=f"{name}: {key}")


def test_compiled_committee_on_a_batch_of_replicas_of_different_sizes() -> None:
    # the batched engine's force field: mean energies [B] and forces, and the spread [B],
    # compiled against autograd (float64, 1e-10 of the largest value)
    from nnpkit.md.batched_state import state_from_atoms
    from nnpkit.md.forces import ModelForceField

    methanol = molecule("CH3OH")
    methanol.rattle(0.05, seed=4)
    structures = [ethanol(), molecule("H2O"), methanol, ethanol().repeat(1)]
    structures[3].rattle(0.1, seed=5)
    committee = perturbed_committee(["H", "C", "O"], n_members=4, seed=21)
    outputs = []
    for fast_path in (True, False):
        state = state_from_atoms(structures, dtype=torch.float64)
        field = ModelForceField(committee, state, fast_path=fast_path)
        assert isinstance(field.fast_path, FastCommittee) == fast_path
        field(state, need_stress=False)
        outputs.append((state.energy.numpy(), state.forces.numpy(),
                        field.max_force_std(state).numpy()))
    for got, expected, name in zip(*outputs, ("energy", "forces", "max_force_std"),
                                   strict=True):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0,
                                   atol=1e-10 * np.abs(expected).max(), err_msg=name)
    assert outputs[1][2].shape == (4,) and outputs[1][2].min() > 1e-3


def test_committee_members_with_their_own_features_give_the_same_numbers() -> None:
    # members that do not share symmetry functions are evaluated one by one (features
    # too); on members that could share them that path gives the numbers of the shared one
    from nnpkit.models.bpnn_fast import fast_path_for
    from nnpkit.neighbors import neighbor_list

    committee = perturbed_committee(["Cu", "Au"], seed=21).double()
    shared, _ = fast_path_for(committee)
    separate, _ = fast_path_for(committee)
    assert isinstance(shared, FastCommittee) and isinstance(separate, FastCommittee)
    separate.shared_features = False
    atoms = cuau_triclinic().repeat((2, 2, 1))
    i, j, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                 committee.cutoff)
    args = (atoms.numbers, atoms.positions, atoms.cell.array, i, j, shifts)
    for members in (False, True):
        a = shared.evaluate(*args, stress=True, members=members)
        b = separate.evaluate(*args, stress=True, members=members)
        assert a.keys() == b.keys()
        for key in a:
            scale = np.abs(np.asarray(a[key])).max()
            np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-12 * scale,
                                       err_msg=f"{key} (members={members})")


def test_committee_falls_back_when_a_member_has_no_compiled_path() -> None:
    from nnpkit.models.registry import build_model, model_config_class

    config = model_config_class("equivariant").model_validate(
        {"kind": "equivariant", "cutoff_A": 5.0, "n_channels": 4, "n_layers": 1, "l_max": 1})
    small = build_small_model(["Cu"])
    equivariant = build_model(config.model_copy(update={"cutoff_A": small.cutoff}), ["Cu"],
                              None)
    committee = Committee([small, equivariant])
    with pytest.warns(FastPathNotice, match="committee member 1: .*equivariant"):
        calculator = CommitteeCalculator(committee)
    assert calculator.fast_path is None
    with pytest.raises(ConfigError, match="fast_path=True.*committee member 1"):
        CommitteeCalculator(committee, fast_path=True)
