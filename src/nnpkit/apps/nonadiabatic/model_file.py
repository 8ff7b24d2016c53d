"""Saving and loading trained diabatic networks (safetensors + JSON metadata, no pickle).

The file records the architecture (``hyperparameters()``), the units (atomic units:
bohr in, Hartree out), the training summary the caller passes, and the weights; it is
signed by :func:`nnpkit.tensor_file.save_tensor_file`, so a modified file is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from nnpkit import __version__
from nnpkit.apps.nonadiabatic.molecular import AtomisticDiabaticNetwork
from nnpkit.apps.nonadiabatic.networks import DiabaticMLP, NetworkPotential
from nnpkit.errors import ModelFileError
from nnpkit.tensor_file import load_tensor_file, save_tensor_file

__all__ = ["save_diabatic_model", "load_diabatic_model", "load_diabatic_network",
           "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "nnpkit-diabatic"
FORMAT_VERSION = 1


def save_diabatic_model(path: str | os.PathLike,
                        model: DiabaticMLP | AtomisticDiabaticNetwork,
                        summary: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (atomically); ``summary`` is JSON-ready training info."""
    metadata = {"kind": model.kind, "hyperparameters": model.hyperparameters(),
                "units": {"positions": "bohr", "energy": "hartree", "mass": "electron_mass"},
                "summary": summary or {}, "nnpkit_version": __version__}
    return save_tensor_file(path, dict(model.state_dict()), metadata, FORMAT_NAME,
                            FORMAT_VERSION)


def load_diabatic_network(path: str | os.PathLike
                          ) -> tuple[DiabaticMLP | AtomisticDiabaticNetwork, dict]:
    """The network (float64, eval mode) and the metadata stored in ``path``.

    Raises:
        ModelFileError: naming the file: wrong format or version, tampered, unknown kind,
            or weights that do not fit the recorded architecture.
    """
    tensors, metadata = load_tensor_file(path, FORMAT_NAME, FORMAT_VERSION)
    kinds = {DiabaticMLP.kind: DiabaticMLP, AtomisticDiabaticNetwork.kind:
             AtomisticDiabaticNetwork}
    if metadata.get("kind") not in kinds:
        raise ModelFileError(f"{path}: unknown diabatic model kind {metadata.get('kind')!r}")
    model: DiabaticMLP | AtomisticDiabaticNetwork
    try:
        model = kinds[metadata["kind"]](**metadata["hyperparameters"]).double()
        model.load_state_dict({k: v.double() for k, v in tensors.items()})
    except (KeyError, TypeError, RuntimeError) as error:
        raise ModelFileError(f"{path}: weights do not match the architecture ({error})"
                             ) from error
    return model.eval(), metadata


def load_diabatic_model(path: str | os.PathLike) -> NetworkPotential:
    """A saved model-coordinate network as a :class:`NetworkPotential` for surface hopping.

    An atomistic network needs its molecule: wrap it in
    :class:`~nnpkit.apps.nonadiabatic.molecular.MolecularDiabaticPotential` instead.
    """
    model, _ = load_diabatic_network(path)
    if not isinstance(model, DiabaticMLP):
        raise ModelFileError(f"{path} holds an atomistic network; load it with "
                             "load_diabatic_network and MolecularDiabaticPotential")
    with torch.no_grad():
        return NetworkPotential(model)
