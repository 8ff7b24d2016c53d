"""The model file: safetensors weights plus versioned JSON metadata; loads no code.

Layout: one ``.nnp`` file in safetensors format. Its string metadata holds
``nnpkit_format`` (= ``"nnpkit-model"``), ``format_version``, and ``metadata`` (JSON:
model kind, hyperparameters, elements, cutoff, units, dataset statistics, training
config, nnpkit version) and ``sha256``, a digest of the metadata and every tensor, so a
file edited after writing is refused. Nothing in the file is ever executed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from nnpkit.atomic import atomic_write
from nnpkit.data.stats import DatasetStatistics
from nnpkit.errors import ModelFileError
from nnpkit.models.potential import Potential
from nnpkit.models.registry import build_model, model_config_class

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "save_model", "load_model", "resolve_model_path"]

FORMAT_NAME = "nnpkit-model"
FORMAT_VERSION = 1
MODEL_FILENAME = "model.nnp"


def _digest(metadata_json: str, tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256(metadata_json.encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode() + str(tuple(tensor.shape)).encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_model(path: str | os.PathLike, model: Potential, statistics: DatasetStatistics,
               extra: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (atomically). ``extra`` is stored in the metadata."""
    import nnpkit

    tensors = {name: value.detach().cpu().contiguous() for name, value in
               model.state_dict().items()}
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
    metadata_json = json.dumps(metadata, sort_keys=True)
    header = {
        "nnpkit_format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "metadata": metadata_json,
        "sha256": _digest(metadata_json, tensors),
    }
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))
    return Path(path)


def resolve_model_path(path: str | os.PathLike) -> Path:
    """A model file, or a run directory holding ``model.nnp``; names the path if missing."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILENAME
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    return path


def _read_header(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{path} is not an nnpkit model file ({error})") from error


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
    header = _read_header(path)
    if header.get("nnpkit_format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not an nnpkit model file (no nnpkit header)")
    version = header.get("format_version", "")
    if version != str(FORMAT_VERSION):
        raise ModelFileError(
            f"{path} has model format version {version}; this nnpkit reads {FORMAT_VERSION}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{path}: weights are unreadable ({error})") from error
    if "metadata" not in header or "sha256" not in header:
        raise ModelFileError(f"{path}: the nnpkit header lacks its metadata or checksum")
    if _digest(header["metadata"], tensors) != header["sha256"]:
        raise ModelFileError(f"{path} was modified after it was written (checksum mismatch)")
    try:
        metadata = json.loads(header["metadata"])
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: metadata is not valid JSON ({error})") from error
    config = model_config_class(metadata["kind"]).model_validate(metadata["hyperparameters"])
    statistics = DatasetStatistics.from_dict(metadata["statistics"])
    model = build_model(config, list(metadata["elements"]), statistics)
    model.load_state_dict(tensors)
    return model.float().to(device).eval(), metadata
