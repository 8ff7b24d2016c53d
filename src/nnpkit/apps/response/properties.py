"""``response_properties``: dipole, polarizability and Born charges of each structure.

Works with any ASE calculator that offers the dipole (an nnpkit charge-aware model, or
e.g. tblite's GFN2-xTB); the polarizability needs ``get_polarizability(atoms)`` (the
nnpkit calculator), and the Born charges come from ``get_born_charges(atoms)`` where the
calculator has it, else from central differences of the dipole
(:mod:`nnpkit.apps.response.born`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.apps.response.born import born_charges
from nnpkit.errors import ConfigError
from nnpkit.units import E_A2_PER_V_TO_A3, E_A_TO_DEBYE

__all__ = ["structure_properties", "response_properties"]


def structure_properties(atoms: Atoms, calculator: Calculator) -> dict:
    """The response properties of one molecule, JSON-ready.

    Returns:
        ``energy_eV``, ``charge_e`` (the input total charge), ``dipole_eA`` [3] (origin
        at the coordinate origin), ``dipole_D`` (its norm), ``polarizability_A3`` [3, 3]
        and ``alpha_iso_A3`` (a third of its trace; None without ``get_polarizability``),
        ``polarizability_principal_A3`` [3] (ascending), ``born_charges_e`` [N, 3, 3],
        ``born_sum_rule_e`` (max |Σ_i Z*_i − Q·I|), ``charges_e`` [N] where the
        calculator reports atomic charges.

    Raises:
        ConfigError: the structure is periodic, or the calculator gives no dipole.
    """
    if atoms.pbc.any():
        raise ConfigError("response properties are for molecules and clusters (pbc=False): "
                          "a uniform field in periodic boundary conditions is not supported")
    if "dipole" not in getattr(calculator, "implemented_properties", ()):
        raise ConfigError(f"{type(calculator).__name__} does not give the dipole; use a "
                          "charge_aware nnpkit model or a calculator with 'dipole'")
    work = atoms.copy()
    work.calc = calculator
    energy = float(work.get_potential_energy())
    dipole = np.asarray(work.get_dipole_moment(), dtype=float)  # [3], e·Å
    total = float(atoms.info.get("charge", 0.0))
    result: dict = {"energy_eV": energy, "charge_e": total, "dipole_eA": dipole.tolist(),
                    "dipole_D": float(np.linalg.norm(dipole) * E_A_TO_DEBYE)}
    if "charges" in calculator.results:
        result["charges_e"] = np.asarray(calculator.results["charges"]).tolist()
    polarizability = getattr(calculator, "get_polarizability", None)
    if callable(polarizability):
        alpha = np.asarray(polarizability(work), dtype=float) * E_A2_PER_V_TO_A3  # [3, 3]
        result["polarizability_A3"] = alpha.tolist()
        result["alpha_iso_A3"] = float(np.trace(alpha) / 3.0)
        result["polarizability_principal_A3"] = np.linalg.eigvalsh(
            0.5 * (alpha + alpha.T)).tolist()
    else:
        result["polarizability_A3"] = result["alpha_iso_A3"] = None
    born = born_charges(work, calculator)  # [N, 3, 3], e
    result["born_charges_e"] = born.tolist()
    result["born_sum_rule_e"] = float(np.max(np.abs(born.sum(axis=0) - total * np.eye(3))))
    return result


def response_properties(structures: Sequence[Atoms], calculator: Calculator) -> list[dict]:
    """:func:`structure_properties` of every structure; a failure names its index."""
    results = []
    for index, atoms in enumerate(structures):
        try:
            results.append({"index": index, "formula": atoms.get_chemical_formula(),
                            **structure_properties(atoms, calculator)})
        except ConfigError as error:
            raise ConfigError(f"structure {index}: {error}") from error
    return results
