"""Neighbour lists reused across MD steps with a skin (a Verlet list).

The list is built once at ``cutoff + skin`` and reused while no atom has moved more
than ``skin / 2`` since the build (then no pair can have entered the cutoff sphere
unseen) and the cell, periodicity and atom count are unchanged. Each call returns the
pairs within ``cutoff`` only, filtered by a vectorised distance check, so the result is
exactly that of :func:`~nnpkit.neighbors.neighbor_list` at ``cutoff``; the model never
sees the extra pairs.
"""

from __future__ import annotations

import numpy as np

from nnpkit.neighbors._vesin import neighbor_list

__all__ = ["VerletNeighborList", "same_array"]


def same_array(old: np.ndarray, new: np.ndarray) -> bool:
    """Exact equality of shape, dtype and bytes: the cache test of a list or calculator,
    5× cheaper than ``np.array_equal`` on small arrays (-0.0 and 0.0 differ: a rebuild,
    never a stale result)."""
    return old.shape == new.shape and old.dtype == new.dtype and old.tobytes() == new.tobytes()


class VerletNeighborList:
    """A neighbour list with a skin, rebuilt only when an atom moved more than ``skin / 2``.

    Args:
        cutoff: the interaction cutoff, Å.
        skin: extra radius of the stored list, Å (0 rebuilds at every call).

    Attributes:
        n_builds: how many times the list was built (for tests and benchmarks).
    """

    def __init__(self, cutoff: float, skin: float = 0.5) -> None:
        if cutoff <= 0 or skin < 0:
            raise ValueError(f"need cutoff > 0 and skin >= 0, got {cutoff} and {skin}")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.n_builds = 0
        self._reference: np.ndarray | None = None  # positions at the last build, [n, 3]
        self._cell: np.ndarray | None = None
        self._pbc: np.ndarray | None = None
        self._pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._float_shifts = np.zeros((0, 3))  # the shifts of _pairs as float64

    def _still_valid(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> bool:
        if self._reference is None or self._cell is None or self._pbc is None:
            return False
        if positions.shape != self._reference.shape or not same_array(pbc, self._pbc):
            return False
        if not same_array(cell, self._cell):
            return False
        if positions.size == 0:
            return True
        displacement = positions - self._reference  # [n, 3]
        squared = np.einsum("nk,nk->n", displacement, displacement)  # [n]
        return bool(squared.max() < (0.5 * self.skin) ** 2)

    def candidates(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pair within ``cutoff`` and, unlike :meth:`update`, the pairs of the skin
        too (rebuilding the list first where needed): for consumers to whom a pair beyond
        the cutoff contributes exactly nothing (the compiled BPNN path), saving the filter.

        Returns:
            ``(i, j, shifts)``: [E'], [E'] and integer shifts as float64 [E', 3], sorted by
            ``i``; the arrays are the list's own (read-only views): do not modify them.
        """
        positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        pbc = np.asarray(pbc, dtype=bool).reshape(3)
        if self.skin == 0.0:
            self.n_builds += 1
            i, j, shifts = neighbor_list(positions, cell, pbc, self.cutoff)
            return i, j, shifts.astype(np.float64)
        if not self._still_valid(positions, cell, pbc):
            i, j, shifts = neighbor_list(positions, cell, pbc, self.cutoff + self.skin)
            self._pairs = (i, j, shifts)
            self._float_shifts = shifts.astype(np.float64)
            for array in (i, j, self._float_shifts):
                array.flags.writeable = False
            self._reference, self._cell, self._pbc = positions.copy(), cell.copy(), pbc.copy()
            self.n_builds += 1
        assert self._pairs is not None
        return self._pairs[0], self._pairs[1], self._float_shifts

    def update(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs within ``cutoff`` for these positions, same contract as ``neighbor_list``.

        Args:
            positions: Cartesian positions [n_atoms, 3], Å.
            cell: cell vectors as rows [3, 3], Å.
            pbc: periodicity per axis [3].

        Returns:
            ``(i, j, shifts)``: [E], [E] and integer shifts [E, 3], sorted by ``i``.
        """
        positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        pbc = np.asarray(pbc, dtype=bool).reshape(3)
        if self.skin == 0.0:
            self.n_builds += 1
            return neighbor_list(positions, cell, pbc, self.cutoff)
        self.candidates(positions, cell, pbc)
        assert self._pairs is not None
        i, j, shifts = self._pairs
        vectors = positions[j] - positions[i] + shifts @ cell  # [E_skin, 3]
        keep = np.einsum("ek,ek->e", vectors, vectors) < self.cutoff**2  # [E_skin]
        return i[keep], j[keep], shifts[keep]
