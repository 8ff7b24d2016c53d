"""Learning-rate schedules of a training run (``training.lr_schedule``).

``plateau`` (the default) halves the rate when the validation loss stops improving
(torch's ``ReduceLROnPlateau``; the run stops once the rate falls below
``training.min_learning_rate``). ``cosine`` anneals it from ``training.learning_rate`` to
``training.min_learning_rate`` over the run's budget, or over its last
``training.lr_decay_fraction`` only (the rate held at its initial value before: a
"warmup-stable-decay" schedule without the warm-up): the fraction of the budget spent is
the larger of epochs / ``max_epochs`` and elapsed / ``time_limit_min`` on the run's
clock, so a run limited by time ends at the low rate whatever its epoch count. Under a
fixed CPU budget a plateau schedule may never cut the rate (the validation error is
still falling when the time is up); the cosine one always reaches the fine-tuning end.

Both are stepped once per epoch with the validation loss and the progress; their state
goes into ``checkpoint.pt``, so a resumed run continues the same schedule.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch

from nnpkit.errors import ConfigError
from nnpkit.training.config import TrainingConfig

__all__ = ["LearningRateSchedule", "learning_rate_schedule", "budget_fraction"]


class LearningRateSchedule(Protocol):
    """What the trainer needs of a schedule."""

    def step(self, val_loss: float, fraction: float) -> None:
        """After an epoch: its validation loss and the fraction of the budget spent."""

    def state_dict(self) -> dict[str, Any]:
        """The state to checkpoint."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""


def budget_fraction(settings: TrainingConfig, epoch: int, elapsed_s: float) -> float:
    """The fraction of the run's budget spent after ``epoch`` epochs and ``elapsed_s``
    seconds (on the run's clock): the larger of the epoch and the time fractions, in
    [0, 1]."""
    fraction = epoch / settings.max_epochs
    if settings.time_limit_min is not None:
        fraction = max(fraction, elapsed_s / (60.0 * settings.time_limit_min))
    return min(max(fraction, 0.0), 1.0)


class _Plateau:
    """torch's ReduceLROnPlateau (its state dict is the checkpoint's, as before)."""

    def __init__(self, optimizer: torch.optim.Optimizer, settings: TrainingConfig) -> None:
        self.inner = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=settings.scheduler_factor, patience=settings.scheduler_patience)

    def step(self, val_loss: float, fraction: float) -> None:
        self.inner.step(val_loss)

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("schedule") == "cosine":
            raise ConfigError("the checkpoint was written with training.lr_schedule=cosine; "
                              "resume with the same schedule")
        self.inner.load_state_dict(state)


class _Cosine:
    """η(f) = η_min + (η₀ − η_min)(1 + cos πg)/2 for the budget fraction f, where
    g = max(0, (f − 1 + d)/d) with d the decay fraction (g = f for d = 1)."""

    def __init__(self, optimizer: torch.optim.Optimizer, settings: TrainingConfig) -> None:
        self.optimizer = optimizer
        self.initial, self.final = settings.learning_rate, settings.min_learning_rate
        self.decay = settings.lr_decay_fraction
        self.fraction = 0.0

    def _apply(self) -> None:
        decayed = max(0.0, (self.fraction - 1.0 + self.decay) / self.decay)
        rate = self.final + 0.5 * (self.initial - self.final) * (
            1.0 + math.cos(math.pi * decayed))
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def step(self, val_loss: float, fraction: float) -> None:
        self.fraction = fraction
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {"schedule": "cosine", "fraction": self.fraction}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("schedule") != "cosine":
            raise ConfigError("the checkpoint was written with training.lr_schedule=plateau; "
                              "resume with the same schedule")
        self.fraction = float(state["fraction"])
        self._apply()


def learning_rate_schedule(optimizer: torch.optim.Optimizer, settings: TrainingConfig
                           ) -> LearningRateSchedule:
    """The schedule ``settings.lr_schedule`` names, acting on ``optimizer``."""
    if settings.lr_schedule == "cosine":
        return _Cosine(optimizer, settings)
    return _Plateau(optimizer, settings)
