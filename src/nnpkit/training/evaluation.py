"""``evaluate_file``: a model or committee file on a labelled data file (``nnpkit eval``)."""

from __future__ import annotations

import os

import torch

from nnpkit.data.graph import atoms_to_graph
from nnpkit.data.io import LabelKeys, read_structures
from nnpkit.data.validate import validate_structures
from nnpkit.errors import ModelFileError
from nnpkit.models.committee_file import committee_file, load_committee
from nnpkit.models.model_file import load_model
from nnpkit.training.metrics import error_metrics, forces_std_spearman
from nnpkit.training.prediction import committee_predict, evaluate

__all__ = ["evaluate_file"]


def evaluate_file(model_path: str, data_source: str, energy_key: str = "energy",
                  forces_key: str = "forces", stress_key: str = "stress",
                  batch_size: int = 32, key: bytes | str | os.PathLike | None = None,
                  dipole_key: str = "dipole", polarizability_key: str = "polarizability"
                  ) -> dict[str, float | int | None]:
    """Metrics of a model file (or run directory) on a labelled extxyz file or database.

    The model runs in float64 so the metrics measure the fit, not rounding. For a
    committee (a ``committee.json`` or its directory) the metrics are those of the
    members' mean, plus ``forces_std_spearman`` (see :func:`forces_std_spearman`). With
    ``key`` (bytes or a key file) the model file must carry a valid signature with it.
    A model that responds to an electric field is also scored on the molecules' dipole
    (e·Å, label ``dipole_key``) and polarizability (e·Å²/V, label ``polarizability_key``)
    labels: ``dipole_mae_D``, ``polarizability_iso_mae_A3``, ... (see
    :func:`~nnpkit.training.metrics.response_metrics`; None without such labels).
    """
    committee = load_committee(model_path) if committee_file(model_path) else None
    if committee is not None and key is not None:
        raise ModelFileError(f"{model_path}: signed committees are not supported; check the "
                             "member files one by one")
    model = (committee if committee is not None else load_model(model_path, key=key)).double()
    keys = LabelKeys(energy=energy_key, forces=forces_key, stress=stress_key,
                     dipole=dipole_key, polarizability=polarizability_key)
    structures = read_structures(data_source, keys)
    validate_structures(structures, str(data_source), elements=model.elements)
    graphs = [atoms_to_graph(atoms, model.cutoff, torch.float64) for atoms in structures]
    if committee is None:
        return evaluate(model, graphs, batch_size)[0]
    predictions = committee_predict(committee.potentials, graphs, batch_size)
    return {**error_metrics(predictions),
            "forces_std_spearman": forces_std_spearman(predictions)}
