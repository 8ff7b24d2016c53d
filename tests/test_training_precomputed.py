"""Training a BPNN on precomputed descriptor terms gives what autograd through the
descriptor gives: energies, forces, stress and the loss's parameter gradients, float64 to
round-off (1e-10 relative: the two paths add the same terms in different orders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import build_small_model, copper_cubic, ethanol

from nnpkit.data import write_structures
from nnpkit.data.graph import atoms_to_graph, collate
from nnpkit.derivatives import compute_properties
from nnpkit.errors import ConfigError
from nnpkit.labeling import copper_emt_dataset
from nnpkit.models.model_file import load_model
from nnpkit.training import fit, load_config
from nnpkit.training.loss import weighted_loss
from nnpkit.training.precomputed import (
    collate_terms,
    descriptor_bytes,
    precompute_descriptor,
    predict_from_descriptor,
)

TINY_MODEL = {"kind": "bpnn", "cutoff_A": 4.0, "angular_cutoff_A": 3.0, "n_radial": 6,
              "n_angular_radial": 2, "zetas": [1], "hidden": [16]}


def _labelled_batch(model: torch.nn.Module, dtype: torch.dtype):  # noqa: ANN202
    """Ethanol, a rattled Cu-Au crystal and methanol-like ethanol copy, with made-up labels."""
    rng = np.random.default_rng(3)
    crystal = copper_cubic().repeat(2)
    crystal.numbers[[1, 7]] = 79
    structures = [ethanol(), crystal, ethanol()]
    structures[2].rattle(0.1, seed=2)
    graphs = []
    for atoms in structures:
        atoms.rattle(0.03, seed=int(rng.integers(100)))
        graph = atoms_to_graph(atoms, model.cutoff, dtype)
        n = len(atoms)
        graph = graph.replace(
            energy=torch.tensor([float(rng.normal()) - 3.0 * n], dtype=torch.float64),
            forces=torch.as_tensor(rng.normal(size=(n, 3)), dtype=dtype),
            stress=torch.as_tensor(rng.normal(size=(1, 3, 3)) * 0.01, dtype=dtype)
            if atoms.pbc.all() else graph.stress)
        graphs.append(graph)
    return graphs


def test_precomputed_terms_give_the_autograd_energies_forces_stress_and_gradients() -> None:
    model = build_small_model(["H", "C", "O", "Cu", "Au"]).double()
    graphs = _labelled_batch(model, torch.float64)
    batch = collate(graphs)
    terms = collate_terms([precompute_descriptor(model, graph) for graph in graphs])
    assert descriptor_bytes(model, graphs) == 8 * sum(
        t.numel() for t in (terms.features, terms.jacobian, terms.vectors))

    expected = compute_properties(model, batch, forces=True, stress=True, create_graph=True)
    got = predict_from_descriptor(model, batch, terms, stress=True)
    torch.testing.assert_close(got["energy"], expected["energy"], rtol=1e-12, atol=0)
    scale = float(expected["forces"].detach().abs().max())
    torch.testing.assert_close(got["forces"], expected["forces"], rtol=0, atol=1e-10 * scale)
    periodic = batch.pbc.all(dim=1)
    assert bool(torch.isnan(got["stress"][~periodic]).all())
    stress_scale = float(expected["stress"][periodic].detach().abs().max())
    torch.testing.assert_close(got["stress"][periodic], expected["stress"][periodic],
                               rtol=0, atol=1e-10 * stress_scale)

    def gradients(prediction: dict) -> list[torch.Tensor]:
        loss, _ = weighted_loss(prediction, batch, 1.0, 10.0, 1.0)
        return torch.autograd.grad(loss, list(model.parameters()))

    for want, have in zip(gradients(expected), gradients(got), strict=True):
        torch.testing.assert_close(have, want, rtol=1e-10,
                                   atol=1e-10 * float(want.abs().max()))


def _run_config(train: Path, output: Path, model: dict, precompute: bool | None) -> dict:
    return {"data": {"train": str(train), "validation_fraction": 0.2, "test_fraction": 0.2},
            "model": model,
            "training": {"max_epochs": 3, "batch_size": 4, "progress": False,
                         "num_threads": 1, "dtype": "float64", "time_limit_min": None,
                         "precompute_descriptors": precompute},
            "output": str(output)}


def test_training_on_precomputed_descriptors_gives_the_same_model(tmp_path: Path) -> None:
    """Three epochs on copper with stress labels, float64: the same weights either way."""
    train = tmp_path / "cu.extxyz"
    write_structures(train, copper_emt_dataset(20, seed=1))
    weights = {}
    for precompute in (True, False):
        result = fit(load_config(_run_config(train, tmp_path / f"run_{precompute}",
                                             TINY_MODEL, precompute)))
        model = load_model(result.model_path)
        weights[precompute] = dict(model.named_parameters())
    assert weights[True].keys() == weights[False].keys()
    for name, value in weights[False].items():
        torch.testing.assert_close(weights[True][name], value, rtol=1e-9, atol=1e-9)


def test_precomputed_descriptors_refused_for_a_model_without_a_fixed_descriptor(
        tmp_path: Path) -> None:
    train = tmp_path / "cu.extxyz"
    write_structures(train, copper_emt_dataset(10, seed=1))
    equivariant = {"kind": "equivariant", "n_layers": 1, "l_max": 1, "n_channels": 4,
                   "product_channels": 4, "radial_mlp": [8], "readout_mlp": [4]}
    with pytest.raises(ConfigError, match="precompute_descriptors.*equivariant"):
        fit(load_config(_run_config(train, tmp_path / "run", equivariant, True)))
