"""The model file: safetensors weights plus versioned JSON metadata; loads no code.

Layout: one ``.nnp`` file in safetensors format. Its string metadata holds
``nnpkit_format`` (= ``"nnpkit-model"``), ``format_version``, and ``metadata`` (JSON:
model kind, hyperparameters, elements, cutoff, units, dataset statistics, training
config, nnpkit version) and ``sha256``, a digest of the metadata and every tensor, so a
file edited after writing is refused. Nothing in the file is ever executed.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from nnpkit.data.stats import DatasetStatistics
from nnpkit.errors import ModelFileError
from nnpkit.models.potential import Potential
from nnpkit.models.registry import build_model, model_config_class
from nnpkit.tensor_file import load_tensor_file, save_tensor_file

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "save_model", "load_model", "resolve_model_path"]

FORMAT_NAME = "nnpkit-model"
FORMAT_VERSION = 1
MODEL_FILENAME = "model.nnp"


def save_model(path: str | os.PathLike, model: Potential, statistics: DatasetStatistics,
               extra: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (atomically). ``extra`` is stored in the metadata."""
    import nnpkit

    metadata = {
        **(extra or {}),
        "kind": model.kind,
        "hyperparameters": model.hyperparameters(),
        "elements": list(model.elements),
        "cutoff_A": model.cutoff,
        "units": {"energy": "eV", "length": "Å", "forces": "eV/Å", "stress": "eV/Å³"},
        "statistics": statistics.to_dict(),
        "nnpkit_version": nnpkit.__version__,
    }
    save_tensor_file(path, model.state_dict(), metadata, FORMAT_NAME, FORMAT_VERSION)
    return Path(path)


def resolve_model_path(path: str | os.PathLike) -> Path:
    """A model file, or a run directory holding ``model.nnp``; names the path if missing."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILENAME
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    return path


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu"
               ) -> tuple[Potential, dict]:
    """Load a model file (or a run directory's ``model.nnp``) without executing any code.

    Returns:
        ``(model, metadata)``; the model is in eval mode, float32, on ``device``.

    Raises:
        ModelFileError: not an nnpkit model, an unknown format version, or the weights or
            metadata changed after the file was written.
    """
    path = resolve_model_path(path)
    tensors, metadata = load_tensor_file(path, FORMAT_NAME, FORMAT_VERSION)
    config = model_config_class(metadata["kind"]).model_validate(metadata["hyperparameters"])
    statistics = DatasetStatistics.from_dict(metadata["statistics"])
    model = build_model(config, list(metadata["elements"]), statistics)
    model.load_state_dict(tensors)
    return model.float().to(device).eval(), metadata
