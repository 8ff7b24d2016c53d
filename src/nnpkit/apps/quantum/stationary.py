"""Minima and saddle points of a surface in a few coordinates (analytic or learned).

:func:`stationary_points` solves ``grad V = 0`` by Newton iterations (``scipy.optimize.root``
with a finite-difference Hessian of the analytic gradient) from many starting points,
merges duplicates and classifies each point by the signs of its Hessian eigenvalues:
``minimum`` (all positive), ``saddle`` (one negative: a transition state) or
``maximum``/``higher-order saddle``. Works with any object having ``__call__`` and
``gradient`` over ``[..., n_dim]`` coordinates, e.g. a :class:`GaussianProcessPES` or the
built-in Müller–Brown surface, so a learned surface is checked against the exact one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize

__all__ = ["StationaryPoint", "stationary_points", "hessian", "match_points"]


@dataclass(frozen=True)
class StationaryPoint:
    """A stationary point: ``position`` ``[n_dim]``, ``energy``, ``kind``, Hessian eigenvalues."""

    position: np.ndarray
    energy: float
    kind: str
    curvatures: np.ndarray


def hessian(surface: Any, point: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Symmetrised central-difference Hessian of ``surface.gradient`` at ``point``, ``[d, d]``."""
    point = np.asarray(point, dtype=float)
    n_dim = len(point)
    shifts = np.eye(n_dim) * step  # [d, d]
    plus = surface.gradient(point[None] + shifts)  # [d, d]
    minus = surface.gradient(point[None] - shifts)
    matrix = (plus - minus) / (2.0 * step)
    return 0.5 * (matrix + matrix.T)


def _kind(curvatures: np.ndarray) -> str:
    negative = int(np.sum(curvatures < 0))
    if negative == 0:
        return "minimum"
    if negative == 1:
        return "saddle"
    return "maximum" if negative == len(curvatures) else "higher-order saddle"


def stationary_points(surface: Any, starts: np.ndarray, bounds: tuple[Any, Any] | None = None,
                      gradient_tolerance: float = 1e-8, merge_distance: float = 1e-3
                      ) -> list[StationaryPoint]:
    """All distinct stationary points reached from ``starts`` ``[n_starts, n_dim]``.

    Args:
        surface: Has ``__call__`` and ``gradient`` over ``[..., n_dim]``.
        starts: Starting points for the Newton iterations.
        bounds: ``(lower, upper)``; points found outside are discarded.
        gradient_tolerance: Largest ``|grad V|`` accepted as stationary.
        merge_distance: Points closer than this are the same point.

    Returns:
        Points sorted by energy.
    """
    found: list[StationaryPoint] = []
    for start in np.atleast_2d(np.asarray(starts, dtype=float)):
        result = scipy.optimize.root(lambda q: surface.gradient(q[None])[0], start,
                                     jac=lambda q: hessian(surface, q), method="hybr")
        position = result.x
        if not np.all(np.isfinite(position)):
            continue
        if np.linalg.norm(surface.gradient(position[None])[0]) > gradient_tolerance:
            continue
        if bounds is not None and (np.any(position < np.asarray(bounds[0]))
                                   or np.any(position > np.asarray(bounds[1]))):
            continue
        if any(np.linalg.norm(position - p.position) < merge_distance for p in found):
            continue
        curvatures = np.linalg.eigvalsh(hessian(surface, position))
        found.append(StationaryPoint(position, float(surface(position[None])[0]),
                                     _kind(curvatures), curvatures))
    return sorted(found, key=lambda p: p.energy)


def match_points(reference: list[StationaryPoint], found: list[StationaryPoint]
                 ) -> list[dict]:
    """For each reference point, the nearest found point of the same kind and the distance."""
    rows = []
    for point in reference:
        same = [p for p in found if p.kind == point.kind]
        if not same:
            rows.append({"kind": point.kind, "reference": point.position.tolist(),
                         "found": None, "distance": float("inf")})
            continue
        nearest = min(same, key=lambda p: float(np.linalg.norm(p.position - point.position)))
        rows.append({"kind": point.kind, "reference": point.position.tolist(),
                     "found": nearest.position.tolist(),
                     "distance": float(np.linalg.norm(nearest.position - point.position)),
                     "energy_error": nearest.energy - point.energy})
    return rows
