"""An ASE calculator over a committee: the members' mean and their spread.

Besides what :class:`~nnpkit.calculators.NNPCalculator` gives, ``calc.results`` holds

- ``energy_std`` (float, eV): standard deviation of the members' total energies;
- ``forces_std`` ([N], eV/Å): per atom, the norm of the vector of per-component standard
  deviations, ``sqrt(sum_xyz var_members(F))`` (the "force deviation" of DP-GEN);
- ``max_force_std`` (float, eV/Å): the largest ``forces_std``;
- ``member_energies`` ([M], eV): every member's own total energy, in the committee's
  member order (their mean is ``energy``). Applications that carry the committee's error
  through a chain of energy differences (barriers, reaction energies) take these, so the
  errors stay correlated within a member.

Standard deviations are population ones (``ddof=0``, numpy's default) over the members.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from nnpkit.calculators.ase_calculator import NNPCalculator
from nnpkit.models.committee import Committee
from nnpkit.models.committee_fast import FastCommittee

__all__ = ["CommitteeCalculator", "UNCERTAINTY_PROPERTIES"]

#: The uncertainty results a committee calculator adds.
UNCERTAINTY_PROPERTIES = ["energy_std", "forces_std", "max_force_std", "member_energies"]


class CommitteeCalculator(NNPCalculator):
    """ASE calculator: mean energy, free_energy, forces, energies and stress (periodic
    cells) of a committee, plus ``energy_std``, ``forces_std``, ``max_force_std`` and
    ``member_energies`` ([M] eV).

    An :class:`~nnpkit.calculators.NNPCalculator` whose model is a committee, so it goes
    wherever one goes. The neighbour list is built once per structure and every member
    evaluated on it: by the compiled path
    (:class:`~nnpkit.models.committee_fast.FastCommittee`) where every member has one,
    else by autograd.

    Args:
        committee: the :class:`~nnpkit.models.committee.Committee` (copied, not changed).
        device: torch device for inference.
        dtype: float32 or float64; default: the members' precision.
        metadata: kept as ``calc.metadata`` (e.g. the committee file's paths).
        fast_path: as for :class:`~nnpkit.calculators.NNPCalculator`: None (default) uses
            the compiled path where every member supports it (a one-line notice where
            not); True requires it; False never uses it.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies",
                              *UNCERTAINTY_PROPERTIES]

    def __init__(self, committee: Committee, device: str | torch.device = "cpu",
                 dtype: torch.dtype | None = None, metadata: dict | None = None,
                 fast_path: bool | None = None, **kwargs: Any) -> None:
        if not isinstance(committee, Committee):
            raise TypeError(f"CommitteeCalculator needs a Committee, got {type(committee)}")
        super().__init__(committee, device=device, dtype=dtype, metadata=metadata,
                         fast_path=fast_path, **kwargs)
        self.committee: Committee = self.model  # type: ignore[assignment]

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        """Fill ``self.results`` with the mean predictions and the uncertainties."""
        if self.fast_path is not None:
            self._remember(atoms)  # NNPCalculator.calculate would evaluate the mean
            self._fill(self._members_fast(properties))
            return
        graph, want_stress = self._prepare(atoms, properties, system_changes)
        output = {key: value.cpu().double().numpy() for key, value in
                  self.committee.member_properties(graph, forces=True, stress=want_stress).items()}
        members = {"energy": output["energy"][:, 0], "atomic_energies":
                   output["atomic_energies"], "forces": output["forces"]}
        if want_stress:
            members["stress"] = output["stress"][:, 0]
        self._fill(members)

    def _members_fast(self, properties: list[str] | None) -> dict[str, np.ndarray]:
        """Every member's predictions on the compiled path (as :meth:`_fill` takes them)."""
        assert isinstance(self.fast_path, FastCommittee)
        want_stress = self._want_stress(properties)
        output = self._evaluate_fast(want_stress, members=True)
        members = {"energy": output["member_energy"], "atomic_energies":
                   output["member_energies"], "forces": output["member_forces"]}
        if want_stress:
            members["stress"] = output["member_stress"]
        return members  # type: ignore[return-value]

    def _fill(self, members: dict[str, np.ndarray]) -> None:
        """``self.results`` from every member's ``energy`` [M], ``atomic_energies``
        [M, N], ``forces`` [M, N, 3] and (periodic cells, on request) ``stress`` [M, 3, 3]."""
        energies = members["energy"]  # [M]
        forces = members["forces"]  # [M, N, 3]
        forces_std = np.sqrt(forces.var(axis=0).sum(axis=1))  # [N]
        energy = float(energies.mean())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": members["atomic_energies"].mean(axis=0),
            "forces": forces.mean(axis=0),
            "energy_std": float(energies.std()),
            "forces_std": forces_std,
            "max_force_std": float(forces_std.max()) if forces_std.size else 0.0,
            "member_energies": energies.copy(),  # [M]
        }
        if "stress" in members:
            self.results["stress"] = full_3x3_to_voigt_6_stress(members["stress"].mean(0))
