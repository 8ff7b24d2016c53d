"""A tetrahedral mesh of the block, atomistically resolved over the atomistic region.

Every node is a lattice site. Within ``radius + blend_width + margin`` of the region's
centre all sites are nodes, so every atom with ``w < 1`` *is* a node and its position is
a degree of freedom; further out the nodes thin out on simple-cubic grids of spacing
``2a, 4a, …`` (their points are corners of conventional cells, hence lattice sites), each
level kept to ``3`` of its spacings beyond the previous one, the coarsest everywhere.
The padding atoms (``w = 1``, needed only as neighbours) lie in coarser elements and
follow the finite-element interpolation, ``y = Σ_a N_a(X) y_a``, as in the
quasicontinuum method: exact for a uniform deformation, so the patch test holds.

Lattice points are cospherical everywhere (cubes, octahedra), so their Delaunay
subdivision is not simplicial, and qhull's triangulated Delaunay output splits
neighbouring cells inconsistently and glues them with flat tetrahedra: a non-conforming
mesh, on which even a uniform strain leaves nodal forces. The nodes are therefore
tetrahedralised as a *regular* triangulation: the lower convex hull (qhull,
``scipy.spatial.ConvexHull``) of the points lifted to ``|X − X̄|² + h_i`` with tiny generic
heights ``h_i ∈ [0, 10⁻³ a²)`` (seeded, so the mesh is reproducible). It refines the
Delaunay subdivision, is conforming, and has no flat tetrahedra; it must fill the block
exactly (checked on every build). The finite-element machinery is scikit-fem's
(``MeshTet``, ``ElementTetP1``, its element finder): the shape-function gradients and
volumes come from its basis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.spatial import ConvexHull, cKDTree

from nnpkit.apps.multiscale.geometry import SITE_TOLERANCE_A, AtomisticRegion, FccBlock
from nnpkit.errors import ConfigError, DataError

__all__ = ["CoupledMesh", "build_mesh", "mesh_from_nodes", "check_atoms_on_nodes",
           "check_region_inside"]

#: A tetrahedron smaller than this fraction of a³ is flat.
_FLAT_VOLUME_FRACTION = 1e-8

#: Lift heights, as a fraction of a², and their seed (see the module docstring).
_LIFT_HEIGHT_FRACTION = 1e-3
_LIFT_SEED = 20261201


@dataclass
class CoupledMesh:
    """Linear tetrahedra over the block, and the atoms of the atomistic cluster.

    Attributes:
        nodes_A: reference positions X of the nodes [n_nodes, 3], Å.
        elements: node indices of each tetrahedron [n_elements, 4], positively oriented.
        volumes_A3: reference volumes [n_elements], Å³.
        shape_gradients: ∂N_a/∂X of the element's four shape functions
            [n_elements, 4, 3], 1/Å (constant in a linear tetrahedron).
        atom_sites_A: reference positions of the cluster's atoms [n_atoms, 3], Å.
        atom_interpolation: [n_atoms, n_nodes] sparse (CSR) matrix of the shape
            functions at the atoms: ``y_atoms = atom_interpolation @ y_nodes``; a row
            with a single 1 for an atom that is a node.
        atom_node: the node of each atom, or -1 for an interpolated atom [n_atoms].
    """

    nodes_A: np.ndarray
    elements: np.ndarray
    volumes_A3: np.ndarray
    shape_gradients: np.ndarray
    atom_sites_A: np.ndarray
    atom_interpolation: sparse.csr_matrix
    atom_node: np.ndarray

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(len(self.nodes_A))

    @property
    def n_atoms(self) -> int:
        """Number of atoms in the cluster."""
        return int(len(self.atom_sites_A))

    def skfem_mesh(self):  # type: ignore[no-untyped-def]  # skfem has no type hints
        """The mesh as a scikit-fem ``MeshTet`` (nodes as columns)."""
        from skfem import MeshTet

        return MeshTet(self.nodes_A.T.copy(), self.elements.T.copy())


def _grid_nodes(block: FccBlock, spacing_cells: int) -> np.ndarray:
    """Corners of the conventional cells on a grid of ``spacing_cells`` cells [n, 3], Å."""
    axes = [np.arange(0, n + 1, spacing_cells) for n in block.n_cells]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    return grid * block.lattice_constant_A


def _coarsening_levels(block: FccBlock, requested: int) -> int:
    """The number of coarse levels possible: the grid 2^k must divide every n_cells."""
    levels = 0
    while levels < requested and all(n % (2 ** (levels + 1)) == 0 for n in block.n_cells):
        levels += 1
    return levels


def _unique_rows(points: np.ndarray) -> np.ndarray:
    """Points with duplicates (to SITE_TOLERANCE_A) removed, first occurrence kept."""
    keys = np.round(points / SITE_TOLERANCE_A / 10).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)
    return points[np.sort(first)]


def _interpolation(nodes_A: np.ndarray, elements: np.ndarray, mesh,  # type: ignore[no-untyped-def]
                   atom_sites_A: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Shape-function values of every atom [n_atoms, n_nodes] and its node (or -1)."""
    tree = cKDTree(nodes_A)
    distance, nearest = tree.query(atom_sites_A)
    on_node = distance < SITE_TOLERANCE_A
    rows, cols, values = [np.flatnonzero(on_node)], [nearest[on_node]], [np.ones(on_node.sum())]
    off = np.flatnonzero(~on_node)
    if len(off):
        finder = mesh.element_finder()
        points = atom_sites_A[off]
        element = np.asarray(finder(*points.T))
        corners = nodes_A[elements[element]]  # [k, 4, 3]
        edges = np.transpose(corners[:, 1:] - corners[:, :1], (0, 2, 1))  # [k, 3, 3]
        local = np.linalg.solve(edges, (points - corners[:, 0])[:, :, None])[:, :, 0]
        barycentric = np.concatenate([1.0 - local.sum(1, keepdims=True), local], axis=1)
        if barycentric.min() < -1e-9:
            raise DataError("an atom lies outside the element found for it; the mesh is "
                            "not valid there")
        rows.append(np.repeat(off, 4))
        cols.append(elements[element].reshape(-1))
        values.append(barycentric.reshape(-1))
    matrix = sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows),
                                np.concatenate(cols))), shape=(len(atom_sites_A), len(nodes_A)))
    return matrix, np.where(on_node, nearest, -1)


