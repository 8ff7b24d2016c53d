"""nnpkit.apps.crystals: crystal properties from any ASE calculator.

Equation of state (cell shape relaxed at each volume; Birch–Murnaghan and Vinet), the
full 6×6 elastic tensor clamped-ion and relaxed-ion (stress–strain; for nnpkit models
also exact autograd second derivatives), Voigt/Reuss/Hill moduli, Born stability and the
point-group check, phonons with phonopy (displaced supercells evaluated as one batch by
nnpkit calculators), quasi-harmonic thermal expansion with an NPT-MD cross-check.
Phonons and the symmetry check need phonopy and spglib (``pip install 'nnpkit[crystals]'``).
"""

from nnpkit.apps.crystals.elastic import ElasticTensor, elastic_tensor
from nnpkit.apps.crystals.elastic_autograd import clamped_ion_elastic_autograd
from nnpkit.apps.crystals.eos import EOSFit, EquationOfState, equation_of_state
from nnpkit.apps.crystals.inputs import read_structure
from nnpkit.apps.crystals.npt import NPTExpansion, npt_thermal_expansion
from nnpkit.apps.crystals.phonons import PhononResult, force_constants, phonons
from nnpkit.apps.crystals.qha import QHAResult, quasi_harmonic
from nnpkit.apps.crystals.relax import RelaxationError, relax
from nnpkit.apps.crystals.symmetry import (
    CrystalSymmetry,
    crystal_symmetry,
    stiffness_symmetry_check,
    symmetrize_stiffness,
)
from nnpkit.apps.crystals.workflow import (
    elastic_summary,
    eos_summary,
    phonon_summary,
    qha_summary,
)
from nnpkit.labeling.reference import resolve_calculator
from nnpkit.paths.moduli import born_stability, elastic_moduli

__all__ = [
    "ElasticTensor", "elastic_tensor", "clamped_ion_elastic_autograd",
    "EOSFit", "EquationOfState", "equation_of_state",
    "read_structure", "resolve_calculator",
    "born_stability", "elastic_moduli",
    "NPTExpansion", "npt_thermal_expansion",
    "PhononResult", "force_constants", "phonons",
    "QHAResult", "quasi_harmonic",
    "RelaxationError", "relax",
    "CrystalSymmetry", "crystal_symmetry", "stiffness_symmetry_check", "symmetrize_stiffness",
    "elastic_summary", "eos_summary", "phonon_summary", "qha_summary",
]
