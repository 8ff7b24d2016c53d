"""A Verlet neighbour list over a batch of replicas, kept in torch between MD steps.

Each replica's list is built by :func:`~nnpkit.neighbors.neighbor_list` (vesin) at
``cutoff + skin`` and kept until an atom of that replica could have brought a new pair
within ``cutoff``; then only that replica is rebuilt. Every step the stored pairs of all
replicas are filtered to ``cutoff`` by one vectorised distance check, so the model sees
exactly the pairs of a fresh list at ``cutoff``.

The check is exact for deforming cells too (NPT). With ``h = h0 μ`` the cell's deformation
since the build and ``δ = r - r0 μ`` each atom's displacement beyond the affine one, a pair
that was outside ``cutoff + skin`` is now at least ``σ_min(μ)(cutoff + skin) - 2 max|δ|``
apart (σ_min: the smallest singular value), so the list is still complete while that
exceeds ``cutoff``. For a fixed cell this is the usual ``max|δ| < skin / 2``. A
non-periodic replica whose stored list holds all n(n-1) pairs (a small molecule) is never
rebuilt: no pair can be missing.
"""

from __future__ import annotations

import numpy as np
import torch

from nnpkit.neighbors import neighbor_list

__all__ = ["BatchedNeighborList"]


class BatchedNeighborList:
    """Pairs within ``cutoff`` for B replicas, rebuilt per replica only when needed.

    Args:
        cutoff: interaction cutoff, Å.
        skin: extra radius of the stored lists, Å (0 rebuilds every replica every call).
        variable_cell: the cells may change between calls (NPT); enables the deformation
            term of the validity check.

    Attributes:
        n_builds: replica lists built so far (a rebuild of k replicas counts k).
        n_rebuild_calls: calls that rebuilt at least one replica.
        offsets: ``shift @ cell`` of the pairs of the last :meth:`update` [E, 3], Å.
    """

    def __init__(self, cutoff: float, skin: float = 0.5, variable_cell: bool = False) -> None:
        if cutoff <= 0 or skin < 0:
            raise ValueError(f"need cutoff > 0 and skin >= 0, got {cutoff} and {skin}")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.variable_cell = bool(variable_cell)
        self.n_builds = 0
        self.n_rebuild_calls = 0
        self._reference: torch.Tensor | None = None  # positions at each replica's build [N, 3]
        self._reference_cell: torch.Tensor | None = None  # [B, 3, 3]
        self._lists: list[tuple[torch.Tensor, torch.Tensor]] = []  # per replica: [2, E_b], [E_b, 3]
        self._edges = torch.zeros(2, 0, dtype=torch.long)  # all replicas, global indices
        self._shifts = torch.zeros(0, 3)  # [E_skin, 3]
        self._edge_replica = torch.zeros(0, dtype=torch.long)  # [E_skin]
        self._offsets = torch.zeros(0, 3)  # shifts @ cell of the stored pairs [E_skin, 3], Å
        self._offset_cell: torch.Tensor | None = None  # the cell they were computed for
        self.offsets = torch.zeros(0, 3)  # Cartesian offsets of the last returned pairs
        self._complete = torch.zeros(0, dtype=torch.bool)  # [B]: list holds every pair
        self._all_complete = False

    def _stale(self, positions: torch.Tensor, cell: torch.Tensor, pbc: torch.Tensor,
               batch: torch.Tensor, n_replicas: int) -> list[int]:
        """Indices of the replicas whose stored list may miss a pair."""
        if self._reference is None or self._reference_cell is None:
            return list(range(n_replicas))
        if self._all_complete:
            return []
        reference = self._reference
        margin = torch.ones(n_replicas, dtype=torch.float64, device=positions.device)  # σ_min
        if self.variable_cell:  # the deformation of fully periodic cells; identity elsewhere
            periodic = pbc.all(dim=1)[:, None, None]  # [B, 1, 1]
            eye = torch.eye(3, dtype=torch.float64, device=positions.device).expand_as(cell)
            before = torch.where(periodic, self._reference_cell.double(), eye)
            mu = torch.linalg.solve(before, torch.where(periodic, cell.double(), eye))
            reference = torch.einsum("ni,nij->nj", reference.double(), mu[batch])
            margin = torch.linalg.svdvals(mu).amin(dim=1)  # [B]
        moved = ((positions.double() - reference.double()) ** 2).sum(dim=1)  # [N], Å²
        largest = torch.zeros(n_replicas, dtype=torch.float64, device=positions.device)
        largest = largest.scatter_reduce(0, batch, moved, reduce="amax").sqrt()  # [B]
        valid = margin * (self.cutoff + self.skin) - 2.0 * largest > self.cutoff  # [B]
        valid = valid | self._complete  # a molecule whose stored list has every pair
        return (~valid).nonzero().flatten().tolist()

    def _rebuild(self, replicas: list[int], positions: torch.Tensor, cell: torch.Tensor,
                 pbc: torch.Tensor, batch: torch.Tensor, n_atoms: torch.Tensor) -> None:
        """Rebuild the lists of ``replicas`` (a loop over those replicas only)."""
        device, dtype = positions.device, positions.dtype
        n_replicas = int(n_atoms.shape[0])
        if self._reference is None or self._reference_cell is None or not self._lists:
            self._reference = positions.detach().clone()
            self._reference_cell = cell.detach().clone()
            empty = (torch.zeros(2, 0, dtype=torch.long, device=device),
                     torch.zeros(0, 3, dtype=dtype, device=device))
            self._lists = [empty] * n_replicas
            self._complete = torch.zeros(n_replicas, dtype=torch.bool, device=device)
        offsets = np.concatenate([[0], np.cumsum(n_atoms.cpu().numpy())])
        positions_np = positions.detach().cpu().double().numpy()
        cell_np = cell.detach().cpu().double().numpy()
        pbc_np = pbc.cpu().numpy()
        for b in replicas:
            start, stop = int(offsets[b]), int(offsets[b + 1])
            i, j, shifts = neighbor_list(positions_np[start:stop], cell_np[b], pbc_np[b],
                                         self.cutoff + self.skin)
            edges = torch.as_tensor(np.stack([i, j]) + start, dtype=torch.long, device=device)
            self._lists[b] = (edges, torch.as_tensor(shifts, dtype=dtype, device=device))
            size = stop - start  # a non-periodic replica with all n(n-1) pairs stays valid
            self._complete[b] = not pbc_np[b].any() and len(i) == size * (size - 1)
            self._reference[start:stop] = positions[start:stop].detach()
            self._reference_cell[b] = cell[b].detach()
        self._edges = torch.cat([edges for edges, _ in self._lists], dim=1)  # [2, E_skin]
        self._shifts = torch.cat([shifts for _, shifts in self._lists])  # [E_skin, 3]
        self._edge_replica = batch[self._edges[0]]  # [E_skin]
        self._all_complete = bool(self._complete.all())
        self.n_builds += len(replicas)
        self.n_rebuild_calls += 1

    def update(self, positions: torch.Tensor, cell: torch.Tensor, pbc: torch.Tensor,
               batch: torch.Tensor, n_atoms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pairs within ``cutoff`` now.

        Args:
            positions: [N, 3], Å. cell: [B, 3, 3], Å. pbc: [B, 3]. batch: [N].
            n_atoms: [B].

        Returns:
            ``(edge_index, cell_shifts)``: (centre, neighbour) global atom indices [2, E]
            sorted by centre, and integer shifts [E, 3] in the positions' dtype, as in
            :class:`~nnpkit.data.graph.AtomicGraph`.
        """
        n_replicas = int(n_atoms.shape[0])
        stale = self._stale(positions, cell, pbc, batch, n_replicas)
        if stale:
            self._rebuild(stale, positions, cell, pbc, batch, n_atoms)
        centre, neighbour = self._edges
        if stale or self._offset_cell is None or not torch.equal(cell, self._offset_cell):
            # shift @ cell per stored pair: a gather of [E, 3, 3], so kept until the cell
            # changes (never in NVE/NVT, every barostat move in NPT)
            self._offsets = torch.einsum("ek,ekl->el", self._shifts,
                                         cell[self._edge_replica])  # [E_skin, 3]
            self._offset_cell = cell.detach().clone()
        vectors = (positions.index_select(0, neighbour) - positions.index_select(0, centre)
                   + self._offsets)  # [E_skin, 3]
        keep = ((vectors * vectors).sum(dim=1) < self.cutoff**2).nonzero().squeeze(1)  # [E]
        self.offsets = self._offsets.index_select(0, keep)  # shift @ cell of the pairs [E, 3]
        return self._edges.index_select(1, keep), self._shifts.index_select(0, keep)
