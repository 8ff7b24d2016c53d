"""Learning-rate schedules: the cosine anneal over the budget, its checkpoint, bad resumes."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nnpkit.errors import ConfigError
from nnpkit.training import fit, load_config
from nnpkit.training.config import TrainingConfig
from nnpkit.training.schedule import budget_fraction, learning_rate_schedule

from .conftest import small_config


def _rates(run_dir: Path) -> list[float]:
    with open(run_dir / "metrics.csv") as handle:
        return [float(row["learning_rate"]) for row in csv.DictReader(handle)]


def test_budget_fraction_is_the_larger_of_the_epoch_and_time_fractions() -> None:
    by_epochs = TrainingConfig(max_epochs=10)
    assert budget_fraction(by_epochs, 3, 1e6) == pytest.approx(0.3)
    timed = TrainingConfig(max_epochs=10, time_limit_min=2.0)
    assert budget_fraction(timed, 3, 60.0) == pytest.approx(0.5)  # 60 of 120 s
    assert budget_fraction(timed, 8, 60.0) == pytest.approx(0.8)
    assert budget_fraction(timed, 1, 500.0) == 1.0  # past the limit: clipped


def test_cosine_anneals_to_the_final_rate_and_resumes_exactly(
        copper_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After epoch k of n the rate is η_min + (η₀ − η_min)(1 + cos πk/n)/2, ending at η_min;
    a run interrupted after 2 of 4 epochs and resumed equals the straight run bit for bit."""
    import nnpkit.training.trainer as trainer

    settings = {"lr_schedule": "cosine", "learning_rate": 4e-3, "min_learning_rate": 1e-4,
                "early_stopping_patience": 100}
    straight = fit(load_config(small_config(copper_files, tmp_path / "a", max_epochs=4,
                                            **settings)))
    expected = [1e-4 + 0.5 * (4e-3 - 1e-4) * (1 + math.cos(math.pi * k / 4))
                for k in range(1, 5)]
    assert _rates(tmp_path / "a") == pytest.approx(expected, rel=1e-12)
    assert straight.stop_reason == "max_epochs"
    stop_reason = trainer._stop_reason
    with monkeypatch.context() as patch:  # the same run, cut after its second epoch
        patch.setattr(trainer, "_stop_reason", lambda epoch, *rest: "time_limit"
                      if epoch == 2 else stop_reason(epoch, *rest))
        fit(load_config(small_config(copper_files, tmp_path / "b", max_epochs=4, **settings)))
    assert len(_rates(tmp_path / "b")) == 2
    resumed = fit(load_config(small_config(copper_files, tmp_path / "b", max_epochs=4,
                                           **settings)), resume=True)
    assert _rates(tmp_path / "b")[2:] == pytest.approx(expected[2:], rel=1e-12)
    first, second = load_file(straight.model_path), load_file(resumed.model_path)
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=0, atol=0)


def test_a_checkpoint_resumes_only_under_its_own_schedule() -> None:
    parameter = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.AdamW([parameter], lr=1e-3)
    cosine = learning_rate_schedule(optimizer, TrainingConfig(lr_schedule="cosine"))
    plateau = learning_rate_schedule(optimizer, TrainingConfig(lr_schedule="plateau"))
    cosine.step(0.0, 0.5)
    with pytest.raises(ConfigError, match="lr_schedule=cosine"):
        plateau.load_state_dict(cosine.state_dict())
    with pytest.raises(ConfigError, match="lr_schedule=plateau"):
        cosine.load_state_dict(plateau.state_dict())
    again = learning_rate_schedule(optimizer, TrainingConfig(lr_schedule="cosine",
                                                             learning_rate=1e-3))
    optimizer.param_groups[0]["lr"] = 0.0
    again.load_state_dict(cosine.state_dict())  # restores the rate of fraction 0.5
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))


def test_decay_over_the_last_fraction_holds_the_rate_before_it() -> None:
    """lr_decay_fraction 0.25: the initial rate up to 75 % of the budget, then the cosine
    over the rest (half-way down at 87.5 %), the final rate at the end."""
    parameter = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.AdamW([parameter], lr=1.0)
    schedule = learning_rate_schedule(optimizer, TrainingConfig(
        lr_schedule="cosine", learning_rate=2e-3, min_learning_rate=1e-5,
        lr_decay_fraction=0.25))
    rates = []
    for fraction in (0.0, 0.5, 0.75, 0.875, 1.0):
        schedule.step(0.0, fraction)
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([2e-3, 2e-3, 2e-3, 1e-5 + 0.5 * (2e-3 - 1e-5), 1e-5],
                                  rel=1e-12)


def test_a_decay_fraction_without_the_cosine_schedule_is_refused(
        copper_files: dict[str, Path], tmp_path: Path) -> None:
    config = small_config(copper_files, tmp_path / "run", lr_decay_fraction=0.2)
    with pytest.raises(ConfigError, match="lr_decay_fraction=0.2 acts only with"):
        load_config(config)
