"""Energies, forces and stresses of many structures at once, through any ASE calculator.

:func:`predict_structures` is what workflows that evaluate many independent structures
(the displaced supercells of a phonon calculation, the strained cells of an elastic
tensor) call: for an :class:`~nnpkit.calculators.NNPCalculator` (a committee included:
its mean) the structures are collated into batches of graphs and each batch is one model
call through :func:`nnpkit.derivatives.compute_properties`; any other ASE calculator is
called once per structure. Both give the same numbers as calling the calculator on each
structure (up to the rounding of the precision).

Units are ASE's: energy eV, forces eV/Å, stress eV/Å³ in Voigt order (xx, yy, zz, yz,
xz, xy), ASE's sign (positive under tension).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.stress import full_3x3_to_voigt_6_stress

from nnpkit.calculators.ase_calculator import NNPCalculator
from nnpkit.data.graph import atoms_to_graph, collate
from nnpkit.derivatives import compute_properties
from nnpkit.errors import ConfigError, UnknownElementError
from nnpkit.neighbors import VerletNeighborList

__all__ = ["predict_structures"]


def predict_structures(calculator: Calculator, structures: Sequence[Atoms],
                       batch_size: int = 32, stress: bool = True) -> list[dict]:
    """Energy, forces and (for fully periodic cells) stress of every structure.

    Args:
        calculator: any ASE calculator. An :class:`~nnpkit.calculators.NNPCalculator`
            evaluates ``batch_size`` structures per model call, in its own device and
            precision; any other calculator is called on a copy of each structure in turn.
        structures: the structures (not modified; their own calculators are ignored).
        batch_size: structures per model call (nnpkit calculators only), >= 1.
        stress: also compute the stress of fully periodic structures.

    Returns:
        One dict per structure, in order: ``energy`` (float, eV), ``forces`` ([n, 3],
        eV/Å, float64) and, when ``stress`` and the cell is periodic in all three
        directions, ``stress`` ([6] Voigt, eV/Å³).

    Raises:
        UnknownElementError: a structure holds an element the model does not know; the
            message names the structure's index and formula.
        ConfigError: ``batch_size < 1``.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(calculator, NNPCalculator):
        return _predict_batched(calculator, structures, batch_size, stress)
    results = []
    for atoms in structures:
        work = atoms.copy()
        work.calc = calculator
        result = {"energy": float(work.get_potential_energy()),
                  "forces": np.asarray(work.get_forces(), dtype=np.float64)}
        if stress and bool(work.pbc.all()):
            result["stress"] = np.asarray(work.get_stress(voigt=True), dtype=np.float64)
        results.append(result)
    return results


def _check_elements(calculator: NNPCalculator, structures: Sequence[Atoms]) -> None:
    """Refuse, naming the structure, any element outside the model's ``elements``."""
    known = set(calculator.model.elements)
    for index, atoms in enumerate(structures):
        unknown = sorted(set(atoms.get_chemical_symbols()) - known)
        if unknown:
            raise UnknownElementError(
                f"structure {index} ({atoms.get_chemical_formula()}) contains element(s) "
                f"{', '.join(unknown)} not known to this model; the model's elements are "
                f"{', '.join(calculator.model.elements)}")


def _predict_batched(calculator: NNPCalculator, structures: Sequence[Atoms],
                     batch_size: int, stress: bool) -> list[dict]:
    """One :func:`compute_properties` call per batch of collated graphs."""
    _check_elements(calculator, structures)
    model, cutoff = calculator.model, calculator.model.cutoff
    skin = calculator.neighbors.skin
    results: list[dict] = []
    for start in range(0, len(structures), batch_size):
        chunk = structures[start:start + batch_size]
        periodic = [bool(atoms.pbc.all()) for atoms in chunk]
        want_stress = stress and any(periodic)
        # a fresh Verlet list with the calculator's skin per structure: the same pairs in
        # the same order as a calculator call, so the sums round alike
        graph = collate([atoms_to_graph(atoms, cutoff, dtype=calculator.dtype,
                                        neighbors=VerletNeighborList(cutoff, skin))
                         for atoms in chunk]).to(calculator.device)
        output = compute_properties(model, graph, forces=True, stress=want_stress)
        energies = output["energy"].detach().cpu().double().numpy()  # [B]
        forces = output["forces"].detach().cpu().double().numpy()  # [N, 3]
        stresses = (output["stress"].detach().cpu().double().numpy()  # [B, 3, 3]
                    if want_stress else None)
        offsets = np.cumsum([0] + [len(atoms) for atoms in chunk])
        for k in range(len(chunk)):
            result = {"energy": float(energies[k]),
                      "forces": forces[offsets[k]:offsets[k + 1]].copy()}
            if stresses is not None and periodic[k]:
                result["stress"] = full_3x3_to_voigt_6_stress(stresses[k])
            results.append(result)
    return results
