"""PNG figures of a multiscale run: load–displacement, the displacement field and the regions
on a cut plane, the error against the region sizes, the ghost forces against the blend width.

Every function writes its PNG atomically (:func:`nnpkit.file_writes.atomic_write`), returns
the path written and leaves its inputs unmodified. Lengths Å, loads eV/Å (1 eV/Å =
1.602176634 nN, shown on a second axis).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import ArrayLike  # noqa: E402

from nnpkit.errors import DataError  # noqa: E402
from nnpkit.file_writes import atomic_write  # noqa: E402

__all__ = ["load_displacement_png", "displacement_field_png", "regions_png",
           "error_vs_size_png", "ghost_force_png", "NN_PER_EV_PER_A"]

#: 1 eV/Å in nN.
NN_PER_EV_PER_A: float = 1.602176634

#: Values at or below this are drawn at this height on log axes (e.g. a zero ghost force).
_LOG_FLOOR = 1e-16


def _save(figure: plt.Figure, path: str | os.PathLike) -> Path:
    target = Path(path)
    atomic_write(target, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)
    return target


def _to_nN(load_eV_per_A: ArrayLike) -> np.ndarray:
    return np.asarray(load_eV_per_A) * NN_PER_EV_PER_A


def _from_nN(load_nN: ArrayLike) -> np.ndarray:
    return np.asarray(load_nN) / NN_PER_EV_PER_A


def _points(points_A: np.ndarray, name: str = "points_A") -> np.ndarray:
    array = np.asarray(points_A, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise DataError(f"{name} must have shape [n, 3], got {array.shape}")
    return array


def _in_plane(points: np.ndarray, plane_y_A: float, tolerance_A: float) -> np.ndarray:
    chosen = np.abs(points[:, 1] - plane_y_A) <= tolerance_A
    if not chosen.any():
        raise DataError(f"no point within {tolerance_A} Å of the cut plane y = {plane_y_A} Å")
    return chosen


def load_displacement_png(path: str | os.PathLike,
                          curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
                          hertz: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """Load (eV/Å, and nN on the right axis) against indentation depth (Å).

    ``curves``: label → (depth_A [n], load_eV_per_A [n]); ``hertz``: (depth_A [k],
    load_eV_per_A [k]) drawn dashed as Hertz's law, or None.
    """
    if not curves:
        raise DataError("load_displacement_png: no curve to plot")
    figure, axis = plt.subplots(figsize=(5.0, 3.8))
    markers = "osd^v<>"
    for number, (label, (depth, load)) in enumerate(curves.items()):
        depth, load = np.asarray(depth, dtype=float), np.asarray(load, dtype=float)
        if depth.shape != load.shape:
            raise DataError(f"load_displacement_png: curve {label!r} has {depth.size} depths "
                            f"but {load.size} loads")
        axis.plot(depth, load, marker=markers[number % len(markers)], ms=4, label=label)
    if hertz is not None:
        axis.plot(np.asarray(hertz[0]), np.asarray(hertz[1]), "k--", lw=1, label="Hertz")
    axis.set_xlabel("indentation depth (Å)")
    axis.set_ylabel("load (eV/Å)")
    secondary = axis.secondary_yaxis("right", functions=(_to_nN, _from_nN))
    secondary.set_ylabel("load (nN)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def displacement_field_png(path: str | os.PathLike, points_A: np.ndarray,
                           displacement_A: np.ndarray, plane_y_A: float,
                           tolerance_A: float) -> Path:
    """|u| and u_z (Å) of the nodes within ``tolerance_A`` of the plane y = ``plane_y_A``,
    as two scatter panels in (x, z). ``points_A``, ``displacement_A``: [n, 3]."""
    points = _points(points_A)
    displacement = _points(displacement_A, "displacement_A")
    if displacement.shape != points.shape:
        raise DataError(f"displacement_A has shape {displacement.shape}, points_A "
                        f"{points.shape}")
    chosen = _in_plane(points, plane_y_A, tolerance_A)
    x, z = points[chosen, 0], points[chosen, 2]
    u = displacement[chosen]
    figure, axes = plt.subplots(1, 2, figsize=(9.0, 3.8), sharey=True)
    magnitude = np.linalg.norm(u, axis=1)
    bound = max(float(np.abs(u[:, 2]).max()), 1e-30)
    for axis, values, title, options in (
            (axes[0], magnitude, "|u| (Å)", {"cmap": "viridis"}),
            (axes[1], u[:, 2], "u_z (Å)", {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound})):
        drawn = axis.scatter(x, z, c=values, s=10, **options)
        figure.colorbar(drawn, ax=axis, label=title)
        axis.set_xlabel("x (Å)")
        axis.set_aspect("equal", adjustable="datalim")
        axis.set_title(f"{title}, y = {plane_y_A:g} ± {tolerance_A:g} Å", fontsize=9)
    axes[0].set_ylabel("z (Å)")
    figure.tight_layout()
    return _save(figure, path)


def regions_png(path: str | os.PathLike, points_A: np.ndarray, weights: np.ndarray,
                plane_y_A: float, tolerance_A: float,
                elements: np.ndarray | None = None) -> Path:
    """The blending weight w (0 atomistic … 1 continuum) of the points within ``tolerance_A``
    of the plane y = ``plane_y_A``, in (x, z); with ``elements`` ([m, 4] node indices into
    ``points_A``), the element edges whose both ends lie in that slab are drawn too."""
    points = _points(points_A)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size != len(points):
        raise DataError(f"regions_png: {w.size} weights for {len(points)} points")
    chosen = _in_plane(points, plane_y_A, tolerance_A)
    figure, axis = plt.subplots(figsize=(5.6, 4.2))
    if elements is not None:
        cells = np.asarray(elements, dtype=np.int64)
        if cells.ndim != 2 or cells.shape[1] != 4 or cells.size and (
                cells.min() < 0 or cells.max() >= len(points)):
            raise DataError(f"regions_png: elements must be [m, 4] indices below "
                            f"{len(points)}, got shape {cells.shape}")
        pairs = np.concatenate([cells[:, [a, b]] for a in range(4) for b in range(a + 1, 4)])
        pairs = np.unique(np.sort(pairs, axis=1), axis=0)  # [e, 2]
        pairs = pairs[chosen[pairs[:, 0]] & chosen[pairs[:, 1]]]
        segments = points[pairs][:, :, [0, 2]]  # [e, 2, 2]
        from matplotlib.collections import LineCollection
        axis.add_collection(LineCollection(list(segments), colors="0.6", linewidths=0.4))
    drawn = axis.scatter(points[chosen, 0], points[chosen, 2], c=w[chosen], s=10,
                         cmap="coolwarm", vmin=0.0, vmax=1.0, zorder=3)
    figure.colorbar(drawn, ax=axis, label="w (0 atomistic, 1 continuum)")
    axis.set_xlabel("x (Å)")
    axis.set_ylabel("z (Å)")
    axis.set_aspect("equal", adjustable="datalim")
    axis.set_title(f"regions, y = {plane_y_A:g} ± {tolerance_A:g} Å", fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def error_vs_size_png(path: str | os.PathLike, table: Sequence[Mapping], x_key: str,
                      y_key: str, group_key: str) -> Path:
    """``y_key`` against ``x_key`` from the rows of ``table``, one line per value of
    ``group_key`` (e.g. x = atomistic_radius_A, y = load_error_percent, group =
    blend_width_A)."""
    if not table:
        raise DataError("error_vs_size_png: the table is empty")
    for number, row in enumerate(table):
        missing = [key for key in (x_key, y_key, group_key) if key not in row]
        if missing:
            raise DataError(f"error_vs_size_png: row {number} lacks {missing}")
    groups: dict[object, list[tuple[float, float]]] = {}
    for row in table:
        groups.setdefault(row[group_key], []).append((float(row[x_key]), float(row[y_key])))
    figure, axis = plt.subplots(figsize=(5.0, 3.8))
    for value in sorted(groups, key=lambda v: (str(type(v)), v)):  # type: ignore[arg-type]
        xy = np.array(sorted(groups[value]))
        axis.plot(xy[:, 0], xy[:, 1], "o-", ms=4, label=f"{group_key} = {value}")
    axis.set_xlabel(x_key)
    axis.set_ylabel(y_key)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def ghost_force_png(path: str | os.PathLike, widths_A: np.ndarray,
                    max_ghost_eV_per_A: Mapping[str, np.ndarray]) -> Path:
    """The largest ghost force (eV/Å) against the blending width (Å), log–log, one line per
    coupling; values ≤ 1e-16 (a consistent coupling) are drawn at 1e-16."""
    widths = np.asarray(widths_A, dtype=np.float64).ravel()
    if not max_ghost_eV_per_A:
        raise DataError("ghost_force_png: no coupling to plot")
    if np.any(widths <= 0):
        raise DataError("ghost_force_png: widths_A must be > 0 for a log axis")
    figure, axis = plt.subplots(figsize=(5.0, 3.8))
    for label, values in max_ghost_eV_per_A.items():
        ghost = np.asarray(values, dtype=np.float64).ravel()
        if ghost.size != widths.size:
            raise DataError(f"ghost_force_png: {ghost.size} values for {label!r}, "
                            f"{widths.size} widths")
        axis.loglog(widths, np.maximum(ghost, _LOG_FLOOR), "o-", ms=4, label=label)
    axis.set_xlabel("blending width (Å)")
    axis.set_ylabel("max ghost force (eV/Å)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path)
