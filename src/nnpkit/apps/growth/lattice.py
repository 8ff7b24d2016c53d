"""The solid-on-solid (SOS) lattice of an fcc(100) surface and the hop descriptors.

A surface is a periodic ``[L, L]`` integer array of column heights ``h`` (in monolayers,
ML): column ``(i, j)`` holds atoms at levels ``…, h-1, h``; its top atom (level ``h``) is
the one that can hop. Lateral neighbours are the four in-plane sites at distance
``a/√2`` (nearest, NN) and the four diagonal ones at ``a`` (next-nearest, NNN).

A hop of the top atom of ``s`` in direction ``e`` moves it to the top of column
``t = s + e``. Its environment is encoded by six integers (the *hop descriptors*):

* ``n1_initial``, ``n2_initial``: NN and NNN columns of ``s`` reaching level ``z = h[s]``;
* ``n1_final``, ``n2_final``: the same around ``t`` at the final level ``z' = h[t] + 1``
  (the vacated source column counts if it still reaches ``z'``);
* ``n_saddle``: occupied sites beside the saddle (``s ± p``, ``t ± p``, with ``p ⟂ e``)
  at level ``max(z, z')``;
* ``dz``: ``z' − z`` clipped to −1 (down a step), 0 (in-layer), +1 (up a step).

They pack into one integer ``code`` (``N_CODES`` values), the index of rate tables.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["N_CODES", "FREE_HOP_CODE", "DESCRIPTOR_NAMES", "hop_code", "hop_codes_of",
           "decode_codes", "bond_counting_barriers"]

#: Names of the hop descriptors, in the order of :func:`decode_codes` columns.
DESCRIPTOR_NAMES = ("n1_initial", "n2_initial", "n1_final", "n2_final", "n_saddle", "dz")
#: Number of distinct hop codes: 3 values of dz times 5**5 neighbour-count combinations.
N_CODES = 3 * 5**5
#: Code of a lone adatom's in-layer hop (dz = 0, all neighbour counts 0).
FREE_HOP_CODE = 1 * 5**5
#: Unit vectors of the four hop directions (+x, −x, +y, −y), ``[4, 2]``.
DIRECTIONS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], dtype=np.int64)


@njit(cache=False)
def wrap(a: int, length: int) -> int:
    """``a mod length`` for ``−length ≤ a < 2·length`` without an integer division."""
    if a < 0:
        return a + length
    if a >= length:
        return a - length
    return a


@njit(cache=False)
def _at_least(h: np.ndarray, length: int, i: int, j: int, level: int) -> int:
    return 1 if h[wrap(i, length), wrap(j, length)] >= level else 0


@njit(cache=False)
def hop_code(h: np.ndarray, i: int, j: int, ex: int, ey: int) -> int:
    """Descriptor code of the hop of the top atom of column ``(i, j)`` in direction
    ``(ex, ey)`` on the periodic height map ``h`` (``[L, L]`` int)."""
    length = h.shape[0]
    px, py = -ey, ex
    z = h[i, j]
    ti, tj = wrap(i + ex, length), wrap(j + ey, length)
    zf = h[ti, tj] + 1
    n1i = (_at_least(h, length, i + ex, j + ey, z) + _at_least(h, length, i - ex, j - ey, z)
           + _at_least(h, length, i + px, j + py, z) + _at_least(h, length, i - px, j - py, z))
    n2i = (_at_least(h, length, i + ex + px, j + ey + py, z)
           + _at_least(h, length, i + ex - px, j + ey - py, z)
           + _at_least(h, length, i - ex + px, j - ey + py, z)
           + _at_least(h, length, i - ex - px, j - ey - py, z))
    n1f = (_at_least(h, length, ti + ex, tj + ey, zf) + _at_least(h, length, ti + px, tj + py, zf)
           + _at_least(h, length, ti - px, tj - py, zf) + (1 if z - 1 >= zf else 0))
    n2f = (_at_least(h, length, ti + ex + px, tj + ey + py, zf)
           + _at_least(h, length, ti + ex - px, tj + ey - py, zf)
           + _at_least(h, length, i + px, j + py, zf) + _at_least(h, length, i - px, j - py, zf))
    zs = max(z, zf)
    nts = (_at_least(h, length, i + px, j + py, zs) + _at_least(h, length, i - px, j - py, zs)
           + _at_least(h, length, ti + px, tj + py, zs)
           + _at_least(h, length, ti - px, tj - py, zs))
    dz = min(max(zf - z, -1), 1)
    return (((((dz + 1) * 5 + n1i) * 5 + n2i) * 5 + n1f) * 5 + n2f) * 5 + nts


def hop_codes_of(heights: np.ndarray, sites: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Codes of the hops ``sites[k]`` (``[n, 2]``) → ``sites[k] + DIRECTIONS[directions[k]]``.

    Args:
        heights: ``[L, L]`` integer column heights (ML), not modified.
        sites: ``[n, 2]`` source columns; directions: ``[n]`` indices into ``DIRECTIONS``.

    Returns:
        ``[n]`` int64 codes in ``[0, N_CODES)``.
    """
    h = np.ascontiguousarray(heights, dtype=np.int64)
    codes = np.empty(len(sites), dtype=np.int64)  # [n]
    for k, ((i, j), d) in enumerate(zip(np.asarray(sites), np.asarray(directions), strict=True)):
        ex, ey = DIRECTIONS[int(d)]
        codes[k] = hop_code(h, int(i) % h.shape[0], int(j) % h.shape[1], int(ex), int(ey))
    return codes


def decode_codes(codes: np.ndarray) -> np.ndarray:
    """Hop descriptors of ``codes`` (``[n]``): ``[n, 6]`` int in :data:`DESCRIPTOR_NAMES`
    order (``dz`` in {−1, 0, 1})."""
    rest = np.asarray(codes, dtype=np.int64).copy()
    columns = []
    for _ in range(5):  # nts, n2f, n1f, n2i, n1i (least significant first)
        columns.append(rest % 5)
        rest //= 5
    dz = rest - 1
    n_saddle, n2f, n1f, n2i, n1i = columns
    return np.stack([n1i, n2i, n1f, n2f, n_saddle, dz], axis=1)  # [n, 6]


def bond_counting_barriers(diffusion_barrier_eV: float, bond_energy_eV: float,
                           step_edge_barrier_eV: float = 0.0) -> np.ndarray:
    """The Clarke–Vvedensky barrier table over all codes, ``[N_CODES]`` eV.

    ``Ea = E_d + n1_initial·E_b + E_ES·[dz ≠ 0]``: the barrier depends on the bonds broken
    and, for interlayer hops (both directions, which keeps detailed balance with respect to
    the lateral bond energy ``H = −E_b·Σ_<ij> min(h_i, h_j)``), the Ehrlich–Schwoebel term.
    """
    descriptors = decode_codes(np.arange(N_CODES))  # [N_CODES, 6]
    return (diffusion_barrier_eV + bond_energy_eV * descriptors[:, 0]
            + step_edge_barrier_eV * (descriptors[:, 5] != 0)).astype(np.float64)
