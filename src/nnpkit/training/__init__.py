"""nnpkit.training: losses, the trainer, predictions, metrics and checkpoints.

Model files are read and written by :mod:`nnpkit.models.model_file` (``nnpkit.load_model``).
"""

from nnpkit.training.config import RunConfig, load_config
from nnpkit.training.metrics import error_metrics
from nnpkit.training.prediction import evaluate, predict
from nnpkit.training.trainer import FitResult, fit

__all__ = ["RunConfig", "load_config", "fit", "FitResult", "evaluate", "predict",
           "error_metrics"]
