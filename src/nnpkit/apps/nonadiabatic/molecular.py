"""An atomistic diabatic network for molecules, on the core's invariant descriptors.

:class:`AtomisticDiabaticNetwork` follows the Behler–Parrinello pattern of
:mod:`nnpkit.models.bpnn`: every atom's element-resolved symmetry functions
(:class:`~nnpkit.nn.symmetry_functions.SymmetryFunctions`, shared by all matrix elements)
feed one MLP per element that outputs the atom's contribution to each diabatic energy and
each coupling; the structure's ``H_d`` is the sum over atoms. Graphs come from
:func:`nnpkit.data.graph.atoms_to_graph` / :func:`~nnpkit.data.graph.collate`, so the
public side is in ASE units (Å in, eV out).

Because every element is a sum of invariant atomic terms, ``H_d`` is invariant under
rotations, translations and permutations of like atoms; couplings that must change sign
under a molecular symmetry operation cannot be represented (a known limit of invariant
coupling models; use a signed ansatz for those).

:class:`MolecularDiabaticPotential` presents the network to surface hopping in atomic
units: coordinates ``q [T, 3N]`` bohr (T geometries batched into one graph, all atom
pairs as edges, the cutoff function removes distant ones), ``dH/dq`` by autograd.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers
from ase.units import _amu, _me
from torch import nn

from nnpkit.apps.nonadiabatic.networks import symmetric_from_elements
from nnpkit.data.graph import AtomicGraph, atoms_to_graph, collate, edge_vectors
from nnpkit.errors import UnknownElementError
from nnpkit.nn.mlp import MLP
from nnpkit.nn.symmetry_functions import SymmetryFunctions
from nnpkit.units import BOHR_TO_A, HARTREE_TO_EV

__all__ = ["AtomisticDiabaticNetwork", "MolecularDiabaticPotential", "molecule_graphs"]

#: electron masses per atomic mass unit
AMU_TO_ME = _amu / _me


def molecule_graphs(structures: Sequence[Atoms], cutoff_A: float) -> AtomicGraph:
    """One batched graph of ``structures`` (neighbour lists within ``cutoff_A`` Å)."""
    return collate([atoms_to_graph(atoms, cutoff_A) for atoms in structures])


class AtomisticDiabaticNetwork(nn.Module):
    """``H_d`` (eV) of molecules as sums of per-atom, per-element network outputs.

    Args:
        elements: chemical symbols, ordered (an atom's species is its index here).
        n_states: number of diabatic states ``n``.
        cutoff_A, angular_cutoff_A: descriptor cutoffs, Å.
        n_radial, n_angular_radial, zetas: symmetry-function sizes (see
            :class:`~nnpkit.nn.symmetry_functions.SymmetryFunctions`).
        hidden, activation: element networks.
    """

    kind = "atomistic"
    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    energy_shift: torch.Tensor
    energy_scale: torch.Tensor
    species_of_number: torch.Tensor

    def __init__(self, elements: Sequence[str], n_states: int, cutoff_A: float = 5.0,
                 angular_cutoff_A: float = 3.5, n_radial: int = 8, n_angular_radial: int = 4,
                 zetas: Sequence[int] = (1, 2, 4), hidden: Sequence[int] = (32, 32),
                 activation: str = "tanh") -> None:
        super().__init__()
        self.elements, self.n_states = list(elements), int(n_states)
        self.cutoff_A = float(cutoff_A)
        self.settings = {"elements": self.elements, "n_states": self.n_states,
                         "cutoff_A": cutoff_A, "angular_cutoff_A": angular_cutoff_A,
                         "n_radial": n_radial, "n_angular_radial": n_angular_radial,
                         "zetas": list(zetas), "hidden": list(hidden), "activation": activation}
        self.descriptor = SymmetryFunctions(len(self.elements), cutoff_A, angular_cutoff_A,
                                            n_radial, n_angular_radial, tuple(zetas))
        n_features = self.descriptor.n_features
        self.n_outputs = n_states + n_states * (n_states - 1) // 2
        self.element_networks = nn.ModuleList(
            MLP(n_features, hidden, self.n_outputs, activation) for _ in self.elements)
        self.register_buffer("feature_mean", torch.zeros(len(self.elements), n_features))
        self.register_buffer("feature_std", torch.ones(len(self.elements), n_features))
        self.register_buffer("energy_shift", torch.zeros(n_states))  # [n] per atom, eV
        self.register_buffer("energy_scale", torch.ones(()))  # eV
        species = torch.full((119,), -1, dtype=torch.long)
        for index, symbol in enumerate(self.elements):
            species[atomic_numbers[symbol]] = index
        self.register_buffer("species_of_number", species, persistent=False)

    def species(self, numbers: torch.Tensor) -> torch.Tensor:
        """Element index ``[N]``; raises :class:`UnknownElementError` for unknown elements."""
        species = self.species_of_number[numbers]
        if bool((species < 0).any()):
            raise UnknownElementError(
                f"atomic numbers {sorted(set(numbers[species < 0].tolist()))} are not among "
                f"the model's elements {self.elements}")
        return species

    def _features(self, graph: AtomicGraph) -> tuple[torch.Tensor, torch.Tensor]:
        species = self.species(graph.numbers)
        features = self.descriptor(species, graph.edge_index, edge_vectors(graph))  # [N, F]
        return species, features

    @torch.no_grad()
    def fit_normalization(self, graph: AtomicGraph, energies_eV: torch.Tensor) -> None:
        """Per-element feature mean/std and the output scale from a training batch.

        ``energies_eV``: ``[B, n]`` adiabatic energies (or diabatic diagonals) of ``graph``.
        """
        species, features = self._features(graph)
        for index in range(len(self.elements)):
            mine = features[species == index]
            if mine.shape[0]:
                self.feature_mean[index] = mine.mean(0)
                self.feature_std[index] = mine.std(0, unbiased=False).clamp_min(1e-3)
        per_atom = energies_eV / graph.n_atoms[:, None].to(energies_eV.dtype)  # [B, n]
        self.energy_shift.copy_(per_atom.mean(0))
        self.energy_scale.fill_(max(float(energies_eV.std()), 1e-6))

    def forward(self, graph: AtomicGraph) -> torch.Tensor:
        """Diabatic matrices ``[B, n, n]`` in eV for a batched graph (Å)."""
        species, features = self._features(graph)
        features = (features - self.feature_mean[species]) / self.feature_std[species]
        atomic = features.new_zeros(features.shape[0], self.n_outputs)  # [N, n + pairs]
        for index, network in enumerate(self.element_networks):
            mine = torch.nonzero(species == index).squeeze(1)
            if mine.numel():
                atomic = atomic.index_put((mine,), network(features[mine]))
        total = atomic.new_zeros(graph.n_structures, self.n_outputs).index_add(
            0, graph.batch, atomic)  # [B, n + pairs]
        n = self.n_states
        count = graph.n_atoms[:, None].to(total.dtype)
        diagonal = total[:, :n] * self.energy_scale + count * self.energy_shift  # [B, n]
        return symmetric_from_elements(diagonal, total[:, n:] * self.energy_scale)

    def hyperparameters(self) -> dict:
        """JSON-ready constructor arguments."""
        return dict(self.settings)


class MolecularDiabaticPotential:
    """A molecule's :class:`AtomisticDiabaticNetwork` as a diabatic potential in atomic units.

    Args:
        network: the trained network (a float64 copy is used; the original is untouched).
        atoms: the molecule (its elements and masses; positions are not used).
    """

    def __init__(self, network: AtomisticDiabaticNetwork, atoms: Atoms) -> None:
        import copy

        self.network = copy.deepcopy(network).double().eval()
        for parameter in self.network.parameters():
            parameter.requires_grad_(False)
        self.numbers = torch.as_tensor(atoms.numbers, dtype=torch.long)  # [N]
        self.n_atoms = len(atoms)
        self.n_states, self.n_dim = network.n_states, 3 * len(atoms)
        self._masses = np.repeat(atoms.get_masses() * AMU_TO_ME, 3)  # [3N]
        pairs = [(i, j) for i in range(self.n_atoms) for j in range(self.n_atoms) if i != j]
        self._pairs = torch.as_tensor(pairs, dtype=torch.long).T.reshape(2, -1)  # [2, P]

    def masses_au(self) -> np.ndarray:
        """Mass of every Cartesian coordinate ``[3N]``, electron masses."""
        return self._masses.copy()

    def _graph(self, positions: torch.Tensor) -> AtomicGraph:
        """All-pairs graph of ``T`` geometries ``positions [T, N, 3]`` (Å)."""
        n_geometries, n = positions.shape[0], self.n_atoms
        offsets = (torch.arange(n_geometries) * n)[:, None, None]  # [T, 1, 1]
        edges = (self._pairs[None] + offsets).permute(1, 0, 2).reshape(2, -1)  # [2, T*P]
        dtype = positions.dtype
        return AtomicGraph(
            numbers=self.numbers.repeat(n_geometries),  # [T*N]
            positions=positions.reshape(-1, 3),  # [T*N, 3]
            cell=torch.zeros(n_geometries, 3, 3, dtype=dtype),
            pbc=torch.zeros(n_geometries, 3, dtype=torch.bool),
            batch=torch.arange(n_geometries).repeat_interleave(n),  # [T*N]
            edge_index=edges, cell_shifts=torch.zeros(edges.shape[1], 3, dtype=dtype),
            n_atoms=torch.full((n_geometries,), n, dtype=torch.long),
            energy=torch.full((n_geometries,), float("nan"), dtype=dtype),
            forces=torch.full((n_geometries * n, 3), float("nan"), dtype=dtype),
            stress=torch.full((n_geometries, 3, 3), float("nan"), dtype=dtype))

    def evaluate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``q [T, 3N]`` bohr -> ``(H [T, n, n] Eh, dH [T, 3N, n, n] Eh/bohr)``."""
        q = np.asarray(q, dtype=np.float64)
        positions = torch.tensor(q.reshape(q.shape[0], self.n_atoms, 3) * BOHR_TO_A,
                                 requires_grad=True)  # [T, N, 3] Å
        matrix = self.network(self._graph(positions))  # [T, n, n] eV
        n = self.n_states
        gradient = torch.zeros(q.shape[0], self.n_dim, n, n, dtype=torch.float64)
        for i in range(n):
            for j in range(i, n):
                (derivative,) = torch.autograd.grad(matrix[:, i, j].sum(), positions,
                                                    retain_graph=True)
                gradient[:, :, i, j] = gradient[:, :, j, i] = derivative.reshape(q.shape[0], -1)
        scale = BOHR_TO_A / HARTREE_TO_EV
        return (matrix.detach().numpy() / HARTREE_TO_EV, gradient.numpy() * scale)
