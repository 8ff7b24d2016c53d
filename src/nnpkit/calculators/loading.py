"""``load_calculator``: the one way from a model or committee file to an ASE calculator."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from nnpkit.calculators.ase_calculator import NNPCalculator
from nnpkit.calculators.committee import CommitteeCalculator
from nnpkit.errors import ConfigError, ModelFileError
from nnpkit.models.committee_file import committee_file, load_committee
from nnpkit.models.model_file import load_model

__all__ = ["load_calculator"]


def load_calculator(path: str | os.PathLike, device: str | torch.device = "cpu",
                    dtype: torch.dtype | None = None, skin_A: float = 0.5,
                    key: bytes | str | os.PathLike | None = None,
                    fast_path: bool | None = None,
                    external_field_V_per_A: Sequence[float] | None = None) -> NNPCalculator:
    """An ASE calculator for a model file, a run directory, or a committee.

    Args:
        path: a ``.nnp`` file, a run directory holding ``model.nnp``, or a committee
            (its ``committee.json`` or the directory holding one: a
            :class:`~nnpkit.calculators.CommitteeCalculator` with uncertainties).
        device: torch device for inference.
        dtype: inference precision; default: the precision the model was trained in.
        skin_A: Verlet neighbour-list skin, Å (0 rebuilds the list at every call).
        key: require a valid HMAC signature with this key (bytes or a key file).
        fast_path: the low-latency path (see :class:`NNPCalculator`): None where the
            model has one, True to require it, False for the model's own autograd graph.
        external_field_V_per_A: a uniform field [3] (V/Å) the calculator's energies and
            forces include (models with a field coupling; see :class:`NNPCalculator`).
    """
    json_path = committee_file(path)
    if json_path is not None:
        if key is not None:
            raise ModelFileError("signed committees are not supported: sign and load the "
                             "member model files one by one")
        if external_field_V_per_A is not None and np.any(external_field_V_per_A):
            raise ConfigError("an external field is not supported for committees: load "
                              "the member models one by one")
        committee = load_committee(path, device=device, dtype=dtype)
        return CommitteeCalculator(committee, device=device, dtype=dtype, skin_A=skin_A,
                                   fast_path=fast_path,
                                   metadata={"committee": str(json_path),
                                             "members": list(committee.sources)})
    model = load_model(path, device=device, dtype=dtype, key=key)
    return NNPCalculator(model, device=device, dtype=dtype, skin_A=skin_A, fast_path=fast_path,
                         external_field_V_per_A=external_field_V_per_A)
