"""Surface observables of a height map: coverage, roughness, layers, steps, islands.

All take ``heights`` (``[L, L]`` int, ML) and never modify it. Levels are counted above
``base_level`` (the flat starting surface): layer ``k ≥ 1`` is filled where ``h ≥ k``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["coverage_ML", "roughness_ML", "layer_coverages", "step_density",
           "anti_bragg_intensity", "count_islands", "island_density", "surface_observables",
           "oscillation_contrast"]


def coverage_ML(heights: np.ndarray, base_level: int = 0) -> float:
    """Deposited amount above the flat ``base_level``, ML."""
    return float(np.mean(heights) - base_level)


def roughness_ML(heights: np.ndarray) -> float:
    """Interface width ``W = sqrt(<(h − <h>)²>)``, ML."""
    return float(np.std(heights))


def layer_coverages(heights: np.ndarray, n_layers: int, base_level: int = 0) -> np.ndarray:
    """``[n_layers]`` filled fraction of layers ``1..n_layers`` (``θ_k = <h ≥ k>``)."""
    levels = base_level + np.arange(1, n_layers + 1)  # [n_layers]
    return (heights[None, :, :] >= levels[:, None, None]).mean(axis=(1, 2))


def step_density(heights: np.ndarray) -> float:
    """Fraction of nearest-neighbour bonds across a height step (0 for a flat surface);
    oscillates with period 1 ML in layer-by-layer growth."""
    steps = (heights != np.roll(heights, 1, axis=0)).sum() + \
        (heights != np.roll(heights, 1, axis=1)).sum()
    return float(steps / (2 * heights.size))


def anti_bragg_intensity(heights: np.ndarray) -> float:
    """Kinematic RHEED/He-scattering intensity at the anti-Bragg condition,
    ``|<(−1)^h>|²`` (1 for a complete layer, 0 at half coverage of one layer)."""
    return float(np.mean(1 - 2 * (heights % 2)) ** 2)


@njit(cache=False)
def _clusters_at(heights: np.ndarray, level: int, min_size: int) -> tuple[int, int]:
    length = heights.shape[0]
    seen = np.zeros(heights.shape, dtype=np.bool_)  # [L, L]
    stack = np.empty(2 * length * length + 2, dtype=np.int64)  # [2·L²] BFS stack (i, j)
    n_clusters = 0
    n_monomers = 0
    for i0 in range(length):
        for j0 in range(length):
            if seen[i0, j0] or heights[i0, j0] < level:
                continue
            seen[i0, j0] = True
            top = 0
            stack[0] = i0
            stack[1] = j0
            top = 2
            size = 0
            while top > 0:
                top -= 2
                i, j = stack[top], stack[top + 1]
                size += 1
                for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    a, b = (i + di) % length, (j + dj) % length
                    if not seen[a, b] and heights[a, b] >= level:
                        seen[a, b] = True
                        stack[top] = a
                        stack[top + 1] = b
                        top += 2
            if size >= min_size:
                n_clusters += 1
            elif size == 1:
                n_monomers += 1
    return n_clusters, n_monomers


def count_islands(heights: np.ndarray, base_level: int = 0, min_size: int = 2
                  ) -> tuple[int, int]:
    """Islands and monomers over all levels above ``base_level``.

    An island is a 4-connected (periodic) cluster of at least ``min_size`` columns reaching
    a level ``k > base_level``; a monomer a lone column. Returns ``(n_islands, n_monomers)``.
    """
    h = np.ascontiguousarray(heights, dtype=np.int64)
    n_islands = 0
    n_monomers = 0
    for level in range(base_level + 1, int(h.max()) + 1):
        islands, monomers = _clusters_at(h, level, min_size)
        n_islands += islands
        n_monomers += monomers
    return n_islands, n_monomers


def island_density(heights: np.ndarray, base_level: int = 0, min_size: int = 2) -> float:
    """Islands (clusters of ≥ ``min_size`` columns, all levels) per lattice site."""
    return count_islands(heights, base_level, min_size)[0] / heights.size


def surface_observables(heights: np.ndarray, base_level: int = 0, n_layers: int = 6) -> dict:
    """All observables of one height map as a JSON-ready dict."""
    islands, monomers = count_islands(heights, base_level)
    return {
        "coverage_ML": coverage_ML(heights, base_level),
        "roughness_ML": roughness_ML(heights),
        "step_density": step_density(heights),
        "anti_bragg_intensity": anti_bragg_intensity(heights - base_level),
        "island_density_per_site": islands / heights.size,
        "monomer_density_per_site": monomers / heights.size,
        "layer_coverages": layer_coverages(heights, n_layers, base_level).tolist(),
    }


def oscillation_contrast(coverage_ML: np.ndarray, step_density: np.ndarray,
                         layers: tuple[int, ...] = (1, 2, 3)) -> float:
    """How strongly the step density oscillates with period 1 ML (RHEED-like).

    For each layer ``k``, ``(max − min)/max`` of the step density in the window
    ``k ± 0.5`` ML (``[n_obs]`` series against coverage); the mean over ``layers``. Near 1
    for layer-by-layer growth (the surface is nearly flat at each completed layer), small
    for rough multilayer growth.
    """
    coverage = np.asarray(coverage_ML)
    steps = np.asarray(step_density)
    contrasts = []
    for layer in layers:
        window = (coverage >= layer - 0.5) & (coverage <= layer + 0.5)
        if not window.any() or steps[window].max() == 0:
            raise ValueError(f"no step density observed around {layer} ML")
        contrasts.append((steps[window].max() - steps[window].min()) / steps[window].max())
    return float(np.mean(contrasts))
