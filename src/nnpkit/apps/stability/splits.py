"""Group splits of the stability dataset: whole prototypes or chemical systems held out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from ase import Atoms

from nnpkit.apps.stability.dataset import StabilityDataset, _as_bool
from nnpkit.errors import ConfigError, DataError

__all__ = ["split_by_group"]


def split_by_group(
    dataset_or_structures: StabilityDataset | Sequence[Atoms],
    by: Literal["prototype", "chemical_system"],
    test_fraction: float = 0.25,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with whole groups (prototypes or chemical systems) on one side.

    Elemental cells (``info["is_elemental"]``) always go to train: they only define the hull.
    Groups are shuffled with ``seed``; each is put into test if that brings the test size
    closer to ``test_fraction`` of the non-elemental structures (at least one group goes to
    each side).

    Returns:
        ``(train_index, test_index)``, sorted int arrays.

    Raises:
        ConfigError: ``by`` or ``test_fraction`` out of range.
        DataError: a structure without ``info[by]``, or fewer than two groups.
    """
    structures = (
        dataset_or_structures.structures
        if isinstance(dataset_or_structures, StabilityDataset)
        else list(dataset_or_structures)
    )
    if by not in ("prototype", "chemical_system"):
        raise ConfigError(f"split by {by!r}: use 'prototype' or 'chemical_system'")
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    groups: dict[str, list[int]] = {}
    for k, atoms in enumerate(structures):
        if by not in atoms.info:
            raise DataError(f"structure {k} has no info[{by!r}]")
        if not _as_bool(atoms.info.get("is_elemental", False), "is_elemental", f"structure {k}"):
            groups.setdefault(str(atoms.info[by]), []).append(k)
    names = sorted(groups)
    if len(names) < 2:
        raise DataError(f"split by {by}: need ≥ 2 non-elemental groups, found {names}")
    target = test_fraction * sum(len(members) for members in groups.values())
    test: list[int] = []
    n_test_groups = 0
    for g in np.random.default_rng(seed).permutation(len(names)):
        size = len(groups[names[g]])
        closer = abs(len(test) + size - target) < abs(len(test) - target)
        if (closer or not test) and n_test_groups < len(names) - 1:
            test += groups[names[g]]
            n_test_groups += 1
    test_index = np.array(sorted(test), dtype=int)
    train_index = np.setdiff1d(np.arange(len(structures)), test_index)
    return train_index, test_index
