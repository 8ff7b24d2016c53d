"""nnpkit.calculators: ASE calculators over any nnpkit Potential."""

from nnpkit.calculators.ase_calculator import NNPCalculator, load_calculator

__all__ = ["NNPCalculator", "load_calculator"]
