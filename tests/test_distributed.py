"""DDP training: shares of a batch, 2 ranks = 1 process on the gradient, the DDP path against
plain fit(), torchrun with 2 ranks."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from ddp_gradients import epoch_gradient, free_port, two_rank_gradients

from nnpkit.data import write_structures
from nnpkit.labeling import copper_emt_dataset
from nnpkit.models.registry import build_model
from nnpkit.training import fit, load_config
from nnpkit.training.config import RunConfig
from nnpkit.training.dataset import structures_to_graphs
from nnpkit.training.distributed import DistributedContext
from nnpkit.training.launch import fit_distributed, train_distributed

TINY_MODEL = {"kind": "bpnn", "cutoff_A": 4.0, "angular_cutoff_A": 3.0, "n_radial": 6,
              "n_angular_radial": 2, "zetas": [1], "hidden": [16]}


def _config(tmp_path: Path, output: str, epochs: int = 3) -> dict:
    data = tmp_path / "cu.extxyz"
    if not data.is_file():
        write_structures(data, copper_emt_dataset(40, seed=0))
    return {"data": {"train": str(data), "validation_fraction": 0.2, "test_fraction": 0.1},
            "model": TINY_MODEL,
            "training": {"max_epochs": epochs, "time_limit_min": None, "batch_size": 4,
                         "progress": False, "num_threads": 1},
            "output": str(tmp_path / output)}


def _validation_curve(run_dir: Path) -> list[float]:
    with (run_dir / "metrics.csv").open() as handle:
        return [float(row["val_forces_mae_meV_per_A"]) for row in csv.DictReader(handle)]


def test_context_shares_every_structure_and_pads_an_empty_share() -> None:
    ranks = [DistributedContext(rank, 2, rank, "cpu") for rank in range(2)]
    batch = torch.arange(10, 15)
    shares = [context.share(batch) for context in ranks]
    assert [share.tolist() for share, _ in shares] == [[10, 12, 14], [11, 13]]  # 3/2
    assert [factor for _, factor in shares] == [2.0, 2.0]  # undoes DDP's mean over 2 ranks
    lone = torch.tensor([7])
    assert ranks[0].share(lone)[0].tolist() == [7] and ranks[0].share(lone)[1] == 2.0
    assert ranks[1].share(lone)[0].tolist() == [7] and ranks[1].share(lone)[1] == 0.0
    assert ranks[0].is_main and not ranks[1].is_main


# Five structures (slabs of 16 atoms without stress, bulk cells of 1 and 8 with), one
# epoch in order: with batch_size 5 rank 0 takes 3 structures (40 atoms, 1 stress) and
# rank 1 takes 2 (9 atoms, 2 stresses); with batch_size 4 the batches are 4 (2/2) and 1
# (rank 1's share empty). An SGD step with lr 0 keeps the weights, so the gradients left
# after the epoch are those of its last batch.
CASES = {"one batch, 3/2 split": 5, "last batch of 1": 4}


def _gradient_config() -> RunConfig:
    return load_config({"data": {"train": "-"}, "model": TINY_MODEL,
                        "training": {"dtype": "float64", "gradient_clip": None,
                                     "ema_decay": None, "progress": False}})


def test_two_ranks_with_unequal_shares_give_the_single_process_gradient(
        tmp_path: Path) -> None:
    made = copper_emt_dataset(6, seed=0)
    structures = [made[k] for k in (5, 1, 4, 2, 3)]
    assert [len(atoms) for atoms in structures] == [16, 1, 16, 8, 8]
    graphs = structures_to_graphs(structures, TINY_MODEL["cutoff_A"], torch.float64)
    torch.manual_seed(0)
    model = build_model(_gradient_config().model, ["Cu"]).double()
    model.fit_feature_normalization(graphs)
    state = model.state_dict()
    config = _gradient_config()
    ranks = two_rank_gradients(config, ["Cu"], state, graphs, CASES, tmp_path)
    for name, batch_size in CASES.items():
        loss, gradient = epoch_gradient(config, ["Cu"], state, graphs, batch_size, None)
        assert gradient.norm() > 0
        for result in ranks:
            ddp_loss, ddp_gradient = result[name]
            # float64: only the order of the sums differs (~1e-15 relative); 1e-6 is the
            # issue's bar. Per-rank means averaged over ranks differ by O(10 %) here.
            assert float((ddp_gradient - gradient).norm() / gradient.norm()) < 1e-6, name
            assert ddp_loss == pytest.approx(loss, rel=1e-9), name  # the all-reduced loss


def test_ddp_path_trains_exactly_like_plain_fit(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """One rank through DistributedDataParallel (gloo) = the ordinary trainer."""
    plain = fit(load_config(_config(tmp_path, "plain")))
    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(name, value)
    ddp = fit_distributed(_config(tmp_path, "ddp"))
    assert not torch.distributed.is_initialized()  # the group is torn down
    assert _validation_curve(ddp.run_dir) == pytest.approx(
        _validation_curve(plain.run_dir), rel=1e-5)
    assert ddp.test_metrics["forces_mae_meV_per_A"] == pytest.approx(
        plain.test_metrics["forces_mae_meV_per_A"], rel=1e-5)


@pytest.mark.slow
def test_two_process_torchrun_matches_one_process(tmp_path: Path) -> None:
    """2 gloo ranks through torchrun take the single-process optimiser steps: batches of 3
    (2/1 shares; 28 training structures, so the last batch of 1 leaves rank 1 empty) give
    the same validation curve and the same logged (all-reduced) training loss."""
    import yaml

    two, one = _config(tmp_path, "two", epochs=4), _config(tmp_path, "one", epochs=4)
    for config in (two, one):
        config["training"]["batch_size"] = 3
    config_path = tmp_path / "train.yaml"
    config_path.write_text(yaml.safe_dump(two))
    summary = train_distributed(config_path, nproc=2)
    assert summary["world_size"] == 2 and summary["epochs"] == 4
    single = fit(load_config(one))
    # float32 sums in another order: measured 1e-7 relative over 4 epochs (2e-16 in
    # float64). The per-rank means of 0176fd5 crashed on the empty share and, with batches
    # of 4, logged rank 0's loss (12 % off) and drifted 0.2 % in validation error.
    assert _validation_curve(tmp_path / "two") == pytest.approx(
        _validation_curve(tmp_path / "one"), rel=1e-5)
    assert summary["test"]["forces_mae_meV_per_A"] == pytest.approx(
        single.test_metrics["forces_mae_meV_per_A"], rel=1e-5)
    with (tmp_path / "two" / "metrics.csv").open() as a, \
            (tmp_path / "one" / "metrics.csv").open() as b:
        losses = [[float(row["train_loss"]) for row in csv.DictReader(f)] for f in (a, b)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
