"""Harmonic vibrational analysis by finite differences, and the transition-state check.

:func:`vibrational_modes` builds the Hessian over the chosen atoms with ASE's
``Vibrations`` (central differences, ``nfree=2``), in a private temporary directory, so
no cache is left behind and concurrent runs never share one. Frequencies are reported as
real numbers, ascending, with imaginary modes as **negative** values; a mode counts as
imaginary when its imaginary frequency exceeds ``imaginary_threshold_cm1`` (the small
imaginary modes of a numerically flat direction do not).

:func:`check_saddle` and :func:`check_minimum` turn the count into a verdict, raising
:class:`~nnpkit.errors.TransitionStateError` that names the structure and the count.
:func:`internal_modes` drops the translations and rotations of a gas molecule. The modes
also carry the orthonormal eigenvectors of the mass-weighted Hessian and the masses (what IR
intensities need).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.constraints import FixAtoms

from nnpkit.errors import ConfigError, TransitionStateError

__all__ = ["VibrationalModes", "vibrational_modes", "check_saddle", "check_minimum",
           "internal_modes", "free_atom_indices"]


@dataclass
class VibrationalModes:
    """Harmonic modes of one structure over ``indices``."""

    frequencies_cm1: np.ndarray  # [3·len(indices)] ascending; imaginary modes negative
    energies_eV: np.ndarray      # [3·len(indices)] ħω in eV, imaginary modes negative
    indices: list[int]           # the atoms displaced
    n_imaginary: int             # modes whose imaginary frequency exceeds the threshold
    #: [3·n, 3·n] row k: the orthonormal eigenvector of the mass-weighted Hessian
    #: ``M^-½ H M^-½`` of mode k (same order as the frequencies), components
    #: ``(atom indices[j], x/y/z)`` at ``3·j + b``; None where not computed.
    mass_weighted_modes: np.ndarray | None = None
    masses_amu: np.ndarray | None = None  # [n] masses of the displaced atoms (amu)

    def real_energies_eV(self) -> np.ndarray:
        """The real modes' ħω (eV, ``> 0``), ascending: the input of thermochemistry."""
        return self.energies_eV[self.energies_eV > 0]

    def to_json(self) -> dict:
        """JSON-ready: frequencies (cm⁻¹), energies (eV), indices and the count."""
        return {"frequencies_cm1": self.frequencies_cm1.tolist(),
                "energies_eV": self.energies_eV.tolist(), "indices": list(self.indices),
                "n_imaginary": self.n_imaginary}


def free_atom_indices(atoms: Atoms) -> list[int]:
    """The atoms not fixed by a ``FixAtoms`` constraint of ``atoms``, ascending."""
    fixed: set[int] = set()
    for constraint in atoms.constraints:
        if isinstance(constraint, FixAtoms):
            fixed.update(int(i) for i in constraint.get_indices())
    return [i for i in range(len(atoms)) if i not in fixed]


def _signed(values: np.ndarray) -> np.ndarray:
    """Complex ASE frequencies/energies → real: imaginary ones as −|imag|."""
    values = np.asarray(values, dtype=complex)
    return np.where(np.abs(values.imag) > np.abs(values.real), -np.abs(values.imag),
                    values.real)


