"""Voigt notation: strains, the 6×6 stiffness matrix as a rank-4 tensor, and rotations.

Voigt order is ``xx, yy, zz, yz, xz, xy`` (ASE's, for stress too). Strains are
engineering strains, ``e4 = 2 ε_yz``, so that ``σ_I = Σ_J C_IJ e_J`` and the strain
energy density is ``½ Σ C_IJ e_I e_J``.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from nnpkit.units import EV_PER_A3_TO_GPA  # re-exported: 1 eV/Å³ in GPa

__all__ = ["VOIGT_LABELS", "VOIGT_PAIRS", "strain_matrix", "strained", "voigt_to_tensor",
           "tensor_to_voigt", "rotate_stiffness", "EV_PER_A3_TO_GPA"]

#: The six components, in order.
VOIGT_LABELS: tuple[str, ...] = ("xx", "yy", "zz", "yz", "xz", "xy")

#: The Cartesian index pair of each Voigt index.
VOIGT_PAIRS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))



def strain_matrix(voigt_strain: np.ndarray) -> np.ndarray:
    """The symmetric strain tensor [3, 3] of a Voigt engineering strain [6]."""
    e = np.asarray(voigt_strain, dtype=float)
    return np.array([[e[0], e[5] / 2, e[4] / 2],
                     [e[5] / 2, e[1], e[3] / 2],
                     [e[4] / 2, e[3] / 2, e[2]]])


def strained(atoms: Atoms, voigt_strain: np.ndarray) -> Atoms:
    """A copy of ``atoms`` homogeneously deformed by ``(1 + ε)``: cell rows and positions
    (fractional coordinates kept), no calculator."""
    deformation = np.eye(3) + strain_matrix(voigt_strain)
    copy = atoms.copy()
    copy.calc = None
    copy.set_cell(atoms.cell.array @ deformation, scale_atoms=True)  # ε is symmetric
    return copy


def voigt_to_tensor(stiffness: np.ndarray) -> np.ndarray:
    """The rank-4 stiffness ``C_ijkl`` [3, 3, 3, 3] of a Voigt matrix [6, 6]."""
    tensor = np.zeros((3, 3, 3, 3))
    for a, (i, j) in enumerate(VOIGT_PAIRS):
        for b, (k, l) in enumerate(VOIGT_PAIRS):
            for p, q in {(i, j), (j, i)}:
                for r, s in {(k, l), (l, k)}:
                    tensor[p, q, r, s] = stiffness[a, b]
    return tensor


def tensor_to_voigt(tensor: np.ndarray) -> np.ndarray:
    """The Voigt matrix [6, 6] of a rank-4 stiffness [3, 3, 3, 3] (minor symmetries
    assumed)."""
    return np.array([[tensor[i, j, k, l] for (k, l) in VOIGT_PAIRS] for (i, j) in VOIGT_PAIRS])


def rotate_stiffness(stiffness: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """``C'_ijkl = R_ia R_jb R_kc R_ld C_abcd`` of a Voigt matrix [6, 6] by a Cartesian
    rotation (or roto-inversion) [3, 3]; returns the Voigt matrix [6, 6]."""
    tensor = voigt_to_tensor(stiffness)
    rotated = np.einsum("ia,jb,kc,ld,abcd->ijkl", rotation, rotation, rotation, rotation,
                        tensor)
    return tensor_to_voigt(rotated)
