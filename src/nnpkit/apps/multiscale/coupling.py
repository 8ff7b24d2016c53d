"""The coupled atomistic/continuum model: energies and forces of the nodal displacements.

The degrees of freedom are the displacements ``U`` [n_nodes, 3] of the mesh nodes; the
atoms follow them (``y = X + interpolation @ U``, exactly the node for every atom with
``w < 1``). Three couplings:

* ``bqce``, blended energy: ``E = Σ_i (1 − w_i) E_i + Σ_e w̄_e V_e W(F_e)``, ``w̄_e`` the
  mean of the element's nodal weights (the integral of the P1 interpolant of ``w``; it
  gave smaller ghost forces than the centroid value); nothing is counted twice, forces
  are ``−∂E/∂U``; the ghost forces of a uniform strain decay with the handshake width
  (:mod:`nnpkit.apps.multiscale.patch_test` states the rate and the measured one).
* ``sharp``, the naive energy coupling: the same with ``w`` the indicator of the outside
  of the ball (atoms inside carry their whole site energy, atoms outside none, elements
  the mean of their nodes' indicators): the baseline with ghost forces of order one.
* ``bqcf``, blended forces: ``f_n = (1 − w_n) f_n^atom + w_n f_n^cont`` with the forces
  of the *unweighted* cluster energy and of the unweighted continuum; patch-test
  consistent (no ghost forces) but not the gradient of any energy.

``W`` and the first Piola–Kirchhoff stress ``P = ∂W/∂F`` come from a Cauchy–Born model
(:mod:`nnpkit.apps.multiscale.cauchy_born`); with linear tetrahedra ``F_e`` is constant
per element and one quadrature point is exact, so ``∂/∂u_a Σ_e c_e V_e W(F_e) =
Σ_e c_e V_e P_e ∇N_a``. An indenter acts on the atoms; it may only touch atoms with
``w = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from nnpkit.apps.multiscale.atomistic import SiteEnergies
from nnpkit.apps.multiscale.geometry import AtomisticRegion
from nnpkit.apps.multiscale.indenter import SphericalIndenter
from nnpkit.apps.multiscale.mesh import CoupledMesh
from nnpkit.errors import ConfigError

__all__ = ["COUPLINGS", "CoupledModel", "CoupledEvaluation", "ContinuumModel"]

#: The couplings, by name.
COUPLINGS: tuple[str, ...] = ("bqce", "bqcf", "sharp")


class ContinuumModel(Protocol):
    """What the coupling needs of a Cauchy–Born model."""

    def first_piola(self, deformation_gradient: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """W [n] and P [n, 3, 3], eV/Å³, of F [n, 3, 3]."""
        ...


@dataclass
class CoupledEvaluation:
    """One evaluation of the coupled model.

    Attributes:
        energy_eV: total energy (NaN for ``bqcf``, which has none).
        forces: nodal forces [n_nodes, 3], eV/Å, zero on clamped nodes.
        atomistic_energy_eV, continuum_energy_eV, indenter_energy_eV: the parts
            (weighted as in the energy; unweighted for bqcf).
        load_eV_per_A: the indenter's load (0 without one).
        atom_positions_A: positions of the cluster's atoms [n_atoms, 3], Å.
    """

    energy_eV: float
    forces: np.ndarray
    atomistic_energy_eV: float
    continuum_energy_eV: float
    indenter_energy_eV: float
    load_eV_per_A: float
    atom_positions_A: np.ndarray = field(repr=False)


class CoupledModel:
    """The coupled model over a mesh.

    Args:
        mesh: the coupled mesh (its atoms are the cluster).
        region: the atomistic region and its blending.
        coupling: one of :data:`COUPLINGS`.
        atomistic: site energies of the cluster (built for ``mesh.atom_sites_A``).
        continuum: the Cauchy–Born model of the same potential.
        clamped: nodes held at their prescribed displacement [n_nodes] (bool).
        indenter: optional rigid indenter acting on the atoms.
    """

    def __init__(self, mesh: CoupledMesh, region: AtomisticRegion, coupling: str,
                 atomistic: SiteEnergies, continuum: ContinuumModel, clamped: np.ndarray,
                 indenter: SphericalIndenter | None = None) -> None:
        if coupling not in COUPLINGS:
            raise ConfigError(f"unknown coupling {coupling!r}; choose one of "
                              f"{', '.join(COUPLINGS)}")
        if coupling != "bqcf" and not atomistic.supports_energy:
            atomistic.weighted(mesh.atom_sites_A, np.zeros(mesh.n_atoms))  # raises the reason
        region.check_cutoff(atomistic.cutoff_A, padding_cutoffs=2 if coupling == "bqcf" else 1)
        self.mesh, self.region, self.coupling = mesh, region, coupling
        self.atomistic, self.continuum, self.indenter = atomistic, continuum, indenter
        self.clamped = np.asarray(clamped, dtype=bool)
        weight = region.sharp_weights if coupling == "sharp" else region.weights
        self.node_weights = weight(mesh.nodes_A)  # [n_nodes]
        self.atom_weights = weight(mesh.atom_sites_A)  # [n_atoms]
        element_weights = self.node_weights[mesh.elements].mean(axis=1)  # [n_elements]
        if coupling == "bqcf":
            node_max = self.node_weights[mesh.elements].max(axis=1)
            self.continuum_elements = np.flatnonzero(node_max > 0)
            self.element_weights = np.ones(len(self.continuum_elements))
        else:
            self.continuum_elements = np.flatnonzero(element_weights > 0)
            self.element_weights = element_weights[self.continuum_elements]
        self._interpolation_T = mesh.atom_interpolation.T.tocsr()
        node_atoms = mesh.atom_node >= 0
        self._node_of_atom = mesh.atom_node[node_atoms]
        self._atom_of_node = np.full(mesh.n_nodes, -1)
        self._atom_of_node[self._node_of_atom] = np.flatnonzero(node_atoms)
        if np.any((self._atom_of_node < 0) & (self.node_weights < 1)):
            raise ConfigError("a node with w < 1 is not an atom: the mesh does not resolve "
                              "the atomistic region")

    @property
    def n_free_dofs(self) -> int:
        """Degrees of freedom that are not clamped."""
        return int(3 * (~self.clamped).sum())

    def atom_positions(self, displacement_A: np.ndarray) -> np.ndarray:
        """Positions of the cluster's atoms [n_atoms, 3], Å, for nodal displacements."""
        return self.mesh.atom_sites_A + self.mesh.atom_interpolation @ displacement_A

    def deformation_gradients(self, displacement_A: np.ndarray) -> np.ndarray:
        """F [n_continuum_elements, 3, 3] of the continuum elements."""
        elements = self.mesh.elements[self.continuum_elements]
        gradients = self.mesh.shape_gradients[self.continuum_elements]  # [m, 4, 3]
        return np.eye(3) + np.einsum("mai,maj->mij", displacement_A[elements], gradients)

    def _continuum(self, displacement_A: np.ndarray) -> tuple[float, np.ndarray]:
        """Weighted continuum energy (eV) and its gradient [n_nodes, 3]."""
        gradient = np.zeros((self.mesh.n_nodes, 3))
        if len(self.continuum_elements) == 0:
            return 0.0, gradient
        density, piola = self.continuum.first_piola(self.deformation_gradients(displacement_A))
        scale = self.element_weights * self.mesh.volumes_A3[self.continuum_elements]  # [m]
        local = np.einsum("m,mij,maj->mai", scale, piola,
                          self.mesh.shape_gradients[self.continuum_elements])  # [m, 4, 3]
        np.add.at(gradient, self.mesh.elements[self.continuum_elements].reshape(-1),
                  local.reshape(-1, 3))
        return float(scale @ density), gradient

    def _indenter(self, positions: np.ndarray, tip_z_A: float | None
                  ) -> tuple[float, np.ndarray, float]:
        """Indenter energy (eV), forces on the atoms [n_atoms, 3] and load (eV/Å)."""
        if self.indenter is None or tip_z_A is None:
            return 0.0, np.zeros_like(positions), 0.0
        energy, forces = self.indenter.energy_and_forces(positions, tip_z_A)
        touching = self.indenter.contact_atoms(positions, tip_z_A)
        if np.any(touching & (self.atom_weights > 0)):
            raise ConfigError(
                f"the indenter touches {int((touching & (self.atom_weights > 0)).sum())} "
                f"atom(s) outside the fully atomistic ball (w > 0) at tip height "
                f"{tip_z_A:.3f} Å: enlarge radius_A")
        return energy, forces, self.indenter.load_eV_per_A(positions, tip_z_A)

    def evaluate(self, displacement_A: np.ndarray, tip_z_A: float | None = None
                 ) -> CoupledEvaluation:
        """Energy and nodal forces for displacements [n_nodes, 3], Å."""
        positions = self.atom_positions(displacement_A)
        indenter_energy, indenter_forces, load = self._indenter(positions, tip_z_A)
        if self.coupling == "bqcf":
            atom_energy, atom_forces = self.atomistic.energy_and_forces(positions)
            continuum_energy, continuum_gradient = self._continuum(displacement_A)
            forces = -self.node_weights[:, None] * continuum_gradient
            has_atom = self._atom_of_node >= 0
            atoms = self._atom_of_node[has_atom]
            forces[has_atom] += (1.0 - self.node_weights[has_atom, None]) * atom_forces[atoms]
            forces[has_atom] += indenter_forces[atoms]  # external: unblended
            energy = float("nan")
        else:
            _, atom_energy, atom_gradient = self.atomistic.weighted(
                positions, 1.0 - self.atom_weights)
            continuum_energy, continuum_gradient = self._continuum(displacement_A)
            gradient = self._interpolation_T @ (atom_gradient - indenter_forces) + \
                continuum_gradient
            forces = -gradient
            energy = atom_energy + continuum_energy + indenter_energy
        forces[self.clamped] = 0.0
        return CoupledEvaluation(energy_eV=energy, forces=forces,
                                 atomistic_energy_eV=atom_energy,
                                 continuum_energy_eV=continuum_energy,
                                 indenter_energy_eV=indenter_energy, load_eV_per_A=load,
                                 atom_positions_A=positions)
