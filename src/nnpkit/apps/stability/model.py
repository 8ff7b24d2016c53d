"""The deployable stability model: invariant featurizer + calibrated MLP, in one file.

Stored with :mod:`nnpkit.tensor_file` (safetensors + JSON + an integrity checksum that
catches a corrupted or truncated file, not a deliberate edit), so loading executes no code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from nnpkit.apps.stability.classifiers import MLPStability
from nnpkit.apps.stability.features import InvariantFeaturizer
from nnpkit.tensor_file import load_tensor_file, save_tensor_file

__all__ = ["StabilityModel", "FORMAT_NAME"]

FORMAT_NAME = "nnpkit-stability-model"
FORMAT_VERSION = 1
MODEL_FILENAME = "stability_model.nnp"


@dataclass
class StabilityModel:
    """Probability that a crystal is stable (E_hull ≤ threshold), from invariant features.

    Attributes:
        featurizer_settings: keyword arguments of :class:`InvariantFeaturizer`.
        classifier: the fitted, temperature-calibrated MLP.
        threshold_eV_per_atom: the hull threshold the labels were made with.
        decision_threshold: probability above which a structure is called stable.
    """

    featurizer_settings: dict
    classifier: MLPStability
    threshold_eV_per_atom: float = 0.0
    decision_threshold: float = 0.5

    def featurizer(self) -> InvariantFeaturizer:
        """The featurizer the classifier was trained with."""
        return InvariantFeaturizer(**self.featurizer_settings)

    def predict_proba(self, structures: Sequence[Atoms]) -> np.ndarray:
        """Probability of being stable for each structure [n]."""
        return self.classifier.predict_proba(self.featurizer().transform(structures))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model file with its integrity checksum (atomically)."""
        tensors, hyperparameters = self.classifier.state()
        metadata = {"featurizer": self.featurizer_settings, "classifier": hyperparameters,
                    "threshold_eV_per_atom": self.threshold_eV_per_atom,
                    "decision_threshold": self.decision_threshold}
        return save_tensor_file(path, tensors, metadata, FORMAT_NAME, FORMAT_VERSION)

    @classmethod
    def load(cls, path: str | os.PathLike) -> StabilityModel:
        """Read a model file, or the ``stability_model.nnp`` of a run directory."""
        path = Path(path)
        if path.is_dir():
            path = path / MODEL_FILENAME
        tensors, metadata = load_tensor_file(path, FORMAT_NAME, FORMAT_VERSION)
        return cls(featurizer_settings=metadata["featurizer"],
                   classifier=MLPStability.from_state(tensors, metadata["classifier"]),
                   threshold_eV_per_atom=float(metadata["threshold_eV_per_atom"]),
                   decision_threshold=float(metadata["decision_threshold"]))
