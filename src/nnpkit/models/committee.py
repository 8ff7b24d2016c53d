"""A committee of potentials: the mean is the prediction, the spread the uncertainty.

:class:`Committee` is itself a :class:`~nnpkit.models.potential.Potential` whose atomic
energies are the members' mean (so its autograd forces are the mean forces), and
:meth:`Committee.member_properties` gives every member's energy, forces and stress on one
graph, from which the calculators and metrics take the spread. Members must agree on the
elements and the cutoff, since they share one neighbour list. Loading a committee from
files is :func:`nnpkit.models.committee_file.load_committee`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from nnpkit.data.graph import AtomicGraph
from nnpkit.errors import ModelFileError
from nnpkit.models.potential import Potential

__all__ = ["Committee"]


class Committee(Potential):
    """The mean of M potentials that share elements and cutoff.

    Args:
        members: the member potentials (at least one).
        sources: optional names of the members (their file paths) used in error messages.

    Raises:
        ModelFileError: no members, or a member whose elements or cutoff differ from
            member 0's; the message names the member's index (and source).
    """

    kind = "committee"

    def __init__(self, members: Sequence[Potential], sources: Sequence[str] | None = None
                 ) -> None:
        if not members:
            raise ModelFileError("a committee needs at least one member")
        names = list(sources) if sources is not None else [""] * len(members)
        first = members[0]
        for index, member in enumerate(members):
            label = f"member {index}" + (f" ({names[index]})" if names[index] else "")
            if sorted(member.elements) != sorted(first.elements):
                raise ModelFileError(
                    f"committee {label} has elements {', '.join(member.elements)}, but "
                    f"member 0 has {', '.join(first.elements)}; all members must agree")
            if abs(member.cutoff - first.cutoff) > 1e-9:
                raise ModelFileError(
                    f"committee {label} has cutoff {member.cutoff} Å, but member 0 has "
                    f"{first.cutoff} Å; all members must agree")
        super().__init__(list(first.elements), first.cutoff)
        self.members = nn.ModuleList(members)
        self.sources = names

    def __len__(self) -> int:
        return len(self.members)

    @property
    def potentials(self) -> list[Potential]:
        """The members, as a typed list."""
        return [cast(Potential, member) for member in self.members]

    def atomic_energies(self, graph: AtomicGraph) -> torch.Tensor:
        """Mean over members of the energy of each atom [N], eV."""
        stacked = torch.stack([member.atomic_energies(graph) for member in self.potentials])
        return stacked.mean(dim=0)  # [N]

    def member_properties(self, graph: AtomicGraph, forces: bool = True, stress: bool = False
                          ) -> dict[str, torch.Tensor]:
        """Every member's predictions on ``graph``, stacked along a leading member axis.

        Returns:
            ``{"energy": [M, B], "atomic_energies": [M, N], "forces": [M, N, 3],
            "stress": [M, B, 3, 3]}`` (eV, eV/Å, eV/Å³; forces and stress on request),
            detached.
        """
        from nnpkit.derivatives import compute_properties

        outputs = [compute_properties(member, graph, forces=forces, stress=stress)
                   for member in self.potentials]
        return {key: torch.stack([output[key].detach() for output in outputs])
                for key in outputs[0]}

    def hyperparameters(self) -> dict:
        """Not a single model file: a committee is saved as its members' files."""
        raise NotImplementedError(
            "a committee is stored as one model file per member plus committee.json; "
            "use nnpkit.training.committee.fit_committee or save each member")
