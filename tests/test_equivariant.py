"""The E(3)-equivariant message-passing model: the nnpkit.testing checks in float64 and
float32, equivariance of its hidden features, parity, the model file, config and training.

The models are untrained (random weights) with statistics fitted on labelled structures
and the neighbour-count normalisation fitted on a few graphs: the symmetries, derivatives
and extensivity hold for any weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from conftest import copper_primitive, cuau_triclinic, ethanol
from e3nn import o3

from nnpkit.calculators import NNPCalculator
from nnpkit.data import write_structures
from nnpkit.data.graph import atoms_to_graph
from nnpkit.data.stats import fit_statistics
from nnpkit.errors import ConfigError
from nnpkit.labeling.datasets import copper_emt_dataset
from nnpkit.models import EquivariantConfig, EquivariantPotential, model_config_class
from nnpkit.models.equivariant import node_irreps
from nnpkit.models.model_file import load_model, save_model
from nnpkit.testing import (
    check_batch_consistency,
    check_extensivity,
    check_finite_difference_forces,
    check_finite_difference_stress,
    check_invariance,
)
from nnpkit.training import fit, load_config

#: A small, fast configuration: 8 scalar channels, l ≤ 2, two layers, 3-body products.
SMALL = {"n_channels": 8, "l_max": 2, "product_channels": 4, "n_layers": 2,
         "radial_mlp": [16], "readout_mlp": [8]}


def _labelled(elements: Sequence[str]) -> list[Atoms]:
    """Labelled, rattled structures made of ``elements`` (EMT for metals; made-up for
    molecules), for the dataset statistics and the neighbour-count normalisation."""
    rng = np.random.default_rng(0)
    if set(elements) <= {"H", "C", "O"}:
        bases = [ethanol()]
    elif "Au" in elements:
        bases = [cuau_triclinic(), copper_primitive().repeat((2, 2, 2))]
    else:
        bases = [copper_primitive().repeat((2, 2, 2)), copper_primitive().repeat((2, 1, 3))]
    structures = []
    for k in range(6):
        atoms = bases[k % len(bases)].copy()
        atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
        if set(elements) <= {"H", "C", "O"}:
            atoms.calc = SinglePointCalculator(
                atoms, energy=-100.0 * len(atoms) + rng.normal(), forces=rng.normal(
                    0.0, 0.5, (len(atoms), 3)))
        else:
            atoms.calc = EMT()
            atoms.get_forces()
            atoms.calc = SinglePointCalculator(atoms, **atoms.calc.results)
        structures.append(atoms)
    return structures


_CACHE: dict[tuple, EquivariantPotential] = {}


def build_model(elements: Sequence[str], **overrides: object) -> EquivariantPotential:
    """A fresh small untrained model (float32), statistics and normalisation fitted."""
    key = (tuple(elements), tuple(sorted(overrides.items())))
    if key not in _CACHE:
        structures = _labelled(elements)
        torch.manual_seed(7)
        model = EquivariantPotential(list(elements), EquivariantConfig(**{**SMALL, **overrides}),
                                     fit_statistics(structures, list(elements)))
        model.fit_feature_normalization(atoms_to_graph(a, model.cutoff) for a in structures)
        _CACHE[key] = model
    return copy.deepcopy(_CACHE[key])


def calculator(elements: Sequence[str], dtype: torch.dtype = torch.float64,
               **overrides: object) -> NNPCalculator:
    return NNPCalculator(build_model(elements, **overrides), dtype=dtype)


CASES: list[tuple[list[str], Callable[[], Atoms]]] = [
    (["H", "C", "O"], ethanol), (["Cu", "Au"], cuau_triclinic), (["Cu"], copper_primitive)]


# --- nnpkit.testing -------------------------------------------------------------------------


@pytest.mark.parametrize(("elements", "builder"), CASES)
def test_invariance_float64(elements: list[str], builder: Callable[[], Atoms]) -> None:
    check_invariance(calculator(elements), builder(), rtol=1e-8)


@pytest.mark.parametrize(("elements", "builder"), CASES)
def test_invariance_float32(elements: list[str], builder: Callable[[], Atoms]) -> None:
    check_invariance(calculator(elements, torch.float32), builder(), rtol=1e-4, atol=1e-5)


def test_forces_and_stress_are_not_trivially_zero() -> None:
    """Guard for the checks: the untrained model's forces and stress are of useful size."""
    atoms = cuau_triclinic()
    atoms.calc = calculator(["Cu", "Au"])
    assert np.abs(atoms.get_forces()).max() > 5e-3
    assert np.abs(atoms.get_stress()).max() > 1e-3


@pytest.mark.parametrize(("elements", "builder"), CASES[:2])
def test_finite_difference_forces(elements: list[str], builder: Callable[[], Atoms]) -> None:
    check_finite_difference_forces(calculator(elements), builder())


def test_finite_difference_stress_triclinic() -> None:
    check_finite_difference_stress(calculator(["Cu", "Au"]), cuau_triclinic())


def test_finite_difference_stress_short_cell() -> None:
    atoms = copper_primitive()
    strain = np.array([[0.01, 0.02, 0.0], [0.02, -0.02, 0.01], [0.0, 0.01, 0.015]])
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    check_finite_difference_stress(calculator(["Cu"]), atoms)


def test_extensivity_normal_cell() -> None:
    check_extensivity(calculator(["Cu", "Au"]), cuau_triclinic())


def test_extensivity_cell_shorter_than_cutoff() -> None:
    calc = calculator(["Cu"])
    atoms = copper_primitive()
    assert atoms.cell.lengths().max() < calc.model.cutoff
    check_extensivity(calc, atoms, repeat=(2, 2, 2))