def mesh_from_nodes(nodes_A: np.ndarray, expected_volume_A3: float, lattice_constant_A: float,
                    atom_sites_A: np.ndarray) -> CoupledMesh:
    """Tetrahedralise ``nodes_A`` [n, 3] (regular triangulation), check that the tetrahedra
    fill ``expected_volume_A3`` (relative 1e-9), and locate the atoms
    ``atom_sites_A`` [n_atoms, 3] in it."""
    from skfem import Basis, ElementTetP1, MeshTet

    centred = nodes_A - nodes_A.mean(axis=0)
    heights = _LIFT_HEIGHT_FRACTION * lattice_constant_A ** 2 * \
        np.random.default_rng(_LIFT_SEED).random(len(nodes_A))
    lifted = np.column_stack([centred, (centred ** 2).sum(axis=1) + heights])  # [n, 4]
    hull = ConvexHull(lifted)
    simplices = hull.simplices[hull.equations[:, 3] < 0]  # the lower hull
    corners = nodes_A[simplices]  # [m, 4, 3]
    signed = np.linalg.det(corners[:, 1:] - corners[:, :1]) / 6.0  # [m]
    if np.abs(signed).min() < _FLAT_VOLUME_FRACTION * lattice_constant_A ** 3:
        raise DataError("the triangulation of the nodes has a flat tetrahedron: the nodes "
                        "are not in a usable position")
    elements = simplices.copy()
    negative = signed < 0
    elements[negative] = elements[negative][:, [0, 2, 1, 3]]  # positive orientation
    covered = float(np.abs(signed).sum())
    if abs(covered - expected_volume_A3) > 1e-9 * expected_volume_A3:
        raise DataError(f"the tetrahedra cover {covered:.6f} Å³ of a block of "
                        f"{expected_volume_A3:.6f} Å³: the nodes do not span the block")
    mesh = MeshTet(nodes_A.T.copy(), elements.T.copy())
    basis = Basis(mesh, ElementTetP1(), intorder=1)
    gradients = np.stack([basis.basis[a][0].grad[:, :, 0].T for a in range(4)], axis=1)
    interpolation, atom_node = _interpolation(nodes_A, elements, mesh, atom_sites_A)
    return CoupledMesh(nodes_A=nodes_A, elements=elements,
                       volumes_A3=np.asarray(basis.dx).sum(axis=1),
                       shape_gradients=gradients, atom_sites_A=atom_sites_A,
                       atom_interpolation=interpolation, atom_node=atom_node)


