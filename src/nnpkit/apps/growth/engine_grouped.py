"""Rejection-free kMC with grouped (class-based) selection for bond-counting rates.

The Clarke–Vvedensky model: the hop rate of a top atom depends only on its number ``n``
of lateral nearest neighbours (0–4) and on whether the hop changes layer (Ehrlich–Schwoebel
barrier). Each site therefore falls into one of 25 classes ``c = 5·n + k`` (``k``: how many
of its four hops are interlayer) whose total rate ``(4−k)·r_in[n] + k·r_inter[n]`` is known.
An event picks a class by a scan over the 25 class rates, a member uniformly, then the
direction; after it, only the changed columns and their four neighbours are re-classified
(swap-remove / append in the class member arrays), so the cost per event does not grow
with the lattice size.

All arrays are flat over the ``N = L·L`` sites, ``s = i·L + j``; ``neighbors`` is
``[N, 4]`` in the direction order (+x, −x, +y, −y) of :data:`lattice.DIRECTIONS`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from nnpkit.apps.growth.clock import next_event

__all__ = ["N_CLASSES", "init_grouped", "run_grouped"]

N_CLASSES = 25


@njit(cache=False)
def _site_class(h: np.ndarray, neighbors: np.ndarray, s: int) -> int:
    z = h[s]
    n = 0
    k = 0
    for d in range(4):
        hq = h[neighbors[s, d]]
        if hq >= z:
            n += 1
        if hq != z - 1:
            k += 1
    return n * 5 + k


@njit(cache=False)
def _reclassify(h, neighbors, s, members, count, site_class, position):  # noqa: ANN001
    new = _site_class(h, neighbors, s)
    old = site_class[s]
    if new == old:
        return
    last = members[old, count[old] - 1]  # swap-remove s from its old class
    members[old, position[s]] = last
    position[last] = position[s]
    count[old] -= 1
    members[new, count[new]] = s
    position[s] = count[new]
    count[new] += 1
    site_class[s] = new


@njit(cache=False)
def init_grouped(h: np.ndarray, neighbors: np.ndarray, members: np.ndarray, count: np.ndarray,
                 site_class: np.ndarray, position: np.ndarray) -> None:
    """Fill the class arrays from the flat heights ``h`` (``[N]``); ``members`` is
    ``[N_CLASSES, N]`` int, ``count`` ``[N_CLASSES]``, ``site_class``/``position`` ``[N]``."""
    count[:] = 0
    for s in range(h.shape[0]):
        c = _site_class(h, neighbors, s)
        site_class[s] = c
        members[c, count[c]] = s
        position[s] = count[c]
        count[c] += 1


@njit(cache=False)
def run_grouped(h: np.ndarray, neighbors: np.ndarray, rate_in: np.ndarray,
                rate_inter: np.ndarray, members: np.ndarray, count: np.ndarray,
                site_class: np.ndarray, position: np.ndarray, deposition_rate_per_site: float,
                time_s: float, max_events: int, stop_time_s: float, max_deposits: int
                ) -> tuple[int, float, int]:
    """Run events until ``max_events``, ``stop_time_s`` or ``max_deposits`` is reached.

    Args:
        rate_in, rate_inter: ``[5]`` per-direction rates (1/s) of in-layer and interlayer
            hops of an atom with ``n`` lateral neighbours.
        deposition_rate_per_site: flux F, ML/s.

    Returns:
        ``(events, time_s, deposits)``: events done, the new clock, depositions done.
        The clock stops at ``stop_time_s`` without executing the event that would cross it.
    """
    n_sites = h.shape[0]
    class_rate = np.empty(N_CLASSES)  # [N_CLASSES]
    for n in range(5):
        for k in range(5):
            class_rate[n * 5 + k] = (4 - k) * rate_in[n] + k * rate_inter[n]
    deposition_total = deposition_rate_per_site * n_sites
    events = 0
    deposits = 0
    while events < max_events and deposits < max_deposits:
        total = deposition_total
        for c in range(N_CLASSES):
            total += count[c] * class_rate[c]
        time_s, s, u = next_event(total, deposition_total, deposition_rate_per_site, n_sites,
                                  time_s, stop_time_s)
        if u < 0.0:
            break
        events += 1
        if s >= 0:  # deposition onto site s
            h[s] += 1
            deposits += 1
            _reclassify(h, neighbors, s, members, count, site_class, position)
            for d in range(4):
                _reclassify(h, neighbors, neighbors[s, d], members, count, site_class, position)
            continue
        chosen = N_CLASSES - 1
        for c in range(N_CLASSES):
            block = count[c] * class_rate[c]
            if u < block:
                chosen = c
                break
            u -= block
        while count[chosen] == 0 or class_rate[chosen] == 0.0:  # float round-off guard
            chosen -= 1
        member = min(int(u / class_rate[chosen]), count[chosen] - 1)
        s = members[chosen, member]
        n = chosen // 5
        z = h[s]
        v = np.random.random() * class_rate[chosen]  # the site's rate: sum of its 4 hops
        direction = 3
        for d in range(4):
            weight = rate_in[n] if h[neighbors[s, d]] == z - 1 else rate_inter[n]
            if v < weight:
                direction = d
                break
            v -= weight
        t = neighbors[s, direction]
        h[s] -= 1
        h[t] += 1
        for site in (s, t):
            _reclassify(h, neighbors, site, members, count, site_class, position)
            for d in range(4):
                _reclassify(h, neighbors, neighbors[site, d], members, count, site_class,
                            position)
    return events, time_s, deposits
