"""Symmetry functions and their derivatives computed once, for training Behler–Parrinello
models.

A :class:`~nnpkit.models.bpnn.BehlerParrinello` descriptor has no trainable parameters, so
the features G [N, F] of a training structure and their derivatives with respect to its
edge vectors are the same in every epoch. :func:`precompute_descriptor` computes them once
per structure; :func:`predict_from_descriptor` then gives a batch's energies, forces and
stress from the networks alone:

    E = Σ_i E_i(G_i),   ∂E/∂v_e = Σ_f ∂E/∂G_{c(e)f} · J_{e f},   J_{e f} = ∂G_{c(e)f}/∂v_e,

where v_e is edge e's centre → neighbour vector and c(e) its centre (an edge changes only
its centre's features). Forces are F_c += ∂E/∂v_e, F_n −= ∂E/∂v_e; the virial is
Σ_e v_e ⊗ ∂E/∂v_e. The per-epoch cost is the networks (forward, ∂E/∂G and the backward
pass of the loss) and one contraction per edge, instead of the descriptor, its gradient
and the gradient of that gradient. The numbers are those of
:func:`~nnpkit.derivatives.compute_properties` (``tests/test_training_precomputed.py``).

Memory: E·F·3 numbers per structure (ethanol at the default settings: 72 edges × 240
features × 3, 0.2 MB in float32); :func:`descriptor_bytes` says how much before computing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from nnpkit.data.graph import AtomicGraph
from nnpkit.errors import ConfigError
from nnpkit.models.bpnn import BehlerParrinello
from nnpkit.models.bpnn_fast import FastBehlerParrinello, pair_geometry
from nnpkit.models.potential import Potential

__all__ = ["DescriptorTerms", "descriptor_bytes", "precompute_descriptor",
           "predict_from_descriptor", "collate_terms", "terms_for_training",
           "AUTO_LIMIT_BYTES"]

#: ``training.precompute_descriptors: null`` precomputes only up to this many bytes.
AUTO_LIMIT_BYTES = 2 * 1024 ** 3


@dataclass(frozen=True)
class DescriptorTerms:
    """The fixed descriptor terms of one structure (or a batch, see :func:`collate_terms`)."""

    features: torch.Tensor  # [N, F], the symmetry functions (not normalised)
    jacobian: torch.Tensor  # [E, F, 3], ∂G_{c(e) f}/∂v_e
    vectors: torch.Tensor  # [E, 3], Å, the edge vectors (for the virial)


def descriptor_bytes(model: BehlerParrinello, graphs: Sequence[AtomicGraph]) -> int:
    """Bytes the terms of ``graphs`` take in the graphs' precision."""
    n_features = model.descriptor.n_features
    total = 0
    for graph in graphs:
        n_edges, n_atoms = graph.edge_index.shape[1], graph.positions.shape[0]
        total += (n_edges * (3 * n_features + 3) + n_atoms * n_features) * \
            graph.positions.element_size()
    return total


def precompute_descriptor(model: BehlerParrinello, graph: AtomicGraph,
                          compiled: FastBehlerParrinello | None = None) -> DescriptorTerms:
    """Features [N, F] and their Jacobian [E, F, 3] with respect to the edge vectors of one
    graph, in the graph's precision.

    Computed in float64 by the compiled kernels (:mod:`nnpkit.models.bpnn_kernels`): column
    f of the Jacobian is the backward pass of ∂E/∂G = 1 on feature f of every atom, since
    an edge moves only its centre's features (F passes of the kernel, ~10 ms for ethanol
    at the default 240 features). ``compiled``: the model's compiled copy, to reuse over
    many graphs.
    """
    from nnpkit.models.bpnn_kernels import acsf_backward

    compiled = compiled or FastBehlerParrinello(model)
    model.species(graph.numbers)  # unknown elements: the model's error
    centre, neighbour = (index.cpu().numpy() for index in graph.edge_index)
    order = np.argsort(centre, kind="stable")  # the kernels group the edges by centre
    cell = graph.cell[0].detach().cpu().double().numpy()  # [3, 3]
    pairs = pair_geometry(graph.positions.shape[0], graph.positions.detach().cpu().double().numpy(),
                          cell, centre[order], neighbour[order],
                          graph.cell_shifts.detach().cpu().double().numpy()[order])
    _, arguments, features = compiled.features(graph.numbers.cpu().numpy(), pairs)
    n_features = features.shape[1]
    jacobian = np.empty((len(order), n_features, 3))  # [E, F, 3], the graph's edge order
    selector = np.zeros_like(features)  # [N, F]
    for f in range(n_features):
        selector[:, f] = 1.0
        jacobian[order, f] = acsf_backward(selector, *arguments)
        selector[:, f] = 0.0
    vectors = np.empty_like(pairs.vectors)
    vectors[order] = pairs.vectors

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=graph.positions.dtype, device=graph.positions.device)

    return DescriptorTerms(features=tensor(features), jacobian=tensor(jacobian),
                           vectors=tensor(vectors))


