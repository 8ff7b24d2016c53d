"""nnpkit.calculators: ASE calculators over any nnpkit Potential."""

from nnpkit.calculators.ase_calculator import NNPCalculator
from nnpkit.calculators.committee import CommitteeCalculator
from nnpkit.calculators.loading import load_calculator

__all__ = ["NNPCalculator", "CommitteeCalculator", "load_calculator"]
