"""Neighbour lists through vesin, and a brute-force reference for tests."""

from __future__ import annotations

import itertools

import numpy as np
from vesin import NeighborList

__all__ = ["neighbor_list", "brute_force_neighbor_list"]


def _check_inputs(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    positions = np.ascontiguousarray(positions, dtype=np.float64).reshape(-1, 3)
    cell = np.ascontiguousarray(cell, dtype=np.float64).reshape(3, 3)
    pbc = np.asarray(pbc, dtype=bool).reshape(3)
    return positions, cell, pbc


def _usable_box(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """The cell with open axes replaced, where needed, so that it is invertible."""
    box = cell.copy()
    for axis in np.flatnonzero(~pbc):
        if np.linalg.norm(box[axis]) < 1e-12:
            box[axis] = np.eye(3)[axis]
    if abs(np.linalg.det(box)) < 1e-12:
        box = np.where(pbc[:, None], box, np.eye(3))
    if abs(np.linalg.det(box)) < 1e-12:
        box = np.eye(3)
    return box


def neighbor_list(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full neighbour list (both i→j and j→i) within ``cutoff`` (Å).

    Works for molecules (no periodicity, any cell), slabs (mixed periodicity) and
    fully periodic triclinic cells, including cells shorter than the cutoff (several
    images of the same atom are then returned, each with its own shift).

    Args:
        positions: Cartesian positions, shape [n_atoms, 3], Å.
        cell: cell vectors as rows, shape [3, 3], Å (ignored along non-periodic axes).
        pbc: periodicity per axis, shape [3].
        cutoff: cutoff radius, Å.

    Returns:
        ``(i, j, shifts)``: centre indices [n_edges], neighbour indices [n_edges] and
        integer cell shifts [n_edges, 3] such that the vector from i to j is
        ``positions[j] - positions[i] + shifts @ cell``. Edges are sorted by ``i``.
    """
    positions, cell, pbc = _check_inputs(positions, cell, pbc)
    if len(positions) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros((0, 3), dtype=np.int64)
    # vesin needs a usable box even along open axes
    box = _usable_box(cell, pbc)
    if not pbc.any():
        box = np.zeros((3, 3))
    calculator = NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, shifts = calculator.compute(
        points=positions, box=box, periodic=pbc.tolist() if pbc.any() else False,
        quantities="ijS",
    )
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    shifts = np.asarray(shifts, dtype=np.int64).reshape(-1, 3)
    order = np.lexsort((j, i))
    return i[order], j[order], shifts[order]


def brute_force_neighbor_list(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference O(N²·images) neighbour list with the same contract as :func:`neighbor_list`.

    Slow; meant for tests on small systems.
    """
    positions, cell, pbc = _check_inputs(positions, cell, pbc)
    box = _usable_box(cell, pbc)
    # wrap atoms into the cell along periodic axes; remember by how many cells
    fractional = positions @ np.linalg.inv(box)
    wrap = np.where(pbc, np.floor(fractional), 0.0).astype(np.int64)  # [n, 3]
    positions = positions - wrap @ box
    ranges = []
    for axis in range(3):
        if pbc[axis]:
            # distance between the lattice planes spanned by the two other vectors
            other = box[[a for a in range(3) if a != axis]]
            normal = np.cross(other[0], other[1])
            height = abs(box[axis] @ normal) / np.linalg.norm(normal)
            n = int(np.ceil(cutoff / height)) + 1
            ranges.append(range(-n, n + 1))
        else:
            ranges.append(range(0, 1))
    cell = box
    rows_i, rows_j, rows_s = [], [], []
    for shift in itertools.product(*ranges):
        shift_arr = np.array(shift, dtype=np.int64)
        offset = shift_arr @ cell
        vectors = positions[None, :, :] + offset - positions[:, None, :]  # [n, n, 3]
        distance = np.linalg.norm(vectors, axis=-1)
        mask = distance < cutoff
        if not shift_arr.any():
            np.fill_diagonal(mask, False)
        ii, jj = np.nonzero(mask)
        rows_i.append(ii)
        rows_j.append(jj)
        rows_s.append(np.repeat(shift_arr[None], len(ii), axis=0))
    i = np.concatenate(rows_i).astype(np.int64)
    j = np.concatenate(rows_j).astype(np.int64)
    # back to the caller's (unwrapped) positions: r_j + S·cell - r_i is unchanged
    shifts = np.concatenate(rows_s).reshape(-1, 3) - wrap[j] + wrap[i]
    order = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], j, i))
    return i[order], j[order], shifts[order]
