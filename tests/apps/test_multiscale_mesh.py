"""The coupled mesh: a conforming tiling of the block by lattice tetrahedra, and its checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial import Delaunay, cKDTree

from nnpkit.apps.multiscale.geometry import AtomisticRegion, FccBlock
from nnpkit.apps.multiscale.mesh import (
    CoupledMesh,
    build_mesh,
    check_atoms_on_nodes,
    check_region_inside,
    mesh_from_nodes,
)
from nnpkit.apps.multiscale.system import fully_atomistic_region
from nnpkit.errors import ConfigError, DataError

#: A copper-like lattice constant, Å: the mesh is pure geometry, no potential needed.
A_A = 3.59
CUTOFF_A = 5.0
ALL_FACES = ("x0", "x1", "y0", "y1", "z0", "z1")


@pytest.fixture(scope="module")
def block() -> FccBlock:
    return FccBlock("Cu", A_A, (8, 8, 8))  # divisible by 8: three coarse levels


@pytest.fixture(scope="module")
def region(block) -> AtomisticRegion:
    return AtomisticRegion(centre_A=tuple(float(x) for x in block.size_A / 2), radius_A=3.0,
                           blend_width_A=5.0, padding_A=10.0)


@pytest.fixture(scope="module")
def mesh(block, region) -> CoupledMesh:
    return build_mesh(block, region, margin_cells=0.0)


def _volume_derivatives(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed volumes V [m] of tetrahedra [m, 4, 3] and ∂V/∂X_a [m, 4, 3] (geometry only)."""
    e1, e2, e3 = (corners[:, k] - corners[:, 0] for k in (1, 2, 3))
    signed = np.einsum("mi,mi->m", e1, np.cross(e2, e3)) / 6.0  # [m]
    d1, d2, d3 = np.cross(e2, e3) / 6.0, np.cross(e3, e1) / 6.0, np.cross(e1, e2) / 6.0
    return signed, np.stack([-(d1 + d2 + d3), d1, d2, d3], axis=1)  # [m, 4, 3]


def _conformity_residual(nodes: np.ndarray, elements: np.ndarray, weighted_gradients: np.ndarray,
                         block: FccBlock) -> float:
    """max over interior nodes of |Σ_e V_e ∇N_a| (Å²): zero on a conforming mesh, since
    ∫ ∇N_a dV = ∮ N_a n dA = 0 for a shape function vanishing on the boundary."""
    total = np.zeros((len(nodes), 3))  # [n_nodes, 3]
    np.add.at(total, elements.reshape(-1), weighted_gradients.reshape(-1, 3))
    interior = ~block.on_faces(nodes, ALL_FACES)
    assert interior.sum() > 50
    return float(np.abs(total[interior]).max())


def test_tetrahedra_tile_the_block_with_positive_lattice_volumes(block, mesh):
    corners = mesh.nodes_A[mesh.elements]  # [m, 4, 3]
    signed, _ = _volume_derivatives(corners)
    assert signed.min() > 0  # positive orientation
    np.testing.assert_allclose(mesh.volumes_A3, signed, rtol=1e-12)
    assert mesh.volumes_A3.sum() == pytest.approx(float(np.prod(block.size_A)), rel=1e-9)
    # a tetrahedron of fcc lattice sites has a volume n·a³/24, n a positive integer (a³/4 is
    # the primitive cell): no flat tetrahedra, and every corner really is on the lattice
    multiples = mesh.volumes_A3 / (A_A ** 3 / 24.0)
    assert multiples.min() > 1.0 - 1e-9
    np.testing.assert_allclose(multiples, np.round(multiples), atol=1e-9)


def test_all_nodes_are_lattice_sites_and_gradients_are_exact(block, mesh):
    distance, _ = cKDTree(block.sites()).query(mesh.nodes_A)
    assert distance.max() < 1e-9
    # the stored gradients (scikit-fem's basis) against the geometry: V ∇N_a = ∂V/∂X_a
    signed, derivatives = _volume_derivatives(mesh.nodes_A[mesh.elements])
    np.testing.assert_allclose(mesh.volumes_A3[:, None, None] * mesh.shape_gradients,
                               derivatives, atol=1e-10)
    # linear completeness per element: Σ_a ∇N_a = 0 and Σ_a X_a ⊗ ∇N_a = I
    np.testing.assert_allclose(mesh.shape_gradients.sum(1), 0.0, atol=1e-12)
    identity = np.einsum("mai,maj->mij", mesh.nodes_A[mesh.elements], mesh.shape_gradients)
    np.testing.assert_allclose(identity, np.broadcast_to(np.eye(3), identity.shape), atol=1e-12)


def test_mesh_is_conforming_where_qhull_delaunay_is_not(block, mesh):
    weighted = mesh.volumes_A3[:, None, None] * mesh.shape_gradients  # [m, 4, 3]
    assert _conformity_residual(mesh.nodes_A, mesh.elements, weighted, block) < 1e-10
    # the check can fail: qhull's triangulated Delaunay of the same nodes glues cells with
    # flat tetrahedra (no shape functions there) and is not conforming
    simplices = Delaunay(mesh.nodes_A).simplices
    signed, derivatives = _volume_derivatives(mesh.nodes_A[simplices])
    flat = np.abs(signed) < 1e-8 * A_A ** 3
    assert flat.sum() > 10
    usable = ~flat
    residual = _conformity_residual(mesh.nodes_A, simplices[usable],
                                    np.sign(signed[usable])[:, None, None]
                                    * derivatives[usable], block)
    assert residual > 1.0  # measured 25.8 Å² (the built mesh: 2e-14 Å²)


