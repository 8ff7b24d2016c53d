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
    #: whether the energy depends on ``graph.field`` (and ``graph.charge``): only such
    #: models have dipoles, polarizabilities and Born charges (:mod:`nnpkit.derivatives`)
    responds_to_field: ClassVar[bool] = False
    #: a frozen form made for fast inference by autograd (e.g. the fused equivariant
    #: model), which needs no compiled path
    is_inference_form: ClassVar[bool] = False
    metadata: dict
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
        self.metadata = {}

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
        constructor and finish ``atomic_energies`` with :meth:`scale_and_shift`. The
        reference energies stay float64 whatever the model's precision (see
        :meth:`_apply`): all-electron references reach 10^5 eV per structure, where
        float32 resolves only ~0.02 eV.
        """
        self.register_buffer("reference_energies",
                             torch.zeros(len(self.elements), dtype=torch.float64))  # [S]
        self.register_buffer("energy_scale", torch.ones(()))

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]  # torch's signature
        """``.to()``, ``.float()``, ``.cuda()``…, keeping ``reference_energies`` float64."""
        reference = self._buffers.get("reference_energies")
        super()._apply(fn, recurse)
        if reference is not None:
            moved = self._buffers["reference_energies"]
            assert moved is not None
            self._buffers["reference_energies"] = reference.to(device=moved.device,
                                                               dtype=torch.float64)
        return self

    def set_statistics(self, statistics: DatasetStatistics) -> None:
        """Take per-element reference energies and the output scale from the dataset."""
        if list(statistics.elements) != self.elements:
            raise ValueError(
                f"statistics are for elements {statistics.elements}, model has {self.elements}")
        self.reference_energies.copy_(
            torch.tensor(statistics.reference_energies_eV, dtype=torch.float64))
        self.energy_scale.fill_(statistics.energy_scale_eV)

    def scale_and_shift(self, raw: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """``raw · energy_scale + reference_energy[species]``: per-atom energies [N], eV.

        The network part is computed in the model's precision; the reference energy is
        added in float64, so the result is float64 and large total energies keep their
        digits. Forces are unchanged: the reference energies do not depend on positions.
        """
        return (raw * self.energy_scale).double() + self.reference_energies[species]

    def fit_feature_normalization(self, graphs: Iterable[AtomicGraph]) -> None:
        """Adapt input normalisation to (a sample of) the training graphs; default: none."""

    def record_training_charges(self, charges: torch.Tensor) -> None:
        """Take note of the total charges [B] (e) of the training structures; default:
        nothing (models that respond to charge refuse charges they were not trained on)."""

    def atomic_energies(self, graph: AtomicGraph) -> torch.Tensor:
        """Energy of each atom [N], eV. Must be differentiable in positions and cell."""
        raise NotImplementedError

    def forward(self, graph: AtomicGraph) -> dict[str, torch.Tensor]:
        """``{"atomic_energies": [N], "energy": [B]}``, eV; the energies are summed in
        float64 (the reported energy), whatever the network's precision."""
        atomic = self.atomic_energies(graph)
        atomic = atomic.double()
        energy = atomic.new_zeros(graph.n_structures).index_add(0, graph.batch, atomic)  # [B]
        return {"atomic_energies": atomic, "energy": energy}

    def hyperparameters(self) -> dict:
        """JSON-ready constructor arguments, stored in the model file."""
        raise NotImplementedError
