"""The equivariant model for inference in a few dense operations instead of e3nn's many.

A trained :class:`~nnpkit.models.equivariant.EquivariantPotential` evaluates through e3nn
modules that issue one small operation (slice, reshape, einsum) per irrep block and per
tensor-product path: ~1,700 operations forward and ~3× that backward for ethanol, so on a
small molecule the time is per-operation overhead, not arithmetic. With the weights
frozen, every piece of a layer is a fixed linear or bilinear map, read off once by
evaluating the e3nn module on basis vectors (in float64, so the maps are exact to
rounding):

* each ``o3.Linear`` (and the self-connection for each element) is a dense matrix, and
  consecutive linear maps are multiplied together;
* the edge tensor product ``x_j ⊗ Y(r̂)`` with per-edge path weights is, for each input
  degree, ``x_j`` (channels × components) times a coupling matrix contracted with the
  spherical harmonics: one matrix product for all edges and one batched product per degree;
  the path weights come straight out of the radial network, whose last layer is expanded to
  one weight per output column;
* the channel-wise body-order product is one coupling tensor per channel.

Column orders are chosen so that no tensor is permuted between steps. Forces and stress
still come from autograd (:mod:`nnpkit.derivatives`), now through a graph of ~150
operations. The result equals the e3nn evaluation to float rounding (tests compare them).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, cast

import torch
from e3nn import o3
from torch import nn

from nnpkit.data.graph import AtomicGraph, edge_vectors
from nnpkit.models.equivariant import EquivariantPotential, InteractionLayer
from nnpkit.models.potential import Potential

__all__ = ["FusedEquivariant", "fused_for_inference"]


def _dense(linear: Any) -> torch.Tensor:
    """Matrix [dim_in, dim_out] of an e3nn linear map (float64 module), rows = input basis."""
    return linear(torch.eye(linear.irreps_in.dim, dtype=torch.float64))


def _channel_major(irreps: o3.Irreps) -> torch.Tensor:
    """e3nn column of (channel u, component c) [U·D] for irreps of one multiplicity U.

    e3nn stores each block (U copies of one irrep of dimension d) as [U, d]; this order
    puts the D = Σd components of all blocks of channel u together.
    """
    mul = irreps[0].mul
    columns = [[offset.start + u * ir.dim + c for offset, (_, ir) in zip(
        irreps.slices(), irreps, strict=True) for c in range(ir.dim)] for u in range(mul)]
    return torch.tensor(columns).flatten()


def _constants(tensors: list[torch.Tensor]) -> nn.ParameterList:
    """Frozen tensors that follow the module's dtype and device."""
    return nn.ParameterList([nn.Parameter(t, requires_grad=False) for t in tensors])


@dataclass(frozen=True)
class _Group:
    """Edge messages from one input block: channels, component count, output columns."""

    start: int  # first column of the block in the layer's input layout
    channels: int  # m
    dim: int  # d of the block's irrep
    width: int  # K: output components per channel, over the block's paths