def build_mesh(block: FccBlock, region: AtomisticRegion, coarsening_levels: int = 4,
               margin_cells: float = 1.0) -> CoupledMesh:
    """The coupled mesh of ``block`` around ``region``.

    Args:
        block: the body.
        region: the atomistic region; lattice sites within ``region.atom_radius_A`` are
            the atoms, all sites within ``radius + blend_width + margin_cells · a`` nodes.
        coarsening_levels: at most this many coarse grids (2a, 4a, …); fewer where the
            block's cell counts are not divisible by the grid.
        margin_cells: extra fully resolved shell beyond the atoms, in lattice constants.

    Returns:
        The mesh, with the sites within ``region.atom_radius_A`` as its atoms.
    """
    a = block.lattice_constant_A
    sites = block.sites()
    distance = region.distance_A(sites)
    fine_radius = region.radius_A + region.blend_width_A + margin_cells * a
    parts = [sites[distance <= fine_radius + SITE_TOLERANCE_A]]
    levels = _coarsening_levels(block, coarsening_levels)
    reach = fine_radius
    for level in range(1, levels + 1):
        grid = _grid_nodes(block, 2 ** level)
        if level == levels:
            parts.append(grid)
        else:
            reach += 3 * a * 2 ** level
            parts.append(grid[region.distance_A(grid) <= reach])
    if levels == 0:
        parts.append(sites)  # no coarsening possible: every site is a node
    nodes = _unique_rows(np.concatenate(parts))
    order = np.argsort(region.distance_A(nodes), kind="stable")
    nodes = nodes[order]
    atoms = sites[distance <= region.atom_radius_A + SITE_TOLERANCE_A]
    return mesh_from_nodes(nodes, float(np.prod(block.size_A)), a, atoms)


def check_atoms_on_nodes(mesh: CoupledMesh, region: AtomisticRegion) -> None:
    """Refuse a mesh whose interface is not the lattice: every atom with ``w < 1`` (the
    ball and the handshake) must be a node, or the handshake would blend atoms with an
    interpolation that is not theirs."""
    blended = region.distance_A(mesh.atom_sites_A) < region.radius_A + region.blend_width_A
    missing = np.flatnonzero(blended & (mesh.atom_node < 0))
    if len(missing):
        site = np.round(mesh.atom_sites_A[missing[0]], 6).tolist()
        raise DataError(f"{len(missing)} atom(s) of the atomistic region or handshake are not "
                        f"mesh nodes, e.g. the atom at {site} Å: the mesh's interface nodes "
                        f"must coincide with atoms")


def check_region_inside(block: FccBlock, region: AtomisticRegion,
                        clamped_faces: tuple[str, ...]) -> None:
    """Refuse an atomistic region (handshake or padding) reaching a clamped face, unless
    the region covers the whole block (a fully atomistic model)."""
    sites = block.sites()
    distance = region.distance_A(sites)
    if bool(np.all(distance <= region.radius_A)):
        return
    touching = (distance <= region.atom_radius_A + SITE_TOLERANCE_A) & \
        block.on_faces(sites, clamped_faces)
    if bool(touching.any()):
        raise ConfigError(
            f"the atomistic region (radius {region.radius_A} Å + handshake "
            f"{region.blend_width_A} Å + padding {region.padding_A} Å = "
            f"{region.atom_radius_A} Å) reaches the clamped boundary "
            f"({', '.join(clamped_faces)}) at {int(touching.sum())} site(s): enlarge the "
            f"block or shrink the region")

