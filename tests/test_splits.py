"""Tests for nnpkit.data.splits.train_val_test_split."""

from __future__ import annotations

import numpy as np
import pytest

from nnpkit.data import train_val_test_split
from nnpkit.errors import DataError


@pytest.mark.parametrize(
    ("n", "val_fraction", "test_fraction", "sizes"),
    [
        (100, 0.1, 0.2, (70, 10, 20)),
        (10, 0.0, 0.0, (10, 0, 0)),
        (3, 0.1, 0.1, (1, 1, 1)),
        (7, 0.5, 0.0, (3, 4, 0)),
        (1, 0.0, 0.0, (1, 0, 0)),
    ],
)
def test_disjoint_covering_sizes(n, val_fraction, test_fraction, sizes):
    train, val, test = train_val_test_split(n, val_fraction, test_fraction, seed=0)
    assert (len(train), len(val), len(test)) == sizes
    together = np.concatenate([train, val, test])
    assert np.array_equal(np.sort(together), np.arange(n))  # disjoint and covering
    for part in (train, val, test):
        assert part.dtype == np.int64
        assert np.array_equal(part, np.sort(part))


def test_deterministic_given_seed_and_differs_between_seeds():
    first = train_val_test_split(50, 0.2, 0.2, seed=7)
    again = train_val_test_split(50, 0.2, 0.2, seed=7)
    other = train_val_test_split(50, 0.2, 0.2, seed=8)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


def test_split_is_shuffled_not_contiguous():
    train, val, test = train_val_test_split(1000, 0.1, 0.1, seed=0)
    assert not np.array_equal(val, np.arange(val[0], val[0] + len(val)))


@pytest.mark.parametrize(
    ("n", "val_fraction", "test_fraction"),
    [(2, 0.1, 0.1), (1, 0.5, 0.0), (0, 0.0, 0.0), (10, 0.5, 0.5), (10, 0.6, 0.6)],
)
def test_too_few_structures(n, val_fraction, test_fraction):
    with pytest.raises(DataError, match=f"n={n}"):
        train_val_test_split(n, val_fraction, test_fraction, seed=0)


@pytest.mark.parametrize(("val_fraction", "test_fraction"), [(-0.1, 0.1), (0.1, 1.0)])
def test_bad_fractions(val_fraction, test_fraction):
    with pytest.raises(DataError, match="fraction"):
        train_val_test_split(10, val_fraction, test_fraction, seed=0)
