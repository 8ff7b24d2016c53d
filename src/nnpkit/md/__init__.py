"""nnpkit.md: molecular dynamics runners over any ASE calculator, the batched engine, and
biases (collective variables, restraints, walls, well-tempered metadynamics)."""

from nnpkit.md.batched_runner import BatchedMDResult, run_batched_md
from nnpkit.md.bias import HarmonicBias, SphericalWall, SumBias
from nnpkit.md.bias_calculator import BiasedCalculator
from nnpkit.md.collective_variables import (
    CoordinationCV,
    DistanceCV,
    cv_of_atoms,
    switching_function,
)
from nnpkit.md.metadynamics import WellTemperedMetadynamics
from nnpkit.md.runner import MDResult, plot_md_log, run_md

__all__ = ["BatchedMDResult", "BiasedCalculator", "CoordinationCV", "DistanceCV",
           "HarmonicBias", "MDResult", "SphericalWall", "SumBias", "WellTemperedMetadynamics",
           "cv_of_atoms", "plot_md_log", "run_batched_md", "run_md", "switching_function"]
