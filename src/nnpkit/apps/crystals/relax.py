"""Relaxations of a crystal at fixed cell, fixed volume or free cell, failing loudly.

Every workflow in :mod:`nnpkit.apps.crystals` relaxes through :func:`relax`, which raises
:class:`RelaxationError` naming the point (a strain, a volume) when the optimiser does not
converge or the calculator fails, so a caller can leave that point out *and say so*.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from nnpkit.errors import REFERENCE_FAILURES, ConfigError, LabelingError

__all__ = ["RelaxationError", "relax", "CellMode"]

#: ``fixed``: ions only; ``shape``: ions and cell shape at constant volume; ``full``:
#: ions and cell (zero stress).
CellMode = Literal["fixed", "shape", "full"]


class RelaxationError(LabelingError):
    """A relaxation did not converge, or the calculator failed during it."""


def _max_force(atoms: Atoms) -> float:
    forces = atoms.get_forces()
    return float(np.sqrt((forces**2).sum(axis=1)).max()) if len(atoms) else 0.0


def relax(atoms: Atoms, calculator: Calculator, cell: CellMode = "fixed",
          fmax_eV_per_A: float = 1e-4, max_steps: int = 1000, keep_symmetry: bool = False,
          label: str = "structure") -> Atoms:
    """A relaxed copy of ``atoms`` (with ``calculator`` attached).

    Args:
        atoms: the starting structure (not modified).
        calculator: any ASE calculator.
        cell: ``fixed`` (ions only), ``shape`` (ions and cell shape at the starting
            volume) or ``full`` (ions and cell to zero stress).
        fmax_eV_per_A: convergence threshold on the forces, eV/Å (with a cell filter, on
            the filter's generalised forces, which include stress × volume).
        max_steps: BFGS steps before giving up.
        keep_symmetry: hold the space group of the start (``ase.constraints.FixSymmetry``,
            needs spglib); use it where the start is a symmetric crystal.
        label: what the structure is (``"strain e4 = -0.005"``), for the error message.

    Raises:
        RelaxationError: not converged in ``max_steps`` or the calculator failed; the
            message starts with ``label`` and gives the remaining force.
        ConfigError: an unknown ``cell`` mode.
    """
    if cell not in ("fixed", "shape", "full"):
        raise ConfigError(f"cell must be 'fixed', 'shape' or 'full', got {cell!r}")
    work = atoms.copy()
    work.calc = calculator
    if keep_symmetry:
        from ase.constraints import FixSymmetry

        work.set_constraint(FixSymmetry(work))
    target: Any = work if cell == "fixed" else FrechetCellFilter(
        work, constant_volume=(cell == "shape"))
    try:
        if cell == "fixed" and _max_force(work) < fmax_eV_per_A:
            # e.g. a strained Bravais lattice: no internal coordinate to relax
            return _without_fix_symmetry(work)
        optimizer = BFGS(target, logfile=None)
        converged = bool(optimizer.run(fmax=fmax_eV_per_A, steps=max_steps))
    except REFERENCE_FAILURES as error:
        raise RelaxationError(f"{label}: the calculator failed during the relaxation: "
                              f"{error}") from error
    if not converged:
        remaining = float(np.sqrt((target.get_forces()**2).sum(axis=1)).max())
        raise RelaxationError(
            f"{label}: relaxation ({cell} cell) not converged in {max_steps} steps: "
            f"max force {remaining:.2e} eV/Å > fmax {fmax_eV_per_A:.1e} eV/Å")
    return _without_fix_symmetry(work)


def _without_fix_symmetry(atoms: Atoms) -> Atoms:
    """Drop the FixSymmetry constraint: it would symmetrise later strains of the cell."""
    atoms.set_constraint([constraint for constraint in atoms.constraints
                          if type(constraint).__name__ != "FixSymmetry"])
    return atoms
