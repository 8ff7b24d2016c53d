"""Deterministic train/validation/test splits of a dataset by structure index."""

from __future__ import annotations

import math

import numpy as np

from nnpkit.errors import DataError

__all__ = ["train_val_test_split"]


def _split_size(n: int, fraction: float, name: str) -> int:
    """Number of structures for one split: round(fraction * n), at least 1 if fraction > 0."""
    if not (0.0 <= fraction < 1.0) or not math.isfinite(fraction):
        raise DataError(f"{name}={fraction} must be in [0, 1)")
    if fraction == 0.0:
        return 0
    return max(1, math.floor(fraction * n + 0.5))


def train_val_test_split(
    n: int, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the indices ``0 .. n-1`` into disjoint train, validation and test sets.

    The split is a random permutation drawn from ``numpy.random.default_rng(seed)``, so the
    same ``(n, fractions, seed)`` always gives the same split. Each non-zero fraction gets at
    least one structure; training keeps at least one.

    Args:
        n: number of structures.
        val_fraction: fraction of structures for validation, in [0, 1).
        test_fraction: fraction of structures for testing, in [0, 1).
        seed: seed of the random permutation.

    Returns:
        ``(train, val, test)``: sorted int64 index arrays, shapes ``[n_train]``, ``[n_val]``,
        ``[n_test]``, disjoint and together covering ``range(n)``.

    Raises:
        DataError: bad fractions, or ``n`` too small to give train and every non-zero
            fraction one structure.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise DataError(f"n={n} must be a positive integer number of structures")
    n = int(n)
    n_val = _split_size(n, val_fraction, "val_fraction")
    n_test = _split_size(n, test_fraction, "test_fraction")
    if n_val + n_test >= n:
        raise DataError(
            f"n={n} structures is too few for val_fraction={val_fraction} ({n_val}) and "
            f"test_fraction={test_fraction} ({n_test}) with at least one left for training"
        )
    order = np.random.default_rng(seed).permutation(n)
    val = np.sort(order[:n_val]).astype(np.int64)
    test = np.sort(order[n_val : n_val + n_test]).astype(np.int64)
    train = np.sort(order[n_val + n_test :]).astype(np.int64)
    return train, val, test
