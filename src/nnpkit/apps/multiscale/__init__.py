"""nnpkit.apps.multiscale: a learned-potential atomistic region coupled to finite elements.

A Cauchy–Born continuum from the same potential (:class:`CauchyBorn`, autograd; any ASE
calculator through :class:`CalculatorCauchyBorn`), a tetrahedral scikit-fem mesh that is
atomistically resolved over the atomistic region (:func:`build_mesh`), three couplings
(blended energy ``bqce``, blended forces ``bqcf``, the naive ``sharp`` energy coupling;
:class:`CoupledModel`), their patch test (:func:`patch_test`), and spherical indentation
of fcc(100) against the fully atomistic model and Hertz's law (:func:`indent`,
:func:`multiscale_run`). The one-dimensional analysis of the ghost forces is
:mod:`nnpkit.apps.multiscale.chain1d`.
"""

from nnpkit.apps.multiscale.cauchy_born import (
    CalculatorCauchyBorn,
    CauchyBorn,
    relaxed_primitive_cell,
)
from nnpkit.apps.multiscale.coupling import COUPLINGS, CoupledEvaluation, CoupledModel
from nnpkit.apps.multiscale.geometry import AtomisticRegion, FccBlock
from nnpkit.apps.multiscale.hertz import fit_hertz, hertz_load_eV_per_A, indentation_modulus_GPa
from nnpkit.apps.multiscale.indentation import IndentationResult, indent
from nnpkit.apps.multiscale.indenter import IndenterCalculator, SphericalIndenter
from nnpkit.apps.multiscale.mesh import CoupledMesh, build_mesh
from nnpkit.apps.multiscale.patch_test import UNIFORM_STRAINS, patch_test
from nnpkit.apps.multiscale.solver import Equilibrium, minimise
from nnpkit.apps.multiscale.system import (
    CoupledSystem,
    coupled_system,
    fully_atomistic_region,
    reference_cell,
)
from nnpkit.apps.multiscale.workflow import multiscale_patch_test, multiscale_run

__all__ = [
    "CauchyBorn", "CalculatorCauchyBorn", "relaxed_primitive_cell",
    "COUPLINGS", "CoupledModel", "CoupledEvaluation", "AtomisticRegion", "FccBlock",
    "CoupledMesh", "build_mesh", "CoupledSystem", "coupled_system", "fully_atomistic_region",
    "reference_cell", "Equilibrium", "minimise", "UNIFORM_STRAINS", "patch_test",
    "SphericalIndenter", "IndenterCalculator", "IndentationResult", "indent",
    "indentation_modulus_GPa", "hertz_load_eV_per_A", "fit_hertz",
    "multiscale_run", "multiscale_patch_test",
]
