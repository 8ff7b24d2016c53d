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
    "check_field_derivatives",
    "check_field_equivariance",
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


def _field_properties(model: Potential, atoms: Atoms, field_V_per_A: np.ndarray | None = None,
                      **wanted: bool) -> dict[str, np.ndarray]:
    """compute_properties of one molecule (in a field), as float64 numpy arrays."""
    import torch

    from nnpkit.data.graph import atoms_to_graph
    from nnpkit.derivatives import compute_properties

    dtype = next(model.parameters()).dtype
    graph = atoms_to_graph(atoms, model.cutoff, dtype)
    if field_V_per_A is not None:
        graph = graph.replace(field=torch.as_tensor(field_V_per_A, dtype=dtype).reshape(1, 3))
    output = compute_properties(model, graph, **wanted)
    return {key: value.detach().double().numpy() for key, value in output.items()}


def check_field_derivatives(model: Potential, molecule: Atoms, field_V_per_A: float = 0.05,
                            step: float = 1e-4, rtol: float = 1e-6, seed: int = 0) -> None:
    """Dipole, polarizability, Born charges and forces in a field against central finite
    differences (run in float64), at zero field and at a random field of the given size.

    μ = −∂E/∂F against differences of E(F) (step V/Å), α = ∂μ/∂F against differences of
    μ(F), α symmetric, Z*_i = ∂μ/∂R_i against differences of μ(R) (step Å), and the forces
    in the field against differences of the energy in the field.
    """
    rng = np.random.default_rng(seed)
    for field in (np.zeros(3), field_V_per_A * rng.normal(size=3) / np.sqrt(3.0)):
        exact = _field_properties(model, molecule, field, forces=True, dipole=True,
                                  polarizability=True, born_charges=True)
        moment, alpha = np.zeros(3), np.zeros((3, 3))
        for a in range(3):
            shift = np.zeros(3)
            shift[a] = step
            plus = _field_properties(model, molecule, field + shift, forces=False, dipole=True)
            minus = _field_properties(model, molecule, field - shift, forces=False, dipole=True)
            moment[a] = -(plus["energy"][0] - minus["energy"][0]) / (2 * step)
            alpha[:, a] = (plus["dipole"][0] - minus["dipole"][0]) / (2 * step)
        scale = np.max(np.abs(exact["dipole"])) + np.max(np.abs(exact["polarizability"]))
        _close(exact["dipole"][0], moment, rtol, rtol * scale, "dipole vs -dE/dF")
        _close(exact["polarizability"][0], alpha, rtol, rtol * scale, "polarizability vs dμ/dF")
        _close(exact["polarizability"][0], exact["polarizability"][0].T, 0.0, 1e-10,
               "polarizability symmetry")
        born = np.zeros((len(molecule), 3, 3))
        forces = np.zeros((len(molecule), 3))
        for i in range(len(molecule)):
            for b in range(3):
                moved = [molecule.copy(), molecule.copy()]
                moved[0].positions[i, b] += step
                moved[1].positions[i, b] -= step
                plus, minus = (_field_properties(model, m, field, forces=False, dipole=True)
                               for m in moved)
                born[i, :, b] = (plus["dipole"][0] - minus["dipole"][0]) / (2 * step)
                forces[i, b] = -(plus["energy"][0] - minus["energy"][0]) / (2 * step)
        _close(exact["born_charges"], born, rtol, rtol * np.max(np.abs(born)) + 1e-9,
               "Born charges vs dμ/dR")
        _close(exact["forces"], forces, rtol, rtol * np.max(np.abs(forces)) + 1e-9,
               "forces in the field vs -dE/dR")


def check_field_equivariance(model: Potential, molecule: Atoms, rtol: float = 1e-6,
                             seed: int = 0) -> None:
    """μ → Rμ, α → RαRᵀ and Z*_i → R Z*_i Rᵀ under a random rotation of the molecule;
    the atomic charges (if the model reports them) add up to ``info["charge"]`` to 1e-10;
    and the Born charges obey Σ_i Z*_i = Q·I (the acoustic sum rule, Q = 0 for a neutral
    molecule: a rigid translation t changes μ by Q t)."""
    wanted = {"forces": False, "dipole": True, "polarizability": True, "born_charges": True}
    exact = _field_properties(model, molecule, None, **wanted)
    rotation = Rotation.random(random_state=seed).as_matrix()
    rotated = molecule.copy()
    rotated.positions = molecule.positions @ rotation.T
    turned = _field_properties(model, rotated, None, **wanted)
    scale = np.max(np.abs(exact["polarizability"])) + np.max(np.abs(exact["dipole"]))
    _close(turned["dipole"][0], rotation @ exact["dipole"][0], rtol, rtol * scale,
           "dipole under rotation")
    _close(turned["polarizability"][0], rotation @ exact["polarizability"][0] @ rotation.T,
           rtol, rtol * scale, "polarizability under rotation")
    _close(turned["born_charges"], rotation @ exact["born_charges"] @ rotation.T, rtol,
           rtol * np.max(np.abs(exact["born_charges"])), "Born charges under rotation")
    total = float(molecule.info.get("charge", 0.0))
    if "charges" in exact:
        _close(exact["charges"].sum(), total, 0.0, 1e-10, "sum of the atomic charges")
    _close(exact["born_charges"].sum(axis=0), total * np.eye(3), 0.0, 1e-8,
           "acoustic sum rule of the Born charges")


def run_all_checks(calculator: Calculator, molecule: Atoms, crystal: Atoms) -> None:
    """Every check above: invariances and forces on a molecule and a crystal, stress and
    extensivity on the crystal."""
    for atoms in (molecule, crystal):
        check_invariance(calculator, atoms)
        check_finite_difference_forces(calculator, atoms)
    check_finite_difference_stress(calculator, crystal)
    check_extensivity(calculator, crystal)
