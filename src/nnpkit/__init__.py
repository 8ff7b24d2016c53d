"""nnpkit: neural network potentials from quantum reference data to science.

The two loaders are re-exported here (imported lazily, so ``import nnpkit`` stays light):

- :func:`nnpkit.load_model` is :func:`nnpkit.models.model_file.load_model`: a model file or
  run directory to a :class:`~nnpkit.models.potential.Potential` (metadata on
  ``model.metadata``);
- :func:`nnpkit.load_calculator` is :func:`nnpkit.calculators.load_calculator`: a model
  file, run directory or committee to an ASE calculator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_calculator", "load_model"]

if TYPE_CHECKING:  # pragma: no cover
    from nnpkit.calculators.loading import load_calculator
    from nnpkit.models.model_file import load_model


def __getattr__(name: str) -> Any:
    if name == "load_model":
        from nnpkit.models.model_file import load_model

        return load_model
    if name == "load_calculator":
        from nnpkit.calculators.loading import load_calculator

        return load_calculator
    raise AttributeError(f"module 'nnpkit' has no attribute {name!r}")
