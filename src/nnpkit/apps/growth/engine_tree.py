"""Rejection-free kMC on any rate table over hop codes, with a binary sum tree over sites.

Every hop's rate is looked up in a table indexed by its descriptor code
(:func:`lattice.hop_code`), so any barrier model (a neural network evaluated on all
codes, a hand-written table) runs unchanged. The rate of a site is the sum of its four
hop rates; site rates are the leaves of a sum tree (``[2M]``, ``M`` the next power of two
≥ ``N``), so selection is a descent of ``log2 M`` levels and an update touches one leaf
path. After an event only the sites whose hop stencil contains a changed column (the
5×5 box around it, corners excluded) are recomputed; no lattice rescans.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from nnpkit.apps.growth.clock import next_event
from nnpkit.apps.growth.lattice import hop_code, wrap

__all__ = ["tree_size", "init_tree", "run_tree"]

_DX = np.array([1, -1, 0, 0], dtype=np.int64)
_DY = np.array([0, 0, 1, -1], dtype=np.int64)


def tree_size(n_sites: int) -> int:
    """Number of leaves ``M`` (a power of two ≥ ``n_sites``) of the sum tree."""
    return 1 << max(0, int(n_sites - 1).bit_length())


@njit(cache=False)
def _site_rate(h: np.ndarray, rate_table: np.ndarray, i: int, j: int) -> float:
    total = 0.0
    for d in range(4):
        total += rate_table[hop_code(h, i, j, _DX[d], _DY[d])]
    return total


@njit(cache=False)
def _set_leaf(tree: np.ndarray, leaves: int, s: int, value: float) -> None:
    node = leaves + s
    if tree[node] == value:  # most sites near a change keep their rate: skip the path
        return
    tree[node] = value
    node >>= 1
    while node >= 1:
        tree[node] = tree[2 * node] + tree[2 * node + 1]
        node >>= 1


@njit(cache=False)
def init_tree(h: np.ndarray, rate_table: np.ndarray, tree: np.ndarray) -> None:
    """Fill the sum tree ``tree`` (``[2M]``) from the heights ``h`` (``[L, L]``)."""
    length = h.shape[0]
    leaves = tree.shape[0] // 2
    tree[:] = 0.0
    for i in range(length):
        for j in range(length):
            tree[leaves + i * length + j] = _site_rate(h, rate_table, i, j)
    for node in range(leaves - 1, 0, -1):
        tree[node] = tree[2 * node] + tree[2 * node + 1]


@njit(cache=False)
def _refresh_around(h: np.ndarray, rate_table: np.ndarray, tree: np.ndarray, i: int,
                    j: int) -> None:
    length = h.shape[0]
    leaves = tree.shape[0] // 2
    for di in range(-2, 3):
        for dj in range(-2, 3):
            if abs(di) == 2 and abs(dj) == 2:
                continue
            a, b = wrap(i + di, length), wrap(j + dj, length)
            _set_leaf(tree, leaves, a * length + b, _site_rate(h, rate_table, a, b))


@njit(cache=False)
def _refresh_pair(h: np.ndarray, rate_table: np.ndarray, tree: np.ndarray, i: int, j: int,
                  ex: int, ey: int) -> None:
    """Recompute the sites whose stencil holds ``(i, j)`` or its neighbour ``(i+ex, j+ey)``:
    the box spanning both 5×5 boxes (30 sites instead of twice 21)."""
    length = h.shape[0]
    leaves = tree.shape[0] // 2
    for di in range(min(0, ex) - 2, max(0, ex) + 3):
        for dj in range(min(0, ey) - 2, max(0, ey) + 3):
            a, b = wrap(i + di, length), wrap(j + dj, length)
            _set_leaf(tree, leaves, a * length + b, _site_rate(h, rate_table, a, b))


@njit(cache=False)
def run_tree(h: np.ndarray, rate_table: np.ndarray, tree: np.ndarray,
             deposition_rate_per_site: float, time_s: float, max_events: int,
             stop_time_s: float, max_deposits: int) -> tuple[int, float, int]:
    """Run events on the ``[L, L]`` heights ``h`` with hop rates ``rate_table``
    (``[N_CODES]``, 1/s) until ``max_events``, ``stop_time_s`` or ``max_deposits``.

    Returns:
        ``(events, time_s, deposits)`` as :func:`engine_grouped.run_grouped`.
    """
    length = h.shape[0]
    n_sites = length * length
    leaves = tree.shape[0] // 2
    deposition_total = deposition_rate_per_site * n_sites
    events = 0
    deposits = 0
    while events < max_events and deposits < max_deposits:
        total = deposition_total + tree[1]
        time_s, s, u = next_event(total, deposition_total, deposition_rate_per_site, n_sites,
                                  time_s, stop_time_s)
        if u < 0.0:
            break
        events += 1
        if s >= 0:  # deposition onto site s
            i, j = s // length, s % length
            h[i, j] += 1
            deposits += 1
            _refresh_around(h, rate_table, tree, i, j)
            continue
        node = 1
        while node < leaves:  # descend the sum tree
            left = tree[2 * node]
            if u < left or tree[2 * node + 1] <= 0.0:
                node = 2 * node
            else:
                u -= left
                node = 2 * node + 1
        s = min(node - leaves, n_sites - 1)
        i, j = s // length, s % length
        v = np.random.random() * tree[leaves + s]  # the site's rate: sum of its 4 hops
        direction = 3
        for d in range(4):
            weight = rate_table[hop_code(h, i, j, _DX[d], _DY[d])]
            if v < weight:
                direction = d
                break
            v -= weight
        ti, tj = wrap(i + _DX[direction], length), wrap(j + _DY[direction], length)
        h[i, j] -= 1
        h[ti, tj] += 1
        _refresh_pair(h, rate_table, tree, i, j, _DX[direction], _DY[direction])
    return events, time_s, deposits
