"""Isolated-atom reference energies (E0s) computed with the reference method itself.

Each element is computed as one neutral atom in vacuum in its ground-state spin: the number
of unpaired electrons is ASE's ``ase.data.ground_state_magnetic_moments`` (Hund's rule:
H 1, C 2, N 3, O 2, Cu 1, Fe 4), passed to the method as it expects it (xTB:
``multiplicity = unpaired + 1``; PySCF: ``spin = unpaired``, unrestricted; EMT and other
ASE calculators: an initial magnetic moment on the atom). A molecule's charge and spin in
the method's options do not apply to a free atom and are replaced; every other setting is
the labeller's, so the references match the labels. (GFN2-xTB without tblite's
``spin_polarization`` option, as molecules are usually labelled, has no exchange
stabilisation of high spin: its triplet O lies 49 meV above the singlet. Pass
``spin_polarization`` in the method options to include it, in the labels too.)

With these references, a structure's energy minus the sum of its atoms' references is its
atomisation energy, so per-atom energies mean something even when every training
structure has the same composition (where a least-squares fit cannot separate elements).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ase import Atoms
from ase.data import atomic_numbers, ground_state_magnetic_moments

from nnpkit.errors import REFERENCE_FAILURES, ConfigError, LabelingError
from nnpkit.labeling.methods import MethodSpec
from nnpkit.labeling.reference import compute_labels

__all__ = ["unpaired_electrons", "free_atom_method", "isolated_atom_energies"]

#: Options that describe a molecule's electrons, not a free atom's.
_ELECTRON_OPTIONS = ("charge", "multiplicity", "uhf", "spin", "restricted")


def unpaired_electrons(symbol: str) -> int:
    """Unpaired electrons of the free atom's ground state (Hund's rule), e.g. O → 2."""
    if symbol not in atomic_numbers:
        raise ConfigError(f"unknown element {symbol!r}")
    return int(round(float(ground_state_magnetic_moments[atomic_numbers[symbol]])))


def free_atom_method(method: MethodSpec, symbol: str) -> MethodSpec:
    """``method`` with the charge and spin settings of one neutral atom of ``symbol``."""
    options = {key: value for key, value in method.options.items()
               if key not in _ELECTRON_OPTIONS}
    unpaired = unpaired_electrons(symbol)
    if method.kind == "xtb":
        options.update(charge=0, multiplicity=unpaired + 1)
    elif method.kind == "dft":
        options.update(charge=0, spin=unpaired, restricted=None)
    else:
        options = dict(method.options)  # EMT / any ASE calculator: spin via the atoms
    return dataclasses.replace(method, options=options)


def isolated_atom_energies(method: MethodSpec, elements: Sequence[str]) -> dict[str, float]:
    """Energy of each element's free atom with the reference method, eV.

    Args:
        method: the reference method that labelled the data (same settings otherwise).
        elements: chemical symbols.

    Returns:
        ``{symbol: energy_eV}``.

    Raises:
        LabelingError: the reference calculation of an atom failed (an unconverged SCF,
            a failed calculation); the message names the element. Other errors propagate.
    """
    energies: dict[str, float] = {}
    for symbol in elements:
        atom = Atoms(symbol, positions=[(0.0, 0.0, 0.0)], pbc=False)
        spec = free_atom_method(method, symbol)
        if spec.kind in ("emt", "ase"):
            atom.set_initial_magnetic_moments([float(unpaired_electrons(symbol))])
        try:
            labels = compute_labels(atom, spec.make_calculator(), ("energy",))
        except REFERENCE_FAILURES as error:
            raise LabelingError(f"the isolated {symbol} atom failed with {method.name}: "
                                f"{error}") from error
        energies[symbol] = labels["energy"]
    return energies
