"""Choosing diverse structures: invariant descriptors and farthest-point selection.

:func:`structure_descriptors` turns each structure into one vector that is invariant to
rotation, translation and permutation of like atoms: the per-element mean and standard
deviation of the atom-centred symmetry functions (:class:`nnpkit.nn.SymmetryFunctions`)
of its atoms. :func:`farthest_point_selection` picks, greedily, the candidate farthest from
everything chosen so far (and from an optional already-labelled set), in standardised
descriptor space, so a handful of picks covers the spread of the candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from nnpkit.errors import ConfigError

__all__ = ["structure_descriptors", "farthest_point_selection"]


def structure_descriptors(structures: Sequence[Atoms], cutoff_A: float = 5.0,
                          elements: Sequence[int] | None = None) -> np.ndarray:
    """Per-structure ACSF fingerprints.

    Args:
        structures: the structures.
        cutoff_A: cutoff of the symmetry functions, Å.
        elements: atomic numbers to resolve (default: all found in ``structures``).

    Returns:
        Descriptors [n_structures, 2 * S * F]: for each element s (of S) the mean and the
        standard deviation over its atoms of their F symmetry functions (zeros where a
        structure has no atom of s).
    """
    # torch is imported here, not at module level, so that labelling starts without it
    import torch

    from nnpkit.data.graph import atoms_to_graph, edge_vectors
    from nnpkit.nn.symmetry_functions import SymmetryFunctions

    numbers = sorted(set(elements) if elements is not None else
                     {int(z) for atoms in structures for z in atoms.numbers})
    slot = {z: k for k, z in enumerate(numbers)}
    functions = SymmetryFunctions(n_elements=len(numbers), cutoff_radius=cutoff_A,
                                  angular_cutoff_radius=min(cutoff_A, 3.5), n_radial=8,
                                  n_angular_radial=3, zetas=(1, 4)).double()
    rows = []
    with torch.no_grad():
        for atoms in structures:
            graph = atoms_to_graph(atoms, cutoff_A, torch.float64)
            species = torch.tensor([slot[int(z)] for z in atoms.numbers])  # [N]
            features = functions(species, graph.edge_index, edge_vectors(graph))  # [N, F]
            row = np.zeros((len(numbers), 2, features.shape[1]))  # [S, 2, F]
            for s in range(len(numbers)):
                mine = features[species == s]
                if mine.shape[0]:
                    row[s, 0] = mine.mean(0).numpy()
                    row[s, 1] = mine.std(0, unbiased=False).numpy()
            rows.append(row.reshape(-1))
    return np.array(rows).reshape(len(structures), -1)  # [n_structures, 2*S*F]


def farthest_point_selection(descriptors: np.ndarray, n_select: int,
                             reference: np.ndarray | None = None,
                             priority: np.ndarray | None = None) -> list[int]:
    """Greedy max-min (farthest-point) selection of ``n_select`` rows of ``descriptors``.

    Columns are standardised with the mean and std of the candidates (and ``reference``).
    The first pick is the candidate farthest from ``reference`` when given, else the one of
    highest ``priority`` (else row 0); every next pick maximises the distance to the
    nearest pick or reference row.

    Args:
        descriptors: candidates [n, d].
        n_select: how many to pick (all if it exceeds n).
        reference: already chosen structures [m, d] (e.g. the training set).
        priority: [n] scores (e.g. committee force std) choosing the first pick without
            ``reference``.

    Returns:
        Indices into ``descriptors``, in the order picked.
    """
    descriptors = np.asarray(descriptors, dtype=float)
    if descriptors.ndim != 2:
        raise ConfigError(f"descriptors must be [n, d], got shape {descriptors.shape}")
    if n_select < 0:
        raise ConfigError(f"n_select must be >= 0, got {n_select}")
    n = descriptors.shape[0]
    n_select = min(n_select, n)
    if n_select == 0:
        return []
    stacked = descriptors if reference is None else np.vstack([descriptors, reference])
    scale = stacked.std(0)
    scale[scale == 0] = 1.0
    shift = stacked.mean(0)
    points = (descriptors - shift) / scale  # [n, d]
    nearest = np.full(n, np.inf)  # [n] distance to the nearest pick/reference
    if reference is not None and len(reference):
        ref = (np.asarray(reference, dtype=float) - shift) / scale  # [m, d]
        for row in ref:
            nearest = np.minimum(nearest, np.linalg.norm(points - row, axis=1))
        first = int(np.argmax(nearest))
    else:
        first = int(np.argmax(priority)) if priority is not None else 0
    picks = [first]
    for _ in range(n_select - 1):
        nearest = np.minimum(nearest, np.linalg.norm(points - points[picks[-1]], axis=1))
        nearest[picks] = -np.inf
        picks.append(int(np.argmax(nearest)))
    return picks
