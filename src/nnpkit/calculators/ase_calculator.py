"""An ASE calculator over any :class:`~nnpkit.models.potential.Potential`."""

from __future__ import annotations

import copy
from typing import Any

import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from nnpkit.data.graph import AtomicGraph, atoms_to_graph
from nnpkit.derivatives import compute_properties
from nnpkit.models.potential import Potential
from nnpkit.neighbors import VerletNeighborList

__all__ = ["NNPCalculator"]


class NNPCalculator(Calculator):
    """ASE calculator: energy, free_energy, forces, stress (periodic cells) and per-atom
    energies from a trained nnpkit potential.

    Args:
        model: any Potential.
        device: torch device for inference.
        dtype: inference precision, float32 (fast) or float64 (finite-difference checks);
            default: the model's own precision. Energies are summed in float64 either way.
        metadata: the model file's metadata, kept as ``calc.metadata``.
        skin_A: the neighbour list is built at cutoff + skin and reused until an atom has
            moved more than skin / 2 (or the cell changes), Å; 0 rebuilds every call.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(self, model: Potential, device: str | torch.device = "cpu",
                 dtype: torch.dtype | None = None, metadata: dict | None = None,
                 skin_A: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.device = torch.device(device)
        if dtype is None:
            dtype = next(model.parameters()).dtype
        self.dtype = dtype
        # a copy: casting or freezing must not change the caller's (maybe training) model
        self.model = copy.deepcopy(model).to(device=self.device, dtype=dtype).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.metadata = metadata if metadata is not None else dict(model.metadata)
        self._stress_wanted = False
        self.neighbors = VerletNeighborList(self.model.cutoff, skin_A)

    def _prepare(self, atoms: Atoms | None, properties: list[str] | None,
                 system_changes: list[str]) -> tuple[AtomicGraph, bool]:
        """ASE's bookkeeping, then the graph of ``self.atoms`` and whether to compute stress."""
        super().calculate(atoms, properties or ["energy"], system_changes)
        assert self.atoms is not None
        # Stress costs an extra strain derivative: computed once asked for, and from then on
        # with every call (NPT asks for forces and stress each step; one pass serves both).
        self._stress_wanted = self._stress_wanted or "stress" in (properties or [])
        want_stress = bool(self.atoms.pbc.all()) and self._stress_wanted
        graph = atoms_to_graph(self.atoms, self.model.cutoff, dtype=self.dtype,
                               neighbors=self.neighbors).to(self.device)
        return graph, want_stress

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        """Fill ``self.results`` (eV, eV/Å, Voigt eV/Å³) for ``atoms``."""
        graph, want_stress = self._prepare(atoms, properties, system_changes)
        output = compute_properties(self.model, graph, forces=True, stress=want_stress)
        energy = float(output["energy"].detach().cpu()[0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": output["atomic_energies"].detach().cpu().double().numpy(),
            "forces": output["forces"].detach().cpu().double().numpy(),
        }
        if want_stress:
            stress = output["stress"].detach().cpu().double().numpy()[0]
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)
