"""Reusable physics checks every potential must pass (shipped, like e3nn's helpers).

Each check takes an ASE calculator (so it applies to any potential, ours or a peer's)
and raises ``AssertionError`` with the measured discrepancy when the check fails.
Run them in float64 (``NNPCalculator(model, dtype=torch.float64)``) for tight tolerances.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from scipy.spatial.transform import Rotation

from nnpkit.models.potential import Potential

__all__ = [
    "check_invariance",
    "check_finite_difference_forces",
    "check_finite_difference_stress",
    "check_extensivity",
    "check_batch_consistency",
    "run_all_checks",
]


def _evaluate(atoms: Atoms, calculator: Calculator, stress: bool = False
              ) -> tuple[float, np.ndarray, np.ndarray | None]:
    atoms = atoms.copy()
    atoms.calc = calculator
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    return energy, forces, (atoms.get_stress(voigt=False) if stress else None)


def _close(measured: np.ndarray | float, expected: np.ndarray | float, rtol: float,
           atol: float, what: str) -> None:
    measured, expected = np.asarray(measured), np.asarray(expected)
    error = float(np.max(np.abs(measured - expected))) if measured.size else 0.0
    bound = atol + rtol * float(np.max(np.abs(expected))) if expected.size else atol
    assert error <= bound, f"{what}: max deviation {error:.3e} exceeds {bound:.3e}"


def check_invariance(calculator: Calculator, atoms: Atoms, rtol: float = 1e-8,
                     atol: float = 1e-10, seed: int = 0) -> None:
    """Energy invariant and forces equivariant under rotation, translation, permutation.

    For periodic cells the cell is rotated together with the positions.
    """
    rng = np.random.default_rng(seed)
    energy, forces, _ = _evaluate(atoms, calculator)
    rotation = Rotation.random(random_state=seed).as_matrix()
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rotation.T
    rotated.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    energy_r, forces_r, _ = _evaluate(rotated, calculator)
    _close(energy_r, energy, rtol, atol, "energy under rotation")
    _close(forces_r, forces @ rotation.T, rtol, atol * 10, "forces under rotation")
    shifted = atoms.copy()
    shifted.positions = atoms.positions + rng.normal(size=3)
    energy_t, forces_t, _ = _evaluate(shifted, calculator)
    _close(energy_t, energy, rtol, atol, "energy under translation")
    _close(forces_t, forces, rtol, atol * 10, "forces under translation")
    order = rng.permutation(len(atoms))
    energy_p, forces_p, _ = _evaluate(atoms[order], calculator)
    _close(energy_p, energy, rtol, atol, "energy under permutation")
    _close(forces_p, forces[order], rtol, atol * 10, "forces under permutation")


def check_finite_difference_forces(calculator: Calculator, atoms: Atoms, step_A: float = 1e-4,
                                   rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Forces equal minus the central finite-difference gradient of the energy."""
    _, forces, _ = _evaluate(atoms, calculator)
    numerical = np.zeros_like(forces)
    for index in range(len(atoms)):
        for axis in range(3):
            energies = []
            for sign in (1.0, -1.0):
                displaced = atoms.copy()
                displaced.positions[index, axis] += sign * step_A
                energies.append(_evaluate(displaced, calculator)[0])
            numerical[index, axis] = -(energies[0] - energies[1]) / (2 * step_A)
    _close(forces, numerical, rtol, atol, "forces vs finite differences")


def check_finite_difference_stress(calculator: Calculator, atoms: Atoms, step: float = 1e-5,
                                   rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Stress equals the finite-difference strain derivative of the energy over volume."""
    if not atoms.pbc.all():
        raise ValueError("stress needs a fully periodic structure")
    stress = _evaluate(atoms, calculator, stress=True)[2]
    assert stress is not None
    numerical = np.zeros((3, 3))
    volume = atoms.get_volume()
    for a in range(3):
        for b in range(3):
            energies = []
            for sign in (1.0, -1.0):
                strain = np.eye(3)
                strain[a, b] += 0.5 * sign * step
                strain[b, a] += 0.5 * sign * step
                deformed = atoms.copy()
                deformed.set_cell(atoms.cell.array @ strain, scale_atoms=True)
                energies.append(_evaluate(deformed, calculator)[0])
            numerical[a, b] = (energies[0] - energies[1]) / (2 * step) / volume
    _close(stress, numerical, rtol, atol, "stress vs finite differences")


def check_extensivity(calculator: Calculator, atoms: Atoms, repeat: tuple[int, int, int] = (
        2, 2, 2), rtol: float = 1e-8, atol: float = 1e-8) -> None:
    """The energy of a supercell equals the product of the repeats times the cell's energy."""
    energy, forces, _ = _evaluate(atoms, calculator)
    supercell = atoms.repeat(repeat)
    energy_s, forces_s, _ = _evaluate(supercell, calculator)
    _close(energy_s, int(np.prod(repeat)) * energy, rtol, atol, "supercell energy")
    _close(forces_s, np.tile(forces, (int(np.prod(repeat)), 1)), rtol, atol * 10,
           "supercell forces")


def check_batch_consistency(model: Potential, structures: Sequence[Atoms]) -> None:
    """A batch gives what the structures give one by one: energy, per-atom energies,
    forces, and stress (NaN where a structure is not fully periodic).

    Unlike the other checks this takes the model itself: batching happens below ASE.
    """
    import torch

    from nnpkit.data.graph import atoms_to_graph, collate
    from nnpkit.derivatives import compute_properties

    dtype = next(model.parameters()).dtype
    graphs = [atoms_to_graph(atoms, model.cutoff, dtype) for atoms in structures]
    batched = compute_properties(model, collate(graphs), forces=True, stress=True)
    offset = 0
    for index, graph in enumerate(graphs):
        single = compute_properties(model, graph, forces=True, stress=True)
        n = int(graph.n_atoms[0])
        torch.testing.assert_close(batched["energy"][index], single["energy"][0])
        torch.testing.assert_close(batched["forces"][offset:offset + n], single["forces"])
        torch.testing.assert_close(batched["atomic_energies"][offset:offset + n],
                                   single["atomic_energies"])
        if structures[index].pbc.all():
            torch.testing.assert_close(batched["stress"][index], single["stress"][0])
        else:  # no volume: stress undefined
            assert bool(torch.isnan(batched["stress"][index]).all()), (
                f"structure {index} is not fully periodic but has a finite stress")
        offset += n


def run_all_checks(calculator: Calculator, molecule: Atoms, crystal: Atoms) -> None:
    """Every check above: invariances and forces on a molecule and a crystal, stress and
    extensivity on the crystal."""
    for atoms in (molecule, crystal):
        check_invariance(calculator, atoms)
        check_finite_difference_forces(calculator, atoms)
    check_finite_difference_stress(calculator, crystal)
    check_extensivity(calculator, crystal)
