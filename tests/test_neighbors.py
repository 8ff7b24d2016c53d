"""Tests for nnpkit.neighbors: vesin against the brute-force reference and ASE's own list."""

from __future__ import annotations

import numpy as np
import pytest
from ase.neighborlist import primitive_neighbor_list

from nnpkit.neighbors import VerletNeighborList, brute_force_neighbor_list, neighbor_list

PERIODICITIES = [
    (True, True, True),
    (True, True, False),  # slab
    (True, False, False),  # wire
    (False, False, False),  # molecule
]


def _canonical(i: np.ndarray, j: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Edges as rows (i, j, s0, s1, s2), sorted, so lists can be compared as sets."""
    shifts = np.asarray(shifts, dtype=np.int64).reshape(-1, 3)
    rows = np.column_stack([np.asarray(i), np.asarray(j), shifts]).astype(np.int64)
    return rows[np.lexsort(rows.T[::-1])]


def _ase_reference(positions: np.ndarray, cell: np.ndarray, pbc, cutoff: float) -> np.ndarray:
    i, j, shifts = primitive_neighbor_list(
        "ijS", pbc, cell, positions, cutoff, self_interaction=False)
    return _canonical(i, j, shifts)


def _random_cell(rng: np.random.Generator, short: bool) -> np.ndarray:
    """A random triclinic cell; ``short``: lengths 1.2–2.5 Å, below any cutoff used."""
    lengths = rng.uniform(1.2, 2.5, 3) if short else rng.uniform(3.0, 7.0, 3)
    cell = np.diag(lengths) + rng.uniform(-0.4, 0.4, (3, 3)) * lengths[:, None] * (1 - np.eye(3))
    assert abs(np.linalg.det(cell)) > 0.2 * np.prod(lengths)
    return cell


def _random_case(seed: int) -> tuple[np.ndarray, np.ndarray, tuple[bool, ...], float]:
    rng = np.random.default_rng(seed)
    pbc = PERIODICITIES[seed % len(PERIODICITIES)]
    cell = _random_cell(rng, short=seed % 3 == 0)
    n_atoms = int(rng.integers(1, 9))
    positions = rng.uniform(0.0, 1.0, (n_atoms, 3)) @ cell  # wrapped into the cell
    cutoff = float(rng.uniform(2.5, 5.0))
    return positions, cell, pbc, cutoff


@pytest.mark.parametrize("seed", range(32))
def test_vesin_equals_brute_force_on_random_cells(seed: int) -> None:
    positions, cell, pbc, cutoff = _random_case(seed)
    vesin_edges = _canonical(*neighbor_list(positions, cell, pbc, cutoff))
    brute_edges = _canonical(*brute_force_neighbor_list(positions, cell, pbc, cutoff))
    np.testing.assert_array_equal(vesin_edges, brute_edges)
    np.testing.assert_array_equal(vesin_edges, _ase_reference(positions, cell, pbc, cutoff))


#: Random cases with a short cell (every third seed) that is periodic somewhere.
SHORT_PERIODIC_SEEDS = [seed for seed in range(0, 32, 3)
                        if any(PERIODICITIES[seed % len(PERIODICITIES)])]


@pytest.mark.parametrize("seed", SHORT_PERIODIC_SEEDS)
def test_short_random_cells_have_pairs_through_several_images(seed: int) -> None:
    """The random cases above include the hard one: a pair seen through several images."""
    positions, cell, pbc, cutoff = _random_case(seed)
    edges = _canonical(*neighbor_list(positions, cell, pbc, cutoff))
    _, counts = np.unique(edges[:, :2], axis=0, return_counts=True)
    assert counts.max() > 1


def test_short_cell_gives_several_images_of_one_atom() -> None:
    """A 1-atom cell of 2 Å with a 5 Å cutoff: every neighbour is an image of atom 0."""
    cell = np.array([[2.0, 0.0, 0.0], [0.3, 2.1, 0.0], [0.2, -0.4, 2.2]])
    positions = np.array([[0.1, 0.2, 0.3]])
    i, j, shifts = neighbor_list(positions, cell, (True, True, True), 5.0)
    assert len(i) > 26
    assert (i == 0).all() and (j == 0).all()
    assert len({tuple(s) for s in shifts}) == len(i)  # each image once
    assert not (shifts == 0).all(axis=1).any()  # no self-edge
    distances = np.linalg.norm(shifts @ cell, axis=1)
    assert distances.max() < 5.0
    # the list is symmetric: each image at +s comes with its mirror at -s
    assert {tuple(s) for s in shifts} == {tuple(-s) for s in shifts}
    np.testing.assert_array_equal(
        _canonical(i, j, shifts),
        _canonical(*brute_force_neighbor_list(positions, cell, (True, True, True), 5.0)))


def test_vectors_are_within_cutoff_and_list_is_full() -> None:
    positions, cell, pbc, cutoff = _random_case(4)
    i, j, shifts = neighbor_list(positions, cell, pbc, cutoff)
    vectors = positions[j] - positions[i] + shifts @ cell
    assert (np.linalg.norm(vectors, axis=1) < cutoff).all()
    forward = {(a, b, *s) for a, b, s in zip(i, j, shifts, strict=True)}
    backward = {(b, a, *(-s)) for a, b, s in zip(i, j, shifts, strict=True)}
    assert forward == backward


@pytest.mark.parametrize("seed", range(8))
def test_edges_sorted_by_centre(seed: int) -> None:
    positions, cell, pbc, cutoff = _random_case(seed)
    i, j, shifts = neighbor_list(positions, cell, pbc, cutoff)
    assert i.dtype == np.int64 and j.dtype == np.int64 and shifts.dtype == np.int64
    assert shifts.shape == (len(i), 3) and j.shape == i.shape
    assert (np.diff(i) >= 0).all()


def test_molecule_ignores_cell() -> None:
    rng = np.random.default_rng(7)
    positions = rng.uniform(0.0, 4.0, (6, 3))
    pbc = (False, False, False)
    no_cell = _canonical(*neighbor_list(positions, np.zeros((3, 3)), pbc, 3.0))
    small_cell = _canonical(*neighbor_list(positions, np.eye(3), pbc, 3.0))
    np.testing.assert_array_equal(no_cell, small_cell)
    assert (no_cell[:, 2:] == 0).all()
    np.testing.assert_array_equal(no_cell, _ase_reference(positions, np.eye(3), pbc, 3.0))


def test_slab_with_unset_vacuum_vector() -> None:
    """A slab whose cell has no third vector (common for pbc=(T, T, F)) still works."""
    rng = np.random.default_rng(8)
    cell = np.array([[3.0, 0.0, 0.0], [1.0, 2.8, 0.0], [0.0, 0.0, 0.0]])
    positions = np.column_stack([rng.uniform(0.0, 3.0, (5, 2)), rng.uniform(0.0, 4.0, 5)])
    pbc = (True, True, False)
    vesin_edges = _canonical(*neighbor_list(positions, cell, pbc, 4.0))
    np.testing.assert_array_equal(vesin_edges, _ase_reference(positions, cell, pbc, 4.0))


@pytest.mark.parametrize("seed", range(6))
def test_unwrapped_positions(seed: int) -> None:
    """Atoms outside the cell (as after MD or a translation) are handled by vesin."""
    rng = np.random.default_rng(100 + seed)
    cell = _random_cell(rng, short=False)
    pbc = PERIODICITIES[seed % 3]
    positions = rng.uniform(-1.5, 2.5, (5, 3)) @ cell
    vesin_edges = _canonical(*neighbor_list(positions, cell, pbc, 4.0))
    np.testing.assert_array_equal(vesin_edges, _ase_reference(positions, cell, pbc, 4.0))


def test_brute_force_handles_unwrapped_positions() -> None:
    cell = np.diag([4.0, 4.0, 4.0])
    positions = np.array([[0.5, 0.5, 0.5], [8.6, 0.5, 0.5]])  # atom 1 two cells away
    pbc = (True, True, True)
    brute_edges = _canonical(*brute_force_neighbor_list(positions, cell, pbc, 3.0))
    np.testing.assert_array_equal(brute_edges, _ase_reference(positions, cell, pbc, 3.0))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_brute_force_handles_slab_with_zero_vacuum_vector() -> None:
    cell = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    positions = np.array([[0.0, 0.0, 0.0], [1.5, 1.5, 1.0]])
    pbc = (True, True, False)
    brute_edges = _canonical(*brute_force_neighbor_list(positions, cell, pbc, 4.0))
    np.testing.assert_array_equal(brute_edges, _ase_reference(positions, cell, pbc, 4.0))


@pytest.mark.parametrize("function", [neighbor_list, brute_force_neighbor_list])
def test_inputs_not_modified(function) -> None:
    rng = np.random.default_rng(9)
    cell = _random_cell(rng, short=True)
    positions = rng.uniform(0.0, 1.0, (4, 3)) @ cell
    pbc = np.array([True, True, False])
    # float64 C-contiguous arrays: np.ascontiguousarray hands back the caller's own array
    originals = (positions.copy(), cell.copy(), pbc.copy())
    function(positions, cell, pbc, 4.0)
    for array, original in zip((positions, cell, pbc), originals, strict=True):
        np.testing.assert_array_equal(array, original)
    slab_cell = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1e-14]])
    before = slab_cell.copy()
    neighbor_list(positions, slab_cell, pbc, 4.0)
    np.testing.assert_array_equal(slab_cell, before)


@pytest.mark.parametrize("pbc", PERIODICITIES)
@pytest.mark.parametrize("function", [neighbor_list, brute_force_neighbor_list])
def test_empty_structure(function, pbc) -> None:
    i, j, shifts = function(np.zeros((0, 3)), np.eye(3) * 3.0, pbc, 4.0)
    assert i.shape == (0,) and j.shape == (0,) and shifts.shape == (0, 3)


@pytest.mark.parametrize("pbc", [(True, True, True), (False, False, False)])
def test_single_isolated_atom(pbc) -> None:
    i, j, shifts = neighbor_list(np.zeros((1, 3)), np.eye(3) * 10.0, pbc, 4.0)
    assert len(i) == 0 and shifts.shape == (0, 3)


# --- Verlet list with a skin -------------------------------------------------------------


@pytest.mark.parametrize("pbc", [(True, True, True), (True, True, False), (False, False, False)])
def test_verlet_list_equals_a_fresh_list_along_a_random_walk(pbc) -> None:
    """At every step the reused list is exactly the fresh list; it is rebuilt rarely."""
    rng = np.random.default_rng(7)
    cell = np.diag([7.0, 7.5, 8.0]) + 0.4 * (1 - np.eye(3))
    positions = rng.uniform(0.0, 1.0, (30, 3)) @ cell
    verlet = VerletNeighborList(cutoff=3.5, skin=0.6)
    for _ in range(60):
        positions = positions + rng.normal(0.0, 0.03, positions.shape)  # ~0.05 Å per step
        fresh = _canonical(*neighbor_list(positions, cell, np.array(pbc), 3.5))
        reused = _canonical(*verlet.update(positions, cell, np.array(pbc)))
        np.testing.assert_array_equal(reused, fresh)
    assert 1 < verlet.n_builds < 20


def test_verlet_list_rebuilds_on_a_large_move_or_a_new_cell() -> None:
    cell = np.eye(3) * 6.0
    positions = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [4.5, 0.0, 0.0]])
    pbc = np.array([True, True, True])
    verlet = VerletNeighborList(cutoff=2.5, skin=1.0)
    verlet.update(positions, cell, pbc)
    moved = positions.copy()
    moved[2, 0] -= 0.45  # below skin/2: reused, yet the new 1-2 pair (2.05 Å) is found
    i, j, _ = verlet.update(moved, cell, pbc)
    pairs = set(zip(i.tolist(), j.tolist(), strict=True))
    assert verlet.n_builds == 1 and {(1, 2), (2, 1)} <= pairs
    moved[2, 0] -= 0.2  # now 0.65 Å > skin/2: rebuilt
    verlet.update(moved, cell, pbc)
    assert verlet.n_builds == 2
    strained = cell * 1.01
    got = _canonical(*verlet.update(moved, strained, pbc))
    assert verlet.n_builds == 3
    np.testing.assert_array_equal(got, _canonical(*neighbor_list(moved, strained, pbc, 2.5)))


def test_verlet_list_refuses_bad_radii() -> None:
    with pytest.raises(ValueError, match="skin"):
        VerletNeighborList(cutoff=3.0, skin=-0.1)
