"""Tensor files: safetensors weights + JSON metadata + checksum, optionally keyed (layer 0).

The format behind every nnpkit model file. Reading parses JSON and raw tensor bytes
only, so nothing in a file is ever executed.

Two digests cover the metadata and every tensor:

- ``sha256`` is an *integrity checksum*: it catches a file that was truncated, corrupted
  or edited by a tool that does not know the format. It is unkeyed, so anyone who edits
  the file on purpose can recompute it; it proves nothing about who wrote the file.
- ``hmac_sha256`` (optional) is a keyed signature, HMAC-SHA256 with a secret key of the
  user's (:func:`sign_tensor_file`, ``nnpkit sign``). Loading with ``key=...`` refuses a
  file that is unsigned or signed with another key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from nnpkit.errors import ModelFileError
from nnpkit.file_writes import atomic_write

__all__ = ["save_tensor_file", "load_tensor_file", "sign_tensor_file", "read_key"]

KEY_ENVIRONMENT_VARIABLE = "NNPKIT_MODEL_KEY"


def _feed(digest: hashlib._Hash | hmac.HMAC, metadata_json: str,
          tensors: dict[str, torch.Tensor]) -> str:
    digest.update(metadata_json.encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode() + str(tuple(tensor.shape)).encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _checksum(metadata_json: str, tensors: dict[str, torch.Tensor]) -> str:
    return _feed(hashlib.sha256(), metadata_json, tensors)


def _signature(key: bytes, metadata_json: str, tensors: dict[str, torch.Tensor]) -> str:
    return _feed(hmac.new(key, digestmod=hashlib.sha256), metadata_json, tensors)


def read_key(key: bytes | str | os.PathLike | None) -> bytes | None:
    """A signing key: bytes as given, or the contents of a key file (str or path).

    ``None`` means no key, unless the environment variable ``NNPKIT_MODEL_KEY`` names a
    key file.

    Raises:
        ModelFileError: the key file is missing or empty (naming it).
    """
    if isinstance(key, bytes):
        if not key:
            raise ModelFileError("the signing key is empty")
        return key
    if key is None:
        key = os.environ.get(KEY_ENVIRONMENT_VARIABLE) or None
        if key is None:
            return None
    path = Path(key)
    if not path.is_file():
        raise ModelFileError(f"key file not found: {path}")
    data = path.read_bytes().strip()
    if not data:
        raise ModelFileError(f"key file {path} is empty")
    return data


def save_tensor_file(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict,
                     format_name: str, format_version: int, key: bytes | None = None) -> Path:
    """Write ``tensors`` and JSON-ready ``metadata`` to ``path`` atomically.

    The header holds the integrity checksum and, when ``key`` is given, the HMAC-SHA256
    signature with that key.
    """
    tensors = {name: value.detach().cpu().contiguous() for name, value in tensors.items()}
    metadata_json = json.dumps(metadata, sort_keys=True)
    header = {"nnpkit_format": format_name, "format_version": str(format_version),
              "metadata": metadata_json, "sha256": _checksum(metadata_json, tensors)}
    if key is not None:
        header["hmac_sha256"] = _signature(key, metadata_json, tensors)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))
    return Path(path)


def _read(path: Path, format_name: str, format_version: int
          ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
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
    if _checksum(header["metadata"], tensors) != header["sha256"]:
        raise ModelFileError(f"{path} is corrupted or was edited after it was written "
                             "(integrity checksum mismatch)")
    return tensors, header


def load_tensor_file(path: str | os.PathLike, format_name: str, format_version: int,
                     key: bytes | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and verify a file written by :func:`save_tensor_file`.

    Args:
        key: when given, the file must carry an HMAC-SHA256 signature made with this key.

    Raises:
        ModelFileError: naming ``path``: not this format, another version, unreadable,
            a checksum mismatch, or (with ``key``) unsigned or signed with another key.
    """
    path = Path(path)
    tensors, header = _read(path, format_name, format_version)
    if key is not None:
        signature = header.get("hmac_sha256")
        if signature is None:
            raise ModelFileError(f"{path} is not signed, but a signing key was given "
                                 "(sign it with `nnpkit sign`)")
        if not hmac.compare_digest(signature, _signature(key, header["metadata"], tensors)):
            raise ModelFileError(f"{path}: the signature does not match this key (signed "
                                 "with another key, or edited after signing)")
    try:
        metadata = json.loads(header["metadata"])
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: metadata is not valid JSON ({error})") from error
    return tensors, metadata


def sign_tensor_file(path: str | os.PathLike, format_name: str, format_version: int,
                     key: bytes) -> Path:
    """Add (or replace) the HMAC-SHA256 signature of an existing file, atomically.

    The file's integrity checksum is verified first, so a corrupted file is never signed.
    """
    path = Path(path)
    tensors, header = _read(path, format_name, format_version)
    header = {**header, "hmac_sha256": _signature(key, header["metadata"], tensors)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))
    return path