def collate_terms(terms: Sequence[DescriptorTerms]) -> DescriptorTerms:
    """The terms of several structures in the atom and edge order of
    :func:`~nnpkit.data.graph.collate` of their graphs."""
    return DescriptorTerms(features=torch.cat([t.features for t in terms]),
                           jacobian=torch.cat([t.jacobian for t in terms]),
                           vectors=torch.cat([t.vectors for t in terms]))


def predict_from_descriptor(model: BehlerParrinello, batch: AtomicGraph,
                            terms: DescriptorTerms, stress: bool = False
                            ) -> dict[str, torch.Tensor]:
    """What :func:`~nnpkit.derivatives.compute_properties` gives with ``forces=True`` and
    ``create_graph=True`` (differentiable in the parameters), from the batch's terms.

    Returns:
        ``energy`` [B] (eV, float64), ``atomic_energies`` [N] (eV), ``forces`` [N, 3]
        (eV/Å) and, with ``stress``, ``stress`` [B, 3, 3] (eV/Å³, ASE's sign; NaN for
        structures that are not fully periodic).
    """
    species = model.species(batch.numbers)
    features = terms.features.detach().requires_grad_(True)  # [N, F]
    atomic = model.energies_from_features(features, species)  # [N], float64
    energy = atomic.new_zeros(batch.n_structures).index_add(0, batch.batch, atomic)  # [B]
    (feature_grad,) = torch.autograd.grad(atomic.sum(), features, create_graph=True)
    centre, neighbour = batch.edge_index
    edge_grad = torch.einsum("efc,ef->ec", terms.jacobian, feature_grad[centre])  # [E, 3]
    forces = torch.zeros_like(batch.positions).index_add(0, centre, edge_grad).index_add(
        0, neighbour, -edge_grad)  # [N, 3]
    result = {"energy": energy, "atomic_energies": atomic, "forces": forces}
    if stress:
        per_edge = terms.vectors[:, :, None] * edge_grad[:, None, :]  # [E, 3, 3]
        virial = per_edge.new_zeros(batch.n_structures, 3, 3).index_add(
            0, batch.batch[centre], per_edge)  # [B, 3, 3]
        virial = 0.5 * (virial + virial.transpose(1, 2))
        periodic = batch.pbc.all(dim=1)[:, None, None]  # [B, 1, 1]
        volume = torch.abs(torch.linalg.det(batch.cell))[:, None, None]
        safe_volume = torch.where(periodic, volume, torch.ones_like(volume))
        result["stress"] = torch.where(periodic, virial / safe_volume,
                                       torch.full_like(virial, float("nan")))
    return result


def terms_for_training(model: Potential, graphs: Sequence[AtomicGraph], wanted: bool | None,
                       obstacle: str = "", progress: bool = True
                       ) -> list[DescriptorTerms] | None:
    """The terms of every training graph, or None to train through the descriptor.

    Args:
        model: the model being trained (only a plain BPNN has a fixed descriptor).
        graphs: the training graphs, in the model's precision and on its device.
        wanted: ``training.precompute_descriptors`` (None: where possible and at most
            :data:`AUTO_LIMIT_BYTES`; True: required; False: never).
        obstacle: why the run cannot use them ("" if nothing else stands in the way),
            e.g. distributed training or a response loss term.
        progress: show a progress bar.

    Raises:
        ConfigError: ``wanted`` is True but the model or the run cannot use them.
    """
    if wanted is False:
        return None
    if not obstacle and type(model) is not BehlerParrinello:
        obstacle = f"model kind {model.kind!r} has no fixed descriptor"
    if obstacle:
        if wanted:
            raise ConfigError(f"training.precompute_descriptors is true, but {obstacle}")
        return None
    assert isinstance(model, BehlerParrinello)
    size = descriptor_bytes(model, graphs)
    if wanted is None and size > AUTO_LIMIT_BYTES:
        tqdm.write(f"nnpkit: descriptors not precomputed: they would take {size / 2**30:.1f} "
                   f"GiB (set training.precompute_descriptors: true to force)", file=sys.stderr)
        return None
    compiled = FastBehlerParrinello(model)
    return [precompute_descriptor(model, graph, compiled)
            for graph in tqdm(graphs, desc="descriptors", unit="structure",
                              disable=not progress, leave=False)]
