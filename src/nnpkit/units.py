"""Units and conversions (layer 0).

nnpkit's public API uses ASE units: eV, Å, fs (as ``ase.units.fs`` internally), amu, e.
This module is the one table of conversions used to report metrics.
"""

from __future__ import annotations

from ase import units as _ase_units

__all__ = ["EV_PER_A3_TO_GPA", "GPA_TO_EV_PER_A3", "MEV_PER_EV", "HARTREE_TO_EV", "BOHR_TO_A"]

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
