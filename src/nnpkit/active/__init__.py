"""nnpkit.active: the active-learning loop (committee → exploration → selection → farm)."""

from nnpkit.active.config import ActiveLearningConfig, load_active_config
from nnpkit.active.curve import plot_learning_curves, write_learning_curve
from nnpkit.active.explore import explore, select_frames
from nnpkit.active.loop import ActiveLearningResult, initial_structures, run_active_learning

__all__ = [
    "ActiveLearningConfig",
    "ActiveLearningResult",
    "explore",
    "initial_structures",
    "load_active_config",
    "plot_learning_curves",
    "run_active_learning",
    "select_frames",
    "write_learning_curve",
]
