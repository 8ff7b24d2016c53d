"""Structure-level features of periodic crystals for stability classification.

* :class:`InvariantFeaturizer`: composition plus per-element averages and distributions
  (mean, std, min, max) of the core's atom-centred symmetry functions, plus the volume
  per atom and the mean nearest-neighbour distance. Every entry is intensive, so the
  vector is invariant under rotation, translation, atom permutation and supercell
  repetition (to float64 rounding).
* :class:`SoapFeaturizer`: DScribe's SOAP power spectrum averaged over atoms (optional).
* :func:`raw_coordinate_features`: the non-invariant baseline (cell and sorted, padded
  Cartesian coordinates), and :func:`augment_with_rotations` for its augmented variant.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms

from nnpkit.data.graph import atoms_to_graph, collate, edge_vectors
from nnpkit.errors import ConfigError, DataError, UnknownElementError
from nnpkit.nn.symmetry_functions import SymmetryFunctions

__all__ = [
    "InvariantFeaturizer",
    "SoapFeaturizer",
    "raw_coordinate_features",
    "augment_with_rotations",
    "random_rotation",
]

# Structure features below this magnitude are rounding noise of exact zeros (e.g. the
# spread of a feature over symmetry-equivalent atoms); snapping them keeps the vector
# bit-identical across equivalent frames where it matters most, for tree thresholds.
_NOISE_FLOOR = 1e-10
_CHUNK = 256  # structures per batched symmetry-function evaluation


def _element_indices(atoms: Atoms, index_of: dict[str, int], position: int) -> np.ndarray:
    """Element index of each atom [n]; unknown elements raise, naming element and structure."""
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(index_of))
    if unknown:
        raise UnknownElementError(
            f"structure {position} contains element(s) {', '.join(unknown)} not in the "
            f"featurizer's elements {sorted(index_of, key=index_of.__getitem__)}")
    return np.array([index_of[s] for s in symbols], dtype=np.int64)


def _check_crystal(atoms: Atoms, position: int) -> float:
    """Volume (Å³) of a non-empty, fully periodic structure; DataError otherwise."""
    if len(atoms) == 0:
        raise DataError(f"structure {position} has no atoms")
    if not np.all(atoms.pbc):
        raise DataError(f"structure {position} is not periodic in 3D (pbc={atoms.pbc.tolist()})")
    volume = abs(float(np.linalg.det(atoms.cell.array)))
    if volume < 1e-6:
        raise DataError(f"structure {position} has a degenerate cell (volume {volume:g} Å³)")
    return volume


class InvariantFeaturizer:
    """Intensive, invariant structure vector from the core's ACSF (float64, no grad).

    With S elements and A per-atom symmetry functions (``A = S·n_radial +
    S(S+1)/2 · n_angular_radial · 2·len(zetas)``, the layout of
    :class:`nnpkit.nn.SymmetryFunctions`), the vector of one structure is, in order:

    1. ``x_<el>`` [S]: composition fractions.
    2. ``wmean_<el>:<acsf>`` [S·A]: for each element s, ``(1/N) Σ_{i∈s} G_i``, i.e. the
       mean ACSF of the atoms of s weighted by the fraction of s (zeros if s is absent).
    3. ``mean:<acsf>``, ``std:<acsf>``, ``min:<acsf>``, ``max:<acsf>`` [4·A]: the
       distribution of each symmetry function over all atoms (population std).
    4. ``volume_per_atom_A3`` [1] and ``mean_nn_distance_A`` [1] (mean over atoms of the
       distance to the nearest neighbour; the radial cutoff if none lies within it).

    Length ``F = S + (S + 4)·A + 2``; with the 7 EMT metals and the defaults, A = 280 and
    F = 3089. Names are given by :meth:`feature_names`.

    Args:
        elements: the fixed, ordered list of element symbols the vector is laid out for.
        cutoff_A: radial cutoff of the symmetry functions, Å.
        angular_cutoff_A: cutoff of the angular terms, Å.
        n_radial: radial shifts per neighbour element.
        n_angular_radial: radial shifts of the angular terms.
        zetas: ζ exponents of the angular terms (each with λ = ±1).
    """

    def __init__(self, elements: Sequence[str], cutoff_A: float = 5.0,
                 angular_cutoff_A: float = 3.5, n_radial: int = 8, n_angular_radial: int = 2,
                 zetas: Sequence[int] = (1, 4)) -> None:
        self.elements = [str(e) for e in elements]
        if not self.elements or len(set(self.elements)) != len(self.elements):
            raise ConfigError(f"elements must be a non-empty list without repeats: {elements}")
        self.cutoff_A = float(cutoff_A)
        self.angular_cutoff_A = float(angular_cutoff_A)
        self.n_radial = int(n_radial)
        self.n_angular_radial = int(n_angular_radial)
        self.zetas = [int(z) for z in zetas]
        try:
            self.symmetry_functions = SymmetryFunctions(
                len(self.elements), self.cutoff_A, self.angular_cutoff_A, self.n_radial,
                self.n_angular_radial, tuple(self.zetas)).to(torch.float64)
        except ValueError as error:
            raise ConfigError(f"InvariantFeaturizer: {error}") from error
        self._index = {symbol: k for k, symbol in enumerate(self.elements)}

    def settings(self) -> dict:
        """JSON-ready constructor arguments, to store next to a model."""
        return {"elements": list(self.elements), "cutoff_A": self.cutoff_A,
                "angular_cutoff_A": self.angular_cutoff_A, "n_radial": self.n_radial,
                "n_angular_radial": self.n_angular_radial, "zetas": list(self.zetas)}

    @property
    def n_atom_features(self) -> int:
        """Number A of symmetry functions per atom."""
        return self.symmetry_functions.n_features

    @property
    def n_features(self) -> int:
        """Length F of the structure vector."""
        n_elements = len(self.elements)
        return n_elements + (n_elements + 4) * self.n_atom_features + 2

    def atom_feature_names(self) -> list[str]:
        """Names of the A per-atom symmetry functions, in the core's layout."""
        sf = self.symmetry_functions
        names = [f"G2[{s},R={r:.2f}]" for s in self.elements for r in sf.radial_shifts.tolist()]
        pairs = [(s, t) for i, s in enumerate(self.elements) for t in self.elements[i:]]
        terms = list(zip(sf.lambdas.tolist(), sf.zetas.tolist(), strict=True))
        names += [f"G5[{s}-{t},R={r:.2f},lambda={lam:+.0f},zeta={zeta:.0f}]"
                  for s, t in pairs for r in sf.angular_shifts.tolist() for lam, zeta in terms]
        return names

    def feature_names(self) -> list[str]:
        """Names of the F structure features, in the order of :meth:`transform`."""
        atom = self.atom_feature_names()
        names = [f"x_{s}" for s in self.elements]
        names += [f"wmean_{s}:{g}" for s in self.elements for g in atom]
        for stat in ("mean", "std", "min", "max"):
            names += [f"{stat}:{g}" for g in atom]
        return names + ["volume_per_atom_A3", "mean_nn_distance_A"]

    def transform(self, structures: Sequence[Atoms]) -> np.ndarray:
        """Structure vectors [n_structures, F] (float64); the structures are not modified.

        Raises:
            UnknownElementError: a structure holds an element outside ``elements``.
            DataError: a structure is empty, not 3D-periodic or has a degenerate cell.
        """
        structures = list(structures)
        rows = [self._transform_chunk(structures[start:start + _CHUNK], start)
                for start in range(0, len(structures), _CHUNK)]
        if not rows:
            return np.zeros((0, self.n_features))
        return np.concatenate(rows)

    def _transform_chunk(self, structures: list[Atoms], offset: int) -> np.ndarray:
        species, volumes, graphs = [], [], []
        for k, atoms in enumerate(structures):
            volumes.append(_check_crystal(atoms, offset + k))
            species.append(_element_indices(atoms, self._index, offset + k))
            graphs.append(atoms_to_graph(atoms, self.cutoff_A, dtype=torch.float64))
        graph = collate(graphs)
        with torch.no_grad():
            vectors = edge_vectors(graph)  # [E, 3]
            per_atom = self.symmetry_functions(
                torch.as_tensor(np.concatenate(species)), graph.edge_index, vectors)  # [N, A]
            distance = torch.linalg.vector_norm(vectors, dim=-1)  # [E]
            nearest = torch.full((per_atom.shape[0],), self.cutoff_A, dtype=torch.float64)
            nearest = nearest.scatter_reduce(0, graph.edge_index[0], distance, "amin")  # [N]
        per_atom_np, nearest_np = per_atom.numpy(), nearest.numpy()
        bounds = np.cumsum([0] + [len(atoms) for atoms in structures])
        rows = np.empty((len(structures), self.n_features))
        for k in range(len(structures)):
            start, stop = bounds[k], bounds[k + 1]
            rows[k] = self._structure_vector(per_atom_np[start:stop], species[k], volumes[k],
                                             nearest_np[start:stop])
        rows[np.abs(rows) < _NOISE_FLOOR] = 0.0
        return rows

    def _structure_vector(self, atom_features: np.ndarray, species: np.ndarray,
                          volume: float, nearest: np.ndarray) -> np.ndarray:
        """One structure's vector [F] from its per-atom features [n, A] and species [n]."""
        n_atoms, n_elements = len(species), len(self.elements)
        counts = np.bincount(species, minlength=n_elements)  # [S]
        weighted = np.zeros((n_elements, atom_features.shape[1]))  # [S, A]
        np.add.at(weighted, species, atom_features)
        mean = atom_features.mean(axis=0)
        spread = np.sqrt(np.mean((atom_features - mean) ** 2, axis=0))
        return np.concatenate([
            counts / n_atoms, (weighted / n_atoms).ravel(), mean, spread,
            atom_features.min(axis=0), atom_features.max(axis=0),
            [volume / n_atoms, float(nearest.mean())],
        ])


