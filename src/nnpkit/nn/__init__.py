"""nnpkit.nn: differentiable building blocks (cutoffs, symmetry functions, MLPs)."""

from nnpkit.nn.cutoff import cosine_cutoff
from nnpkit.nn.mlp import ACTIVATIONS, MLP
from nnpkit.nn.symmetry_functions import SymmetryFunctions, build_triplets

__all__ = ["cosine_cutoff", "MLP", "ACTIVATIONS", "SymmetryFunctions", "build_triplets"]
