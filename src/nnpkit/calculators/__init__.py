"""nnpkit.calculators: ASE calculators over any nnpkit Potential."""

from nnpkit.calculators.ase_calculator import NNPCalculator
from nnpkit.calculators.committee import CommitteeCalculator
from nnpkit.calculators.committee import load_any_calculator as load_calculator

__all__ = ["NNPCalculator", "CommitteeCalculator", "load_calculator"]
