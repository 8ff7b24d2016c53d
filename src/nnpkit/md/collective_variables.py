"""Collective variables (CVs) per replica, differentiable in torch: distance, coordination.

A CV is any callable ``cv(positions [N, 3], batch [N]) -> [B]`` over the concatenated atoms
of B replicas (see :mod:`nnpkit.md.batched_state`); biases take its gradient by autograd.
Atom indices are given within each replica, one set for all replicas or one per replica,
and checked against the replicas' sizes. Distances are plain Cartesian ones (no minimum
image): meant for clusters and molecules.

The coordination number is PLUMED's ``COORDINATION`` with its rational switching function
(PLUMED 2 manual, "switchingfunction"):
``s(r) = [1 − ((r − d0)/r0)^n] / [1 − ((r − d0)/r0)^m]``, with ``s = 1`` for ``r ≤ d0`` and
``m = 0`` meaning ``2n``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from ase import Atoms

from nnpkit.errors import ConfigError

__all__ = ["switching_function", "CoordinationCV", "DistanceCV", "cv_of_atoms"]


def _geometric_sum(x: torch.Tensor, terms: int) -> torch.Tensor:
    """``Σ_{k<terms} x^k`` by Horner's rule (exact polynomial, no division)."""
    total = torch.ones_like(x)
    for _ in range(terms - 1):
        total = total * x + 1.0
    return total


