"""The BKL step shared by both kMC engines: the waiting time and the uniform pick.

Rejection-free kMC advances the clock by ``Δt = −ln(u₁)/R`` (``R``: total rate, 1/s) and
picks the event whose cumulative rate interval holds ``u₂·R``. Deposition owns the first
``F·N`` of that interval, one equal slice per site.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["seed_numba", "next_event"]


@njit(cache=False)
def seed_numba(seed: int) -> None:
    """Seed numba's random generator (separate from numpy's), used by both engines."""
    np.random.seed(seed)


@njit(cache=False)
def next_event(total_rate: float, deposition_total: float, deposition_rate_per_site: float,
               n_sites: int, time_s: float, stop_time_s: float) -> tuple[float, int, float]:
    """One BKL step: ``(new_time_s, site, u)``.

    ``site ≥ 0``: the event is a deposition onto that flat site index. ``site = −1``: a hop,
    and ``u`` is uniform in ``[0, total_rate − deposition_total)`` to pick it with.
    ``u = −1`` (clock left at ``stop_time_s``): nothing can happen or the next event would
    cross ``stop_time_s``.
    """
    if total_rate <= 0.0:
        return stop_time_s, -1, -1.0
    dt = -np.log(1.0 - np.random.random()) / total_rate
    if time_s + dt > stop_time_s:
        return stop_time_s, -1, -1.0
    u = np.random.random() * total_rate
    if u < deposition_total:
        return time_s + dt, min(int(u / deposition_rate_per_site), n_sites - 1), u
    return time_s + dt, -1, u - deposition_total
