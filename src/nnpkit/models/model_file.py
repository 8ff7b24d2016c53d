"""The model file: safetensors weights plus versioned JSON metadata; loads no code.

Layout: one ``.nnp`` file in safetensors format (:mod:`nnpkit.tensor_file`). Its string
metadata holds ``nnpkit_format`` (= ``"nnpkit-model"``), ``format_version``, ``metadata``
(JSON: model kind, hyperparameters, elements, cutoff, units, the precision it was trained
in, dataset statistics, training config, nnpkit version), ``sha256``, an integrity
checksum of the metadata and every tensor, and optionally ``hmac_sha256``, a keyed
signature (``nnpkit sign``). Nothing in the file is ever executed.

The model file lives with the models (layer 2), so loading a model imports no training
code: the calculators, committees and every application read it from here.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from nnpkit.data.stats import DatasetStatistics
from nnpkit.errors import ModelFileError
from nnpkit.models.potential import Potential
from nnpkit.models.registry import build_model, model_config_class
from nnpkit.tensor_file import load_tensor_file, read_key, save_tensor_file, sign_tensor_file

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MODEL_FILENAME", "save_model", "load_model",
           "resolve_model_path", "sign_model"]

FORMAT_NAME = "nnpkit-model"
FORMAT_VERSION = 1
MODEL_FILENAME = "model.nnp"
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _dtype_name(model: Potential) -> str:
    parameter = next(model.parameters(), None)
    return "float64" if parameter is not None and parameter.dtype == torch.float64 else "float32"


def save_model(path: str | os.PathLike, model: Potential, statistics: DatasetStatistics,
               extra: dict | None = None, key: bytes | str | os.PathLike | None = None
               ) -> Path:
    """Write ``model`` to ``path`` (atomically). ``extra`` is stored in the metadata.

    The weights are stored in the model's own precision (``metadata["dtype"]``), so a
    model trained in float64 loads as float64. With ``key`` (bytes or a key file; default:
    the file named by ``NNPKIT_MODEL_KEY``, if set) the file is also signed.
    """
    import nnpkit

    metadata = {
        **(extra or {}),
        "kind": model.kind,
        "hyperparameters": model.hyperparameters(),
        "elements": list(model.elements),
        "cutoff_A": model.cutoff,
        "dtype": _dtype_name(model),
        "units": {"energy": "eV", "length": "Å", "forces": "eV/Å", "stress": "eV/Å³",
                  "charge": "e", "field": "V/Å", "dipole": "e·Å",
                  "polarizability": "e·Å²/V"},
        "statistics": statistics.to_dict(),
        "nnpkit_version": nnpkit.__version__,
    }
    save_tensor_file(path, model.state_dict(), metadata, FORMAT_NAME, FORMAT_VERSION,
                     key=read_key(key))
    return Path(path)


def resolve_model_path(path: str | os.PathLike) -> Path:
    """A model file, or a run directory holding ``model.nnp``; names the path if missing."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILENAME
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    return path


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu",
               dtype: torch.dtype | None = None,
               key: bytes | str | os.PathLike | None = None) -> Potential:
    """Load a model file (or a run directory's ``model.nnp``) without executing any code.

    Args:
        path: a ``.nnp`` file or a run directory.
        device: where the model goes.
        dtype: inference precision; default: the precision the model was saved in
            (float32 for files that do not record it).
        key: require a valid HMAC signature with this key (bytes or a key file); default:
            the key file named by ``NNPKIT_MODEL_KEY``, if that variable is set.

    Returns:
        The potential in eval mode; its file metadata is ``model.metadata`` (a dict).

    Raises:
        ModelFileError: not an nnpkit model, an unknown format version, an integrity
            checksum mismatch, or (with ``key``) an unsigned or wrongly signed file.
    """
    path = resolve_model_path(path)
    tensors, metadata = load_tensor_file(path, FORMAT_NAME, FORMAT_VERSION, key=read_key(key))
    config = model_config_class(metadata["kind"]).model_validate(metadata["hyperparameters"])
    statistics = DatasetStatistics.from_dict(metadata["statistics"])
    stored = _DTYPES.get(metadata.get("dtype", "float32"))
    if stored is None:
        raise ModelFileError(f"{path}: unknown dtype {metadata['dtype']!r} in the metadata")
    model = build_model(config, list(metadata["elements"]), statistics).to(stored)
    model.load_state_dict(tensors)
    model = model.to(device=device, dtype=dtype or stored).eval()
    model.metadata = metadata
    return model


def sign_model(path: str | os.PathLike, key: bytes | str | os.PathLike) -> Path:
    """Sign a model file (or a run directory's) with ``key``: ``nnpkit sign``."""
    secret = read_key(key)
    if secret is None:
        raise ModelFileError("no signing key given")
    return sign_tensor_file(resolve_model_path(path), FORMAT_NAME, FORMAT_VERSION, secret)
