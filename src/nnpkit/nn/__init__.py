"""nnpkit.nn: differentiable building blocks (cutoffs, symmetry functions, MLPs,
Gaussian-charge electrostatics, charge equilibration, atomic polarizability tensors)."""

from nnpkit.nn.atomic_polarizability import AtomicPolarizability
from nnpkit.nn.charge_equilibration import equilibrate_charges, qeq_energy
from nnpkit.nn.cutoff import cosine_cutoff
from nnpkit.nn.electrostatics import (
    coulomb_matrix,
    electrostatic_energy,
    point_charge_coulomb_matrix,
)
from nnpkit.nn.mlp import ACTIVATIONS, MLP
from nnpkit.nn.symmetry_functions import SymmetryFunctions, build_triplets

__all__ = ["cosine_cutoff", "MLP", "ACTIVATIONS", "SymmetryFunctions", "build_triplets",
           "coulomb_matrix", "point_charge_coulomb_matrix", "electrostatic_energy",
           "equilibrate_charges", "qeq_energy", "AtomicPolarizability"]