class FusedLayer(nn.Module):
    """One :class:`~nnpkit.models.equivariant.InteractionLayer` as dense maps."""

    input_maps: torch.Tensor  # [dim_in, dim_in + S·dim_out]: linear_up | self-connections
    sh_coupling: torch.Tensor  # [n_sh, Σ d·K]
    radial_weight: torch.Tensor  # [hidden, Σ m·K]
    radial_bias: torch.Tensor  # [Σ m·K]
    message_map: torch.Tensor  # [Σ m·K, hidden irreps]
    projection: torch.Tensor  # [hidden irreps, U·D (·2)]: right (and first left) inputs
    gate_map: torch.Tensor  # [hidden irreps, gate inputs]
    gate_of_column: torch.Tensor  # [gated dim] gate index of each gated column

    def __init__(self, layer: InteractionLayer, n_elements: int, irreps_sh: o3.Irreps,
                 inverse_neighbors: float) -> None:
        super().__init__()
        dim_in, dim_out = layer.irreps_in.dim, layer.irreps_out.dim
        self.n_elements, self.dim_out = n_elements, dim_out
        eye = torch.eye(dim_in, dtype=torch.float64)
        self_connection = torch.cat([layer.self_connection(eye, nn.functional.one_hot(
            torch.full((dim_in,), s), n_elements).double()) for s in range(n_elements)], 1)
        up = _dense(layer.linear_up)
        self.split = up.shape[1]
        self.register_buffer("input_maps", torch.cat([up, self_connection], dim=1))
        self._message_maps(layer, irreps_sh, inverse_neighbors)
        self._product_maps(layer)
        self._gate(layer)

    def _message_maps(self, layer: InteractionLayer, irreps_sh: o3.Irreps,
                      inverse_neighbors: float) -> None:
        """Coupling of each input block with Y, radial weights per column, message map."""
        product, irreps_in = layer.message, layer.irreps_in
        weight_start = [0]
        for instruction in product.instructions:
            weight_start.append(weight_start[-1] + instruction.path_shape[0])
        mid_slices = product.irreps_out.slices()
        groups, couplings, columns, weight_index = [], [], [], []
        for block, (block_slice, (mul, ir)) in enumerate(
                zip(irreps_in.slices(), irreps_in, strict=True)):
            paths = [(k, ins) for k, ins in enumerate(product.instructions) if ins.i_in1 == block]
            if not paths:
                continue
            # probe channel 0 of the block with every (component i, harmonic j) pair
            n_sh = irreps_sh.dim
            x = torch.zeros(ir.dim * n_sh, irreps_in.dim, dtype=torch.float64)
            y = torch.zeros(ir.dim * n_sh, n_sh, dtype=torch.float64)
            for i in range(ir.dim):
                for j in range(n_sh):
                    x[i * n_sh + j, block_slice.start + i] = 1.0
                    y[i * n_sh + j, j] = 1.0
            out = product(x, y, torch.ones(x.shape[0], product.weight_numel,
                                           dtype=torch.float64))
            own = [mid_slices[ins.i_out].start + c for _, ins in paths
                   for c in range(product.irreps_out[ins.i_out].ir.dim)]
            width = len(own)
            coupling = out[:, own].reshape(ir.dim, n_sh, width)  # [d, n_sh, K]
            couplings.append(coupling.permute(1, 0, 2).reshape(n_sh, ir.dim * width))
            for u in range(mul):
                for k, ins in paths:
                    d_out = product.irreps_out[ins.i_out].ir.dim
                    columns += [mid_slices[ins.i_out].start + u * d_out + c
                                for c in range(d_out)]
                    weight_index += [weight_start[k] + u] * d_out
            groups.append(_Group(block_slice.start, mul, ir.dim, width))
        self.groups = groups
        self.register_buffer("sh_coupling", torch.cat(couplings, dim=1))
        linears = [module for module in layer.radial if isinstance(module, nn.Linear)]
        last = linears[-1]
        index = torch.tensor(weight_index)
        self.radial_hidden = nn.Sequential(*copy.deepcopy(list(layer.radial)[:-1]))
        self.register_buffer("radial_weight", last.weight.detach()[index].T.contiguous())
        self.register_buffer("radial_bias", last.bias.detach()[index].clone())
        message = _dense(layer.linear_message)
        self.register_buffer("message_map",
                             message[torch.tensor(columns)] * inverse_neighbors)

    def _product_maps(self, layer: InteractionLayer) -> None:
        """Right/left projections, one coupling tensor per order, maps to the update."""
        uniform = layer.project_message.irreps_out
        self.channels, self.components = uniform[0].mul, uniform.dim // uniform[0].mul
        order = _channel_major(uniform)
        right = _dense(layer.project_message)
        projections = [right[:, order]]
        previous = right  # message → the e3nn input of the next left projection
        couplings: list[torch.Tensor] = []
        to_update: list[torch.Tensor] = []
        left_maps: list[torch.Tensor] = []
        stages: list[tuple[Any, Any, Any]] = list(zip(
            layer.project_left, layer.products, layer.linear_products, strict=True))
        for index, (project, product, linear) in enumerate(stages):
            left = (previous @ _dense(project))[:, order]
            (projections if index == 0 else left_maps).append(left)
            coupling, own = self._channelwise(product, order)
            couplings.append(coupling)
            to_update.append(_dense(linear)[own])
            # this product's output, in (channel, component) order, as the next input
            previous = torch.eye(product.irreps_out.dim, dtype=torch.float64)[own]
        self.register_buffer("projection", torch.cat(projections, dim=1))
        self.couplings = _constants(couplings)
        self.to_update = _constants(to_update)
        self.left_maps = _constants(left_maps)

    def _channelwise(self, product: Any, order: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Coupling [U, D·D, K] of a 'uuu' product and its output columns (u, k) [U·K]."""
        channels, components = self.channels, self.components
        n = channels * components * components
        left = torch.zeros(n, product.irreps_in1.dim, dtype=torch.float64)
        right = torch.zeros(n, product.irreps_in2.dim, dtype=torch.float64)
        rows = torch.arange(n)
        u, rest = rows // (components * components), rows % (components * components)
        left[rows, order[u * components + rest // components]] = 1.0
        right[rows, order[u * components + rest % components]] = 1.0
        out = product(left, right)  # [n, out]
        own = _channel_major(product.irreps_out).reshape(channels, -1)  # [U, K]
        coupling = torch.stack([out[u * components**2:(u + 1) * components**2, own[u]]
                                for u in range(channels)])
        return coupling, own.flatten()

    def _gate(self, layer: InteractionLayer) -> None:
        """Normalised activations of the gate as constants and the gate of each column."""
        self.dim_gate_in = layer.linear_gate.irreps_out.dim
        self.register_buffer("gate_map", _dense(layer.linear_gate))
        gate: Any = layer.gate
        if isinstance(gate, nn.SiLU):
            self.n_scalars, self.n_gates = self.dim_gate_in, 0
            self.scalar_scale = self.gate_scale = 1.0
            self.register_buffer("gate_of_column", torch.zeros(0, dtype=torch.long))
            return
        self.n_scalars, self.n_gates = gate.irreps_scalars.dim, gate.irreps_gates.dim
        one = torch.ones(1, dtype=torch.float64)
        self.scalar_scale = float(gate.act_scalars(one.expand(self.n_scalars))[0]
                                  / nn.functional.silu(one))
        self.gate_scale = float(gate.act_gates(one.expand(self.n_gates))[0] / torch.sigmoid(one))
        gated = gate.irreps_gated
        ones = torch.ones(1, gated.dim, dtype=torch.float64)
        if not torch.equal(gate.mul(ones, torch.ones(1, self.n_gates, dtype=torch.float64)),
                           ones):
            raise NotImplementedError("gate product is not the plain elementwise product")
        self.register_buffer("gate_of_column", torch.tensor(
            [instance for instance, ir in enumerate(
                ir for mul, ir in gated for _ in range(mul)) for _ in range(ir.dim)]))

    def forward(self, features: torch.Tensor, one_hot: torch.Tensor, centre: torch.Tensor,
                neighbour: torch.Tensor, edge_sh: torch.Tensor, radial: torch.Tensor,
                envelope: torch.Tensor) -> torch.Tensor:
        """Node features [N, irreps_in.dim] → [N, irreps_out.dim] (e3nn layout)."""
        n_atoms, n_edges = features.shape[0], edge_sh.shape[0]
        mapped = features @ self.input_maps
        x = mapped[:, :self.split][neighbour]  # [E, dim_in]
        self_connection = torch.einsum("nsd,ns->nd", mapped[:, self.split:].reshape(
            n_atoms, self.n_elements, self.dim_out), one_hot)
        # the messages are linear in Y: the envelope goes on the 9 harmonics, not on the
        # hundreds of path weights of each edge
        coupled = (edge_sh * envelope.unsqueeze(-1)) @ self.sh_coupling  # [E, Σ d·K]
        parts, start = [], 0
        for group in self.groups:
            size = group.dim * group.width
            block = x[:, group.start:group.start + group.channels * group.dim].reshape(
                n_edges, group.channels, group.dim)
            coupling = coupled[:, start:start + size].reshape(n_edges, group.dim, group.width)
            # scalars (d = 1): an outer product, which bmm does several times slower
            parts.append((block * coupling if group.dim == 1 else torch.bmm(block, coupling)
                          ).reshape(n_edges, -1))
            start += size
        weights = torch.addmm(self.radial_bias, self.radial_hidden(radial), self.radial_weight)
        messages = torch.cat(parts, dim=1) * weights  # [E, Σ m·K]
        aggregated = messages.new_zeros(n_atoms, messages.shape[1]).index_add(0, centre, messages)
        message = aggregated @ self.message_map  # [N, hidden]
        update = message
        size = self.channels * self.components
        projected = message @ self.projection
        right = projected[:, :size].reshape(n_atoms, self.channels, 1, self.components)
        left = projected[:, size:2 * size] if len(self.couplings) else None
        for order, coupling in enumerate(self.couplings):
            assert left is not None
            outer = (left.reshape(n_atoms, self.channels, self.components, 1) * right
                     ).reshape(n_atoms, self.channels, -1)
            product = torch.einsum("nua,uak->nuk", outer, coupling).reshape(n_atoms, -1)
            update = update + product @ self.to_update[order]
            if order + 1 < len(self.couplings):
                left = product @ self.left_maps[order]
        gate_in = update @ self.gate_map
        if not self.n_gates:
            return nn.functional.silu(gate_in) + self_connection
        scalars = nn.functional.silu(gate_in[:, :self.n_scalars]) * self.scalar_scale
        gates = torch.sigmoid(gate_in[:, self.n_scalars:self.n_scalars + self.n_gates])
        gated = gate_in[:, self.n_scalars + self.n_gates:] * (
            gates[:, self.gate_of_column] * self.gate_scale)
        return torch.cat([scalars, gated], dim=1) + self_connection


class FusedEquivariant(Potential):
    """Frozen copy of an :class:`EquivariantPotential` in dense maps, for inference.

    Energies, forces (by autograd) and stress equal the model's to float rounding. The
    calculators and the batched MD engine make one with :func:`fused_for_inference`; its
    tensors are constants (no training through it; save the source model, not this).
    """

    kind = "equivariant"
    is_inference_form = True
    embedding: torch.Tensor  # [S, C]: element one-hot → initial scalars

    def __init__(self, model: EquivariantPotential) -> None:
        super().__init__(list(model.elements), model.cutoff)
        # read off on the CPU in float64, then moved to the model's device and precision
        source = copy.deepcopy(model).to(device="cpu", dtype=torch.float64)
        self.config = source.config
        self.register_statistics_buffers()
        self.reference_energies.copy_(source.reference_energies)
        self.energy_scale.copy_(source.energy_scale)
        self.spherical_harmonics = source.spherical_harmonics
        self.radial_basis = source.radial_basis
        n_elements = len(self.elements)
        with torch.no_grad():
            self.register_buffer("embedding", _dense(source.embedding))
            inverse = float(1.0 / source.avg_num_neighbors)
            self.layers = nn.ModuleList([
                FusedLayer(cast(InteractionLayer, layer), n_elements, source.irreps_sh, inverse)
                for layer in source.layers])
        self.readouts = source.readouts
        self.metadata = dict(model.metadata)
        dtype = next(model.parameters()).dtype
        self.to(device=model.energy_scale.device, dtype=dtype)
        for parameter in self.parameters():
            parameter.requires_grad_(False)

    def atomic_energies(self, graph: AtomicGraph) -> torch.Tensor:
        """Energy of each atom [N], eV (as :meth:`EquivariantPotential.atomic_energies`)."""
        species = self.species(graph.numbers)  # [N]
        vectors = edge_vectors(graph)  # [E, 3]
        edge_sh = self.spherical_harmonics(vectors)  # [E, n_sh]
        radial, envelope = self.radial_basis(vectors.norm(dim=-1))  # [E, K], [E]
        one_hot = nn.functional.one_hot(species, len(self.elements)).to(vectors.dtype)
        features = one_hot @ self.embedding
        centre, neighbour = graph.edge_index
        n_channels = self.config.n_channels
        atomic = vectors.new_zeros(species.shape[0])
        for layer, readout in zip(self.layers, self.readouts, strict=True):
            features = layer(features, one_hot, centre, neighbour, edge_sh, radial, envelope)
            atomic = atomic + readout(features[:, :n_channels]).squeeze(-1)
        return self.scale_and_shift(atomic, species)

    def hyperparameters(self) -> dict:
        """The source model's config (a fused copy is not saved: save the model)."""
        return self.config.model_dump()


def fused_for_inference(model: Potential) -> Potential:
    """The fastest exact inference form of a frozen model.

    An :class:`EquivariantPotential` becomes a :class:`FusedEquivariant` (and so does
    each equivariant member of a :class:`~nnpkit.models.committee.Committee`); any other
    model is returned as it is.
    """
    from nnpkit.models.committee import Committee

    if type(model) is EquivariantPotential:
        return FusedEquivariant(model)
    if type(model) is Committee and any(
            type(member) is EquivariantPotential for member in model.potentials):
        committee = Committee([fused_for_inference(member) for member in model.potentials],
                              model.sources)
        committee.metadata = dict(model.metadata)
        return committee
    return model
