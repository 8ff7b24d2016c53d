"""Harmonic IR spectra of any ASE calculator: frequencies, intensities and broadening.

The modes come from :func:`nnpkit.paths.vibrations.vibrational_modes` (ASE ``Vibrations``,
central differences), the Born charges from :func:`~nnpkit.apps.response.born.born_charges`.
With ``e_k`` the orthonormal eigenvector of the mass-weighted Hessian of mode ``k``, the
dipole derivative along the normal coordinate ``Q_k = Σ √m_i e_k,ib Δr_ib`` and the
intensity are::

    ∂μ_a/∂Q_k = Σ_i,b Z*_i[a, b] e_k,ib / √m_i          (e/√amu)
    I_k       = Σ_a (∂μ_a/∂Q_k)²                          (e²/amu)

reported in (D/Å)²/amu (× ``E_A_TO_DEBYE²``, since 1 e = 1 e·Å/Å) and in km/mol. The
integrated absorption of a band (natural log, per mole; Wilson–Decius–Cross, SI) is
``A_k = N_A/(12 ε0 c²) · I_k`` with ``I_k`` in C²/kg, which gives
:data:`KM_PER_MOL_PER_D2_A2_AMU` = 42.2561 km/mol per (D/Å)²/amu from CODATA constants
(ASE's ``Infrared`` uses 42.255, Porezag & Pederson 1996; they differ by 3·10⁻⁵).
For a gas molecule the translations and rotations are dropped (``3N−5``/``3N−6`` modes
kept, via :func:`~nnpkit.paths.vibrations.internal_modes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase import units as ase_units
from ase.calculators.calculator import Calculator

from nnpkit.apps.response.born import (
    DEFAULT_BORN_DELTA_A,
    acoustic_sum_rule_violation,
    born_charges,
    total_charge_e,
)
from nnpkit.apps.response.born import born_method as _available_born_method
from nnpkit.errors import ConfigError
from nnpkit.paths.vibrations import VibrationalModes, internal_modes, vibrational_modes
from nnpkit.units import E_A_TO_DEBYE

__all__ = ["IRResult", "harmonic_ir", "ir_intensities", "molecule_geometry",
           "broadened_spectrum", "KM_PER_MOL_PER_E2_AMU", "KM_PER_MOL_PER_D2_A2_AMU",
           "D2_A2_AMU_PER_E2_AMU"]

#: (D/Å)²/amu per e²/amu: an intensity in e²/amu times this is in (D/Å)²/amu.
D2_A2_AMU_PER_E2_AMU: float = E_A_TO_DEBYE ** 2
#: km/mol per e²/amu: ``N_A/(12 ε0 c²) · e²/amu``, m/mol → km/mol (CODATA, via ase.units).
KM_PER_MOL_PER_E2_AMU: float = (ase_units._Nav * ase_units._e ** 2
                                / (12.0 * ase_units._eps0 * ase_units._c ** 2
                                   * ase_units._amu) / 1000.0)
#: km/mol per (D/Å)²/amu (42.2561; ASE's ``Infrared`` uses 42.255).
KM_PER_MOL_PER_D2_A2_AMU: float = KM_PER_MOL_PER_E2_AMU / D2_A2_AMU_PER_E2_AMU


@dataclass
class IRResult:
    """The harmonic IR modes of one structure (those kept: internal modes of a molecule)."""

    frequencies_cm1: np.ndarray             # [M] ascending; imaginary modes negative
    intensities_D2_per_A2_amu: np.ndarray   # [M] (D/Å)²/amu
    intensities_km_per_mol: np.ndarray      # [M] km/mol
    dipole_derivatives_e_per_sqrt_amu: np.ndarray  # [M, 3] ∂μ/∂Q_k
    born_charges_e: np.ndarray              # [n, 3, 3] of the displaced atoms
    indices: list[int]                      # the displaced atoms
    geometry: str | None                    # 'linear', 'nonlinear', 'monatomic' or None
    born_method: str                        # 'calculator' or 'finite_difference'
    delta_A: float                          # Hessian displacement (Å)
    born_delta_A: float                     # dipole displacement (Å), finite differences
    acoustic_sum_rule_max_e: float | None   # max |Σ Z* − Q·I| (all atoms displaced)
    modes: VibrationalModes = field(repr=False)

    def to_json(self) -> dict:
        """JSON-ready: per-mode frequencies and intensities, the Born charges, settings."""
        return {"frequencies_cm1": self.frequencies_cm1.tolist(),
                "intensities_km_per_mol": self.intensities_km_per_mol.tolist(),
                "intensities_D2_per_A2_amu": self.intensities_D2_per_A2_amu.tolist(),
                "born_charges_e": self.born_charges_e.tolist(),
                "indices": list(self.indices), "geometry": self.geometry,
                "born_method": self.born_method, "delta_A": self.delta_A,
                "born_delta_A": self.born_delta_A,
                "acoustic_sum_rule_max_e": self.acoustic_sum_rule_max_e,
                "km_per_mol_per_D2_A2_amu": KM_PER_MOL_PER_D2_A2_AMU,
                "n_imaginary": self.modes.n_imaginary}


def molecule_geometry(atoms: Atoms, tolerance_A: float = 1e-3) -> str | None:
    """``'monatomic'``, ``'linear'`` or ``'nonlinear'`` for a non-periodic structure (the
    atoms lie on a line when the second principal extent of the centred positions is below
    ``tolerance_A``), ``None`` for a periodic one (no rigid-body modes to drop)."""
    if np.any(atoms.pbc):
        return None
    if len(atoms) == 1:
        return "monatomic"
    centred = atoms.positions - atoms.positions.mean(axis=0)  # [N, 3]
    extents = np.linalg.svd(centred, compute_uv=False)        # [min(N, 3)]
    return "linear" if len(extents) < 2 or extents[1] < tolerance_A else "nonlinear"


def ir_intensities(modes: VibrationalModes, born_e: np.ndarray) -> np.ndarray:
    """``∂μ/∂Q_k`` ([3n, 3], e/√amu) of every mode of ``modes`` from the Born charges
    ``[n, 3, 3]`` (e) of its displaced atoms; ``I_k`` is the squared norm of row k.

    Raises:
        ConfigError: ``modes`` carries no eigenvectors, or the shapes disagree.
    """
    if modes.mass_weighted_modes is None or modes.masses_amu is None:
        raise ConfigError("ir_intensities: the modes carry no eigenvectors (compute them "
                          "with nnpkit.paths.vibrations.vibrational_modes)")
    n_atoms = len(modes.indices)
    born = np.asarray(born_e, dtype=float)
    if born.shape != (n_atoms, 3, 3):
        raise ConfigError(f"ir_intensities: Born charges of shape {born.shape} for "
                          f"{n_atoms} displaced atoms")
    # rows 3·j + b: ∂μ/∂R_jb / √m_j, so that e_k · rows = ∂μ/∂Q_k
    weighted = (born.transpose(0, 2, 1)
                / np.sqrt(modes.masses_amu)[:, None, None]).reshape(3 * n_atoms, 3)
    return modes.mass_weighted_modes @ weighted  # [3n modes, 3]


def harmonic_ir(atoms: Atoms, calculator: Calculator,
                indices: Sequence[int] | None = None, geometry: str | None = "auto",
                delta_A: float = 0.01, born_delta_A: float = DEFAULT_BORN_DELTA_A,
                born_method: str = "auto",
                imaginary_threshold_cm1: float = 30.0) -> IRResult:
    """Harmonic frequencies and IR intensities of ``atoms`` (at a minimum) with any ASE
    calculator that gives Born charges or the ``"dipole"`` property.

    Args:
        atoms: the structure (not modified).
        calculator: any ASE calculator (forces; and ``get_born_charges`` or ``"dipole"``).
        indices: the atoms displaced (default: all not fixed by ``FixAtoms``).
        geometry: ``"auto"`` (:func:`molecule_geometry` when all atoms are displaced,
            else ``None``), ``"linear"``, ``"nonlinear"``, ``"monatomic"`` (keep the
            ``3N−5``/``3N−6``/0 internal modes) or ``None`` (keep all ``3n`` modes).
        delta_A: Hessian displacement (Å), central differences.
        born_delta_A: dipole displacement (Å) of finite-difference Born charges.
        born_method: ``"auto"``, ``"calculator"`` or ``"finite_difference"``.
        imaginary_threshold_cm1: see :func:`~nnpkit.paths.vibrations.vibrational_modes`.

    Returns:
        :class:`IRResult` over the kept modes, ascending.

    Raises:
        ConfigError: the calculator gives neither Born charges nor dipoles, bad indices.
        TransitionStateError: an internal mode of a molecule is imaginary (not a minimum).
    """
    method = _available_born_method(calculator) if born_method == "auto" else born_method
    modes = vibrational_modes(atoms, calculator, indices=indices, delta_A=delta_A,
                              imaginary_threshold_cm1=imaginary_threshold_cm1)
    all_displaced = sorted(modes.indices) == list(range(len(atoms)))
    if geometry == "auto":
        geometry = molecule_geometry(atoms) if all_displaced else None
    born = born_charges(atoms, calculator, indices=modes.indices, delta_A=born_delta_A,
                        method=method)  # [n, 3, 3]
    derivatives = ir_intensities(modes, born)  # [3n, 3]
    keep = np.arange(len(modes.frequencies_cm1))
    if geometry is not None:
        count = len(internal_modes(modes, geometry))  # raises if not a minimum
        keep = keep[len(keep) - count:]
    intensities = np.sum(derivatives[keep] ** 2, axis=1) * D2_A2_AMU_PER_E2_AMU  # [M]
    asr = None
    if all_displaced:
        order = np.argsort(modes.indices)
        asr = float(np.abs(acoustic_sum_rule_violation(born[order],
                                                       total_charge_e(atoms))).max())
    return IRResult(frequencies_cm1=modes.frequencies_cm1[keep],
                    intensities_D2_per_A2_amu=intensities,
                    intensities_km_per_mol=intensities * KM_PER_MOL_PER_D2_A2_AMU,
                    dipole_derivatives_e_per_sqrt_amu=derivatives[keep],
                    born_charges_e=born, indices=list(modes.indices), geometry=geometry,
                    born_method=method, delta_A=delta_A, born_delta_A=born_delta_A,
                    acoustic_sum_rule_max_e=asr, modes=modes)


def broadened_spectrum(frequencies_cm1: np.ndarray, intensities: np.ndarray,
                       wavenumbers_cm1: np.ndarray, fwhm_cm1: float = 10.0,
                       shape: str = "lorentzian") -> np.ndarray:
    """Sticks ``intensities`` [M] at ``frequencies_cm1`` [M] as area-normalised lines of
    full width at half maximum ``fwhm_cm1`` on the grid ``wavenumbers_cm1`` [G]: a density
    (intensity units per cm⁻¹) whose integral over a band is the band's intensity.
    Modes with non-positive frequency are left out.

    Raises:
        ConfigError: ``fwhm_cm1 <= 0`` or an unknown ``shape`` ('lorentzian', 'gaussian').
    """
    if not fwhm_cm1 > 0:
        raise ConfigError(f"broadening FWHM must be > 0 cm^-1, got {fwhm_cm1}")
    grid = np.asarray(wavenumbers_cm1, dtype=float)[:, None]  # [G, 1]
    real = np.asarray(frequencies_cm1) > 0
    centres = np.asarray(frequencies_cm1, dtype=float)[real][None, :]  # [1, M']
    heights = np.asarray(intensities, dtype=float)[real]              # [M']
    if shape == "lorentzian":
        half = 0.5 * fwhm_cm1
        lines = half / np.pi / ((grid - centres) ** 2 + half ** 2)    # [G, M']
    elif shape == "gaussian":
        sigma = fwhm_cm1 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        lines = np.exp(-0.5 * ((grid - centres) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    else:
        raise ConfigError(f"line shape must be 'lorentzian' or 'gaussian', got {shape!r}")
    return lines @ heights  # [G]
