"""Training an atomistic diabatic network on molecules: energies, forces and NACs.

:func:`fit_atomistic_diabatic` fits an
:class:`~nnpkit.apps.nonadiabatic.molecular.AtomisticDiabaticNetwork` to what an
electronic-structure calculation of several states gives: diabatic matrices if known,
otherwise adiabatic energies, and optionally the adiabatic forces and the nonadiabatic
couplings (NACs). The derivatives of every element of ``H_d`` with respect to the atom
positions come from autograd (``create_graph=True``, so the loss can be differentiated
again); the adiabatic forces are Hellmann–Feynman, ``-U_i^T ∇H U_i``, and the couplings
are compared as gap-scaled ``h_ij = U_i^T ∇H U_j = d_ij (E_j - E_i)`` with the phase-free
loss of :mod:`nnpkit.apps.nonadiabatic.adiabatic_loss` (the sign of each reference NAC is
arbitrary per structure). Adam runs on the full batch or on shuffled minibatches of
structures (``batch_size``). Public units are ASE's: Å, eV, eV/Å, 1/Å.

Per-atom arrays follow the batched graph's atom order, i.e. the structures' atoms
concatenated: forces ``[n, ΣN_atoms, 3]``, NACs ``[P, ΣN_atoms, 3]`` with the pairs
``i < j`` in the order ``(0,1), (0,2), ..., (1,2), ...``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from tqdm import tqdm

from nnpkit.apps.nonadiabatic.adiabatic_loss import (
    adiabatic_from_diabatic,
    phase_free_coupling_loss,
)
from nnpkit.apps.nonadiabatic.molecular import AtomisticDiabaticNetwork, molecule_graphs
from nnpkit.data.graph import AtomicGraph, atoms_to_graph, collate
from nnpkit.errors import ConfigError, DataError, TrainingError

__all__ = ["fit_atomistic_diabatic", "atomistic_adiabatic"]

PerAtom = np.ndarray | Sequence[np.ndarray]
#: (H [B, n, n], E [B, n], padded ∇E [B, 3M, n] or None, padded h [B, 3M, P] or None)
_Outputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]


def _slots(graph: AtomicGraph) -> tuple[torch.Tensor, int]:
    """Index of every atom within its structure ``[N]`` and the largest structure size."""
    first = torch.cumsum(graph.n_atoms, 0) - graph.n_atoms  # [B]
    return torch.arange(graph.batch.shape[0]) - first[graph.batch], int(graph.n_atoms.max())


def _pad(per_atom: torch.Tensor, graph: AtomicGraph) -> torch.Tensor:
    """``[N, 3, ...]`` per atom -> ``[B, 3 M, ...]`` per structure, zero beyond its atoms."""
    slot, largest = _slots(graph)
    padded = per_atom.new_zeros((graph.n_structures, largest) + per_atom.shape[1:])
    padded = padded.index_put((graph.batch, slot), per_atom)  # [B, M, 3, ...]
    return padded.reshape((graph.n_structures, 3 * largest) + per_atom.shape[2:])


def _unpad(padded: torch.Tensor, graph: AtomicGraph) -> torch.Tensor:
    """Inverse of :func:`_pad`: ``[B, 3 M, ...]`` -> ``[N, 3, ...]``."""
    slot, largest = _slots(graph)
    return padded.reshape((graph.n_structures, largest, 3) + padded.shape[2:])[
        graph.batch, slot]


def _matrix_gradient(matrix: torch.Tensor, positions: torch.Tensor,
                     create_graph: bool) -> torch.Tensor:
    """``∂H_ij/∂r`` per atom ``[N, 3, n, n]`` by autograd, one pass per element ``i <= j``."""
    n = matrix.shape[-1]
    columns: dict[tuple[int, int], torch.Tensor] = {}
    for i in range(n):
        for j in range(i, n):
            (columns[i, j],) = torch.autograd.grad(matrix[:, i, j].sum(), positions,
                                                   create_graph=create_graph,
                                                   retain_graph=True)
    return torch.stack([torch.stack([columns[min(i, j), max(i, j)] for j in range(n)], -1)
                        for i in range(n)], -2)  # [N, 3, n, n]


def _adiabatic(network: AtomisticDiabaticNetwork, graph: AtomicGraph, create_graph: bool
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(H [B, n, n], E [B, n], padded ∇E [B, 3M, n], padded h [B, 3M, P])``, eV and Å."""
    positions = graph.positions.detach().requires_grad_(True)  # [N, 3]
    graph = dataclasses.replace(graph, positions=positions)
    matrix = network(graph)  # [B, n, n]
    gradient = _pad(_matrix_gradient(matrix, positions, create_graph), graph)  # [B, 3M, n, n]
    energies, gradients, couplings = adiabatic_from_diabatic(matrix, gradient)
    return matrix, energies, gradients, couplings


