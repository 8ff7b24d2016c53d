"""Training checkpoints: everything needed to resume a run exactly, written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from nnpkit.errors import ModelFileError
from nnpkit.file_writes import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint"]


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
    except Exception as error:  # noqa: BLE001 - any unpickling failure is a bad file
        raise ModelFileError(f"{path} is not a readable nnpkit checkpoint ({error})") from error
