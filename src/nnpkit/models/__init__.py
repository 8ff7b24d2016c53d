"""nnpkit.models: the Potential interface and the model families."""

from nnpkit.models.bpnn import BehlerParrinello, BPNNConfig
from nnpkit.models.equivariant import EquivariantConfig, EquivariantPotential
from nnpkit.models.potential import Potential
from nnpkit.models.registry import MODEL_REGISTRY, build_model, model_config_class

__all__ = ["Potential", "BehlerParrinello", "BPNNConfig", "EquivariantConfig",
           "EquivariantPotential", "MODEL_REGISTRY", "build_model", "model_config_class"]
