"""Signed tensor files: safetensors weights + JSON metadata + SHA-256 digest (layer 0).

The format behind every nnpkit model file. Reading parses JSON and raw tensor bytes
only, so nothing in a file is ever executed; the digest covers the metadata and every
tensor, so a file changed after writing is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from nnpkit.atomic import atomic_write
from nnpkit.errors import ModelFileError

__all__ = ["save_tensor_file", "load_tensor_file"]


def _digest(metadata_json: str, tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256(metadata_json.encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode() + str(tuple(tensor.shape)).encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_tensor_file(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict,
                     format_name: str, format_version: int) -> Path:
    """Write ``tensors`` and JSON-ready ``metadata`` to ``path`` atomically, signed."""
    tensors = {name: value.detach().cpu().contiguous() for name, value in tensors.items()}
    metadata_json = json.dumps(metadata, sort_keys=True)
    header = {"nnpkit_format": format_name, "format_version": str(format_version),
              "metadata": metadata_json, "sha256": _digest(metadata_json, tensors)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))
    return Path(path)


def load_tensor_file(path: str | os.PathLike, format_name: str, format_version: int
                     ) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and verify a file written by :func:`save_tensor_file`.

    Raises:
        ModelFileError: naming ``path``: not this format, another version, unreadable,
            or changed after writing.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{path} is not an nnpkit model file ({error})") from error
    if header.get("nnpkit_format") != format_name:
        raise ModelFileError(f"{path} is not a {format_name} file (no nnpkit header)")
    version = header.get("format_version", "")
    if version != str(format_version):
        raise ModelFileError(
            f"{path} has format version {version}; this nnpkit reads {format_version}")
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
    return tensors, metadata