def atomistic_adiabatic(network: AtomisticDiabaticNetwork, structures: Sequence[Atoms]
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adiabatic energies, forces and NACs of the network for ``structures``.

    Returns:
        ``(energies [B, n] eV, forces [n, ΣN_atoms, 3] eV/Å, nacs [P, ΣN_atoms, 3] 1/Å)``;
        the NACs ``d_ij = h_ij / (E_j - E_i)`` carry the network's own (arbitrary) signs.
    """
    graph = molecule_graphs(structures, network.cutoff_A).to(
        dtype=next(network.parameters()).dtype)
    _, energies, gradients, couplings = _adiabatic(network, graph, create_graph=False)
    rows, cols = torch.triu_indices(network.n_states, network.n_states, offset=1)
    nacs = couplings / (energies[:, cols] - energies[:, rows])[:, None, :]  # [B, 3M, P]
    forces, nacs = (-_unpad(gradients, graph), _unpad(nacs, graph))  # [N, 3, n], [N, 3, P]
    return (energies.detach().numpy(), forces.detach().permute(2, 0, 1).numpy(),
            nacs.detach().permute(2, 0, 1).numpy())


def _per_atom(values: PerAtom, name: str, leading: int, graph: AtomicGraph) -> torch.Tensor:
    """``[K, ΣN, 3]`` (or a list of ``[K, N_b, 3]``) -> a float64 ``[ΣN, 3, K]`` tensor."""
    if not isinstance(values, np.ndarray | torch.Tensor):
        if len(values) != graph.n_structures:
            raise DataError(f"{name}: {len(values)} per-structure arrays for "
                            f"{graph.n_structures} structures")
        values = np.concatenate([np.asarray(v, dtype=np.float64) for v in values], axis=1)
    tensor = torch.as_tensor(np.asarray(values), dtype=torch.float64)
    expected = (leading, graph.batch.shape[0], 3)
    if tuple(tensor.shape) != expected or not bool(torch.isfinite(tensor).all()):
        raise DataError(f"{name}: expected finite values of shape {expected} (graph atom "
                        f"order), got {tuple(tensor.shape)}")
    return tensor.permute(1, 2, 0)


@dataclass(frozen=True)
class _Labels:
    """Structures as one graph and their labels (eV, Å); per-atom rows in graph order."""

    graph: AtomicGraph
    energies: torch.Tensor  # [B, n]
    matrix: torch.Tensor | None  # [B, n, n]
    forces: torch.Tensor | None  # [N, 3, n]
    couplings: torch.Tensor | None  # [N, 3, P] reference h = d (E_j - E_i)

    def subset(self, chosen: torch.Tensor, graphs: Sequence[AtomicGraph]) -> _Labels:
        """The structures ``chosen [b]`` (indices into ``graphs``, one graph each)."""
        first = torch.cumsum(self.graph.n_atoms, 0) - self.graph.n_atoms  # [B]
        atoms = torch.cat([torch.arange(int(first[k]), int(first[k] + self.graph.n_atoms[k]))
                           for k in chosen.tolist()])

        def pick(values: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor | None:
            return None if values is None else values[rows]

        graph = collate([graphs[k] for k in chosen.tolist()]).to(dtype=torch.float64)
        return _Labels(graph, self.energies[chosen], pick(self.matrix, chosen),
                       pick(self.forces, atoms), pick(self.couplings, atoms))


def _labels(graph: AtomicGraph, n_states: int, energies_eV: np.ndarray | None,
            diabatic_eV: np.ndarray | None, forces_eV_A: PerAtom | None,
            nacs_per_A: PerAtom | None) -> _Labels:
    """Checked float64 labels; raises :class:`DataError` naming a misshapen array."""
    n, n_pairs = n_states, n_states * (n_states - 1) // 2
    matrix = None if diabatic_eV is None else torch.as_tensor(diabatic_eV).double()
    if matrix is not None:
        if tuple(matrix.shape) != (graph.n_structures, n, n):
            raise DataError(f"diabatic_eV has shape {tuple(matrix.shape)}; expected "
                            f"{(graph.n_structures, n, n)}")
        energies = torch.linalg.eigvalsh(matrix)
    else:
        energies = torch.as_tensor(energies_eV).double()
    if energies.shape != (graph.n_structures, n):
        raise DataError(f"energies_eV has shape {tuple(energies.shape)}; expected "
                        f"{(graph.n_structures, n)}")
    forces = None if forces_eV_A is None else _per_atom(forces_eV_A, "forces_eV_A", n, graph)
    couplings = None
    if nacs_per_A is not None:
        rows, cols = torch.triu_indices(n, n, offset=1)
        gap = (energies[:, cols] - energies[:, rows])[graph.batch]  # [N, P]
        couplings = _per_atom(nacs_per_A, "nacs_per_A", n_pairs, graph) * gap[:, None, :]
    return _Labels(graph, energies, matrix, forces, couplings)


def fit_atomistic_diabatic(network: AtomisticDiabaticNetwork, structures: Sequence[Atoms],
                           energies_eV: np.ndarray | None = None,
                           diabatic_eV: np.ndarray | None = None,
                           forces_eV_A: PerAtom | None = None,
                           nacs_per_A: PerAtom | None = None, force_weight: float = 0.0,
                           coupling_weight: float = 0.0, epochs: int = 1500,
                           learning_rate: float = 5e-3, seed: int = 0,
                           batch_size: int | None = None, progress: bool = False) -> dict:
    """Train an :class:`AtomisticDiabaticNetwork` in place (float64, Adam).

    Args:
        network: the network to train.
        structures: ``B`` molecules (ASE Atoms, Å).
        energies_eV: ``[B, n]`` adiabatic energies: fit the eigenvalues (the realistic case).
        diabatic_eV: ``[B, n, n]`` diabatic matrices: fit every element (used if given).
        forces_eV_A: adiabatic forces ``[n, ΣN_atoms, 3]`` or per structure ``[n, N_b, 3]``.
        nacs_per_A: NACs ``d_ij = <i|∇j>`` ``[P, ΣN_atoms, 3]`` or per structure
            ``[P, N_b, 3]``, any sign per structure and pair.
        force_weight: weight of the force errors (Å² · loss units, loss in units of the
            energy scale squared).
        coupling_weight: weight of the phase-free error of ``h = d (E_j - E_i)`` (Å²).
        epochs, learning_rate, seed, progress: passes over the data (cosine schedule over
            them), initial rate, seed of the initialisation and shuffling, tqdm bar.
        batch_size: structures per Adam step, shuffled each epoch (None: full batch).

    Returns:
        On the training set: ``energy_rmse_eV``, ``diabatic_rmse_eV`` (None without
        diabatic labels), ``force_rmse_eV_A`` and ``coupling_rmse_eV_A`` (phase-free RMSE
        of ``h`` per Cartesian component; None without the labels).

    Raises:
        DataError: missing or misshapen labels (named). ConfigError: a weight > 0 without
        its labels, or ``batch_size < 1``. TrainingError: the loss became NaN.
    """
    if energies_eV is None and diabatic_eV is None:
        raise DataError("fit_atomistic_diabatic needs energies_eV or diabatic_eV")
    if force_weight > 0 and forces_eV_A is None:
        raise ConfigError("force_weight > 0 but no forces_eV_A were given")
    if coupling_weight > 0 and nacs_per_A is None:
        raise ConfigError("coupling_weight > 0 but no nacs_per_A were given")
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    torch.manual_seed(seed)
    network.double()
    graphs = [atoms_to_graph(atoms, network.cutoff_A) for atoms in structures]
    everything = _labels(collate(graphs).to(dtype=torch.float64), network.n_states,
                         energies_eV, diabatic_eV, forces_eV_A, nacs_per_A)
    network.fit_normalization(everything.graph, everything.energies)
    scale2 = float(network.energy_scale) ** 2
    derivatives = force_weight > 0 or coupling_weight > 0

    def objective(labels: _Labels, create_graph: bool) -> tuple[torch.Tensor, _Outputs]:
        outputs: _Outputs
        if derivatives or not create_graph:
            outputs = _adiabatic(network, labels.graph, create_graph)
        else:  # energies only: no derivatives needed
            matrix = network(labels.graph)
            outputs = (matrix, torch.linalg.eigvalsh(matrix), None, None)
        matrix, energies, gradients, couplings = outputs
        if labels.matrix is not None:
            loss = torch.mean((matrix - labels.matrix) ** 2) / scale2
        else:
            loss = torch.mean((energies - labels.energies) ** 2) / scale2
        if force_weight > 0 and labels.forces is not None and gradients is not None:
            error = -_unpad(gradients, labels.graph) - labels.forces  # [N, 3, n]
            loss = loss + force_weight * torch.mean(error**2) / scale2
        if coupling_weight > 0 and labels.couplings is not None and couplings is not None:
            loss = loss + coupling_weight * phase_free_coupling_loss(
                couplings, _pad(labels.couplings, labels.graph)) / scale2
        return loss, outputs

    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs,
                                                          learning_rate * 0.01)
    shuffle = torch.Generator().manual_seed(seed)
    for epoch in tqdm(range(epochs), disable=not progress, desc="fit"):
        batches = [everything] if batch_size is None else [
            everything.subset(chosen, graphs) for chosen in
            torch.randperm(len(graphs), generator=shuffle).split(batch_size)]
        for labels in batches:
            optimizer.zero_grad()
            loss, _ = objective(labels, create_graph=True)
            if not torch.isfinite(loss):
                raise TrainingError(f"atomistic diabatic fit: loss is {float(loss)} at "
                                    f"epoch {epoch}")
            loss.backward()
            optimizer.step()
        schedule.step()
    network.eval()
    return _summary(everything, objective(everything, create_graph=False)[1])


def _summary(labels: _Labels, outputs: _Outputs) -> dict:
    """Training-set RMSEs of :func:`fit_atomistic_diabatic` (plain floats)."""
    matrix, energies, gradients, couplings = outputs

    def rmse(error: torch.Tensor) -> float:
        return float(torch.sqrt(torch.mean(error.detach() ** 2)))

    force_rmse = coupling_rmse = None
    if labels.forces is not None and gradients is not None:
        force_rmse = rmse(-_unpad(gradients, labels.graph) - labels.forces)
    if labels.couplings is not None and couplings is not None:
        per_component = phase_free_coupling_loss(
            couplings, _pad(labels.couplings, labels.graph)).detach()
        coordinates = 3 * labels.graph.n_atoms.to(per_component.dtype).mean()  # not padded
        coupling_rmse = float(torch.sqrt(per_component.clamp_min(0.0) / coordinates))
    return {"energy_rmse_eV": rmse(energies - labels.energies),
            "diabatic_rmse_eV": None if labels.matrix is None else rmse(
                matrix - labels.matrix),
            "force_rmse_eV_A": force_rmse, "coupling_rmse_eV_A": coupling_rmse}
