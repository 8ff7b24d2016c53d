"""Units and conversions (layer 0).

nnpkit's public API uses ASE units: eV, Å, fs (as ``ase.units.fs`` internally), amu, e.
This module is the one table of conversions used to report metrics.
"""

from __future__ import annotations

from ase import units as _ase_units

__all__ = ["EV_PER_A3_TO_GPA", "GPA_TO_EV_PER_A3", "MEV_PER_EV", "HARTREE_TO_EV", "BOHR_TO_A",
           "COULOMB_EV_A", "E_A2_PER_V_TO_A3", "E_A_TO_DEBYE"]

#: Multiply a stress in eV/Å³ by this to get GPa.
EV_PER_A3_TO_GPA: float = 1.0 / _ase_units.GPa
#: Multiply a stress in GPa by this to get eV/Å³.
GPA_TO_EV_PER_A3: float = _ase_units.GPa
#: meV per eV.
MEV_PER_EV: float = 1000.0
#: eV per Hartree.
HARTREE_TO_EV: float = _ase_units.Hartree
#: Å per Bohr.
BOHR_TO_A: float = _ase_units.Bohr
#: Coulomb's constant 1/(4πε0) in eV·Å/e²: the energy of two unit charges 1 Å apart.
COULOMB_EV_A: float = _ase_units.Hartree * _ase_units.Bohr
#: Multiply a polarizability in e·Å²/V by this to get the polarizability volume in Å³
#: (α/(4πε0)); numerically equal to :data:`COULOMB_EV_A`.
E_A2_PER_V_TO_A3: float = COULOMB_EV_A
#: Multiply a dipole moment in e·Å by this to get debye.
E_A_TO_DEBYE: float = 1.0 / _ase_units.Debye
