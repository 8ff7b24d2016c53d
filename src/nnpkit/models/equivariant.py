"""An E(3)-equivariant message-passing potential built on e3nn (NequIP/MACE-like, compact).

Each atom carries features that are direct sums of irreducible representations of O(3)
(``C×0e + C/2×1o + C/4×2e`` for ``l_max = 2``: scalars, vectors, rank-2 tensors of natural
parity). A layer

1. sends messages ``x_j ⊗ Y(r̂_ij)`` (tensor product of the neighbour's features with the
   spherical harmonics of the edge direction) weighted per path by an MLP of a Bessel radial
   basis, times a smooth polynomial envelope that vanishes with two derivatives at the
   cutoff; the messages are summed over neighbours and divided by the average neighbour
   count of the training set;
2. raises the body order: the aggregated message ``A`` (2-body) is multiplied channel-wise
   with itself (``correlation`` − 1 times), so one layer holds terms up to
   ``correlation + 1``-body (3-body, i.e. angles, for the default ``correlation = 2``);
3. updates the node features through a gated nonlinearity plus an element-dependent
   self-connection (residual).

The atomic energy is read out from the invariant (``0e``) channels of every layer, scaled
by the dataset's energy scale and shifted by per-element reference energies; parity-odd
and directional channels never reach it, so the energy is invariant under rotations,
reflections, translations and permutations. Forces and stress come from autograd in
:mod:`nnpkit.derivatives`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from nnpkit.data.graph import AtomicGraph, edge_vectors
from nnpkit.data.stats import DatasetStatistics
from nnpkit.models.potential import Potential
from nnpkit.nn.mlp import MLP

__all__ = ["EquivariantConfig", "EquivariantPotential"]

_WIGNER_3J_BUFFER = re.compile(r"_w3j_(\d+)_(\d+)_(\d+)")


class EquivariantConfig(BaseModel):
    """Hyperparameters of the equivariant model (``model: {kind: equivariant, ...}``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["equivariant"] = Field("equivariant", description="Model family.")
    cutoff_A: float = Field(5.0, gt=0, description="Radial cutoff of the messages, Å.")
    n_layers: int = Field(2, ge=1, description="Message-passing layers.")
    l_max: int = Field(2, ge=0, le=3, description="Highest angular momentum of the features.")
    n_channels: int = Field(
        32, ge=1, description="Scalar channels; degree l gets max(1, n_channels // 2**l).")
    product_channels: int = Field(
        16, ge=1, description="Channels per degree in the body-order product.")
    correlation: int = Field(
        2, ge=1, le=3, description="Body order of one layer's product (1: messages only).")
    n_radial_basis: int = Field(8, ge=1, description="Bessel functions of the radial basis.")
    envelope_exponent: int = Field(6, ge=2, description="Exponent p of the cutoff envelope.")
    radial_mlp: list[int] = Field([64], description="Hidden widths of the radial MLP.")
    readout_mlp: list[int] = Field([16], description="Hidden widths of the last readout.")


def node_irreps(n_channels: int, l_max: int) -> o3.Irreps:
    """Natural-parity irreps ``C×0e + C/2×1o + C/4×2e + …`` up to ``l_max``."""
    return o3.Irreps(
        [(max(1, n_channels // 2**l), (l, (-1) ** l)) for l in range(l_max + 1)])


class BesselBasis(nn.Module):
    """``sqrt(2) sin(nπr/r_c)/(r/r_c)``, n = 1…K, and the polynomial envelope of DimeNet.

    The basis is made dimensionless (the usual ``sqrt(2/r_c) sin(nπr/r_c)/r`` times r_c)
    so its values are O(1) whatever the cutoff.

    The envelope ``u(r/r_c)`` is 1 at r = 0 and reaches 0 at r_c with vanishing first and
    second derivatives, so energies, forces and their training gradients are continuous.
    """

    frequencies: torch.Tensor

    def __init__(self, cutoff_radius: float, n_basis: int, envelope_exponent: int) -> None:
        super().__init__()
        self.cutoff_radius = float(cutoff_radius)
        self.envelope_exponent = int(envelope_exponent)
        self.register_buffer(
            "frequencies", torch.arange(1, n_basis + 1) * (math.pi / cutoff_radius))  # [K]

    def forward(self, distance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Basis [E, K] and envelope [E] of distances [E], Å."""
        r = distance.unsqueeze(-1)  # [E, 1]
        basis = math.sqrt(2.0) * self.cutoff_radius * torch.sin(self.frequencies * r) / r
        p = self.envelope_exponent
        d = distance / self.cutoff_radius
        envelope = (1.0 - (p + 1) * (p + 2) / 2 * d**p + p * (p + 2) * d ** (p + 1)
                    - p * (p + 1) / 2 * d ** (p + 2))
        envelope = torch.where(d < 1.0, envelope, torch.zeros_like(envelope))
        return basis, envelope


def _message_product(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, irreps_target: o3.Irreps
                     ) -> tuple[o3.TensorProduct, o3.Irreps]:
    """Edge tensor product ``x_j ⊗ Y`` ('uvu': every input channel kept), weights per edge."""
    mid: list[tuple[int, o3.Irrep]] = []
    instructions = []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_edge) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_edge:
                if ir_out in irreps_target:
                    instructions.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    irreps_mid, permutation, _ = o3.Irreps(mid).sort()
    instructions = [(i, j, permutation[k], mode, train) for i, j, k, mode, train in instructions]
    product = o3.TensorProduct(irreps_in, irreps_sh, irreps_mid, instructions,
                               shared_weights=False, internal_weights=False)
    return product, irreps_mid


def _channelwise_product(irreps_a: o3.Irreps, irreps_b: o3.Irreps, irreps_target: o3.Irreps
                         ) -> o3.TensorProduct:
    """Channel-wise ('uuu') weighted product of two uniform-multiplicity features."""
    out: list[tuple[int, o3.Irrep]] = []
    instructions = []
    for i, (mul, ir_a) in enumerate(irreps_a):
        for j, (_, ir_b) in enumerate(irreps_b):
            for ir_out in ir_a * ir_b:
                if ir_out in irreps_target:
                    instructions.append((i, j, len(out), "uuu", True))
                    out.append((mul, ir_out))
    irreps_out, permutation, _ = o3.Irreps(out).sort()
    instructions = [(i, j, permutation[k], mode, train) for i, j, k, mode, train in instructions]
    return o3.TensorProduct(irreps_a, irreps_b, irreps_out, instructions)


def _normalized_mlp(in_features: int, hidden: list[int], out_features: int) -> MLP:
    """An MLP initialised so that O(1) inputs give O(1) outputs (as e3nn's networks do).

    PyTorch's default initialisation shrinks the output about threefold per layer; the
    tensor-product weights it feeds are meant to be O(1) so that messages are too.
    """
    network = MLP(in_features, hidden, out_features)
    linears = [module for module in network if isinstance(module, nn.Linear)]
    for index, linear in enumerate(linears):
        gain = 1.0 if index == len(linears) - 1 else 2.0
        nn.init.normal_(linear.weight, std=math.sqrt(gain / linear.in_features))
        nn.init.zeros_(linear.bias)
    return network


class InteractionLayer(nn.Module):
    """One message-passing layer: edge messages, body-order product, gated update."""

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, irreps_sh: o3.Irreps,
                 n_elements: int, config: EquivariantConfig) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = irreps_in, irreps_out
        hidden = node_irreps(config.n_channels, config.l_max)
        self.linear_up = o3.Linear(irreps_in, irreps_in)
        self.message, irreps_mid = _message_product(irreps_in, irreps_sh, hidden)
        self.radial = _normalized_mlp(config.n_radial_basis, config.radial_mlp,
                                      self.message.weight_numel)
        self.linear_message = o3.Linear(irreps_mid, hidden)
        # Body order: A ⊗ A (⊗ A …) channel-wise on a uniform-multiplicity projection.
        uniform = o3.Irreps([(config.product_channels, ir) for _, ir in hidden])
        target = o3.Irreps([(1, ir) for _, ir in irreps_out])
        self.project_message = o3.Linear(hidden, uniform)
        self.project_left = nn.ModuleList()
        self.products = nn.ModuleList()
        self.linear_products = nn.ModuleList()
        irreps_left = uniform
        for order in range(2, config.correlation + 1):
            self.project_left.append(o3.Linear(irreps_left, uniform))
            last = order == config.correlation
            product = _channelwise_product(uniform, uniform, target if last else uniform)
            self.products.append(product)
            self.linear_products.append(o3.Linear(product.irreps_out, hidden))
            irreps_left = product.irreps_out
        # Gated update to irreps_out: scalars through SiLU, l > 0 multiplied by sigmoid gates.
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
        gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
        if gated.num_irreps:
            self.gate: nn.Module = e3nn_nn.Gate(scalars, [torch.nn.functional.silu], gates,
                                                [torch.sigmoid], gated)
            irreps_gate_in = self.gate.irreps_in
        else:
            self.gate = nn.SiLU()
            irreps_gate_in = scalars
        self.linear_gate = o3.Linear(hidden, irreps_gate_in)
        self.self_connection = o3.FullyConnectedTensorProduct(
            irreps_in, o3.Irreps(f"{n_elements}x0e"), irreps_out)

    def forward(self, features: torch.Tensor, element_one_hot: torch.Tensor,
                edge_index: torch.Tensor, edge_sh: torch.Tensor, edge_radial: torch.Tensor,
                edge_envelope: torch.Tensor, inverse_neighbors: torch.Tensor) -> torch.Tensor:
        """Node features [N, irreps_in.dim] → [N, irreps_out.dim]."""
        centre, neighbour = edge_index
        x = self.linear_up(features)  # [N, irreps_in]
        weights = self.radial(edge_radial) * edge_envelope.unsqueeze(-1)  # [E, weight_numel]
        messages = self.message(x[neighbour], edge_sh, weights)  # [E, irreps_mid]
        aggregated = messages.new_zeros(x.shape[0], messages.shape[1]).index_add(
            0, centre, messages) * inverse_neighbors  # [N, irreps_mid]
        message = self.linear_message(aggregated)  # [N, hidden], 2-body
        update = message
        right = self.project_message(message)  # [N, uniform]
        left = right
        for project, product, linear in zip(
                self.project_left, self.products, self.linear_products, strict=True):
            left = product(project(left), right)  # one body order more
            update = update + linear(left)
        return self.gate(self.linear_gate(update)) + self.self_connection(
            features, element_one_hot)


def _wigner_3j_buffers(module: nn.Module) -> Iterator[tuple[nn.Module, str, tuple[int, ...]]]:
    """The Wigner-3j constants e3nn's tensor products hold as buffers: (owner, name, ls)."""
    for owner in module.modules():
        for name, _ in owner.named_buffers(recurse=False):
            match = _WIGNER_3J_BUFFER.fullmatch(name)
            if match:
                yield owner, name, tuple(int(l) for l in match.groups())


class EquivariantPotential(Potential):
    """E(3)-equivariant message-passing NNP (e3nn): invariant energy from equivariant features."""

    kind = "equivariant"
    avg_num_neighbors: torch.Tensor

    def __init__(self, elements: list[str], config: EquivariantConfig,
                 statistics: DatasetStatistics | None = None) -> None:
        super().__init__(elements, config.cutoff_A)
        self.config = config
        n_elements = len(elements)
        self.irreps_sh = o3.Irreps.spherical_harmonics(config.l_max)
        self.spherical_harmonics = o3.SphericalHarmonics(
            self.irreps_sh, normalize=True, normalization="component")
        self.radial_basis = BesselBasis(config.cutoff_A, config.n_radial_basis,
                                        config.envelope_exponent)
        scalars = o3.Irreps(f"{config.n_channels}x0e")
        self.embedding = o3.Linear(o3.Irreps(f"{n_elements}x0e"), scalars)
        hidden = node_irreps(config.n_channels, config.l_max)
        self.layers = nn.ModuleList()
        self.readouts = nn.ModuleList()
        irreps = scalars
        for index in range(config.n_layers):
            last = index == config.n_layers - 1
            irreps_out = scalars if last else hidden
            self.layers.append(InteractionLayer(irreps, irreps_out, self.irreps_sh, n_elements,
                                                config))
            # the scalars (0e) come first in the sorted irreps: the readout sees only them
            self.readouts.append(
                MLP(config.n_channels, config.readout_mlp, 1) if last
                else nn.Linear(config.n_channels, 1))
            irreps = irreps_out
        self.register_buffer("avg_num_neighbors", torch.ones(()))
        self.register_statistics_buffers()
        # e3nn computes its Wigner-3j constants in the default dtype when a module is built;
        # cast to float64 later they would keep float32 rounding and break equivariance at
        # ~1e-8. They are recomputed exactly in the current dtype whenever the model is cast
        # or moved (see _apply) and after a state dict (maybe of a float32 model) is loaded.
        self._refresh_wigner_3j()
        self.register_load_state_dict_post_hook(
            lambda module, incompatible_keys: module._refresh_wigner_3j())
        if statistics is not None:
            self.set_statistics(statistics)

    @torch.no_grad()
    def _refresh_wigner_3j(self) -> None:
        """Set every Wigner-3j buffer to its exact value in the buffer's dtype."""
        for owner, name, (l1, l2, l3) in _wigner_3j_buffers(self):
            buffer = owner._buffers[name]
            assert buffer is not None
            buffer.copy_(o3.wigner_3j(l1, l2, l3, dtype=buffer.dtype, device=buffer.device))

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True
               ) -> EquivariantPotential:
        """Cast or move (``.to``, ``.double()``, …), then recompute the exact constants."""
        super()._apply(fn, recurse)
        self._refresh_wigner_3j()
        return self

    @torch.no_grad()
    def fit_feature_normalization(self, graphs: Iterable[AtomicGraph]) -> None:
        """Set the average neighbour count (messages are divided by it) from training graphs."""
        n_edges, n_atoms = 0, 0
        for graph in graphs:
            n_edges += int(graph.edge_index.shape[1])
            n_atoms += int(graph.numbers.shape[0])
        if n_atoms:
            self.avg_num_neighbors.fill_(max(n_edges / n_atoms, 1.0))

    def atomic_energies(self, graph: AtomicGraph) -> torch.Tensor:
        """Energy of each atom [N], eV."""
        species = self.species(graph.numbers)  # [N]
        vectors = edge_vectors(graph)  # [E, 3]
        distance = vectors.norm(dim=-1)  # [E]
        edge_sh = self.spherical_harmonics(vectors)  # [E, irreps_sh.dim]
        edge_radial, edge_envelope = self.radial_basis(distance)  # [E, K], [E]
        one_hot = nn.functional.one_hot(species, len(self.elements)).to(vectors.dtype)  # [N, S]
        features = self.embedding(one_hot)  # [N, C]
        inverse_neighbors = 1.0 / self.avg_num_neighbors
        n_channels = self.config.n_channels
        atomic = vectors.new_zeros(species.shape[0])  # [N]
        for layer, readout in zip(self.layers, self.readouts, strict=True):
            features = layer(features, one_hot, graph.edge_index, edge_sh, edge_radial,
                             edge_envelope, inverse_neighbors)
            atomic = atomic + readout(features[:, :n_channels]).squeeze(-1)
        return self.scale_and_shift(atomic, species)

    def hyperparameters(self) -> dict:
        """The model config as a JSON-ready dict."""
        return self.config.model_dump()
