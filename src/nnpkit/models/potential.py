"""The ``Potential`` interface every model family implements."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import torch
from ase.data import atomic_numbers
from torch import nn

from nnpkit.data.graph import AtomicGraph
from nnpkit.data.stats import DatasetStatistics
from nnpkit.errors import UnknownElementError

__all__ = ["Potential"]


class Potential(nn.Module):
    """A machine-learned potential: a graph in, per-atom and total energies out.

    Subclasses set ``kind`` (the registry name) and implement :meth:`atomic_energies`.
    Forces and stress are not computed here: :mod:`nnpkit.derivatives` gets them by
    autograd for every model alike.

    Attributes:
        elements: chemical symbols the model knows, ordered; an atom's element index is
            its position in this list.
        cutoff: interaction range, Å (the neighbour list must include all pairs within).
    """

    kind: ClassVar[str] = ""
    species_of_number: torch.Tensor
    reference_energies: torch.Tensor
    energy_scale: torch.Tensor

    def __init__(self, elements: list[str], cutoff: float) -> None:
        super().__init__()
        self.elements = list(elements)
        self.cutoff = float(cutoff)
        species_of_number = torch.full((119,), -1, dtype=torch.long)
        for k, symbol in enumerate(self.elements):
            species_of_number[atomic_numbers[symbol]] = k
        self.register_buffer("species_of_number", species_of_number, persistent=False)

    def species(self, numbers: torch.Tensor) -> torch.Tensor:
        """Element index [N] of each atom; unknown elements raise UnknownElementError."""
        species = self.species_of_number[numbers]
        if bool((species < 0).any()):
            from ase.data import chemical_symbols

            unknown = sorted({chemical_symbols[int(z)] for z in numbers[species < 0]})
            raise UnknownElementError(
                f"element(s) {', '.join(unknown)} not known to this model; "
                f"the model's elements are {', '.join(self.elements)}")
        return species

    def register_statistics_buffers(self) -> None:
        """Per-element reference energies [S] (eV) and the output scale (eV) as buffers.

        Model families that learn a scaled, shifted per-atom energy call this in their
        constructor and finish ``atomic_energies`` with :meth:`scale_and_shift`.
        """
        self.register_buffer("reference_energies", torch.zeros(len(self.elements)))  # [S]
        self.register_buffer("energy_scale", torch.ones(()))

    def set_statistics(self, statistics: DatasetStatistics) -> None:
        """Take per-element reference energies and the output scale from the dataset."""
        if list(statistics.elements) != self.elements:
            raise ValueError(
                f"statistics are for elements {statistics.elements}, model has {self.elements}")
        self.reference_energies.copy_(torch.tensor(statistics.reference_energies_eV))
        self.energy_scale.fill_(statistics.energy_scale_eV)

    def scale_and_shift(self, raw: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """``raw · energy_scale + reference_energy[species]``: per-atom energies [N], eV."""
        return raw * self.energy_scale + self.reference_energies[species]

    def fit_feature_normalization(self, graphs: Iterable[AtomicGraph]) -> None:
        """Adapt input normalisation to (a sample of) the training graphs; default: none."""

    def atomic_energies(self, graph: AtomicGraph) -> torch.Tensor:
        """Energy of each atom [N], eV. Must be differentiable in positions and cell."""
        raise NotImplementedError

    def forward(self, graph: AtomicGraph) -> dict[str, torch.Tensor]:
        """``{"atomic_energies": [N], "energy": [B]}``, eV."""
        atomic = self.atomic_energies(graph)
        energy = atomic.new_zeros(graph.n_structures).index_add(0, graph.batch, atomic)
        return {"atomic_energies": atomic, "energy": energy}

    def hyperparameters(self) -> dict:
        """JSON-ready constructor arguments, stored in the model file."""
        raise NotImplementedError
