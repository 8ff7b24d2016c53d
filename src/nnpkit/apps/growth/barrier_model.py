"""The barrier network: hop barriers (eV) from local-environment descriptors.

Inputs per hop (``[n, 7]``): the six hop descriptors of :mod:`lattice` (NN and NNN counts
before and after, saddle neighbours, height change ``dz``) and the biaxial strain (%).
A small MLP (:class:`nnpkit.nn.MLP`) on standardised inputs predicts ``Ea``; it is trained
on a NEB catalogue (:mod:`catalogue`), forward and reverse barrier of each NEB, with whole
NEBs held out for testing. Saved with :func:`nnpkit.tensor_file.save_tensor_file`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from nnpkit.apps.growth.lattice import DESCRIPTOR_NAMES
from nnpkit.errors import DataError, ModelFileError
from nnpkit.nn import MLP
from nnpkit.tensor_file import load_tensor_file, save_tensor_file

__all__ = ["FEATURE_NAMES", "BarrierModel", "catalogue_arrays", "split_catalogue",
           "train_barrier_model"]

FEATURE_NAMES = (*DESCRIPTOR_NAMES, "strain_percent")
FORMAT_NAME = "nnpkit-growth-barrier-model"
FORMAT_VERSION = 1


class BarrierModel:
    """Standardise → MLP → barrier (eV). ``hidden``: widths of the hidden layers."""

    def __init__(self, hidden: list[int], mean: np.ndarray, std: np.ndarray,
                 metadata: dict | None = None) -> None:
        self.hidden = list(hidden)
        self.network = MLP(len(FEATURE_NAMES), self.hidden).double()
        self.mean = torch.as_tensor(np.asarray(mean), dtype=torch.float64)  # [7]
        self.std = torch.as_tensor(np.asarray(std), dtype=torch.float64)  # [7]
        self.metadata = dict(metadata or {})

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Barriers ``[n]`` (eV) of the raw features ``[n, 7]`` (float64)."""
        return self.network((features - self.mean) / self.std).squeeze(-1)

    def predict(self, descriptors: np.ndarray, strain_percent: float | np.ndarray = 0.0
                ) -> np.ndarray:
        """Barriers ``[n]`` (eV) of hop descriptors ``[n, 6]`` at ``strain_percent``."""
        descriptors = np.asarray(descriptors, dtype=np.float64)
        strain = np.broadcast_to(np.asarray(strain_percent, dtype=np.float64),
                                 (len(descriptors),))
        features = np.column_stack([descriptors, strain])  # [n, 7]
        with torch.no_grad():
            return self.forward(torch.as_tensor(features)).numpy().copy()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model file (safetensors + JSON metadata with an integrity checksum, atomic)."""
        tensors = {f"network.{key}": value for key, value in self.network.state_dict().items()}
        tensors.update(feature_mean=self.mean, feature_std=self.std)
        metadata = {"hidden": self.hidden, "feature_names": list(FEATURE_NAMES),
                    "units": {"barrier": "eV", "strain": "%"}, **self.metadata}
        return save_tensor_file(path, tensors, metadata, FORMAT_NAME, FORMAT_VERSION)

    @classmethod
    def load(cls, path: str | os.PathLike) -> BarrierModel:
        """Read a file written by :meth:`save`; :class:`ModelFileError` names the path."""
        tensors, metadata = load_tensor_file(path, FORMAT_NAME, FORMAT_VERSION)
        if metadata.get("feature_names") != list(FEATURE_NAMES):
            raise ModelFileError(f"{path}: features {metadata.get('feature_names')} differ "
                                 f"from {list(FEATURE_NAMES)}")
        try:
            model = cls(metadata["hidden"], tensors["feature_mean"].numpy(),
                        tensors["feature_std"].numpy(),
                        {k: v for k, v in metadata.items()
                         if k not in ("hidden", "feature_names", "units")})
            model.network.load_state_dict({key.removeprefix("network."): value
                                           for key, value in tensors.items()
                                           if key.startswith("network.")})
        except (KeyError, RuntimeError) as error:
            raise ModelFileError(f"{path}: incomplete barrier model ({error})") from error
        return model


def catalogue_arrays(records: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labelled samples of the successful NEBs: features ``[m, 7]``, barriers ``[m]`` (eV)
    and the NEB index ``[m]`` of each (forward and reverse hop of one NEB share it)."""
    features, barriers, groups = [], [], []
    for index, record in enumerate(records):
        if record.get("error") or record.get("barrier_forward_eV") is None:
            continue
        for side in ("forward", "reverse"):
            features.append([*record[f"{side}_descriptors"], record["strain_percent"]])
            barriers.append(record[f"barrier_{side}_eV"])
            groups.append(index)
    if not features:
        raise DataError("the barrier catalogue has no successful NEB to train on")
    return (np.asarray(features, dtype=np.float64), np.asarray(barriers, dtype=np.float64),
            np.asarray(groups, dtype=np.int64))


def split_catalogue(groups: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """Boolean test mask ``[m]`` holding out whole NEBs (both directions), at least one."""
    unique = np.unique(groups)
    if len(unique) < 2:
        raise DataError(f"need at least 2 successful NEBs to hold some out, got {len(unique)}")
    rng = np.random.default_rng(seed)
    n_test = min(len(unique) - 1, max(1, math.ceil(test_fraction * len(unique))))
    held_out = rng.choice(unique, size=n_test, replace=False)
    return np.isin(groups, held_out)


def train_barrier_model(features: np.ndarray, barriers: np.ndarray, test_mask: np.ndarray,
                        hidden: list[int], epochs: int, learning_rate: float,
                        weight_decay: float, seed: int, progress: bool = True
                        ) -> tuple[BarrierModel, dict]:
    """Fit the MLP on the training rows (full-batch Adam, MSE); returns the model and
    metrics: train and held-out MAE/RMSE (meV), and the held-out MAE of a linear
    least-squares fit on the same features (the baseline)."""
    train = ~test_mask
    torch.manual_seed(seed)
    mean = features[train].mean(axis=0)
    std = np.where(features[train].std(axis=0) > 1e-8, features[train].std(axis=0), 1.0)
    model = BarrierModel(hidden, mean, std)
    x = torch.as_tensor(features)  # [m, 7]
    y = torch.as_tensor(barriers)  # [m]
    optimizer = torch.optim.Adam(model.network.parameters(), lr=learning_rate,
                                 weight_decay=weight_decay)
    train_index = torch.as_tensor(np.nonzero(train)[0])
    for _ in tqdm(range(epochs), desc="barrier MLP", disable=not progress):
        optimizer.zero_grad()
        loss = torch.mean((model.forward(x[train_index]) - y[train_index]) ** 2)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        error = (model.forward(x) - y).numpy()  # [m] eV
    design = np.column_stack([features, np.ones(len(features))])  # [m, 8]
    coefficients = np.linalg.lstsq(design[train], barriers[train], rcond=None)[0]
    linear_error = design @ coefficients - barriers  # [m] eV
    metrics = {
        "n_train": int(train.sum()), "n_test": int(test_mask.sum()),
        "train_mae_meV": float(1000 * np.abs(error[train]).mean()),
        "test_mae_meV": float(1000 * np.abs(error[test_mask]).mean()),
        "test_rmse_meV": float(1000 * np.sqrt((error[test_mask] ** 2).mean())),
        "linear_test_mae_meV": float(1000 * np.abs(linear_error[test_mask]).mean()),
        "barrier_range_eV": [float(barriers.min()), float(barriers.max())],
    }
    model.metadata.update(metrics=metrics)
    return model, metrics
