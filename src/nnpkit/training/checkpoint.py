"""Training checkpoints: everything needed to resume a run exactly, written atomically.

``checkpoint.pt`` holds the weights, the EMA weights, the optimiser, the LR scheduler,
the shuffling generator and the progress (epoch, best score, history); ``metrics.csv`` is
the history in readable form (one row per epoch, :data:`CSV_FIELDS`).
"""

from __future__ import annotations

import csv
import io
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from nnpkit.errors import ModelFileError
from nnpkit.file_writes import atomic_write

__all__ = ["CSV_FIELDS", "save_checkpoint", "load_checkpoint", "training_state",
           "restore_training_state", "write_history"]

#: Columns of ``metrics.csv``.
CSV_FIELDS = ["epoch", "learning_rate", "train_loss", "val_loss", "val_energy_mae_meV_per_atom",
              "val_forces_mae_meV_per_A", "val_stress_mae_GPa", "elapsed_s"]

#: What ``torch.load(weights_only=True)`` raises for a file that is not a readable
#: checkpoint (measured: a refused or garbage pickle, a truncated zip archive, an empty
#: or a text file).
_CHECKPOINT_READ_ERRORS = (pickle.UnpicklingError, RuntimeError, EOFError, KeyError,
                           ValueError, OSError)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a training state (tensors, state dicts, numbers, strings) atomically."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``: nothing in it can execute code."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except _CHECKPOINT_READ_ERRORS as error:  # what torch.load raises for a bad file
        raise ModelFileError(f"{path} is not a readable nnpkit checkpoint ({error})") from error


def training_state(model: torch.nn.Module, ema: torch.nn.Module | None,
                   optimizer: torch.optim.Optimizer, scheduler: Any, shuffle: torch.Generator,
                   **progress: Any) -> dict[str, Any]:
    """The state to checkpoint: the objects' state dicts plus ``progress`` (``epoch``,
    ``best``, ``since_best``, ``elapsed_s``, ``history``)."""
    return {"model": model.state_dict(), "ema": ema.state_dict() if ema is not None else {},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "shuffle": shuffle.get_state(), **progress}


def restore_training_state(state: dict[str, Any], model: torch.nn.Module,
                           ema: torch.nn.Module | None, optimizer: torch.optim.Optimizer,
                           scheduler: Any, shuffle: torch.Generator) -> dict[str, Any]:
    """Load a :func:`training_state` into the objects; returns its progress entries."""
    model.load_state_dict(state["model"])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    shuffle.set_state(state["shuffle"])
    objects = {"model", "ema", "optimizer", "scheduler", "shuffle"}
    return {key: value for key, value in state.items() if key not in objects}


def write_history(path: str | os.PathLike, history: list[dict[str, Any]]) -> None:
    """Write the per-epoch rows as ``metrics.csv`` (atomically): the fixed columns, then
    any others the rows carry (e.g. the dipole and polarizability errors)."""
    buffer = io.StringIO()
    extra = dict.fromkeys(key for row in history for key in row if key not in CSV_FIELDS)
    writer = csv.DictWriter(buffer, fieldnames=[*CSV_FIELDS, *extra], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    atomic_write(path, lambda tmp: Path(tmp).write_text(buffer.getvalue()))
