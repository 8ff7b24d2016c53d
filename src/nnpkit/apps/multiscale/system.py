"""Assemble a coupled system from a potential: reference cell, block, mesh, model.

One entry point, :func:`coupled_system`, used by the patch test, the indentation and the
fully atomistic reference alike, so that all of them share the lattice constant, the
mesh construction and the checks of bad input: an atomistic region reaching a clamped
face, a handshake narrower than the cutoff, interface nodes that are not atoms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator

from nnpkit.apps.multiscale.atomistic import site_energies_for
from nnpkit.apps.multiscale.cauchy_born import (
    CalculatorCauchyBorn,
    CauchyBorn,
    relaxed_primitive_cell,
)
from nnpkit.apps.multiscale.coupling import CoupledModel
from nnpkit.apps.multiscale.geometry import AtomisticRegion, FccBlock
from nnpkit.apps.multiscale.indenter import SphericalIndenter
from nnpkit.apps.multiscale.mesh import (
    CoupledMesh,
    build_mesh,
    check_atoms_on_nodes,
    check_region_inside,
)
from nnpkit.models.potential import Potential

__all__ = ["CoupledSystem", "coupled_system", "reference_cell", "fully_atomistic_region",
           "fcc_lattice_constant_A"]


@dataclass
class CoupledSystem:
    """A coupled model with what it was built from.

    Attributes:
        block: the body.
        region: the atomistic region.
        mesh: the mesh.
        model: the coupled model.
        clamped_faces: the faces held fixed.
    """

    block: FccBlock
    region: AtomisticRegion
    mesh: CoupledMesh
    model: CoupledModel
    clamped_faces: tuple[str, ...]

    def degrees_of_freedom(self) -> dict[str, int]:
        """Free degrees of freedom, nodes and atoms by region."""
        weights = self.model.node_weights
        free = ~self.model.clamped
        return {"free_dofs": self.model.n_free_dofs, "nodes": self.mesh.n_nodes,
                "atomistic_nodes": int(((weights == 0) & free).sum()),
                "handshake_nodes": int(((weights > 0) & (weights < 1) & free).sum()),
                "continuum_nodes": int(((weights == 1) & free).sum()),
                "cluster_atoms": self.mesh.n_atoms,
                "interpolated_atoms": int((self.mesh.atom_node < 0).sum()),
                "continuum_elements": int(len(self.model.continuum_elements)),
                "lattice_sites": int(len(self.block.sites()))}


def reference_cell(symbol: str, potential: Potential | Calculator,
                   lattice_constant_A: float | None = None) -> Atoms:
    """The relaxed fcc primitive cell of ``potential`` (or, with ``lattice_constant_A``,
    that cell unrelaxed)."""
    if lattice_constant_A is not None:
        return bulk(symbol, "fcc", a=lattice_constant_A)
    calculator = potential if isinstance(potential, Calculator) else _calculator(potential)
    return relaxed_primitive_cell(symbol, calculator)


def _calculator(model: Potential) -> Calculator:
    from nnpkit.calculators import NNPCalculator

    return NNPCalculator(model, dtype=torch.float64)


def fcc_lattice_constant_A(cell: Atoms) -> float:
    """The cubic lattice constant of an fcc primitive cell, Å."""
    return float(np.sqrt(2.0) * np.linalg.norm(cell.cell.array[0]))


def fully_atomistic_region(block: FccBlock, centre_A: tuple[float, float, float],
                           cutoff_A: float) -> AtomisticRegion:
    """A region whose atomistic ball covers the whole block (w = 0 everywhere)."""
    radius = float(np.linalg.norm(np.maximum(np.abs(np.asarray(centre_A)),
                                             np.abs(block.size_A - centre_A)))) + 1.0
    return AtomisticRegion(centre_A=centre_A, radius_A=radius, blend_width_A=cutoff_A,
                           padding_A=2 * cutoff_A)


def coupled_system(potential: Potential | Calculator, block: FccBlock, region: AtomisticRegion,
                   coupling: str, clamped_faces: tuple[str, ...], cell: Atoms,
                   indenter: SphericalIndenter | None = None, cutoff_A: float | None = None,
                   coarsening_levels: int = 4, fine_margin_A: float | None = None
                   ) -> CoupledSystem:
    """Build the coupled model of ``block`` around ``region`` with ``potential``.

    Args:
        potential: an nnpkit model (or its NNPCalculator: every coupling) or any ASE
            calculator (force-based ``bqcf`` only; give ``cutoff_A``).
        block: the body; its lattice constant should be the relaxed one of ``cell``.
        region: the atomistic region.
        coupling: ``bqce``, ``bqcf`` or ``sharp``.
        clamped_faces: faces whose nodes keep their prescribed displacement.
        cell: the reference primitive cell of the Cauchy–Born continuum.
        indenter: optional rigid indenter.
        cutoff_A: the interaction range of an ASE calculator.
        coarsening_levels: coarse grids beyond the atomistic region.
        fine_margin_A: the mesh stays atomistically resolved this far beyond the
            handshake, Å; default the padding, so every padding atom is a node (a smaller
            margin lets padding atoms follow the interpolation of coarser elements: fewer
            degrees of freedom, a stiffer response near the handshake).
    """
    check_region_inside(block, region, clamped_faces)
    margin = region.padding_A if fine_margin_A is None else fine_margin_A
    mesh = build_mesh(block, region, coarsening_levels=coarsening_levels,
                      margin_cells=margin / block.lattice_constant_A)
    check_atoms_on_nodes(mesh, region)
    numbers = np.full(mesh.n_atoms, Atoms(block.symbol).numbers[0])
    atomistic = site_energies_for(potential, numbers, cutoff_A=cutoff_A)
    model = getattr(potential, "model", potential)
    continuum: CauchyBorn | CalculatorCauchyBorn
    if isinstance(model, Potential):
        continuum = CauchyBorn(cell, model, max_stretch=0.10)
    else:
        assert isinstance(potential, Calculator)
        continuum = CalculatorCauchyBorn(cell, potential)
    clamped = block.on_faces(mesh.nodes_A, clamped_faces)
    coupled = CoupledModel(mesh, region, coupling, atomistic, continuum, clamped,
                           indenter=indenter)
    return CoupledSystem(block=block, region=region, mesh=mesh, model=coupled,
                         clamped_faces=tuple(clamped_faces))
