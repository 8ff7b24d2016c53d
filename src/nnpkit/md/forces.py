"""Force fields for the batched engine: an nnpkit Potential (one call per step for the whole
batch) and a fallback over any ASE calculator (a loop over replicas: slow).

Both fill ``state.energy`` [B] (eV, float64), ``state.forces`` [N, 3] (eV/Å) and, when asked,
``state.stress`` [B, 3, 3] (eV/Å³, ASE sign), and give the committee uncertainty
``max_force_std`` [B] (eV/Å) where the model is a committee.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from nnpkit.data.graph import AtomicGraph
from nnpkit.derivatives import compute_properties, uniform_field
from nnpkit.errors import ConfigError, UnknownElementError
from nnpkit.md.batched_neighbors import BatchedNeighborList
from nnpkit.md.batched_state import BatchedState
from nnpkit.models.bpnn_fast import choose_fast_path
from nnpkit.models.committee import Committee
from nnpkit.models.committee_fast import FastCommittee
from nnpkit.models.equivariant_fused import fused_for_inference
from nnpkit.models.potential import Potential

__all__ = ["ModelForceField", "ASEForceField", "max_force_std_per_replica"]


def max_force_std_per_replica(member_forces: torch.Tensor, batch: torch.Tensor,
                              n_replicas: int) -> torch.Tensor:
    """Largest per-atom force spread of each replica [B], eV/Å.

    ``member_forces`` [M, N, 3]; an atom's spread is ``sqrt(Σ_xyz var_members(F))``
    (population variance), as :class:`~nnpkit.calculators.CommitteeCalculator` defines it.
    """
    per_atom = member_forces.double().var(dim=0, unbiased=False).sum(dim=1).sqrt()  # [N]
    out = torch.zeros(n_replicas, dtype=torch.float64, device=per_atom.device)
    return out.scatter_reduce(0, batch, per_atom, reduce="amax")


class ModelForceField:
    """An nnpkit Potential on the batch's collated graph, one model call per step.

    The model is copied (cast to the state's precision and device, frozen), and the
    neighbour lists are kept between steps in a :class:`BatchedNeighborList`. Forces come
    from the compiled low-latency path of :mod:`nnpkit.models.bpnn_fast` where the model
    supports it (BPNN, or a committee of BPNNs, on the CPU; the whole batch is one call:
    its pairs carry their Cartesian offsets, so no per-replica cell is needed), else from
    autograd (:func:`~nnpkit.derivatives.compute_properties`); the stress always from
    autograd. A compiled committee gives its spread (:meth:`max_force_std`) compiled too.

    Args:
        model: any Potential (a :class:`~nnpkit.models.committee.Committee` gives its mean
            in the loop and its spread to :meth:`max_force_std`).
        state: the replicas (fixes precision, device and layout).
        skin_A: Verlet skin, Å.
        variable_cell: cells change between steps (NPT).
        fast_path: None uses the compiled path where supported (with a one-line
            :class:`~nnpkit.models.bpnn_fast.FastPathNotice` where not);
            True requires it; False always uses autograd.
        external_field_V_per_A: a uniform electric field [3] (V/Å) on every replica, for
            models with a field coupling (the charge-aware family): energies and forces
            then include the field's (−Σ q F·r − ½ Σ Fᵀα F), so NVE conserves the energy
            in the field. Molecules and clusters only.

    Raises:
        UnknownElementError: a replica holds an element the model does not know; the
            message names the replica(s).
        ConfigError: ``fast_path=True`` for a model or device it does not support; a
            field for a model without a field coupling, or of the wrong shape.
    """

    def __init__(self, model: Potential, state: BatchedState, skin_A: float = 0.5,
                 variable_cell: bool = False, fast_path: bool | None = None,
                 external_field_V_per_A: Sequence[float] | None = None) -> None:
        device, dtype = state.positions.device, state.positions.dtype
        field = uniform_field(model, external_field_V_per_A)  # [3], V/Å
        self.model = _frozen_copy(model, device, dtype)
        if fast_path is not False:
            self.model = fused_for_inference(self.model)
        self.fast_path = choose_fast_path(self.model, device, fast_path, "batched MD")
        self._numbers = state.numbers.cpu().numpy()  # [N]
        self._batch = state.batch.cpu().numpy()  # [N]
        self._unit_cell = np.eye(3)  # the pairs carry their Cartesian offsets
        species = self.model.species_of_number[state.numbers]  # [N]
        unknown_atoms = species < 0
        if bool(unknown_atoms.any()):
            replicas = sorted(set(state.batch[unknown_atoms].tolist()))
            symbols = sorted({chemical_symbols[int(z)] for z in state.numbers[unknown_atoms]})
            raise UnknownElementError(
                f"replica(s) {replicas} hold element(s) {', '.join(symbols)} not known to "
                f"the model; its elements are {', '.join(self.model.elements)}")
        self.neighbors = BatchedNeighborList(self.model.cutoff, skin_A, variable_cell)
        n_total, n_replicas = state.positions.shape[0], state.n_replicas
        # label fields of the graph: unused by the model, allocated once
        self._no_energy = torch.full((n_replicas,), float("nan"), dtype=torch.float64,
                                     device=device)
        self._no_forces = torch.full((n_total, 3), float("nan"), dtype=dtype, device=device)
        self._no_stress = torch.full((n_replicas, 3, 3), float("nan"), dtype=dtype,
                                     device=device)
        self._field = torch.as_tensor(field, dtype=dtype, device=device).expand(
            n_replicas, 3)  # [B, 3]: the same field on every replica

    def graph(self, state: BatchedState) -> AtomicGraph:
        """The collated graph of the current positions (neighbour list updated)."""
        edge_index, shifts = self.neighbors.update(state.positions, state.cell, state.pbc,
                                                   state.batch, state.n_atoms)
        return AtomicGraph(
            numbers=state.numbers, positions=state.positions, cell=state.cell, pbc=state.pbc,
            batch=state.batch, edge_index=edge_index, cell_shifts=shifts,
            n_atoms=state.n_atoms, energy=self._no_energy, forces=self._no_forces,
            stress=self._no_stress, charge=state.charge.to(state.positions.dtype),
            field=self._field)

    def __call__(self, state: BatchedState, need_stress: bool) -> None:
        # no compiled path for a model with a field coupling: a field runs on autograd
        if self.fast_path is not None and not need_stress:
            self._compiled(state)
            return
        output = compute_properties(self.model, self.graph(state), forces=True,
                                    stress=need_stress)
        state.energy = output["energy"].detach()  # [B], float64
        state.forces = output["forces"].detach()  # [N, 3]
        if need_stress:
            state.stress = output["stress"].detach()  # [B, 3, 3]
            state.stress_step = state.step

    def _compiled(self, state: BatchedState) -> None:
        """Energy and forces of the whole batch from one compiled-path call (float64).

        No torch operation on the way: the pairs come from the neighbour list's CPU
        kernel, the positions are the state's memory (a float64 copy in float32), and the
        per-replica energies are a sequential sum in the order of ``segment_sum``.
        """
        assert self.fast_path is not None
        # the skin's pairs too: beyond the cutoff they add exactly nothing on this path
        centre, neighbour, offsets = self.neighbors.candidate_arrays(
            state.positions, state.cell, state.pbc, state.batch, state.n_atoms)
        positions = state.positions.detach().numpy().astype(np.float64, copy=False)
        output = self.fast_path.evaluate(self._numbers, positions, self._unit_cell, centre,
                                         neighbour, offsets)
        # bincount adds the atoms' energies in atom order, as index_add_ does
        state.energy = torch.from_numpy(np.bincount(self._batch, output["energies"],
                                                    minlength=state.n_replicas))  # [B]
        forces = torch.from_numpy(output["forces"])  # [N, 3], float64
        state.forces = forces if forces.dtype == state.positions.dtype else forces.to(
            state.positions.dtype)

    def max_force_std(self, state: BatchedState) -> torch.Tensor:
        """Committee spread per replica [B], eV/Å (one evaluation per member; on the
        compiled path where the committee has one, else by autograd).

        Raises:
            ConfigError: the model is not a committee.
        """
        if not isinstance(self.model, Committee):
            raise ConfigError(f"the uncertainty guard needs a committee model; got "
                              f"{type(self.model).__name__}")
        if isinstance(self.fast_path, FastCommittee):
            centre, neighbour, offsets = self.neighbors.candidate_arrays(
                state.positions, state.cell, state.pbc, state.batch, state.n_atoms)
            positions = state.positions.detach().numpy().astype(np.float64, copy=False)
            output = self.fast_path.evaluate(self._numbers, positions, self._unit_cell,
                                             centre, neighbour, offsets, members=True)
            member_forces = torch.from_numpy(output["member_forces"])  # [M, N, 3]
            return max_force_std_per_replica(member_forces, state.batch, state.n_replicas)
        members = self.model.member_properties(self.graph(state), forces=True)
        return max_force_std_per_replica(members["forces"], state.batch, state.n_replicas)


def _frozen_copy(model: Potential, device: torch.device, dtype: torch.dtype) -> Potential:
    frozen = copy.deepcopy(model).to(device=device, dtype=dtype).eval()
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)
    return frozen


class ASEForceField:
    """Any ASE calculator, replica by replica: a Python loop over replicas at every step.

    Slow (the engine's batching buys nothing here); meant for comparisons (EMT) and for
    calculators without an nnpkit model. Constraints of the templates are not applied.

    Args:
        calculators: one calculator shared by all replicas (it recomputes whenever the
            replica changes), or one per replica.
        templates: the replicas' starting Atoms (copied; numbers and pbc come from them).
    """

    def __init__(self, calculators: Calculator | Sequence[Calculator],
                 templates: Sequence[Atoms]) -> None:
        if isinstance(calculators, Calculator):
            calculators = [calculators] * len(templates)
        if len(calculators) != len(templates):
            raise ConfigError(f"{len(calculators)} calculators for {len(templates)} replicas")
        self.atoms = []
        for template, calculator in zip(templates, calculators, strict=True):
            work = template.copy()
            work.set_constraint()
            work.calc = calculator
            self.atoms.append(work)

    def _sync(self, state: BatchedState) -> np.ndarray:
        """Copy positions and cells into the Atoms; the atom offsets per replica [B + 1]."""
        positions = state.positions.detach().cpu().double().numpy()
        cells = state.cell.detach().cpu().double().numpy()
        bounds = np.concatenate([[0], np.cumsum(state.n_atoms.cpu().numpy())])
        for b, atoms in enumerate(self.atoms):
            atoms.set_cell(cells[b], scale_atoms=False)
            atoms.set_positions(positions[bounds[b]:bounds[b + 1]], apply_constraint=False)
        return bounds

    def __call__(self, state: BatchedState, need_stress: bool) -> None:
        self._sync(state)
        device, dtype = state.positions.device, state.positions.dtype
        energies, forces = [], []
        stress = np.full((len(self.atoms), 3, 3), np.nan)
        # one replica's properties together: a shared calculator keeps them between calls
        for b, atoms in enumerate(self.atoms):
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces(apply_constraint=False))
            if need_stress and atoms.pbc.all():
                stress[b] = atoms.get_stress(voigt=False)
        state.energy = torch.tensor(energies, dtype=torch.float64, device=device)
        state.forces = torch.as_tensor(np.concatenate(forces), dtype=dtype, device=device)
        if need_stress:
            state.stress = torch.as_tensor(stress, dtype=dtype, device=device)
            state.stress_step = state.step

    def max_force_std(self, state: BatchedState) -> torch.Tensor:
        """``max_force_std`` of each replica's calculator [B], eV/Å.

        Raises:
            ConfigError: a calculator that does not give ``max_force_std``.
        """
        self._sync(state)
        values = []
        for b, atoms in enumerate(self.atoms):
            if "max_force_std" not in getattr(atoms.calc, "implemented_properties", ()):
                raise ConfigError(f"replica {b}: the uncertainty guard needs a committee "
                                  f"calculator (one that gives max_force_std)")
            values.append(float(atoms.calc.get_property("max_force_std", atoms)))
        return torch.tensor(values, dtype=torch.float64, device=state.positions.device)
