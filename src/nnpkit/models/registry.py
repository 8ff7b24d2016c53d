"""The registry of model families: ``kind`` → (config class, model class)."""

from __future__ import annotations

from pydantic import BaseModel

from nnpkit.data.stats import DatasetStatistics
from nnpkit.errors import ConfigError
from nnpkit.models.bpnn import BehlerParrinello, BPNNConfig
from nnpkit.models.charge_aware import ChargeAwareConfig, ChargeAwarePotential
from nnpkit.models.equivariant import EquivariantConfig, EquivariantPotential
from nnpkit.models.potential import Potential

__all__ = ["MODEL_REGISTRY", "build_model", "model_config_class"]

MODEL_REGISTRY: dict[str, tuple[type[BaseModel], type[Potential]]] = {
    "bpnn": (BPNNConfig, BehlerParrinello),
    "equivariant": (EquivariantConfig, EquivariantPotential),
    "charge_aware": (ChargeAwareConfig, ChargeAwarePotential),
}


def model_config_class(kind: str) -> type[BaseModel]:
    """The typed config of a model family; unknown kinds name the known ones."""
    if kind not in MODEL_REGISTRY:
        raise ConfigError(f"unknown model kind {kind!r}; known kinds: {sorted(MODEL_REGISTRY)}")
    return MODEL_REGISTRY[kind][0]


def build_model(config: BaseModel, elements: list[str],
                statistics: DatasetStatistics | None = None) -> Potential:
    """Instantiate the model family named by ``config.kind``."""
    kind = getattr(config, "kind", None)
    if kind not in MODEL_REGISTRY:
        raise ConfigError(f"unknown model kind {kind!r}; known kinds: {sorted(MODEL_REGISTRY)}")
    model_class = MODEL_REGISTRY[kind][1]
    return model_class(elements, config, statistics)  # type: ignore[call-arg,arg-type]
