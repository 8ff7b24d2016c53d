"""A bias on any ASE calculator: umbrella restraints, walls, metadynamics in ASE dynamics.

:class:`BiasedCalculator` wraps a calculator (an nnpkit model, a committee, xTB, EMT, ...)
and adds a :class:`~nnpkit.md.bias.Bias` of one replica (B = 1: build the CV with
``n_atoms=[len(atoms)]``) to its energy, free energy, forces and stress. What else the
wrapped calculator gives (a committee's ``energy_std``, ``forces_std``, ``max_force_std``,
``member_energies``, ...) passes through unchanged; per-atom ``energies`` do not (they
would not add up to the biased energy). ``bias_energy`` (eV) holds the bias's part.

The bias's stress is ``−(1/V) sym(Σ_i r_i ⊗ f_i)``, as in
:class:`~nnpkit.md.bias.BiasedForceField`: exact for a translation-invariant bias of the
Cartesian positions. A time-dependent bias (metadynamics) changes without the atoms
moving: ASE's cache keeps the old results until they do (the next MD step).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from nnpkit.md.bias import Bias

__all__ = ["BiasedCalculator"]

#: Results computed here rather than passed through.
_OWN = ("energy", "free_energy", "forces", "stress", "energies")


class BiasedCalculator(Calculator):
    """ASE calculator: ``calculator``'s results plus ``bias``'s (B = 1).

    Args:
        calculator: any ASE calculator (not copied: it keeps its own cache and state).
        bias: ``bias(positions [n, 3], batch [n]) -> (energy [1] eV, forces [n, 3] eV/Å)``.

    Attributes:
        implemented_properties: energy, free_energy, forces, bias_energy, stress when the
            wrapped calculator has it, and its other properties (passed through).
    """

    implemented_properties = ["energy", "free_energy", "forces", "bias_energy"]

    def __init__(self, calculator: Calculator, bias: Bias, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calculator = calculator
        self.bias = bias
        base = list(getattr(calculator, "implemented_properties", []))
        self.implemented_properties = [  # an instance attribute: ASE checks this one
            *BiasedCalculator.implemented_properties,
            *(["stress"] if "stress" in base else []),
            *(name for name in base if name not in _OWN)]

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        """Fill ``self.results``: the wrapped calculator's plus the bias (eV, eV/Å, eV/Å³)."""
        properties = properties or ["energy"]
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        work = self.atoms.copy()  # the wrapped calculator gets its own copy
        base_forces = np.asarray(self.calculator.get_forces(work), dtype=np.float64)
        base = dict(self.calculator.results)
        energy_base = float(self.calculator.get_potential_energy(work))
        free_base = float(base.get("free_energy", energy_base))

        positions = torch.as_tensor(np.asarray(work.positions), dtype=torch.float64)  # [n, 3]
        batch = torch.zeros(len(work), dtype=torch.long)  # [n]
        bias_energy, bias_forces = self.bias(positions, batch)
        bias_eV = float(bias_energy.reshape(-1)[0])
        forces = bias_forces.detach().double().cpu().numpy()  # [n, 3]

        results = {key: value for key, value in base.items() if key not in _OWN}
        results.update(energy=energy_base + bias_eV, free_energy=free_base + bias_eV,
                       forces=base_forces + forces, bias_energy=bias_eV)
        if "stress" in properties and "stress" in self.implemented_properties \
                and work.pbc.all():
            stress = np.asarray(self.calculator.get_stress(work), dtype=np.float64)
            virial = np.einsum("ni,nj->ij", work.positions, forces)  # [3, 3]
            bias_stress = -0.5 * (virial + virial.T) / work.get_volume()
            results["stress"] = stress + full_3x3_to_voigt_6_stress(bias_stress)
        self.results = results
