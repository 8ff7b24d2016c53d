"""An ASE calculator over any :class:`~nnpkit.models.potential.Potential`."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from nnpkit.data.graph import AtomicGraph, atoms_to_graph
from nnpkit.derivatives import compute_properties, uniform_field
from nnpkit.errors import ConfigError
from nnpkit.models.bpnn_fast import FastPathNotice, choose_fast_path
from nnpkit.models.equivariant_fused import fused_for_inference
from nnpkit.models.potential import Potential
from nnpkit.neighbors import VerletNeighborList, same_array

__all__ = ["NNPCalculator", "FastPathNotice"]


class NNPCalculator(Calculator):
    """ASE calculator: energy, free_energy, forces, stress (periodic cells) and per-atom
    energies from a trained nnpkit potential; for models that respond to a field (the
    charge-aware family) also the ``dipole`` (e·Å, origin at the coordinate origin) and
    the atomic ``charges`` (e) as ASE properties, :meth:`get_polarizability` and
    :meth:`get_born_charges`. The total charge is ``atoms.info["charge"]`` (e, default 0).

    Args:
        model: any Potential.
        device: torch device for inference.
        dtype: inference precision, float32 (fast) or float64 (finite-difference checks);
            default: the model's own precision. Energies are summed in float64 either way.
        metadata: the model file's metadata, kept as ``calc.metadata``.
        skin_A: the neighbour list is built at cutoff + skin and reused until an atom has
            moved more than skin / 2 (or the cell changes), Å; 0 rebuilds every call.
        fast_path: the low-latency path instead of the model's own autograd graph: the
            compiled BPNN (:mod:`nnpkit.models.bpnn_fast`, float64, CPU) or the fused
            equivariant model (:mod:`nnpkit.models.equivariant_fused`, any device and
            precision): None (default) uses it where the model has one and says so in
            one line where not; True requires it; False never uses it.
        external_field_V_per_A: a uniform electric field [3], V/Å, acting on the
            structure (charge-aware models, molecules only): energies, forces and the
            dipole are those in the field, so MD in a field runs through this calculator.

    Attributes:
        fast_path: the compiled evaluator in use, or None (autograd).
        model: the frozen copy evaluated (the fused form of an equivariant model).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(self, model: Potential, device: str | torch.device = "cpu",
                 dtype: torch.dtype | None = None, metadata: dict | None = None,
                 skin_A: float = 0.5, fast_path: bool | None = None,
                 external_field_V_per_A: Sequence[float] | None = None, **kwargs: Any) -> None:
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
        self.responds_to_field = bool(self.model.responds_to_field)
        self.external_field = uniform_field(self.model, external_field_V_per_A)
        if self.responds_to_field:
            self.implemented_properties = [*type(self).implemented_properties,
                                           "dipole", "charges"]
            fast_path = False if fast_path is None else fast_path
        if fast_path is not False:
            self.model = fused_for_inference(self.model)
        self.fast_path = choose_fast_path(self.model, self.device, fast_path, "inference")

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        """What changed since the last calculation: ASE's ``compare_atoms`` semantics, with
        exact array comparisons (ASE's default tolerance is 1e-15 Å, i.e. exact), which
        costs a few µs instead of ~50 µs per call on a small molecule. Arrays compare by
        their bytes (5× cheaper than ``np.array_equal`` on ethanol), so a dtype change or
        -0.0 against 0.0 also counts as a change: a recomputation, never a stale result."""
        previous = self.atoms
        if previous is None or len(previous) != len(atoms):
            return super().check_state(atoms, tol)
        changes = []
        for name, old, new in (("positions", previous.positions, atoms.positions),
                               ("numbers", previous.numbers, atoms.numbers),
                               ("cell", previous.cell.array, atoms.cell.array),
                               ("pbc", previous.pbc, atoms.pbc)):
            if not same_array(old, new):
                changes.append(name)
        if previous.info.get("charge", 0) != atoms.info.get("charge", 0):
            changes.append("charge")  # the total charge is an input of charge-aware models
        for name in ("initial_magmoms", "initial_charges"):
            old_values, new_values = previous.arrays.get(name), atoms.arrays.get(name)
            if old_values is None or new_values is None:
                if (old_values is None) != (new_values is None):
                    changes.append(name)
            elif not same_array(old_values, new_values):
                changes.append(name)
        return [name for name in changes if name not in set(self.ignored_changes)]

    def _remember(self, atoms: Atoms | None) -> None:
        """ASE's ``Calculator.calculate`` bookkeeping without its second copy: ASE's
        ``get_property`` has just stored ``atoms.copy()`` as ``self.atoms``, so a new copy
        is made only where ``self.atoms`` differs from ``atoms`` in what the model reads
        (a direct ``calculate(atoms)`` call). Saves ~30 µs per call (ethanol, measured).
        The calculator writes no files, so there is no directory to create."""
        if atoms is not None and (self.atoms is None or self.check_state(atoms)):
            self.atoms = atoms.copy()

    def _want_stress(self, properties: list[str] | None) -> bool:
        """Whether to compute stress now. Stress costs an extra strain derivative: computed
        once asked for, and from then on with every call (NPT asks for forces and stress
        each step; one pass serves both); only for fully periodic cells."""
        assert self.atoms is not None
        self._stress_wanted = self._stress_wanted or "stress" in (properties or [])
        return bool(self.atoms.pbc.all()) and self._stress_wanted

    def _prepare(self, atoms: Atoms | None, properties: list[str] | None,
                 system_changes: list[str]) -> tuple[AtomicGraph, bool]:
        """ASE's bookkeeping, then the graph of ``self.atoms`` and whether to compute stress."""
        super().calculate(atoms, properties or ["energy"], system_changes)
        assert self.atoms is not None
        want_stress = self._want_stress(properties)
        graph = atoms_to_graph(self.atoms, self.model.cutoff, dtype=self.dtype,
                               neighbors=self.neighbors).to(self.device)
        if np.any(self.external_field):
            graph = graph.replace(field=torch.as_tensor(
                self.external_field, dtype=self.dtype, device=self.device).reshape(1, 3))
        return graph, want_stress

    def _evaluate_fast(self, want_stress: bool, **options: bool) -> dict[str, Any]:
        """The compiled path on ``self.atoms``: the element check, the neighbour list, then
        one compiled call, all float64 (``options`` go to ``evaluate``)."""
        assert self.atoms is not None and self.fast_path is not None
        numbers = self.atoms.numbers
        if bool((self.fast_path.species_of_number[numbers] < 0).any()):
            self.model.species(torch.as_tensor(numbers))  # raises, naming the element
        positions, cell = self.atoms.positions, self.atoms.cell.array
        # the skin's pairs too: beyond the cutoff they add exactly nothing on this path
        i, j, shifts = self.neighbors.candidates(positions, cell, self.atoms.pbc)
        return self.fast_path.evaluate(numbers, positions, cell, i, j, shifts,
                                       stress=want_stress, **options)

    def _calculate_fast(self, properties: list[str] | None) -> None:
        """``self.results`` from the compiled path."""
        want_stress = self._want_stress(properties)
        output = self._evaluate_fast(want_stress)
        energy = float(output["energy"])
        self.results = {"energy": energy, "free_energy": energy,
                        "energies": output["energies"], "forces": output["forces"]}
        if want_stress:
            self.results["stress"] = full_3x3_to_voigt_6_stress(output["stress"])

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        """Fill ``self.results`` (eV, eV/Å, Voigt eV/Å³) for ``atoms``."""
        if self.fast_path is not None:
            self._remember(atoms)
            self._calculate_fast(properties)
            return
        graph, want_stress = self._prepare(atoms, properties, system_changes)
        molecule = not bool(graph.pbc.any())
        with_dipole = self.responds_to_field and molecule
        output = compute_properties(self.model, graph, forces=True, stress=want_stress,
                                    dipole=with_dipole)
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
        if "charges" in output:
            self.results["charges"] = output["charges"].detach().cpu().double().numpy()
        if with_dipole:
            self.results["dipole"] = output["dipole"].detach().cpu().double().numpy()[0]

    def _field_response(self, atoms: Atoms | None, **wanted: bool) -> dict[str, np.ndarray]:
        """Field derivatives of ``atoms`` (in the calculator's field), as float64 arrays."""
        if not self.responds_to_field:
            raise ConfigError(f"model kind {self.model.kind!r} has no coupling to an "
                              "electric field; polarizabilities and Born charges need a "
                              "charge_aware model")
        if atoms is None:
            raise ConfigError("no structure: pass atoms or attach the calculator first")
        if self.check_state(atoms):
            self.reset()  # the cached results are of another structure
        graph, _ = self._prepare(atoms, ["energy"], all_changes)
        output = compute_properties(self.model, graph, forces=False, **wanted)
        return {key: output[key].detach().cpu().double().numpy() for key in wanted}

    def get_polarizability(self, atoms: Atoms | None = None) -> np.ndarray:
        """Static dipole polarizability [3, 3], e·Å²/V (× 14.3996 for Å³): −∂²E/∂F²."""
        return self._field_response(atoms or self.atoms, polarizability=True)[
            "polarizability"][0]

    def get_born_charges(self, atoms: Atoms | None = None) -> np.ndarray:
        """Born effective charges [N, 3, 3], e: ``Z[i, a, b] = ∂μ_a/∂R_ib``."""
        return self._field_response(atoms or self.atoms, born_charges=True)["born_charges"]