@pytest.mark.parametrize("overrides", [{"correlation": 1}, {"correlation": 3},
                                       {"l_max": 0}, {"l_max": 3, "n_layers": 3}])
def test_other_architectures_are_invariant(overrides: dict) -> None:
    calc = calculator(["Cu", "Au"], **overrides)
    check_invariance(calc, cuau_triclinic(), rtol=1e-8)
    check_finite_difference_stress(calc, cuau_triclinic())


# --- equivariance of the features, parity ----------------------------------------------------


def test_hidden_features_are_equivariant() -> None:
    """The first layer's output transforms with D(R) of its irreps (vectors rotate, …)."""
    model = build_model(["H", "C", "O"]).double()
    captured: list[torch.Tensor] = []
    model.layers[0].register_forward_hook(lambda module, args, output: captured.append(output))
    irreps = node_irreps(model.config.n_channels, model.config.l_max)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn builds D(R) from constants in this dtype
    try:
        angles = (torch.tensor(0.7), torch.tensor(2.1), torch.tensor(-1.3))  # α, β, γ
        rotation = o3.angles_to_matrix(*angles)  # [3, 3]
        wigner_d = irreps.D_from_angles(*angles)  # [irreps.dim, irreps.dim]
    finally:
        torch.set_default_dtype(default_dtype)
    atoms = ethanol()
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rotation.numpy().T
    with torch.no_grad():
        model(atoms_to_graph(atoms, model.cutoff))
        model(atoms_to_graph(rotated, model.cutoff))
    assert captured[0].shape[1] == irreps.dim and irreps.lmax == 2
    expected = captured[0] @ wigner_d.T
    torch.testing.assert_close(captured[1], expected, rtol=1e-9, atol=1e-10)
    vectors = captured[0][:, irreps.slices()[1]]
    assert vectors.abs().max() > 1e-3  # the l = 1 channels are not trivially zero


def test_wigner_3j_constants_are_exact_in_float64() -> None:
    """e3nn's 3j buffers are built in float32; a cast or a float32 state dict loaded into
    a float64 model must not leave float32 rounding (it breaks equivariance at ~1e-8)."""
    model = build_model(["Cu", "Au"])
    for target in (model.double(), build_model(["Cu", "Au"]).double()):
        target.load_state_dict(build_model(["Cu", "Au"]).state_dict())
        buffers = {name: value for name, value in target.named_buffers() if "_w3j_" in name}
        assert buffers
        for name, value in buffers.items():
            l1, l2, l3 = (int(part) for part in name.rsplit("_w3j_", 1)[1].split("_"))
            exact = o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
            assert value.dtype == torch.float64
            torch.testing.assert_close(value, exact, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("elements", "builder"), CASES[:2])
def test_energy_is_invariant_under_inversion(elements: list[str],
                                             builder: Callable[[], Atoms]) -> None:
    calc = calculator(elements)
    atoms = builder()
    inverted = atoms.copy()
    inverted.positions = -atoms.positions
    inverted.set_cell(-atoms.cell.array, scale_atoms=False)
    for structure in (atoms, inverted):
        structure.calc = calc
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    assert inverted.get_potential_energy() == pytest.approx(energy, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(inverted.get_forces(), -forces, atol=1e-10)


def test_batch_equals_single_structures() -> None:
    model = build_model(["Cu", "Au"]).double()
    check_batch_consistency(
        model, [cuau_triclinic(), copper_primitive(), cuau_triclinic().repeat((1, 1, 2))])


# --- config, model file, training ------------------------------------------------------------


def test_model_file_round_trip(tmp_path: Path) -> None:
    model = build_model(["Cu", "Au"]).eval()
    statistics = fit_statistics(_labelled(["Cu", "Au"]), ["Cu", "Au"])
    path = save_model(tmp_path / "model.nnp", model, statistics)
    loaded = load_model(path)
    metadata = loaded.metadata
    assert isinstance(loaded, EquivariantPotential)
    assert metadata["kind"] == "equivariant"
    assert metadata["hyperparameters"] == model.hyperparameters()
    assert float(loaded.avg_num_neighbors) == float(model.avg_num_neighbors) > 1.0
    graph = atoms_to_graph(cuau_triclinic(), model.cutoff, dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(graph)["atomic_energies"],
                                   model(graph)["atomic_energies"], rtol=0, atol=0)


def test_config_validates_and_rejects_unknown_keys() -> None:
    config = load_config({"data": {"train": "train.extxyz"},
                          "model": {"kind": "equivariant", "n_layers": 2}})
    assert isinstance(config.model, EquivariantConfig)
    assert model_config_class("equivariant") is EquivariantConfig
    with pytest.raises(ConfigError, match="n_chanels"):
        load_config({"data": {"train": "train.extxyz"},
                     "model": {"kind": "equivariant", "n_chanels": 16}})


def test_training_smoke(tmp_path: Path) -> None:
    structures = copper_emt_dataset(40, seed=2)
    write_structures(tmp_path / "train.extxyz", structures)
    config = load_config({
        "data": {"train": str(tmp_path / "train.extxyz")},
        "model": {"kind": "equivariant", "cutoff_A": 4.0, **SMALL},
        "training": {"max_epochs": 2, "batch_size": 8, "progress": False, "num_threads": 1},
        "output": str(tmp_path / "run"),
    })
    result = fit(config)
    assert result.epochs == 2
    assert all(np.isfinite(value) for value in (
        result.test_metrics["energy_mae_meV_per_atom"],
        result.test_metrics["forces_mae_meV_per_A"]))
    model = load_model(result.model_path)
    metadata = model.metadata
    assert isinstance(model, EquivariantPotential) and metadata["kind"] == "equivariant"
