"""Training and evaluation on response labels (dipole, polarizability): the loss terms and
their label counts, a student charge-aware model learning a teacher's dipoles and
polarizabilities, the refusals, ``nnpkit eval --json`` and the recorded training charge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ddp_gradients import epoch_gradient, two_rank_gradients

from nnpkit.cli.main import main
from nnpkit.data import write_structures
from nnpkit.data.graph import AtomicGraph, atoms_to_graph, collate
from nnpkit.derivatives import compute_properties
from nnpkit.errors import ConfigError, DataError
from nnpkit.models.bpnn import BehlerParrinello, BPNNConfig
from nnpkit.models.charge_aware import ChargeAwareConfig, ChargeAwarePotential
from nnpkit.models.model_file import load_model
from nnpkit.models.registry import build_model
from nnpkit.training import FitResult, fit, load_config
from nnpkit.training.checkpoint import load_checkpoint
from nnpkit.training.config import RunConfig
from nnpkit.training.dataset import prepare_data
from nnpkit.training.loss import label_counts, weighted_loss
from nnpkit.training.metrics import error_metrics
from nnpkit.training.prediction import evaluate, predict
from nnpkit.units import E_A2_PER_V_TO_A3, E_A_TO_DEBYE

ELEMENTS = ["H", "C", "N", "O", "F"]
TINY = {"kind": "charge_aware", "cutoff_A": 4.0, "angular_cutoff_A": 3.0, "n_radial": 4,
        "n_angular_radial": 2, "zetas": [1], "hidden": [8], "n_polarizability_radial": 4}
NAMES = ["H2O", "NH3", "CH4", "HF", "CO2", "H2CO", "CH3OH", "HCN", "CH3CN", "C2H4"]
RESPONSE_KEYS = ("dipole_mae_D", "dipole_mae_eA", "polarizability_iso_mae_A3",
                 "polarizability_component_mae_A3", "polarizability_iso_mape_percent")


def _molecules(n_per_name: int, seed: int) -> list[Atoms]:
    """Randomly distorted small molecules (σ = 0.08 Å), plus H3O⁺ and OH⁻ (charge ±1)."""
    rng = np.random.default_rng(seed)
    structures = []
    for name in NAMES:
        for _ in range(n_per_name):
            atoms = molecule(name)
            atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
            structures.append(atoms)
    hydronium = molecule("H2O")
    hydronium += Atoms("H", positions=[hydronium.positions[0] + [0.0, 0.0, 0.98]])
    hydronium.info["charge"] = 1
    hydroxide = molecule("OH")
    hydroxide.info["charge"] = -1
    return [*structures, hydronium, hydroxide]


def _teacher() -> ChargeAwarePotential:
    """A charge-aware model with random weights (random output layers: the charges and
    polarizabilities vary from atom to atom), the source of the synthetic labels."""
    torch.manual_seed(123)
    config = ChargeAwareConfig(**{k: v for k, v in TINY.items() if k != "kind"})
    model = ChargeAwarePotential(ELEMENTS, config)
    with torch.no_grad():
        for network in model.element_networks:
            network[-1].weight.normal_(0.0, 0.5)
            network[-1].bias.normal_(0.0, 0.5)
    return model.double()


def _labelled(teacher: ChargeAwarePotential, structures: list[Atoms]) -> list[Atoms]:
    """Copies of ``structures`` labelled by ``teacher``: energy, forces and dipole on a
    SinglePointCalculator, the polarizability in ``info`` (as read_structures gives)."""
    graphs = [atoms_to_graph(atoms, teacher.cutoff) for atoms in structures]
    result = compute_properties(teacher, collate(graphs), forces=True, dipole=True,
                                polarizability=True)
    labelled, start = [], 0
    for k, atoms in enumerate(structures):
        copy, stop = atoms.copy(), start + len(atoms)
        copy.calc = SinglePointCalculator(
            copy, energy=float(result["energy"][k].detach()),
            forces=result["forces"][start:stop].detach().numpy(),
            dipole=result["dipole"][k].detach().numpy())
        copy.info["polarizability"] = result["polarizability"][k].detach().numpy()
        labelled.append(copy)
        start = stop
    return labelled


def _run_config(train: Path, output: Path, **training: object) -> dict:
    return {"data": {"train": str(train), "validation_fraction": 0.2, "test_fraction": 0.0,
                     "test": str(train.with_name("test.extxyz"))},
            "model": TINY,
            "training": {"max_epochs": 20, "batch_size": 8, "learning_rate": 0.01,
                         "dtype": "float64", "energy_weight": 1.0, "forces_weight": 1.0,
                         "dipole_weight": 100.0, "polarizability_weight": 100.0,
                         "ema_decay": None, "progress": False, "num_threads": 1, **training},
            "output": str(output)}


@pytest.fixture(scope="module")
def data_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("response")
    teacher = _teacher()
    teacher.fit_feature_normalization(
        [atoms_to_graph(atoms, teacher.cutoff) for atoms in _molecules(4, 0)])
    files = {"train": root / "train.extxyz", "test": root / "test.extxyz"}
    write_structures(files["train"], _labelled(teacher, _molecules(4, 0)))
    write_structures(files["test"], _labelled(teacher, _molecules(2, 7)))
    return files


@pytest.fixture(scope="module")
def trained(data_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
            ) -> FitResult:
    output = tmp_path_factory.mktemp("response_run") / "run"
    return fit(load_config(_run_config(data_files["train"], output)))


def _two_molecules() -> AtomicGraph:
    """H2O with a dipole and α, NH3 with a dipole only, a Cu cell with a (meaningless)
    dipole label that must not count."""
    water, ammonia, copper = molecule("H2O"), molecule("NH3"), bulk("Cu", "fcc", 3.6)
    for atoms in (water, ammonia, copper):
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0,
                                           forces=np.zeros((len(atoms), 3)))
        atoms.info["dipole"] = [0.1, -0.2, 0.3]
    water.info["polarizability"] = np.diag([0.10, 0.11, 0.12])
    return collate([atoms_to_graph(atoms, 3.0) for atoms in (water, ammonia, copper)])


def test_label_counts_have_dipole_and_polarizability_columns_for_molecules_only() -> None:
    counts = label_counts(_two_molecules())
    expected = torch.tensor([[1, 9, 0, 3, 9], [1, 12, 0, 3, 0], [1, 3, 0, 0, 0]],
                            dtype=torch.float64)
    torch.testing.assert_close(counts, expected, rtol=0, atol=0)


def test_response_loss_is_zero_when_perfect_and_matches_a_hand_computation() -> None:
    graph = _two_molecules()
    perfect = {"energy": graph.energy.clone(), "forces": graph.forces.clone(),
               "dipole": torch.nan_to_num(graph.dipole),
               "polarizability": torch.nan_to_num(graph.polarizability)}
    loss, parts = weighted_loss(perfect, graph, 1.0, 1.0, 0.0, dipole_weight=2.0,
                                polarizability_weight=3.0)
    assert float(loss) == 0.0 and parts == {"energy": 0.0, "forces": 0.0, "dipole": 0.0,
                                            "polarizability": 0.0}
    wrong = dict(perfect)
    wrong["dipole"] = perfect["dipole"] + torch.tensor([[0.3, 0.0, 0.0], [0.0, 0.4, 0.0],
                                                        [5.0, 5.0, 5.0]],
                                                       dtype=torch.float64)  # Cu: ignored
    wrong["polarizability"] = perfect["polarizability"] + 0.06 * torch.eye(3).double()
    _, parts = weighted_loss(wrong, graph, 1.0, 1.0, 0.0, dipole_weight=2.0,
                             polarizability_weight=3.0)
    # per atom: H2O has 3 atoms, NH3 4; 6 dipole components, 9 α components labelled
    assert parts["dipole"] == pytest.approx(((0.3 / 3) ** 2 + (0.4 / 4) ** 2) / 6, rel=1e-12)
    assert parts["polarizability"] == pytest.approx(3 * (0.06 / 3) ** 2 / 9, rel=1e-12)
    loss, _ = weighted_loss(wrong, graph, 1.0, 1.0, 0.0, dipole_weight=2.0,
                            polarizability_weight=3.0)
    assert float(loss) == pytest.approx(2.0 * parts["dipole"] + 3.0 * parts["polarizability"],
                                        rel=1e-12)


def test_shares_normalised_by_the_global_counts_add_up_to_the_whole_batch_loss() -> None:
    """What DDP relies on: the per-process losses, each divided by the whole batch's
    label counts (now 5 columns), sum to the single-process loss."""
    structures = _molecules(1, 3)[:5]
    graphs = [atoms_to_graph(atoms, 4.0) for atoms in _labelled(_teacher(), structures)]
    rng = np.random.default_rng(0)

    def noisy(graph: AtomicGraph) -> dict[str, torch.Tensor]:
        return {"energy": graph.energy + 0.1, "forces": graph.forces + 0.05,
                "dipole": graph.dipole + torch.as_tensor(rng.normal(0, 0.1, (1, 3))),
                "polarizability": graph.polarizability + 0.02}

    predictions = [noisy(graph) for graph in graphs]
    weights = (1.0, 1.0, 0.0)
    whole, _ = weighted_loss({key: torch.cat([p[key] for p in predictions])
                              for key in predictions[0]}, collate(graphs), *weights,
                             dipole_weight=5.0, polarizability_weight=7.0)
    normalization = torch.cat([label_counts(graph) for graph in graphs]).sum(0)  # [5]
    assert normalization.shape == (5,)
    shares = [[0, 2, 4], [1, 3]]
    total = sum(float(weighted_loss(
        {key: torch.cat([predictions[k][key] for k in share]) for key in predictions[0]},
        collate([graphs[k] for k in share]), *weights, normalization, 5.0, 7.0)[0])
        for share in shares)
    assert total == pytest.approx(float(whole), rel=1e-12)


def test_response_metrics_match_a_hand_computation_and_are_none_when_absent() -> None:
    base = {"energy_pred": np.zeros(2), "energy_ref": np.zeros(2), "n_atoms": np.ones(2),
            "forces_pred": np.zeros((2, 3)), "forces_ref": np.zeros((2, 3)),
            "stress_pred": np.full((2, 3, 3), np.nan), "stress_ref": np.full((2, 3, 3), np.nan)}
    assert all(error_metrics(base)[key] is None for key in RESPONSE_KEYS)
    reference = np.stack([np.eye(3) * 0.1, np.eye(3) * 0.2])  # α_iso = 0.1, 0.2 e·Å²/V
    predictions = {**base, "dipole_ref": np.zeros((2, 3)),
                   "dipole_pred": np.array([[0.3, 0.0, 0.0], [np.nan, np.nan, np.nan]]),
                   "polarizability_ref": reference, "polarizability_pred": reference * 1.1}
    metrics = error_metrics(predictions)
    assert metrics["dipole_mae_eA"] == pytest.approx(0.1, rel=1e-12)  # 3 components
    assert metrics["dipole_mae_D"] == pytest.approx(0.1 * E_A_TO_DEBYE, rel=1e-12)
    assert metrics["polarizability_iso_mae_A3"] == pytest.approx(0.015 * E_A2_PER_V_TO_A3,
                                                                 rel=1e-12)
    assert metrics["polarizability_component_mae_A3"] == pytest.approx(
        0.015 * E_A2_PER_V_TO_A3 * 3 / 9, rel=1e-12)
    assert metrics["polarizability_iso_mape_percent"] == pytest.approx(10.0, rel=1e-12)


def test_predict_gives_nan_response_for_periodic_structures_and_bpnn_models() -> None:
    teacher = _teacher()
    structures = _labelled(teacher, _molecules(1, 5)[:3])
    copper = bulk("Cu", "fcc", 3.6)
    graphs = [atoms_to_graph(atoms, teacher.cutoff) for atoms in structures]
    teacher.fit_feature_normalization(graphs)
    mixed = [graphs[0], atoms_to_graph(bulk("C", "diamond", 3.57), teacher.cutoff), *graphs[1:]]
    result = predict(teacher, mixed, batch_size=4)
    assert np.isnan(result["dipole_pred"][1]).all() and np.isnan(
        result["polarizability_pred"][1]).all()
    alone = predict(teacher, graphs)
    np.testing.assert_allclose(result["dipole_pred"][[0, 2, 3]], alone["dipole_pred"],
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(result["polarizability_pred"][[0, 2, 3]],
                               alone["polarizability_pred"], rtol=0, atol=1e-12)
    bpnn = BehlerParrinello(ELEMENTS + ["Cu"], BPNNConfig(cutoff_A=4.0, hidden=[4]))
    metrics, predictions = evaluate(bpnn.double(), [*graphs, atoms_to_graph(copper, 4.0)])
    assert np.isnan(predictions["dipole_pred"]).all()
    assert all(metrics[key] is None for key in RESPONSE_KEYS)


def test_training_on_a_teachers_labels_cuts_dipole_and_polarizability_errors(
        trained: FitResult, data_files: dict[str, Path]) -> None:
    """Measured (20 epochs, float64): test dipole MAE 5.1×, α component MAE 7.2×, α_iso
    MAE 13× lower than the untrained student's; the same run with dipole_weight and
    polarizability_weight 0 gives 1.1×, 0.7× and 0.7× (the terms do the learning)."""
    config = load_config(_run_config(data_files["train"], Path("unused")))
    data = prepare_data(config)
    torch.manual_seed(0)
    untrained = build_model(config.model, list(data.statistics.elements), data.statistics)
    untrained.fit_feature_normalization(data.train)
    before, _ = evaluate(untrained.double(), data.test)
    after = trained.test_metrics
    assert before["n_structures"] == after["n_structures"] == 22
    assert after["dipole_mae_eA"] < before["dipole_mae_eA"] / 3.0
    assert after["polarizability_component_mae_A3"] < before[
        "polarizability_component_mae_A3"] / 3.0
    assert after["polarizability_iso_mae_A3"] < before["polarizability_iso_mae_A3"] / 3.0
    history = load_checkpoint(trained.run_dir / "checkpoint.pt")["history"]
    assert all(row["val_dipole_mae_eA"] > 0 for row in history)
    assert all(row["val_polarizability_component_mae_A3"] > 0 for row in history)
    header = (trained.run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val_dipole_mae_eA", "val_polarizability_component_mae_A3"} <= set(header)
    summary = json.loads((trained.run_dir / "metrics.json").read_text())
    assert summary["test"]["dipole_mae_D"] == pytest.approx(after["dipole_mae_D"])


def test_model_file_keeps_the_largest_training_charge(
        trained: FitResult, data_files: dict[str, Path], tmp_path: Path) -> None:
    model = load_model(trained.model_path)
    assert float(model.max_training_abs_charge) == 1.0  # H3O⁺ and OH⁻ in the training set
    # with an EMA the model file holds the average's buffers: the same charge
    averaged = fit(load_config(_run_config(data_files["train"], tmp_path / "ema",
                                           max_epochs=1, ema_decay=0.9, dipole_weight=0.0,
                                           polarizability_weight=0.0)))
    assert float(load_model(averaged.model_path).max_training_abs_charge) == 1.0
    dication = molecule("H2O")
    dication.info["charge"] = 2
    with pytest.raises(ConfigError, match="charges up to ±1"):
        model(atoms_to_graph(dication, model.cutoff, torch.float32))


def test_nnpkit_eval_json_reports_the_response_errors(
        trained: FitResult, data_files: dict[str, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(trained.run_dir), str(data_files["test"]), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    for key in RESPONSE_KEYS:
        assert metrics[key] == pytest.approx(trained.test_metrics[key], rel=1e-9), key
    assert metrics["dipole_mae_D"] == pytest.approx(metrics["dipole_mae_eA"] * E_A_TO_DEBYE)
    assert main(["eval", str(trained.model_path), str(data_files["test"])]) == 0
    text = capsys.readouterr().out
    assert f"dipole MAE:        {metrics['dipole_mae_D']:.4f} D" in text
    assert f"{metrics['polarizability_iso_mae_A3']:.4f} Å³ isotropic" in text


def test_dipole_weight_on_a_model_without_field_coupling_is_refused_up_front(
        tmp_path: Path) -> None:
    config = _run_config(tmp_path / "absent.extxyz", tmp_path / "run", dipole_weight=1.0,
                         polarizability_weight=0.0)
    config["model"] = {"kind": "bpnn"}
    with pytest.raises(ConfigError, match=r"training\.dipole_weight=1 .*model\.kind='bpnn'"):
        fit(load_config(config))  # before the (absent) data file is read


@pytest.mark.parametrize("name", ["dipole", "polarizability"])
def test_a_training_structure_without_the_label_is_refused_naming_index_and_key(
        name: str, data_files: dict[str, Path], tmp_path: Path) -> None:
    from nnpkit.data import read_structures

    structures = read_structures(data_files["train"])
    stripped = structures[3].copy()
    results = dict(structures[3].calc.results)
    if name == "dipole":
        results.pop("dipole")
    else:
        stripped.info.pop("polarizability")
    stripped.calc = SinglePointCalculator(stripped, **results)
    structures[3] = stripped
    train = tmp_path / "train.extxyz"
    write_structures(train, structures)
    write_structures(tmp_path / "test.extxyz", structures[:2])
    config = _run_config(train, tmp_path / "run")
    config["data"].update({"validation": str(train), "validation_fraction": 0.0})
    with pytest.raises(DataError, match=rf"train\.extxyz: training structure 3 has no "
                                        rf"{name} label '{name}'.*training\.{name}_weight"):
        fit(load_config(config))


def _gradient_config(batch_size: int) -> RunConfig:
    return load_config({"data": {"train": "-"}, "model": TINY,
                        "training": {"dtype": "float64", "gradient_clip": None,
                                     "ema_decay": None, "progress": False,
                                     "batch_size": batch_size, "dipole_weight": 100.0,
                                     "polarizability_weight": 100.0}})


def test_two_ddp_ranks_give_the_single_process_gradient_of_the_response_terms(
        tmp_path: Path) -> None:
    """A batch of 5 molecules of 3 to 6 atoms split 3/2 over 2 gloo ranks: dipole and
    polarizability terms included, the gradient is that of the whole batch."""
    teacher = _teacher()
    structures = _labelled(teacher, [_molecules(1, 4)[k] for k in (0, 4, 6, 9, 10)])
    graphs = [atoms_to_graph(atoms, teacher.cutoff) for atoms in structures]
    torch.manual_seed(1)
    model = build_model(_gradient_config(5).model, ELEMENTS).double()
    model.fit_feature_normalization(graphs)
    state = model.state_dict()
    config = _gradient_config(5)
    ranks = two_rank_gradients(config, ELEMENTS, state, graphs, {"batch": 5}, tmp_path)
    loss, gradient = epoch_gradient(config, ELEMENTS, state, graphs, 5, None)
    assert gradient.norm() > 0
    for result in ranks:
        ddp_loss, ddp_gradient = result["batch"]
        # float64: only the order of the sums differs
        assert float((ddp_gradient - gradient).norm() / gradient.norm()) < 1e-6
        assert ddp_loss == pytest.approx(loss, rel=1e-9)


def test_predict_on_no_structures_gives_empty_arrays_and_no_metrics() -> None:
    """A run without a test set (test_fraction 0, no test file) ends with empty test
    metrics instead of failing after training."""
    from nnpkit.models.charge_aware import ChargeAwareConfig, ChargeAwarePotential
    from nnpkit.training.metrics import error_metrics
    from nnpkit.training.prediction import predict

    model = ChargeAwarePotential(["H", "O"], ChargeAwareConfig(hidden=[4]))
    empty = predict(model, [])
    assert empty["forces_pred"].shape == (0, 3)
    assert empty["polarizability_ref"].shape == (0, 3, 3)
    metrics = error_metrics(empty)
    assert metrics["n_structures"] == 0 and metrics["dipole_mae_D"] is None
