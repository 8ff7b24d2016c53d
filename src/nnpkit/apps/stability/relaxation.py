"""Relaxation of one candidate structure (positions and cell) with any ASE calculator."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from nnpkit.errors import REFERENCE_FAILURES, LabelingError

__all__ = ["relax"]


def relax(
    atoms: Atoms,
    calculator_factory: Callable[[], Calculator],
    fmax: float = 0.02,
    max_steps: int = 200,
) -> tuple[Atoms, dict[str, Any]]:
    """Relax positions and cell of a copy of ``atoms`` (BFGS on a FrechetCellFilter).

    Args:
        atoms: the structure (periodic); not modified.
        calculator_factory: makes a fresh ASE calculator (e.g. ``EMT``).
        fmax: convergence threshold on forces (eV/Å) and on the filter's stress terms.
        max_steps: the most optimizer steps.

    Returns:
        ``(relaxed, info)``: the relaxed copy with a SinglePointCalculator holding energy (eV),
        forces (eV/Å, ``[n_atoms, 3]``) and stress (eV/Å³, Voigt ``[6]``); ``info`` has
        ``converged`` (bool: the optimizer reached ``fmax`` within ``max_steps``) and
        ``steps`` (int), and ``error`` (str) if the calculation failed (one of
        :data:`~nnpkit.errors.REFERENCE_FAILURES`) or returned a non-finite energy, forces
        or stress (the copy then has no calculator).

    Raises:
        Any other error of the calculator or its factory (a ``TypeError``, an element the
        calculator does not know), with its message: bad input is not a failed relaxation.
    """
    relaxed = atoms.copy()
    info: dict[str, Any] = {"converged": False, "steps": 0}
    try:
        relaxed.calc = calculator_factory()
        optimizer = BFGS(FrechetCellFilter(relaxed), logfile=None)  # type: ignore[arg-type]
        info["converged"] = bool(optimizer.run(fmax=fmax, steps=max_steps))
        info["steps"] = int(optimizer.nsteps)
        energy = float(relaxed.get_potential_energy())
        forces = np.array(relaxed.get_forces())  # [n_atoms, 3]
        stress = np.array(relaxed.get_stress(voigt=True))  # [6]
        if not (math.isfinite(energy) and np.isfinite(forces).all() and np.isfinite(stress).all()):
            raise LabelingError(f"non-finite energy, forces or stress (energy {energy})")
    except REFERENCE_FAILURES as exc:  # a failed calculation; anything else propagates
        relaxed.calc = None
        info["error"] = f"{type(exc).__name__}: {exc}"
        return relaxed, info
    relaxed.calc = SinglePointCalculator(relaxed, energy=energy, forces=forces, stress=stress)
    return relaxed, info
