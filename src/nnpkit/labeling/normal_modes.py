"""Normal-mode sampling of molecules: thermal displacements along the harmonic modes.

The Hessian comes from central finite differences of any calculator's forces at a
(relaxed) geometry. In mass-weighted coordinates q = M^{1/2} Δx, each vibrational mode k
(eigenvalue λ_k = ω_k² of the mass-weighted Hessian) is displaced by a classical
Boltzmann amplitude ``q_k ~ N(0, k_B T / λ_k)``, so the harmonic energy of a sample,
``½ Σ_k λ_k q_k²``, averages to ``n_modes · k_B T / 2``. Translations and rotations (6, or
5 for linear molecules) are projected out of the Hessian before it is diagonalised, so the
centre of mass does not move. :func:`wigner_samples` draws positions *and* velocities from
the harmonic Wigner distribution instead (quantum zero-point spread, the usual initial
conditions of photodynamics). Units: Å, eV, amu, K, fs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator

from nnpkit.errors import ConfigError, DataError

__all__ = ["HarmonicModes", "harmonic_modes", "normal_mode_samples", "wigner_samples"]


@dataclass
class HarmonicModes:
    """Vibrational modes of a structure.

    Attributes:
        atoms: the reference geometry (a copy, no calculator).
        eigenvalues: λ_k of the mass-weighted Hessian [n_modes], eV/(Å² amu).
        modes: orthonormal mass-weighted mode vectors [n_modes, n_atoms * 3].
        frequencies_cm: harmonic wavenumbers [n_modes], cm⁻¹.
    """

    atoms: Atoms
    eigenvalues: np.ndarray
    modes: np.ndarray
    frequencies_cm: np.ndarray


def _hessian(atoms: Atoms, calculator: Calculator, delta_A: float) -> np.ndarray:
    """Cartesian Hessian [3N, 3N], eV/Å², by central differences of the forces."""
    work = atoms.copy()
    work.calc = calculator
    n = 3 * len(atoms)
    hessian = np.zeros((n, n))  # [3N, 3N]
    reference = atoms.positions.copy()
    for column in range(n):
        atom, axis = divmod(column, 3)
        forces = []
        for sign in (1.0, -1.0):
            displaced = reference.copy()
            displaced[atom, axis] += sign * delta_A
            work.positions = displaced
            forces.append(work.get_forces(apply_constraint=False).reshape(-1))
        hessian[:, column] = -(forces[0] - forces[1]) / (2.0 * delta_A)
    return 0.5 * (hessian + hessian.T)


def _rigid_body_basis(atoms: Atoms) -> np.ndarray:
    """Orthonormal mass-weighted translations and rotations [3N, 6] (5 if linear)."""
    sqrt_mass = np.sqrt(atoms.get_masses())  # [N]
    centred = atoms.positions - atoms.get_center_of_mass()  # [N, 3]
    vectors = []
    for axis in np.eye(3):
        vectors.append((sqrt_mass[:, None] * axis).reshape(-1))  # translation
        vectors.append((sqrt_mass[:, None] * np.cross(axis, centred)).reshape(-1))  # rotation
    left, singular, _ = np.linalg.svd(np.array(vectors).T, full_matrices=False)  # [3N, 6]
    return left[:, singular > 1e-6 * singular.max()]


def harmonic_modes(atoms: Atoms, calculator: Calculator, relax_fmax: float | None = 0.005,
                   delta_A: float = 0.005) -> HarmonicModes:
    """Relax (optionally) and return the vibrational modes of a molecule.

    Args:
        atoms: a molecule (no periodic directions); not modified.
        calculator: any ASE calculator with forces.
        relax_fmax: relax with BFGS to this largest force (eV/Å) first; None: no relaxation.
        delta_A: finite-difference displacement, Å.

    Raises:
        DataError: a periodic structure, fewer than 2 atoms, or an imaginary frequency
            (the geometry is not a minimum).
    """
    if np.any(atoms.pbc):
        raise DataError("normal-mode sampling is for molecules; use rattle_structures "
                        "(with strain_max) for crystals")
    if len(atoms) < 2:
        raise DataError("normal-mode sampling needs at least 2 atoms")
    reference = atoms.copy()
    reference.calc = None
    if relax_fmax is not None:
        from ase.optimize import BFGS

        reference.calc = calculator
        BFGS(reference, logfile=None).run(fmax=relax_fmax, steps=500)
        reference.calc = None
    masses = np.repeat(reference.get_masses(), 3)  # [3N]
    hessian = _hessian(reference, calculator, delta_A) / np.sqrt(np.outer(masses, masses))
    rigid = _rigid_body_basis(reference)  # [3N, 5 or 6]
    projector = np.eye(len(masses)) - rigid @ rigid.T  # [3N, 3N]
    eigenvalues, vectors = np.linalg.eigh(projector @ hessian @ projector)  # [3N], [3N, 3N]
    # the rigid-body directions are exact zero modes now: drop the eigenvectors in their span
    overlap = np.linalg.norm(rigid.T @ vectors, axis=0)  # [3N]
    keep = np.sort(np.argsort(overlap)[: len(masses) - rigid.shape[1]])
    eigenvalues, modes = eigenvalues[keep], vectors[:, keep].T  # [M], [M, 3N]
    if eigenvalues.min() <= 0:
        raise DataError(f"imaginary frequency (eigenvalue {eigenvalues.min():.3g} eV/Å²/amu): "
                        "the geometry is not a minimum; relax it first (relax_fmax)")
    # ω in rad/fs from eV/(Å² amu); wavenumber = ω / (2π c)
    omega_per_s = np.sqrt(eigenvalues * units._e / units._amu) * 1e10
    frequencies_cm = omega_per_s / (2.0 * np.pi * units._c * 100.0)
    return HarmonicModes(reference, eigenvalues, modes, frequencies_cm)


def normal_mode_samples(atoms: Atoms, calculator: Calculator, temperature_K: float,
                        n_samples: int, seed: int = 0, modes: HarmonicModes | None = None,
                        relax_fmax: float | None = 0.005) -> list[Atoms]:
    """Unlabelled copies of a molecule displaced along its normal modes at ``temperature_K``.

    Args:
        atoms: the molecule (not modified).
        calculator: calculator for the relaxation and the Hessian (reference or model).
        temperature_K: temperature of the classical Boltzmann amplitudes, K.
        n_samples: number of structures.
        seed: random seed.
        modes: precomputed :func:`harmonic_modes` (skips the Hessian).
        relax_fmax: see :func:`harmonic_modes`.

    Returns:
        ``n_samples`` Atoms without a calculator; ``info["harmonic_energy_eV"]`` holds each
        sample's harmonic energy ½ Σ λ_k q_k² (eV).
    """
    if temperature_K <= 0 or n_samples < 0:
        raise ConfigError(f"need temperature_K > 0 and n_samples >= 0, got {temperature_K}, "
                          f"{n_samples}")
    modes = modes or harmonic_modes(atoms, calculator, relax_fmax)
    rng = np.random.default_rng(seed)
    kT = units.kB * temperature_K
    inv_sqrt_mass = 1.0 / np.sqrt(np.repeat(modes.atoms.get_masses(), 3))  # [3N]
    amplitudes = rng.normal(size=(n_samples, len(modes.eigenvalues))) * np.sqrt(
        kT / modes.eigenvalues)  # [n_samples, M], Å·amu^½
    samples = []
    for q in amplitudes:
        displacement = (q @ modes.modes) * inv_sqrt_mass  # [3N], Å
        copy = modes.atoms.copy()
        copy.positions = copy.positions + displacement.reshape(-1, 3)
        copy.info["harmonic_energy_eV"] = float(0.5 * np.sum(modes.eigenvalues * q**2))
        samples.append(copy)
    return samples


def wigner_samples(modes: HarmonicModes, n_samples: int, seed: int = 0,
                   temperature_K: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities from the harmonic Wigner distribution of ``modes``.

    Each mode is an independent Gaussian in its mass-weighted coordinate and velocity,
    ``<q_k²> = ħ/(2ω_k) · coth(ħω_k / 2k_BT)`` and ``<q̇_k²> = ħω_k/2 · coth(...)``
    (the ground state at T = 0), so the centre of mass and the total angular momentum at
    the reference geometry stay zero.

    Args:
        modes: :func:`harmonic_modes` of the molecule at its minimum.
        n_samples: number of samples.
        seed: random seed.
        temperature_K: vibrational temperature (0: ground state), K.

    Returns:
        ``(positions [n_samples, N, 3] Å, velocities [n_samples, N, 3] Å/fs)``.
    """
    if n_samples < 0 or temperature_K < 0:
        raise ConfigError(f"need n_samples >= 0 and temperature_K >= 0, got {n_samples}, "
                          f"{temperature_K}")
    omega = np.sqrt(modes.eigenvalues * units._e / units._amu) * 1e10  # [M] rad/s
    occupation = (1.0 / np.tanh(units._hbar * omega / (2.0 * units._k * temperature_K))
                  if temperature_K > 0 else np.ones_like(omega))  # [M]
    q_std = np.sqrt(units._hbar / (2.0 * omega) * occupation / units._amu) * 1e10  # Å amu^½
    qdot_std = np.sqrt(units._hbar * omega / 2.0 * occupation / units._amu) * 1e-5  # Å/fs amu^½
    rng = np.random.default_rng(seed)
    shape = (n_samples, len(omega))
    q = rng.normal(size=shape) * q_std  # [n, M]
    qdot = rng.normal(size=shape) * qdot_std  # [n, M]
    inv_sqrt_mass = 1.0 / np.sqrt(np.repeat(modes.atoms.get_masses(), 3))  # [3N]
    n_atoms = len(modes.atoms)
    positions = modes.atoms.positions[None] + ((q @ modes.modes) * inv_sqrt_mass).reshape(
        n_samples, n_atoms, 3)
    velocities = ((qdot @ modes.modes) * inv_sqrt_mass).reshape(n_samples, n_atoms, 3)
    return positions, velocities
