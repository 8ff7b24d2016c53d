"""nnpkit: neural network potentials from quantum reference data to science."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_calculator", "load_model"]

if TYPE_CHECKING:  # pragma: no cover
    from nnpkit.calculators import NNPCalculator
    from nnpkit.models.potential import Potential


def load_calculator(path: str, **kwargs: Any) -> NNPCalculator:
    """Load an ASE calculator from a model file or a run directory.

    Args:
        path: a ``.nnp`` model file or a run directory holding ``model.nnp``.
        **kwargs: passed to :class:`nnpkit.calculators.NNPCalculator` (``device``, ``dtype``,
            ``skin_A``: neighbour-list skin, Å).
    """
    from nnpkit.calculators import load_calculator as _load

    return _load(path, **kwargs)


def load_model(path: str) -> Potential:
    """Load a :class:`~nnpkit.models.potential.Potential` from a model file or run directory."""
    from nnpkit.training.model_file import load_model as _load

    return _load(path)[0]
