"""nnpkit.apps.stability: crystal stability classification with invariant descriptors.

Build an alloy dataset (prototypes of the EMT metals, relaxed, labelled by the energy
above the pymatgen convex hull), featurize it invariantly, train calibrated classifiers
beside non-invariant baselines, and predict P(stable) for new structures.
"""

from nnpkit.apps.stability.config import (
    StabilityDatasetConfig,
    StabilityTrainConfig,
    load_stability_config,
)
from nnpkit.apps.stability.dataset import StabilityDataset, build_dataset
from nnpkit.apps.stability.features import InvariantFeaturizer, raw_coordinate_features
from nnpkit.apps.stability.metrics import classification_metrics
from nnpkit.apps.stability.model import StabilityModel
from nnpkit.apps.stability.splits import split_by_group
from nnpkit.apps.stability.training import train_stability
from nnpkit.apps.stability.workflow import dataset_from_config, predict_file

__all__ = [
    "StabilityDatasetConfig", "StabilityTrainConfig", "load_stability_config",
    "StabilityDataset", "build_dataset", "split_by_group", "InvariantFeaturizer",
    "raw_coordinate_features", "classification_metrics", "StabilityModel",
    "train_stability", "dataset_from_config", "predict_file",
]