class SoapFeaturizer:
    """Atom-averaged SOAP power spectrum through DScribe (``average="inner"``).

    Invariant and intensive like :class:`InvariantFeaturizer`; the layout of the F
    entries is DScribe's (see its SOAP documentation).

    Args:
        elements: element symbols the spectrum is resolved by.
        cutoff_A: SOAP cutoff, Å.
        n_max: number of radial basis functions.
        l_max: maximum angular degree.
        sigma_A: width of the atomic Gaussians, Å.

    Raises:
        ConfigError: DScribe is not installed (``pip install dscribe``).
    """

    def __init__(self, elements: Sequence[str], cutoff_A: float = 5.0, n_max: int = 6,
                 l_max: int = 4, sigma_A: float = 0.5) -> None:
        try:
            from dscribe.descriptors import SOAP
        except ImportError as error:
            raise ConfigError("SoapFeaturizer needs DScribe: pip install dscribe") from error
        self.elements = [str(e) for e in elements]
        self._index = {symbol: k for k, symbol in enumerate(self.elements)}
        self._soap = SOAP(species=self.elements, r_cut=float(cutoff_A), n_max=int(n_max),
                          l_max=int(l_max), sigma=float(sigma_A), periodic=True,
                          average="inner", sparse=False, dtype="float64")

    @property
    def n_features(self) -> int:
        """Length F of the structure vector."""
        return int(self._soap.get_number_of_features())

    def feature_names(self) -> list[str]:
        """Generic names ``soap_<k>`` of the F entries (DScribe's order)."""
        return [f"soap_{k}" for k in range(self.n_features)]

    def transform(self, structures: Sequence[Atoms]) -> np.ndarray:
        """SOAP vectors [n_structures, F]; the structures are not modified."""
        copies = []
        for k, atoms in enumerate(structures):
            _check_crystal(atoms, k)
            _element_indices(atoms, self._index, k)
            copies.append(atoms.copy())
        if not copies:
            return np.zeros((0, self.n_features))
        return np.asarray(self._soap.create(copies), dtype=np.float64).reshape(len(copies), -1)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random proper rotation matrix [3, 3] (from a random unit quaternion)."""
    quaternion = rng.normal(size=4)
    w, x, y, z = quaternion / np.linalg.norm(quaternion)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def raw_coordinate_features(structures: Sequence[Atoms], max_atoms: int,
                            elements: Sequence[str], rotate: bool = False,
                            rng: np.random.Generator | None = None) -> np.ndarray:
    """The non-invariant baseline: cell and sorted, zero-padded Cartesian coordinates.

    Each row is the cell (9 numbers, rows a, b, c, Å) followed by ``max_atoms`` slots of
    ``(one-hot element [S], x, y, z [Å])``, atoms sorted by (element index, x, y, z) and
    empty slots zero: length ``9 + max_atoms·(S + 3)``.

    Args:
        structures: the structures (not modified).
        max_atoms: number of atom slots; a larger structure raises :class:`DataError`.
        elements: the ordered element list of the one-hot encoding.
        rotate: rotate each structure (cell and positions) by its own random rotation.
        rng: random generator for ``rotate``; None means ``np.random.default_rng(0)``.

    Returns:
        Features [n_structures, 9 + max_atoms·(S + 3)], float64.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    index_of = {str(symbol): k for k, symbol in enumerate(elements)}
    n_elements = len(index_of)
    rows = np.zeros((len(structures), 9 + max_atoms * (n_elements + 3)))
    for k, atoms in enumerate(structures):
        if len(atoms) > max_atoms:
            raise DataError(f"structure {k} has {len(atoms)} atoms, more than max_atoms="
                            f"{max_atoms}")
        species = _element_indices(atoms, index_of, k)
        cell = np.array(atoms.cell.array, dtype=np.float64)  # [3, 3]
        positions = np.array(atoms.positions, dtype=np.float64)  # [n, 3]
        if rotate:
            rotation = random_rotation(rng)
            cell, positions = cell @ rotation.T, positions @ rotation.T
        order = np.lexsort((positions[:, 2], positions[:, 1], positions[:, 0], species))
        slots = np.zeros((max_atoms, n_elements + 3))
        slots[np.arange(len(atoms)), species[order]] = 1.0
        slots[:len(atoms), n_elements:] = positions[order]
        rows[k] = np.concatenate([cell.ravel(), slots.ravel()])
    return rows


def augment_with_rotations(structures: Sequence[Atoms], labels: np.ndarray, n_copies: int,
                           rng: np.random.Generator | None = None, *, max_atoms: int,
                           elements: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Raw-coordinate training set augmented by random rotations.

    Returns the original frames followed by ``n_copies`` blocks of randomly rotated
    copies (a new rotation per structure and copy): features
    [(1 + n_copies)·n, 9 + max_atoms·(S + 3)] and the labels repeated to match.
    """
    labels = np.asarray(labels)
    if len(labels) != len(structures):
        raise DataError(f"{len(structures)} structures but {len(labels)} labels")
    rng = np.random.default_rng(0) if rng is None else rng
    blocks = [raw_coordinate_features(structures, max_atoms, elements)]
    blocks += [raw_coordinate_features(structures, max_atoms, elements, rotate=True, rng=rng)
               for _ in range(int(n_copies))]
    return np.concatenate(blocks), np.tile(labels, len(blocks))
