"""Born effective charges of any ASE calculator, and the acoustic sum rule.

``Z*_i[a, b] = ∂μ_a/∂R_ib`` (e; ``[N, 3, 3]``): the change of the dipole (e·Å, origin at
the coordinate origin) when atom ``i`` moves along ``b``. :func:`born_charges` takes them
from the calculator when it offers ``get_born_charges(atoms)`` (nnpkit calculators, by
autograd) and otherwise by central finite differences of ``atoms.get_dipole_moment()``
(any calculator that implements the ASE property ``"dipole"``, e.g. tblite's GFN2-xTB):

    Z*_i[:, b] = (μ(R + δ·e_ib) − μ(R − δ·e_ib)) / (2δ),   δ = ``delta_A`` (0.01 Å)

with an error ``O(δ²)`` (exact for a dipole linear in the positions).

Translating a structure of total charge ``Q`` (``atoms.info["charge"]``, e) by ``d`` changes
its dipole by ``Q·d``, hence the acoustic sum rule ``Σ_i Z*_i = Q·I``;
:func:`acoustic_sum_rule_violation` measures it and :func:`enforce_acoustic_sum_rule`
restores it by removing the mean violation from every atom.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.errors import ConfigError

__all__ = ["born_charges", "born_charges_finite_difference", "born_method",
           "acoustic_sum_rule_violation", "enforce_acoustic_sum_rule", "total_charge_e"]

#: Default displacement of the finite-difference Born charges (Å).
DEFAULT_BORN_DELTA_A = 0.01


def total_charge_e(atoms: Atoms) -> float:
    """The total charge of ``atoms`` (e): ``atoms.info["charge"]``, default 0."""
    return float(atoms.info.get("charge", 0.0))


def born_method(calculator: Calculator) -> str:
    """``"calculator"`` if ``calculator`` offers ``get_born_charges`` (and does not say
    ``responds_to_field = False``, as an nnpkit calculator over a model without a field
    coupling does), else ``"finite_difference"`` (central differences of the dipole).

    Raises:
        ConfigError: the calculator offers neither Born charges nor the ``"dipole"``
            property, so no IR intensity can be computed with it.
    """
    if (callable(getattr(calculator, "get_born_charges", None))
            and getattr(calculator, "responds_to_field", True) is not False):
        return "calculator"
    if "dipole" not in getattr(calculator, "implemented_properties", ()):
        raise ConfigError(
            f"{type(calculator).__name__} gives neither Born charges (get_born_charges) "
            f"nor the 'dipole' property: IR intensities need one of them")
    return "finite_difference"


def born_charges(atoms: Atoms, calculator: Calculator,
                 indices: Sequence[int] | None = None,
                 delta_A: float = DEFAULT_BORN_DELTA_A,
                 method: str = "auto") -> np.ndarray:
    """The Born effective charges of ``atoms`` with ``calculator`` (e).

    Args:
        atoms: the structure (not modified; the calculator is attached to a copy).
        calculator: any ASE calculator with ``get_born_charges(atoms)`` or ``"dipole"``.
        indices: the atoms whose charges are wanted (default: all), in this order.
        delta_A: finite-difference displacement (Å), used by ``"finite_difference"``.
        method: ``"auto"`` (the calculator's own when it has them, else finite
            differences), ``"calculator"`` or ``"finite_difference"``.

    Returns:
        ``[len(indices), 3, 3]``: ``Z[j, a, b] = ∂μ_a/∂R_(indices[j]) b`` (e).

    Raises:
        ConfigError: an unknown ``method``, an index out of range, ``delta_A <= 0``, or a
            calculator that cannot give what ``method`` asks for. Calculator errors
            propagate.
    """
    chosen = list(range(len(atoms))) if indices is None else [int(i) for i in indices]
    if chosen and (min(chosen) < 0 or max(chosen) >= len(atoms)):
        raise ConfigError(f"born_charges: indices must be atoms of the {len(atoms)}-atom "
                          f"structure, got {chosen}")
    available = born_method(calculator)
    if method == "auto":
        method = available
    if method == "calculator":
        if available != "calculator":
            raise ConfigError(f"{type(calculator).__name__} has no get_born_charges")
        work = atoms.copy()
        work.calc = calculator
        charges = np.asarray(calculator.get_born_charges(work),  # type: ignore[attr-defined]
                             dtype=np.float64)  # [N, 3, 3]
        if charges.shape != (len(atoms), 3, 3):
            raise ConfigError(f"{type(calculator).__name__}.get_born_charges returned "
                              f"shape {charges.shape}, expected {(len(atoms), 3, 3)}")
        return charges[chosen]
    if method == "finite_difference":
        return born_charges_finite_difference(atoms, calculator, chosen, delta_A)
    raise ConfigError(f"born_charges: method must be 'auto', 'calculator' or "
                      f"'finite_difference', got {method!r}")


def born_charges_finite_difference(atoms: Atoms, calculator: Calculator,
                                   indices: Sequence[int] | None = None,
                                   delta_A: float = DEFAULT_BORN_DELTA_A) -> np.ndarray:
    """``[len(indices), 3, 3]`` Born charges (e) by central differences of the dipole,
    ``± delta_A`` (Å) per Cartesian coordinate: ``6·len(indices)`` dipole calls.

    Raises:
        ConfigError: ``delta_A <= 0`` or a calculator without the ``"dipole"`` property.
    """
    if not delta_A > 0:
        raise ConfigError(f"born_charges: delta_A must be > 0, got {delta_A}")
    if "dipole" not in getattr(calculator, "implemented_properties", ()):
        raise ConfigError(f"{type(calculator).__name__} does not implement 'dipole'")
    chosen = list(range(len(atoms))) if indices is None else [int(i) for i in indices]
    work = atoms.copy()
    work.set_constraint()  # a FixAtoms constraint must not stop the displacement
    work.calc = calculator
    reference = atoms.positions.copy()  # [N, 3]
    charges = np.zeros((len(chosen), 3, 3))  # [n, 3 (dipole a), 3 (displacement b)]
    for j, atom in enumerate(chosen):
        for b in range(3):
            dipoles = []
            for sign in (1.0, -1.0):
                displaced = reference.copy()
                displaced[atom, b] += sign * delta_A
                work.positions = displaced
                dipoles.append(np.asarray(work.get_dipole_moment(), dtype=float))  # [3]
            charges[j, :, b] = (dipoles[0] - dipoles[1]) / (2.0 * delta_A)
    return charges


def acoustic_sum_rule_violation(born_e: np.ndarray, total_charge: float = 0.0
                                ) -> np.ndarray:
    """``Σ_i Z*_i − Q·I`` ([3, 3], e) of Born charges ``[N, 3, 3]`` over all atoms of a
    structure of total charge ``Q`` (e): zero for exact charges."""
    return np.asarray(born_e, dtype=float).sum(axis=0) - total_charge * np.eye(3)


def enforce_acoustic_sum_rule(born_e: np.ndarray, total_charge: float = 0.0
                              ) -> np.ndarray:
    """Born charges ``[N, 3, 3]`` (e) with the mean violation ``(Σ_i Z*_i − Q·I)/N``
    removed from every atom, so that ``Σ_i Z*_i = Q·I`` exactly (a new array)."""
    born = np.asarray(born_e, dtype=float)
    return born - acoustic_sum_rule_violation(born, total_charge)[None] / len(born)
