"""The Behler–Parrinello high-dimensional neural network potential.

Each atom's energy is an element-specific MLP of its symmetry-function vector
(standardised with the training set's per-element mean and std); the total energy is
the sum over atoms plus per-element reference energies fitted by least squares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from nnpkit.data.graph import AtomicGraph, edge_vectors
from nnpkit.data.stats import DatasetStatistics
from nnpkit.models.potential import Potential
from nnpkit.nn.mlp import MLP
from nnpkit.nn.symmetry_functions import SymmetryFunctions

__all__ = ["BPNNConfig", "SymmetryFunctionSettings", "BehlerParrinello",
           "fit_descriptor_normalization",
           "descriptor_from_config", "element_network_outputs"]


class SymmetryFunctionSettings(BaseModel):
    """The descriptor settings of the models built on the symmetry functions."""

    model_config = ConfigDict(extra="forbid")

    cutoff_A: float = Field(5.0, gt=0, description="Radial cutoff of the descriptors, Å.")
    angular_cutoff_A: float = Field(
        3.5, gt=0, description="Cutoff of the angular symmetry functions, Å (≤ cutoff_A).")
    n_radial: int = Field(16, ge=1, description="Radial shifts per neighbour element.")
    n_angular_radial: int = Field(4, ge=1, description="Radial shifts of the angular terms.")
    zetas: list[int] = Field([1, 2, 4, 8], description="ζ of the angular terms (λ = ±1 each).")
    activation: Literal["silu", "tanh", "celu", "softplus"] = Field(
        "silu", description="Activation of the element networks.")


class BPNNConfig(SymmetryFunctionSettings):
    """Hyperparameters of the Behler–Parrinello model (``model: {kind: bpnn, ...}``)."""

    kind: Literal["bpnn"] = Field("bpnn", description="Model family.")
    hidden: list[int] = Field([128, 128, 64], description="Hidden layer widths per element.")


def descriptor_from_config(config: SymmetryFunctionSettings, n_elements: int
                           ) -> SymmetryFunctions:
    """The symmetry functions a config describes."""
    if config.angular_cutoff_A > config.cutoff_A:
        raise ValueError("angular_cutoff_A must not exceed cutoff_A")
    return SymmetryFunctions(
        n_elements=n_elements, cutoff_radius=config.cutoff_A,
        angular_cutoff_radius=config.angular_cutoff_A, n_radial=config.n_radial,
        n_angular_radial=config.n_angular_radial, zetas=tuple(config.zetas))


def element_network_outputs(networks: nn.ModuleList, features: torch.Tensor,
                            species: torch.Tensor, n_outputs: int) -> torch.Tensor:
    """Each atom's features [N, F] through its element's network: outputs [N, n_outputs]."""
    outputs = features.new_zeros(features.shape[0], n_outputs)  # [N, n_outputs]
    for s, network in enumerate(networks):
        atoms_of_s = torch.nonzero(species == s).squeeze(1)
        if atoms_of_s.numel():
            outputs = outputs.index_put((atoms_of_s,), network(features[atoms_of_s]))
    return outputs


@torch.no_grad()
def fit_descriptor_normalization(model: Potential, descriptor: SymmetryFunctions,
                                 graphs: Iterable[AtomicGraph]) -> None:
    """Fill ``model.feature_mean`` / ``model.feature_std`` ([S, F]) with the per-element
    mean and std of ``descriptor`` over (a sample of) training graphs; elements absent
    from the sample keep theirs."""
    mean_buffer: torch.Tensor = model.get_buffer("feature_mean")
    std_buffer: torch.Tensor = model.get_buffer("feature_std")
    total = torch.zeros_like(mean_buffer, dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    count = torch.zeros(len(model.elements), dtype=torch.float64)
    for graph in graphs:
        graph = graph.to(device=mean_buffer.device, dtype=torch.float64)
        species = model.species(graph.numbers)
        features = descriptor.double()(species, graph.edge_index, edge_vectors(graph))
        total.index_add_(0, species, features)
        total_sq.index_add_(0, species, features**2)
        count += torch.bincount(species, minlength=len(model.elements)).double()
    descriptor.to(mean_buffer.dtype)
    seen = count > 0
    mean = total[seen] / count[seen, None]
    variance = (total_sq[seen] / count[seen, None] - mean**2).clamp_min(0.0)
    mean_buffer[seen] = mean.to(mean_buffer.dtype)
    # Features that hardly vary (e.g. the shortest radial shift, absent element pairs)
    # get a floor on their scale: dividing by a tiny std would blow up any atom that
    # sits a little outside the training distribution.
    std = variance.sqrt()
    floor = torch.maximum(1e-2 * std.amax(dim=1, keepdim=True), torch.full_like(std, 1e-3))
    std_buffer[seen] = torch.maximum(std, floor).to(std_buffer.dtype)


class BehlerParrinello(Potential):
    """Behler–Parrinello NNP: per-element MLPs on element-resolved ACSF."""

    kind = "bpnn"
    feature_mean: torch.Tensor
    feature_std: torch.Tensor

    def __init__(self, elements: list[str], config: BPNNConfig,
                 statistics: DatasetStatistics | None = None) -> None:
        super().__init__(elements, config.cutoff_A)
        self.config = config
        self.descriptor = descriptor_from_config(config, len(elements))
        n_features = self.descriptor.n_features
        self.element_networks = nn.ModuleList(
            MLP(n_features, config.hidden, 1, config.activation) for _ in elements)
        n = len(elements)
        self.register_buffer("feature_mean", torch.zeros(n, n_features))  # [S, F]
        self.register_buffer("feature_std", torch.ones(n, n_features))  # [S, F]
        self.register_statistics_buffers()
        if statistics is not None:
            self.set_statistics(statistics)

    @torch.no_grad()
    def fit_feature_normalization(self, graphs: Iterable[AtomicGraph]) -> None:
        """Set the per-element feature mean and std from (a sample of) training graphs."""
        fit_descriptor_normalization(self, self.descriptor, graphs)

    def atomic_energies(self, graph: AtomicGraph) -> torch.Tensor:
        """Energy of each atom [N], eV."""
        species = self.species(graph.numbers)  # [N]
        features = self.descriptor(species, graph.edge_index, edge_vectors(graph))  # [N, F]
        return self.energies_from_features(features, species)

    def energies_from_features(self, features: torch.Tensor, species: torch.Tensor
                               ) -> torch.Tensor:
        """Energy of each atom [N] (eV, float64) from its symmetry functions [N, F] (not
        yet normalised) and element indices [N]."""
        features = (features - self.feature_mean[species]) / self.feature_std[species]
        atomic = element_network_outputs(self.element_networks, features, species, 1)
        return self.scale_and_shift(atomic.squeeze(-1), species)  # [N]

    def hyperparameters(self) -> dict:
        """The model config as a JSON-ready dict."""
        return self.config.model_dump()