def _check_exponents(n: int, m: int) -> tuple[int, int]:
    """``(n, m)`` with PLUMED's default ``m = 2n`` for ``m = 0``; refuses non-integers."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ConfigError(f"switching function: n must be an integer >= 1, got {n!r}")
    m = 2 * int(n) if m == 0 else m
    if isinstance(m, bool) or int(m) != m or m < 1:
        raise ConfigError(f"switching function: m must be an integer >= 1 (or 0 for 2n), "
                          f"got {m!r}")
    if int(m) == int(n):
        raise ConfigError(f"switching function: n = m = {n} makes s(r) = 1 everywhere")
    return int(n), int(m)


def switching_function(r: torch.Tensor, r0_A: float, d0_A: float = 0.0, n: int = 6,
                       m: int = 0) -> torch.Tensor:
    """PLUMED's rational switching function of distances ``r`` (any shape, Å).

    ``s(r) = [1 − x^n] / [1 − x^m]`` with ``x = (r − d0)/r0``; ``s = 1`` for ``r ≤ d0``;
    ``m = 0`` means ``2n`` (PLUMED's default). Evaluated as the exact quotient of geometric
    sums ``Σ_{k<n} x^k / Σ_{k<m} x^k`` (``x ≤ 1``) or, in ``y = 1/x``,
    ``y^{m−n} Σ_{k<n} y^k / Σ_{k<m} y^k`` (``x > 1``), so the removable singularity at
    ``r = d0 + r0`` has its limit ``n/m`` and a finite derivative ``n(n − m)/(2 m r0)``
    there, every autograd path is finite and nothing overflows at large ``r``.

    Args:
        r: distances, Å (float32 or float64).
        r0_A: the switching length r0, Å (> 0).
        d0_A: the offset d0, Å (>= 0).
        n, m: the exponents (positive integers, n != m; m = 0 means 2n).

    Returns:
        ``s(r)``, same shape and dtype as ``r``, differentiable.

    Raises:
        ConfigError: r0 <= 0, d0 < 0, or bad exponents.
    """
    if not r0_A > 0 or not d0_A >= 0:
        raise ConfigError(f"switching function: need r0_A > 0 and d0_A >= 0, "
                          f"got {r0_A}, {d0_A}")
    n, m = _check_exponents(n, m)
    x = (r - d0_A) / r0_A
    # both branches are evaluated everywhere (torch.where): clamp each to its own range so
    # that neither produces inf or nan, whose gradient would poison the other branch
    inner = x.clamp(0.0, 1.0)  # x <= 0 gives exactly 1, as PLUMED's s = 1 for r <= d0
    near = _geometric_sum(inner, n) / _geometric_sum(inner, m)
    y = 1.0 / x.clamp(min=1.0)
    far = y ** (m - n) * _geometric_sum(y, n) / _geometric_sum(y, m)
    return torch.where(x <= 1.0, near, far)


def indices_per_replica(indices: int | Sequence[int] | Sequence[Sequence[int]],
                        n_replicas: int, what: str) -> list[list[int]]:
    """One list of atom indices (within the replica) per replica: a single index or list
    serves all replicas. ``what`` names the argument in the error.

    Raises:
        ConfigError: a list of lists whose length is not ``n_replicas``.
    """
    if isinstance(indices, int | np.integer):
        return [[int(indices)]] * n_replicas
    items: list[Any] = list(indices)
    if items and all(isinstance(item, int | np.integer) for item in items):
        return [[int(item) for item in items]] * n_replicas
    if len(items) != n_replicas:
        raise ConfigError(f"{what}: {len(items)} index lists for {n_replicas} replicas")
    return [[int(item) for item in group] for group in items]


def check_indices(indices: list[int], size: int, replica: int, what: str) -> None:
    """Raise ConfigError naming ``what``, the replica and the atoms outside ``[0, size)``."""
    bad = [index for index in indices if not 0 <= index < size]
    if bad:
        raise ConfigError(f"{what}: atom(s) {bad} do not exist in replica {replica} "
                          f"({size} atoms)")


def _per_replica_atom(index: int | Sequence[int], n_replicas: int, what: str) -> np.ndarray:
    """One atom index per replica [B] from one index or B of them."""
    values = np.asarray(index, dtype=np.int64).reshape(-1)
    if values.size not in (1, n_replicas):
        raise ConfigError(f"{what}: {values.size} indices for {n_replicas} replicas")
    return np.broadcast_to(values, (n_replicas,))


class DistanceCV:
    """The distance between two atoms of each replica [B], Å (no minimum image).

    Args:
        first: index of the first atom within its replica, one per replica (or one for all).
        second: index of the second atom, likewise.
        n_atoms: atoms per replica [B] (to turn replica indices into batch indices).

    Raises:
        ConfigError: an index outside its replica (named).
    """

    def __init__(self, first: int | Sequence[int], second: int | Sequence[int],
                 n_atoms: Sequence[int]) -> None:
        sizes = np.asarray(n_atoms, dtype=np.int64)
        self.n_atoms = sizes  # [B]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        local = [_per_replica_atom(index, len(sizes), f"DistanceCV {which} atom")
                 for index, which in ((first, "first"), (second, "second"))]
        for which, index in zip(("first", "second"), local, strict=True):
            for b, (atom, size) in enumerate(zip(index, sizes, strict=True)):
                check_indices([int(atom)], int(size), b, f"DistanceCV {which} atom")
        self.first = torch.as_tensor(local[0] + offsets)  # [B], global
        self.second = torch.as_tensor(local[1] + offsets)  # [B]

    def __call__(self, positions: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """Distances [B], Å, of positions [N, 3] (batch [N])."""
        first, second = self.first.to(positions.device), self.second.to(positions.device)
        return torch.linalg.norm(positions[second] - positions[first], dim=1)  # [B]


class CoordinationCV:
    """Coordination number of a centre atom to a group of atoms, per replica [B].

    ``CN_b = Σ_{j ∈ group_b} s(|r_j − r_center_b|)`` with :func:`switching_function`
    (PLUMED's ``COORDINATION GROUPA=center GROUPB=group``), e.g. an ion's water oxygens.

    Args:
        center: the centre atom's index within its replica, one for all or one per replica.
        group: the group's indices within the replica, one list for all replicas or one
            list per replica (lengths may differ); the centre must not be in it.
        n_atoms: atoms per replica [B].
        r0_A, d0_A, n, m: the switching function's parameters (m = 0 means 2n).

    Raises:
        ConfigError: an index outside its replica, an empty or repeated group, the centre
            in its own group (each names the replica), or bad switching parameters.
    """

    def __init__(self, center: int | Sequence[int], group: Sequence[int] | Sequence[Sequence[int]],
                 n_atoms: Sequence[int], r0_A: float, d0_A: float = 0.0, n: int = 6,
                 m: int = 0) -> None:
        sizes = [int(size) for size in n_atoms]
        self.n_atoms = np.asarray(sizes, dtype=np.int64)  # [B]
        self.r0_A, self.d0_A = float(r0_A), float(d0_A)
        self.n, self.m = _check_exponents(n, m)
        switching_function(torch.zeros(1), self.r0_A, self.d0_A, self.n, self.m)  # checks
        centers = _per_replica_atom(center, len(sizes), "CoordinationCV center")
        groups = indices_per_replica(group, len(sizes), "CoordinationCV group")
        offset, first, second, replica = 0, [], [], []
        for b, size in enumerate(sizes):
            check_indices([int(centers[b]), *groups[b]], size, b, "CoordinationCV")
            if not groups[b] or len(set(groups[b])) != len(groups[b]):
                raise ConfigError(f"CoordinationCV group of replica {b} is empty or has "
                                  f"repeated atoms: {groups[b]}")
            if centers[b] in groups[b]:
                raise ConfigError(f"CoordinationCV: the centre atom {centers[b]} is in its "
                                  f"own group (replica {b})")
            first += [offset + int(centers[b])] * len(groups[b])
            second += [offset + j for j in groups[b]]
            replica += [b] * len(groups[b])
            offset += size
        self.first = torch.as_tensor(first, dtype=torch.long)  # [P], global centre index
        self.second = torch.as_tensor(second, dtype=torch.long)  # [P], global group index
        self.pair_replica = torch.as_tensor(replica, dtype=torch.long)  # [P]

    def __call__(self, positions: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """Coordination numbers [B] of positions [N, 3] (batch [N]), differentiable."""
        device = positions.device
        vectors = positions[self.second.to(device)] - positions[self.first.to(device)]  # [P, 3]
        values = switching_function(torch.linalg.norm(vectors, dim=1), self.r0_A, self.d0_A,
                                    self.n, self.m)  # [P]
        out = values.new_zeros(len(self.n_atoms))  # [B]
        return out.index_add_(0, self.pair_replica.to(device), values)


def cv_of_atoms(cv: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], atoms: Atoms
                ) -> float:
    """A CV's value for one structure (B = 1), float64.

    Raises:
        ConfigError: the CV was built for other replica sizes than ``[len(atoms)]``.
    """
    sizes = getattr(cv, "n_atoms", None)
    if sizes is not None and list(np.asarray(sizes).tolist()) != [len(atoms)]:
        raise ConfigError(f"the CV was built for replicas of {np.asarray(sizes).tolist()} atoms, "
                          f"not one structure of {len(atoms)} ({atoms.get_chemical_formula()})")
    positions = torch.as_tensor(np.asarray(atoms.positions), dtype=torch.float64)  # [n, 3]
    batch = torch.zeros(len(atoms), dtype=torch.long)  # [n]
    with torch.no_grad():
        return float(cv(positions, batch).reshape(-1)[0])
