"""The batched graph container: Atoms → graph → batch (layer 1).

An :class:`AtomicGraph` holds one or several structures as flat tensors plus a
``batch`` index, the neighbour list as ``edge_index``/``cell_shifts``, and, when the
structures are labelled, their reference energies, forces and stresses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

from nnpkit.neighbors import VerletNeighborList, neighbor_list

__all__ = ["AtomicGraph", "atoms_to_graph", "collate", "edge_vectors"]


@dataclass
class AtomicGraph:
    """A batch of structures as tensors. ``B`` structures, ``N`` atoms, ``E`` edges.

    Attributes:
        numbers: atomic numbers [N], int64.
        positions: Cartesian positions [N, 3], Å.
        cell: cell vectors as rows [B, 3, 3], Å.
        pbc: periodicity [B, 3], bool.
        batch: structure index of each atom [N], int64.
        edge_index: (centre, neighbour) atom indices [2, E], int64, sorted by centre.
        cell_shifts: integer cell shifts of the neighbour [E, 3], same dtype as positions.
        n_atoms: atoms per structure [B], int64.
        energy: reference energy [B], eV, always float64 (total energies of all-electron
            labels reach 10^5 eV, beyond float32's resolution); NaN where absent.
        forces: reference forces [N, 3], eV/Å (NaN where absent).
        stress: reference stress [B, 3, 3], eV/Å³, ASE sign (NaN where absent).
        charge: total charge of each structure [B], e (an input; default 0).
        field: uniform external electric field on each structure [B, 3], V/Å (an input
            the charge-aware models respond to; default 0).
        dipole: reference dipole moment [B, 3], e·Å, origin at the coordinate origin
            (NaN where absent).
        polarizability: reference dipole polarizability [B, 3, 3], e·Å²/V (NaN where
            absent; 1 e·Å²/V = 14.3996 Å³).
    """

    numbers: torch.Tensor
    positions: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    batch: torch.Tensor
    edge_index: torch.Tensor
    cell_shifts: torch.Tensor
    n_atoms: torch.Tensor
    energy: torch.Tensor
    forces: torch.Tensor
    stress: torch.Tensor
    charge: torch.Tensor = None  # type: ignore[assignment]  # filled in __post_init__
    field: torch.Tensor = None  # type: ignore[assignment]  # filled in __post_init__
    dipole: torch.Tensor = None  # type: ignore[assignment]  # filled in __post_init__
    polarizability: torch.Tensor = None  # type: ignore[assignment]  # filled in __post_init__

    def __post_init__(self) -> None:
        """Fill the optional response fields: no charge, no field, no response labels."""
        b, like = self.n_atoms.shape[0], self.positions
        if self.charge is None:
            self.charge = like.new_zeros(b)  # [B]
        if self.field is None:
            self.field = like.new_zeros(b, 3)  # [B, 3]
        if self.dipole is None:
            self.dipole = like.new_full((b, 3), float("nan"))  # [B, 3]
        if self.polarizability is None:
            self.polarizability = like.new_full((b, 3, 3), float("nan"))  # [B, 3, 3]

    @property
    def n_structures(self) -> int:
        """Number of structures ``B`` in the batch."""
        return int(self.n_atoms.shape[0])

    def replace(self, **changes: torch.Tensor) -> AtomicGraph:
        """A shallow copy with some fields replaced (the caller's graph is untouched)."""
        return dataclasses.replace(self, **changes)

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> AtomicGraph:
        """Move to a device and/or cast the floating-point fields (but the float64
        ``energy``) to ``dtype``."""
        changes = {}
        for field in dataclasses.fields(self):
            value: torch.Tensor = getattr(self, field.name)
            if value.is_floating_point() and field.name != "energy":
                changes[field.name] = value.to(device=device, dtype=dtype)
            else:
                changes[field.name] = value.to(device=device)
        return dataclasses.replace(self, **changes)


def _response_labels(atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray]:
    """Total charge (``info["charge"]``, e, default 0), dipole [3] (e·Å) and
    polarizability [3, 3] (e·Å²/V), NaN where absent; from the calculator's results or
    ``atoms.info``."""
    calc = atoms.calc
    results = getattr(calc, "results", {}) if calc is not None else {}
    charge = float(atoms.info.get("charge", 0.0))
    found = {}
    for key, shape in (("dipole", (3,)), ("polarizability", (3, 3))):
        value = results.get(key, atoms.info.get(key))
        found[key] = (np.full(shape, np.nan) if value is None
                      else np.asarray(value, dtype=np.float64).reshape(shape))
    return charge, found["dipole"], found["polarizability"]


def _labels(atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray]:
    """Energy (eV), forces [n, 3] and stress [3, 3] of an Atoms' calculator, NaN if absent."""
    n = len(atoms)
    energy, forces, stress = np.nan, np.full((n, 3), np.nan), np.full((3, 3), np.nan)
    calc = atoms.calc
    results = getattr(calc, "results", {}) if calc is not None else {}
    if "energy" in results:
        energy = float(results["energy"])
    if "forces" in results:
        forces = np.asarray(results["forces"], dtype=np.float64).reshape(n, 3)
    if "stress" in results and atoms.pbc.all():
        value = np.asarray(results["stress"], dtype=np.float64)
        stress = voigt_6_to_full_3x3_stress(value) if value.shape == (6,) else value.reshape(3, 3)
    return energy, forces, stress


def atoms_to_graph(atoms: Atoms, cutoff: float, dtype: torch.dtype = torch.float64,
                   neighbors: VerletNeighborList | None = None) -> AtomicGraph:
    """Convert one Atoms to a single-structure graph with a neighbour list within ``cutoff`` Å.

    Labels are taken from the attached calculator's ``results`` (a SinglePointCalculator
    as written by :func:`nnpkit.data.read_structures`); the Atoms is not modified.
    ``neighbors``: a :class:`~nnpkit.neighbors.VerletNeighborList` (same cutoff) to reuse
    the list between calls, as in MD; the pairs are the same as without it.
    """
    positions = np.asarray(atoms.positions, dtype=np.float64)
    cell = np.asarray(atoms.cell.array, dtype=np.float64)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if neighbors is None:
        i, j, shifts = neighbor_list(positions, cell, pbc, cutoff)
    else:
        i, j, shifts = neighbors.update(positions, cell, pbc)
    energy, forces, stress = _labels(atoms)
    charge, dipole, polarizability = _response_labels(atoms)
    n = len(atoms)
    return AtomicGraph(
        numbers=torch.as_tensor(atoms.numbers, dtype=torch.long),  # [N]
        positions=torch.as_tensor(positions, dtype=dtype),  # [N, 3]
        cell=torch.as_tensor(cell, dtype=dtype).unsqueeze(0),  # [1, 3, 3]
        pbc=torch.as_tensor(pbc).unsqueeze(0),  # [1, 3]
        batch=torch.zeros(n, dtype=torch.long),  # [N]
        edge_index=torch.as_tensor(np.stack([i, j]), dtype=torch.long),  # [2, E]
        cell_shifts=torch.as_tensor(shifts, dtype=dtype),  # [E, 3]
        n_atoms=torch.tensor([n], dtype=torch.long),  # [1]
        energy=torch.tensor([energy], dtype=torch.float64),  # [1]
        forces=torch.as_tensor(forces, dtype=dtype),  # [N, 3]
        stress=torch.as_tensor(stress, dtype=dtype).unsqueeze(0),  # [1, 3, 3]
        charge=torch.tensor([charge], dtype=dtype),  # [1]
        field=torch.zeros(1, 3, dtype=dtype),  # [1, 3]
        dipole=torch.as_tensor(dipole, dtype=dtype).unsqueeze(0),  # [1, 3]
        polarizability=torch.as_tensor(polarizability, dtype=dtype).unsqueeze(0),  # [1, 3, 3]
    )


def collate(graphs: Sequence[AtomicGraph]) -> AtomicGraph:
    """Concatenate graphs into one batch, offsetting atom indices and the batch index."""
    if len(graphs) == 1:
        return graphs[0]
    atom_offsets = torch.cumsum(torch.tensor([0] + [int(g.numbers.shape[0]) for g in graphs]), 0)
    structure_offsets = torch.cumsum(torch.tensor([0] + [g.n_structures for g in graphs]), 0)
    return AtomicGraph(
        numbers=torch.cat([g.numbers for g in graphs]),
        positions=torch.cat([g.positions for g in graphs]),
        cell=torch.cat([g.cell for g in graphs]),
        pbc=torch.cat([g.pbc for g in graphs]),
        batch=torch.cat([g.batch + structure_offsets[k] for k, g in enumerate(graphs)]),
        edge_index=torch.cat([g.edge_index + atom_offsets[k] for k, g in enumerate(graphs)], 1),
        cell_shifts=torch.cat([g.cell_shifts for g in graphs]),
        n_atoms=torch.cat([g.n_atoms for g in graphs]),
        energy=torch.cat([g.energy for g in graphs]),
        forces=torch.cat([g.forces for g in graphs]),
        stress=torch.cat([g.stress for g in graphs]),
        charge=torch.cat([g.charge for g in graphs]),
        field=torch.cat([g.field for g in graphs]),
        dipole=torch.cat([g.dipole for g in graphs]),
        polarizability=torch.cat([g.polarizability for g in graphs]),
    )


def edge_vectors(graph: AtomicGraph) -> torch.Tensor:
    """Vectors from centre to neighbour, ``r_j - r_i + shift @ cell``, shape [E, 3], Å.

    Differentiable with respect to ``graph.positions`` and ``graph.cell``, which is how
    forces and stress reach the model (see :mod:`nnpkit.derivatives`).
    """
    centre, neighbour = graph.edge_index
    edge_cell = graph.cell[graph.batch[centre]]  # [E, 3, 3]
    offsets = torch.einsum("ek,ekl->el", graph.cell_shifts, edge_cell)  # [E, 3]
    return graph.positions[neighbour] - graph.positions[centre] + offsets
