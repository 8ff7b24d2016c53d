"""Excited-state labels on an Atoms: the energies, forces and nonadiabatic couplings of
several electronic states (from :class:`~nnpkit.labeling.casscf_calculator.SACASSCFCalculator`),
kept in the layout extxyz and ASE databases store:

- ``atoms.info["state_energies"]``: [n_states], eV;
- ``atoms.arrays["state_forces"]``: [n_atoms, 3·n_states], eV/Å, state k in columns
  3k:3k+3 (extxyz keeps per-atom arrays only as [n_atoms, k]);
- ``atoms.arrays["nacs"]``: [n_atoms, 3·n_pairs], 1/Å, pair p in columns 3p:3p+3, pairs
  (0, 1), (0, 2), …, (1, 2), …, d_ij = <ψ_i|∂ψ_j/∂R> (absent when not computed).

:func:`attach_state_labels` writes them, :func:`state_labels` reads them back in the
calculator's shapes and :func:`n_states_of` counts the states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from nnpkit.data.io import STATE_ARRAY_KEYS, STATE_INFO_KEYS
from nnpkit.errors import DataError

__all__ = ["StateLabels", "state_labels", "n_states_of", "attach_state_labels",
           "STATE_ENERGIES_KEY", "STATE_FORCES_KEY", "NACS_KEY"]

# the key names are the data layer's, which reads and writes them
(STATE_ENERGIES_KEY,) = STATE_INFO_KEYS
STATE_FORCES_KEY, NACS_KEY = STATE_ARRAY_KEYS


@dataclass(frozen=True)
class StateLabels:
    """The labels of several electronic states of one structure.

    Attributes:
        energies: [n_states], eV.
        forces: [n_states, n_atoms, 3], eV/Å.
        nacs: [n_pairs, n_atoms, 3], 1/Å (d_ij = <ψ_i|∂ψ_j/∂R>, pairs i < j in order), or
            None when the structure carries no couplings.
    """

    energies: np.ndarray
    forces: np.ndarray
    nacs: np.ndarray | None


def attach_state_labels(atoms: Atoms, energies: np.ndarray, forces: np.ndarray,
                        nacs: np.ndarray | None = None) -> None:
    """Store state labels on ``atoms`` (a copy the caller owns) in the layout above.

    Args:
        energies: [n_states], eV.
        forces: [n_states, n_atoms, 3], eV/Å.
        nacs: [n_pairs, n_atoms, 3], 1/Å, or None.
    """
    energies = np.asarray(energies, dtype=float)
    forces = np.asarray(forces, dtype=float)
    n_atoms = len(atoms)
    atoms.info[STATE_ENERGIES_KEY] = energies.copy()
    atoms.arrays[STATE_FORCES_KEY] = forces.transpose(1, 0, 2).reshape(n_atoms, -1).copy()
    if nacs is not None:
        nacs = np.asarray(nacs, dtype=float)
        atoms.arrays[NACS_KEY] = nacs.transpose(1, 0, 2).reshape(n_atoms, -1).copy()


def _where(index: int | None, source: str | None) -> str:
    prefix = f"{source}: " if source else ""
    return prefix + (f"structure {index}" if index is not None else "structure")


def n_states_of(atoms: Atoms) -> int:
    """The number of states whose labels ``atoms`` carries (0 when none)."""
    energies = atoms.info.get(STATE_ENERGIES_KEY)
    return 0 if energies is None else int(np.size(energies))


def _per_atom(atoms: Atoms, key: str, n_blocks: int, where: str) -> np.ndarray:
    """``atoms.arrays[key]`` ([n_atoms, 3·n_blocks]) as [n_blocks, n_atoms, 3]."""
    value = np.asarray(atoms.arrays[key], dtype=float)
    expected = (len(atoms), 3 * n_blocks)
    if value.shape != expected:
        raise DataError(f"{where}: key {key!r} has shape {value.shape}, expected {expected} "
                        f"([n_atoms, 3·{n_blocks}])")
    return value.reshape(len(atoms), n_blocks, 3).transpose(1, 0, 2).copy()


def state_labels(atoms: Atoms, index: int | None = None, source: str | None = None
                 ) -> StateLabels:
    """The state labels of ``atoms`` in the calculator's shapes.

    Args:
        atoms: a structure labelled with a state-resolved method (e.g. read back with
            :func:`nnpkit.data.io.read_structures` or from a dataset store).
        index: its position in ``source``, for messages.
        source: the file or database it came from, for messages.

    Raises:
        DataError: a missing ``state_energies`` or ``state_forces``, or a key of the wrong
            shape (naming the source, the structure index and the key).
    """
    where = _where(index, source)
    if atoms.info.get(STATE_ENERGIES_KEY) is None:
        raise DataError(f"{where}: no {STATE_ENERGIES_KEY!r} in info (label with a "
                        "state-resolved method, e.g. sa-casscf/6-31g*, and properties "
                        "including 'states')")
    energies = np.atleast_1d(np.asarray(atoms.info[STATE_ENERGIES_KEY], dtype=float))
    if energies.ndim != 1 or energies.size < 1:
        raise DataError(f"{where}: key {STATE_ENERGIES_KEY!r} has shape {energies.shape}, "
                        "expected [n_states]")
    n_states = energies.size
    if STATE_FORCES_KEY not in atoms.arrays:
        raise DataError(f"{where}: no {STATE_FORCES_KEY!r} per-atom array")
    forces = _per_atom(atoms, STATE_FORCES_KEY, n_states, where)
    nacs = None
    if NACS_KEY in atoms.arrays:
        nacs = _per_atom(atoms, NACS_KEY, n_states * (n_states - 1) // 2, where)
    return StateLabels(energies=energies.copy(), forces=forces, nacs=nacs)