def vibrational_modes(atoms: Atoms, calculator: Calculator,
                      indices: Sequence[int] | None = None, delta_A: float = 0.01,
                      imaginary_threshold_cm1: float = 30.0) -> VibrationalModes:
    """The harmonic modes of ``atoms`` over ``indices`` by central finite differences.

    Args:
        atoms: the structure, at a stationary point (not modified).
        calculator: any ASE calculator (attached to a copy of ``atoms``).
        indices: the atoms displaced (default: every atom not fixed by ``FixAtoms``);
            the Hessian is that of these atoms with all others held in place.
        delta_A: displacement of each Cartesian coordinate (Å), ``±delta_A``.
        imaginary_threshold_cm1: imaginary frequencies larger than this (cm⁻¹) count as
            imaginary modes.

    Returns:
        :class:`VibrationalModes` with ``3·len(indices)`` modes, ascending.

    Raises:
        ConfigError: no atoms to displace, an index out of range or repeated, or a
            non-positive ``delta_A``. Calculator errors propagate (the caller records
            :data:`~nnpkit.errors.REFERENCE_FAILURES`).
    """
    from ase.vibrations import Vibrations

    chosen = free_atom_indices(atoms) if indices is None else [int(i) for i in indices]
    if not chosen:
        raise ConfigError("vibrational_modes: no atoms to displace (all fixed or none "
                          "given)")
    if len(set(chosen)) != len(chosen) or min(chosen) < 0 or max(chosen) >= len(atoms):
        raise ConfigError(f"vibrational_modes: indices must be distinct atoms of the "
                          f"{len(atoms)}-atom structure, got {chosen}")
    if not delta_A > 0:
        raise ConfigError(f"vibrational_modes: delta_A must be > 0, got {delta_A}")
    work = atoms.copy()
    work.set_constraint()  # the displaced atoms move freely; the others are not displaced
    work.calc = calculator
    with tempfile.TemporaryDirectory(prefix="nnpkit-vib-") as directory:
        vib = Vibrations(work, indices=chosen, name=os.path.join(directory, "vib"),
                         delta=delta_A, nfree=2)
        vib.run()
        data = vib.get_vibrations()
        frequencies = np.asarray(data.get_frequencies(), dtype=complex)  # [3·n]
        energies = np.asarray(data.get_energies(), dtype=complex)        # [3·n]
        hessian = np.asarray(data.get_hessian_2d())                      # [3·n, 3·n]
    masses = work.get_masses()[chosen]                                   # [n]
    # the same matrix ASE diagonalises: its eigenvalues come ascending, as ASE's do
    weights = np.repeat(masses ** -0.5, 3)                               # [3·n]
    _, vectors = np.linalg.eigh(weights[:, None] * hessian * weights[None, :])
    order = np.argsort(_signed(frequencies), kind="stable")
    n_imaginary = int(np.sum((np.abs(frequencies.imag) > np.abs(frequencies.real))
                             & (np.abs(frequencies.imag) > imaginary_threshold_cm1)))
    return VibrationalModes(frequencies_cm1=_signed(frequencies)[order],
                            energies_eV=_signed(energies)[order], indices=chosen,
                            n_imaginary=n_imaginary,
                            mass_weighted_modes=vectors.T[order].copy(),
                            masses_amu=np.asarray(masses, dtype=float))


def check_saddle(modes: VibrationalModes, what: str) -> None:
    """Raise :class:`TransitionStateError` unless ``modes`` has exactly one imaginary
    mode; the message names ``what`` (e.g. ``"step O* + CO* -> CO2_g: saddle"``)."""
    if modes.n_imaginary != 1:
        imaginary = modes.frequencies_cm1[:max(modes.n_imaginary, 0)]
        raise TransitionStateError(
            f"{what}: not a first-order saddle: it has {modes.n_imaginary} imaginary "
            f"modes (exactly 1 expected; imaginary frequencies {np.round(imaginary, 1)} "
            f"cm^-1, lowest real {_lowest_real(modes)})")


def check_minimum(modes: VibrationalModes, what: str) -> None:
    """Raise :class:`TransitionStateError` if ``modes`` has any imaginary mode; the
    message names ``what`` and the count."""
    if modes.n_imaginary:
        imaginary = modes.frequencies_cm1[:modes.n_imaginary]
        raise TransitionStateError(
            f"{what}: not a minimum: it has {modes.n_imaginary} imaginary modes "
            f"({np.round(imaginary, 1)} cm^-1)")


def _lowest_real(modes: VibrationalModes) -> str:
    real = modes.frequencies_cm1[modes.frequencies_cm1 > 0]
    return f"{real[0]:.1f} cm^-1" if len(real) else "none"


def internal_modes(modes: VibrationalModes, geometry: str) -> np.ndarray:
    """The ``3N−5`` (linear) or ``3N−6`` (nonlinear) largest mode energies of a gas
    molecule of ``N = len(modes.indices)`` atoms (eV, ascending; empty for monatomic).

    Raises:
        ConfigError: an unknown ``geometry`` or too few atoms for it.
        TransitionStateError: one of the internal modes is imaginary (not a minimum).
    """
    n_atoms = len(modes.indices)
    rules = {"monatomic": (3 * n_atoms, n_atoms == 1), "linear": (5, n_atoms >= 2),
             "nonlinear": (6, n_atoms >= 3)}
    if geometry not in rules:
        raise ConfigError(f"geometry must be 'monatomic', 'linear' or 'nonlinear', got "
                          f"{geometry!r}")
    removed, possible = rules[geometry]
    if not possible:
        raise ConfigError(f"a {geometry} molecule cannot have {n_atoms} atoms")
    count = 3 * n_atoms - removed
    internal = np.sort(modes.energies_eV)[len(modes.energies_eV) - count:]
    if np.any(internal <= 0):
        raise TransitionStateError(
            f"the {geometry} molecule has an imaginary internal mode "
            f"({internal[internal <= 0]} eV, shown negative): not a minimum")
    return internal
