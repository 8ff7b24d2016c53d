"""nnpkit.paths (layer 3): the machinery applications share for reaction paths.

One home each for the nudged elastic band (:func:`run_neb`, :func:`relax`), the
finite-difference vibrational analysis and transition-state check
(:func:`vibrational_modes`, :func:`check_saddle`, :func:`check_minimum`), harmonic and
ideal-gas thermochemistry, and the Cu(100) adatom diffusion paths that serve as the EMT
reference (:mod:`nnpkit.paths.surfaces`). Everything works with any ASE calculator.
Elasticity in Voigt notation (:mod:`nnpkit.paths.voigt`) and the moduli that follow from
a stiffness (:mod:`nnpkit.paths.moduli`) are shared by the crystal and multiscale
applications.
"""

from nnpkit.paths.neb import NEBResult, relax, run_neb
from nnpkit.paths.surfaces import cu100_adatom_exchange, cu100_adatom_hop
from nnpkit.paths.thermochemistry import (
    harmonic_free_energy_eV,
    ideal_gas_free_energy_eV,
    zero_point_energy_eV,
)
from nnpkit.paths.vibrations import (
    VibrationalModes,
    check_minimum,
    check_saddle,
    internal_modes,
    vibrational_modes,
)

__all__ = [
    "NEBResult", "relax", "run_neb",
    "VibrationalModes", "vibrational_modes", "check_saddle", "check_minimum",
    "internal_modes",
    "zero_point_energy_eV", "harmonic_free_energy_eV", "ideal_gas_free_energy_eV",
    "cu100_adatom_hop", "cu100_adatom_exchange",
]