def test_blended_atoms_are_nodes_and_interpolation_is_linear_exact(region, mesh):
    weights = region.weights(mesh.atom_sites_A)
    blended = weights < 1.0
    assert blended.sum() > 100 and (mesh.atom_node < 0).sum() > 100  # both kinds present
    assert np.all(mesh.atom_node[blended] >= 0)
    on_node = mesh.atom_node >= 0
    np.testing.assert_allclose(mesh.nodes_A[mesh.atom_node[on_node]],
                               mesh.atom_sites_A[on_node], atol=1e-9)
    matrix = mesh.atom_interpolation.toarray()  # [n_atoms, n_nodes]
    np.testing.assert_allclose(matrix.sum(1), 1.0, atol=1e-12)
    assert matrix.min() > -1e-12  # barycentric: the atom lies inside its element
    np.testing.assert_array_equal(np.count_nonzero(matrix[on_node], axis=1), 1)
    rng = np.random.default_rng(7)
    gradient, offset = rng.normal(0.0, 0.01, (3, 3)), rng.normal(0.0, 0.1, 3)
    field = mesh.nodes_A @ gradient.T + offset  # [n_nodes, 3]
    interpolated = ~on_node
    np.testing.assert_allclose((mesh.atom_interpolation @ field)[interpolated],
                               mesh.atom_sites_A[interpolated] @ gradient.T + offset,
                               rtol=0.0, atol=1e-12)


def test_node_moved_off_its_site_is_refused(block, region, mesh):
    blended = np.flatnonzero(region.weights(mesh.atom_sites_A) < 1.0)
    victim_atom = blended[len(blended) // 2]
    victim = mesh.atom_node[victim_atom]
    nodes = mesh.nodes_A.copy()
    nodes[victim] += np.array([0.31, -0.17, 0.23])  # an interior node off the lattice
    moved = mesh_from_nodes(nodes, float(np.prod(block.size_A)), A_A, mesh.atom_sites_A)
    assert moved.atom_node[victim_atom] == -1
    site = str(np.round(mesh.atom_sites_A[victim_atom], 6).tolist())
    with pytest.raises(DataError, match="not mesh nodes") as caught:
        check_atoms_on_nodes(moved, region)
    assert site in str(caught.value)
    check_atoms_on_nodes(mesh, region)  # the built mesh passes


def test_blended_atom_without_node_is_refused(region, mesh):
    atom_node = mesh.atom_node.copy()
    victim = int(np.flatnonzero(region.weights(mesh.atom_sites_A) == 0.0)[0])
    atom_node[victim] = -1
    broken = dataclasses.replace(mesh, atom_node=atom_node)
    with pytest.raises(DataError, match=r"1 atom\(s\)") as caught:
        check_atoms_on_nodes(broken, region)
    assert str(np.round(mesh.atom_sites_A[victim], 6).tolist()) in str(caught.value)


def test_region_reaching_a_clamped_face_is_refused(block, region):
    # the region's atoms reach 3 + 5 + 10 = 18 Å from the centre, the faces are 14.36 Å away
    with pytest.raises(ConfigError, match=r"= 18\.0 Å\) reaches the clamped boundary"):
        check_region_inside(block, region, ALL_FACES)
    top = AtomisticRegion(centre_A=(block.size_A[0] / 2, block.size_A[1] / 2, block.size_A[2]),
                          radius_A=3.0, blend_width_A=5.0, padding_A=10.0)
    with pytest.raises(ConfigError, match=r"reaches the clamped boundary \(x0\)"):
        check_region_inside(block, top, ("x0",))  # 14.36 Å away
    check_region_inside(block, top, ("z0",))  # 28.7 Å below: out of reach
    wide = FccBlock("Cu", A_A, (12, 12, 6))  # 21.5 Å from the top centre to the faces
    check_region_inside(wide, dataclasses.replace(top, centre_A=(6 * A_A, 6 * A_A, 6 * A_A)),
                        ("x0", "x1", "y0", "y1", "z0"))
    whole = fully_atomistic_region(block, tuple(float(x) for x in block.size_A / 2), CUTOFF_A)
    check_region_inside(block, whole, ALL_FACES)  # covers the block: accepted


def test_handshake_and_padding_below_the_cutoff_are_refused():
    centre = (0.0, 0.0, 0.0)
    AtomisticRegion(centre, 3.0, CUTOFF_A, 2 * CUTOFF_A).check_cutoff(CUTOFF_A)
    with pytest.raises(ConfigError, match=r"blend_width_A = 4\.5 Å .* cutoff 5\.0 Å"):
        AtomisticRegion(centre, 3.0, 4.5, 2 * CUTOFF_A).check_cutoff(CUTOFF_A)
    with pytest.raises(ConfigError, match=r"padding_A = 9\.5 Å .*\(10\.0 Å\)"):
        AtomisticRegion(centre, 3.0, CUTOFF_A, 9.5).check_cutoff(CUTOFF_A)
