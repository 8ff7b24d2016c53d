"""nnpkit.training: losses, the trainer, metrics, checkpoints and the model file."""

from nnpkit.training.config import RunConfig, load_config
from nnpkit.training.metrics import error_metrics, evaluate
from nnpkit.training.model_file import load_model, save_model
from nnpkit.training.trainer import FitResult, fit

__all__ = ["RunConfig", "load_config", "fit", "FitResult", "evaluate", "error_metrics",
           "load_model", "save_model"]
