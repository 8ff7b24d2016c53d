"""Sanity checks for labelled structures before they are used for training.

Each check raises with a message that names the source, the structure index and what is
wrong, so a bad structure in a 100,000-structure file can be found and fixed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from nnpkit.errors import DataError, UnknownElementError

__all__ = ["validate_structures"]

#: Smallest radius (Å) the distance check searches with the neighbour list.
_SEARCH_RADIUS_A = 1.5

# Below this, a cell volume (Å³) or periodic vector length (Å) counts as degenerate.
_DEGENERATE_TOLERANCE = 1e-6
_LABELS = ("energy", "free_energy", "forces", "stress", "dipole")


def _check_finite(atoms: Atoms, where: str) -> None:
    """Positions, cell, calculator labels and the polarizability must be finite numbers."""
    quantities = {"positions": atoms.get_positions(), "cell": np.array(atoms.get_cell())}
    results = {} if atoms.calc is None else getattr(atoms.calc, "results", {})
    for label in _LABELS:
        if results.get(label) is not None:
            quantities[label] = np.asarray(results[label], dtype=float)
    if atoms.info.get("polarizability") is not None:
        quantities["polarizability"] = np.asarray(atoms.info["polarizability"], dtype=float)
    for name, values in quantities.items():
        bad = ~np.isfinite(values)
        if bad.any():
            if values.ndim == 0:
                detail = f"value {float(values)}"
            else:
                first = tuple(int(k) for k in np.argwhere(bad)[0])
                detail = f"first at {list(first)}: {values[first]}"
            raise DataError(f"{where}: {name} contains NaN or infinite values ({detail})")


def _check_cell(atoms: Atoms, where: str) -> None:
    """The periodic cell vectors must be non-zero and linearly independent."""
    pbc = atoms.get_pbc()
    if not pbc.any():
        return
    periodic_vectors = np.array(atoms.get_cell())[pbc]  # [n_periodic, 3]
    lengths = np.linalg.norm(periodic_vectors, axis=1)
    axes = "".join(np.array(["a", "b", "c"])[pbc])
    if (lengths <= _DEGENERATE_TOLERANCE).any():
        raise DataError(
            f"{where}: degenerate cell, periodic vector lengths {lengths.tolist()} Å "
            f"(periodic axes {axes}) must be > {_DEGENERATE_TOLERANCE} Å"
        )
    # Volume spanned by the periodic vectors (length, area or volume): sqrt(det(Gram)).
    gram = periodic_vectors @ periodic_vectors.T
    spanned = float(np.sqrt(max(np.linalg.det(gram), 0.0)))
    if spanned <= _DEGENERATE_TOLERANCE:
        kind = "volume (Å³)" if pbc.all() else "spanned measure"
        raise DataError(
            f"{where}: degenerate cell, periodic vectors {axes} are linearly dependent "
            f"({kind} {spanned:.3g} <= {_DEGENERATE_TOLERANCE})"
        )


def _check_elements(atoms: Atoms, where: str, allowed: set[str], listed: list[str]) -> None:
    """Every element must be one the caller allows (e.g. the model's elements)."""
    for z in np.unique(atoms.get_atomic_numbers()):
        symbol = chemical_symbols[int(z)]
        if symbol not in allowed:
            raise UnknownElementError(
                f"{where}: element {symbol!r} is not among the allowed elements {listed}"
            )


def _check_distances(atoms: Atoms, where: str, min_distance_A: float) -> None:
    """No two atoms (periodic images included) may be closer than ``min_distance_A``."""
    if min_distance_A <= 0:
        return
    # vesin imports torch: imported here, so that `nnpkit label` starts without torch
    from nnpkit.neighbors import neighbor_list

    # the list's cells are as wide as its cutoff: searching a tiny radius directly would
    # bin the structure into millions of cells (7.6 ms for 108 Cu atoms at 0.1 Å, 0.18 ms
    # at 1.5 Å), so search at least _SEARCH_RADIUS_A and keep the pairs closer than asked
    first, second, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                          max(min_distance_A, _SEARCH_RADIUS_A))
    vectors = atoms.positions[second] - atoms.positions[first] + shifts @ atoms.cell.array
    distance = np.linalg.norm(vectors, axis=1)  # [n_pairs], Å
    close = distance < min_distance_A
    first, second, distance = first[close], second[close], distance[close]
    if len(distance) == 0:
        return
    k = int(np.argmin(distance))
    i, j = int(first[k]), int(second[k])
    pair = f"atom {i} and its own periodic image" if i == j else f"atoms {i} and {j}"
    raise DataError(
        f"{where}: {pair} are {distance[k]:.4f} Å apart, "
        f"closer than min_distance_A={min_distance_A} Å"
    )


def validate_structures(
    structures: Sequence[Atoms],
    source: str = "<memory>",
    min_distance_A: float = 0.1,
    elements: Sequence[str] | None = None,
) -> None:
    """Check structures for problems that would silently spoil training.

    Checks, per structure: at least one atom; finite positions, cell, and calculator labels
    (energy eV, forces eV/Å ``[n_atoms, 3]``, stress eV/Å³, dipole e·Å ``[3]``) and
    ``info["polarizability"]`` (e·Å²/V ``[3, 3]``); a non-degenerate cell along the
    periodic directions; no pair of atoms (periodic images included) closer than
    ``min_distance_A`` (Å); and, if ``elements`` is given, only those elements.

    Args:
        structures: the structures to check (not modified).
        source: a name for the error messages, usually the file they came from.
        min_distance_A: the smallest allowed interatomic distance in Å (0 disables the check).
        elements: the allowed chemical symbols, or None to allow any.

    Raises:
        DataError: the first problem found, naming the source and structure index.
        UnknownElementError: a structure holds an element not in ``elements``.
    """
    listed = list(elements) if elements is not None else []
    allowed = set(listed)
    for index, atoms in enumerate(structures):
        where = f"{source}: structure {index}"
        source_index = atoms.info.get("nnpkit_source_index", index)
        if source_index != index:
            where += f" (source index {source_index})"
        if len(atoms) == 0:
            raise DataError(f"{where} has no atoms")
        _check_finite(atoms, where)
        _check_cell(atoms, where)
        if elements is not None:
            _check_elements(atoms, where, allowed, listed)
        _check_distances(atoms, where, min_distance_A)
