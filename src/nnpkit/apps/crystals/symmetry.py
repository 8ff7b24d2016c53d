"""The crystal's space group (spglib) and the check of a stiffness against its point group.

A stiffness ``C`` of a crystal must be invariant under every rotation of the crystal's
point group: ``R·C = C`` (``rotate_stiffness``). :func:`stiffness_symmetry_check` applies
each operation and reports the largest change, so a C with the wrong zeros or the wrong
equalities (C11 ≠ C22 in a cubic crystal, a non-zero C14 in hcp) shows up as a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from nnpkit.paths.voigt import rotate_stiffness

__all__ = ["CrystalSymmetry", "crystal_symmetry", "stiffness_symmetry_check",
           "symmetrize_stiffness"]

#: Upper space-group number of each crystal system.
_SYSTEMS: tuple[tuple[int, str], ...] = (
    (2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"),
    (167, "trigonal"), (194, "hexagonal"), (230, "cubic"))


@dataclass
class CrystalSymmetry:
    """Space group and point group of a crystal.

    Attributes:
        space_group: international symbol and number, e.g. ``"Fm-3m (225)"``.
        point_group: international point-group symbol, e.g. ``"m-3m"``.
        crystal_system: ``cubic``, ``hexagonal``, ``trigonal``, …
        rotations: [k, 3, 3] the point group's operations as Cartesian matrices.
    """

    space_group: str
    point_group: str
    crystal_system: str
    rotations: np.ndarray


def crystal_symmetry(atoms: Atoms, symprec: float = 1e-3) -> CrystalSymmetry:
    """The symmetry of ``atoms`` found by spglib within ``symprec`` Å."""
    import spglib

    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if dataset is None:  # pragma: no cover - spglib fails only on degenerate cells
        raise ValueError(f"spglib found no symmetry for {atoms.get_chemical_formula()}")
    number = int(dataset.number)
    system = next(name for upper, name in _SYSTEMS if number <= upper)
    lattice = atoms.cell.array.T  # columns are the lattice vectors
    # a fractional operation W maps to the Cartesian L W L⁻¹; unique ones (translations
    # of the space group give repeated rotations)
    rotations = np.unique(np.round([lattice @ w @ np.linalg.inv(lattice)
                                    for w in dataset.rotations], 10), axis=0)
    return CrystalSymmetry(space_group=f"{dataset.international} ({number})",
                           point_group=str(dataset.pointgroup), crystal_system=system,
                           rotations=rotations)


def stiffness_symmetry_check(stiffness_GPa: np.ndarray, symmetry: CrystalSymmetry,
                             tolerance: float = 0.01) -> dict:
    """How far ``C`` is from being invariant under the crystal's point group.

    Args:
        stiffness_GPa: [6, 6] Voigt stiffness in the crystal's Cartesian frame, GPa.
        symmetry: from :func:`crystal_symmetry` on the same structure.
        tolerance: the relative deviation (to ``max|C|``) accepted as symmetric.

    Returns:
        ``space_group``, ``point_group``, ``crystal_system``, ``max_deviation_GPa``
        (largest ``|R·C − C|`` over the operations), ``relative_deviation``, and
        ``consistent`` (relative deviation <= tolerance).
    """
    c = np.asarray(stiffness_GPa, dtype=float)
    deviation = max(float(np.abs(rotate_stiffness(c, rotation) - c).max())
                    for rotation in symmetry.rotations)
    relative = deviation / (float(np.abs(c).max()) or 1.0)
    return {"space_group": symmetry.space_group, "point_group": symmetry.point_group,
            "crystal_system": symmetry.crystal_system, "max_deviation_GPa": deviation,
            "relative_deviation": relative, "consistent": bool(relative <= tolerance)}


def symmetrize_stiffness(stiffness_GPa: np.ndarray, symmetry: CrystalSymmetry) -> np.ndarray:
    """The point-group average of ``C`` [6, 6], GPa: the nearest C the crystal allows."""
    c = np.asarray(stiffness_GPa, dtype=float)
    return np.mean([rotate_stiffness(c, rotation) for rotation in symmetry.rotations], axis=0)
