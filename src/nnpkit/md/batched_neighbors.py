"""A Verlet neighbour list over a batch of replicas, kept in torch between MD steps.

Each replica's list is built by :func:`~nnpkit.neighbors.neighbor_list` (vesin) at
``cutoff + skin`` and kept until an atom of that replica could have brought a new pair
within ``cutoff``; then only that replica is rebuilt. Every step the stored pairs of all
replicas are filtered to ``cutoff`` by one distance check, so the model sees exactly the
pairs of a fresh list at ``cutoff``. On the CPU the filter and the displacement check are
numba kernels over the tensors' memory (a few µs, where a chain of torch operations costs
tens); on other devices they are torch operations. The two select the same pairs: the
distances are computed in the positions' precision with the same operations.

The check is exact for deforming cells too (NPT). With ``h = h0 μ`` the cell's deformation
since the build and ``δ = r - r0 μ`` each atom's displacement beyond the affine one, a pair
that was outside ``cutoff + skin`` is now at least ``σ_min(μ)(cutoff + skin) - 2 max|δ|``
apart (σ_min: the smallest singular value), so the list is still complete while that
exceeds ``cutoff``. For a fixed cell this is the usual ``max|δ| < skin / 2``. ``μ``, σ_min
and ``r0 μ`` are kept until the cell changes (a barostat move). A non-periodic replica whose
stored list holds all n(n-1) pairs (a small molecule) is never rebuilt: no pair can be
missing.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from nnpkit.neighbors import neighbor_list

__all__ = ["BatchedNeighborList"]


@njit(cache=True)
def _pairs_within(positions, edges, offsets, offsets_float64,
                  cutoff_squared):  # noqa: ANN001, ANN202
    """The stored pairs closer than the cutoff: (index, centre, neighbour, offset float64).

    ``positions`` [N, 3] and ``offsets`` [E, 3] in the engine's precision, the distance in
    that precision as torch computes it (``(r_j - r_i) + o``, then ``(x² + y²) + z²``).
    """
    n_edges = edges.shape[1]
    keep = np.empty(n_edges, dtype=np.int64)
    count = 0
    for e in range(n_edges):
        i, j = edges[0, e], edges[1, e]
        x = positions[j, 0] - positions[i, 0] + offsets[e, 0]
        y = positions[j, 1] - positions[i, 1] + offsets[e, 1]
        z = positions[j, 2] - positions[i, 2] + offsets[e, 2]
        if x * x + y * y + z * z < cutoff_squared:
            keep[count] = e
            count += 1
    keep = keep[:count]
    centre = np.empty(count, dtype=np.int64)
    neighbour = np.empty(count, dtype=np.int64)
    kept_offsets = np.empty((count, 3), dtype=np.float64)
    for k in range(count):
        e = keep[k]
        centre[k], neighbour[k] = edges[0, e], edges[1, e]
        kept_offsets[k, 0] = offsets_float64[e, 0]
        kept_offsets[k, 1] = offsets_float64[e, 1]
        kept_offsets[k, 2] = offsets_float64[e, 2]
    return keep, centre, neighbour, kept_offsets


@njit(cache=True)
def _largest_squared_displacement(positions, reference, batch,
                                  n_replicas):  # noqa: ANN001, ANN202
    """max_i |r_i - r0_i|² per replica [B], float64 (NaN if any is NaN)."""
    largest = np.zeros(n_replicas, dtype=np.float64)
    for n in range(positions.shape[0]):
        dx = np.float64(positions[n, 0]) - np.float64(reference[n, 0])
        dy = np.float64(positions[n, 1]) - np.float64(reference[n, 1])
        dz = np.float64(positions[n, 2]) - np.float64(reference[n, 2])
        moved = dx * dx + dy * dy + dz * dz
        b = batch[n]
        if moved > largest[b] or moved != moved:
            largest[b] = moved
    return largest


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
        self._offsets_float64 = np.zeros((0, 3))  # the same for the compiled path (CPU)
        self._offset_cell: torch.Tensor | None = None  # the cell they were computed for
        # the deformation since the builds, kept while the cell stays (variable_cell):
        # (cell, margin σ_min [B], affine reference r0 μ [N, 3]), dropped by a rebuild
        self._deformation: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.offsets = torch.zeros(0, 3)  # Cartesian offsets of the last returned pairs
        self._complete = torch.zeros(0, dtype=torch.bool)  # [B]: list holds every pair
        self._all_complete = False

    def _deformed_reference(self, cell: torch.Tensor, pbc: torch.Tensor,
                            batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(σ_min(μ) [B], r0 μ [N, 3])`` in float64, recomputed when the cell changed."""
        assert self._reference is not None and self._reference_cell is not None
        kept = self._deformation
        if kept is not None and torch.equal(kept[0], cell):
            return kept[1], kept[2]
        periodic = pbc.all(dim=1)[:, None, None]  # [B, 1, 1]
        eye = torch.eye(3, dtype=torch.float64, device=cell.device).expand_as(cell)
        before = torch.where(periodic, self._reference_cell.double(), eye)
        mu = torch.linalg.solve(before, torch.where(periodic, cell.double(), eye))
        reference = torch.einsum("ni,nij->nj", self._reference.double(), mu[batch])
        margin = torch.linalg.svdvals(mu).amin(dim=1)  # [B]
        self._deformation = (cell.detach().clone(), margin, reference)
        return margin, reference

    def _stale(self, positions: torch.Tensor, cell: torch.Tensor, pbc: torch.Tensor,
               batch: torch.Tensor, n_replicas: int) -> list[int]:
        """Indices of the replicas whose stored list may miss a pair."""
        if self._reference is None or self._reference_cell is None:
            return list(range(n_replicas))
        if self._all_complete:
            return []
        reference, margin = self._reference, None  # margin None: σ_min = 1 (fixed cells)
        if self.variable_cell:  # the deformation of fully periodic cells; identity elsewhere
            margin, reference = self._deformed_reference(cell, pbc, batch)
        if positions.device.type == "cpu":
            squared = _largest_squared_displacement(
                positions.detach().numpy(), reference.detach().numpy(), batch.numpy(),
                n_replicas)
            largest = np.sqrt(squared)  # [B]
            scale = 1.0 if margin is None else margin.numpy()
            valid = scale * (self.cutoff + self.skin) - 2.0 * largest > self.cutoff
            valid |= self._complete.numpy()  # a molecule whose stored list has every pair
            return np.flatnonzero(~valid).tolist()
        moved = ((positions.double() - reference.double()) ** 2).sum(dim=1)  # [N], Å²
        largest_t = torch.zeros(n_replicas, dtype=torch.float64, device=positions.device)
        largest_t = largest_t.scatter_reduce(0, batch, moved, reduce="amax").sqrt()  # [B]
        scale_t = 1.0 if margin is None else margin
        valid_t = scale_t * (self.cutoff + self.skin) - 2.0 * largest_t > self.cutoff  # [B]
        valid_t = valid_t | self._complete
        return (~valid_t).nonzero().flatten().tolist()

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
        self._deformation = None
        self.n_builds += len(replicas)
        self.n_rebuild_calls += 1

    def _refresh(self, positions: torch.Tensor, cell: torch.Tensor, pbc: torch.Tensor,
                 batch: torch.Tensor, n_atoms: torch.Tensor) -> None:
        """Rebuild the stale lists; the stored pairs' offsets for the current cell."""
        stale = self._stale(positions, cell, pbc, batch, int(n_atoms.shape[0]))
        if stale:
            self._rebuild(stale, positions, cell, pbc, batch, n_atoms)
        if stale or self._offset_cell is None or not torch.equal(cell, self._offset_cell):
            # shift @ cell per stored pair: a gather of [E, 3, 3], so kept until the cell
            # changes (never in NVE/NVT, every barostat move in NPT)
            self._offsets = torch.einsum("ek,ekl->el", self._shifts,
                                         cell[self._edge_replica]).detach()  # [E_skin, 3]
            self._offset_cell = cell.detach().clone()
            if positions.device.type == "cpu":
                self._offsets_float64 = self._offsets.double().numpy()

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
        self._refresh(positions, cell, pbc, batch, n_atoms)
        if positions.device.type == "cpu":
            keep = torch.from_numpy(self._pairs_cpu(positions)[0])  # [E]
        else:
            centre, neighbour = self._edges
            vectors = (positions.index_select(0, neighbour) - positions.index_select(0, centre)
                       + self._offsets)  # [E_skin, 3]
            keep = ((vectors * vectors).sum(dim=1) < self.cutoff**2).nonzero().squeeze(1)
        self.offsets = self._offsets.index_select(0, keep)  # shift @ cell of the pairs [E, 3]
        return self._edges.index_select(1, keep), self._shifts.index_select(0, keep)

    def candidate_arrays(self, positions: torch.Tensor, cell: torch.Tensor, pbc: torch.Tensor,
                         batch: torch.Tensor, n_atoms: torch.Tensor
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every stored pair, the skin's included (rebuilt first where needed), as numpy
        arrays for the compiled BPNN path (CPU only), to which a pair beyond the cutoff
        adds exactly nothing, so :meth:`update`'s filter is saved.

        Args: as :meth:`update` (CPU tensors).

        Returns:
            ``(centre [E'], neighbour [E'], offsets [E', 3])``: int64 global atom indices
            sorted by centre, and ``shift @ cell`` in float64 (Å). The list's own arrays:
            do not modify them. :attr:`offsets` is not set.
        """
        self._refresh(positions, cell, pbc, batch, n_atoms)
        edges = self._edges.numpy()
        return edges[0], edges[1], self._offsets_float64

    def _pairs_cpu(self, positions: torch.Tensor
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:func:`_pairs_within` on the current stored pairs (CPU tensors' memory)."""
        positions_np = positions.detach().numpy()
        return _pairs_within(positions_np, self._edges.numpy(), self._offsets.numpy(),
                             self._offsets_float64,
                             positions_np.dtype.type(self.cutoff**2))
