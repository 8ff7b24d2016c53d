"""Raman activities of the harmonic modes from the polarizability derivative ∂α/∂Q.

For each kept mode k of an :class:`~nnpkit.apps.response.ir.IRResult` (or any
:class:`~nnpkit.paths.vibrations.VibrationalModes` with eigenvectors) the derivative of
the polarizability along the mass-weighted normal coordinate Q_k is taken by central
differences of ``calculator.get_polarizability`` (the nnpkit calculator's autograd α,
e·Å²/V, converted to Å³) at ``R ± h·M^-½ e_k``; from its isotropic part
a'_k = tr(α'_k)/3 and its anisotropy γ'_k² = ½[(α'xx − α'yy)² + (α'yy − α'zz)² +
(α'zz − α'xx)²] + 3(α'xy² + α'yz² + α'xz²) follow the Raman activity
S_k = 45 a'_k² + 7 γ'_k² (Å⁴/amu) and the depolarisation ratio of linearly polarised
light ρ_k = 3γ'_k² / (45 a'_k² + 4γ'_k²).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.apps.response.ir import IRResult
from nnpkit.errors import ConfigError
from nnpkit.units import E_A2_PER_V_TO_A3

__all__ = ["RamanResult", "raman_activities"]


@dataclass
class RamanResult:
    """Raman activities of the modes of one structure."""

    frequencies_cm1: np.ndarray          # [M] ascending, as the IR modes
    activities_A4_per_amu: np.ndarray    # [M] S_k = 45 a'² + 7 γ'²
    depolarization_ratios: np.ndarray    # [M] ρ_k (NaN where S_k = 0)
    polarizability_derivatives_A3_per_sqrt_amu_A: np.ndarray  # [M, 3, 3] ∂α/∂Q_k
    step_sqrt_amu_A: float               # the mass-weighted displacement h

    def to_json(self) -> dict:
        """JSON-ready: per-mode frequencies, activities and depolarisation ratios."""
        return {"frequencies_cm1": self.frequencies_cm1.tolist(),
                "activities_A4_per_amu": self.activities_A4_per_amu.tolist(),
                "depolarization_ratios": [None if np.isnan(r) else float(r)
                                          for r in self.depolarization_ratios],
                "step_sqrt_amu_A": self.step_sqrt_amu_A}


def _invariants(derivative: np.ndarray) -> tuple[float, float]:
    """(a'², γ'²) of one symmetric 3×3 polarizability derivative."""
    d = 0.5 * (derivative + derivative.T)
    isotropic = np.trace(d) / 3.0
    anisotropy = 0.5 * ((d[0, 0] - d[1, 1]) ** 2 + (d[1, 1] - d[2, 2]) ** 2
                        + (d[2, 2] - d[0, 0]) ** 2) + 3.0 * (d[0, 1] ** 2 + d[1, 2] ** 2
                                                             + d[0, 2] ** 2)
    return float(isotropic**2), float(anisotropy)


def raman_activities(atoms: Atoms, calculator: Calculator, ir: IRResult,
                     step_sqrt_amu_A: float = 0.01) -> RamanResult:
    """Raman activities of the modes of ``ir`` (computed for ``atoms``).

    Args:
        atoms: the structure at its minimum (not modified).
        calculator: an ASE calculator with ``get_polarizability(atoms)`` in e·Å²/V.
        ir: the harmonic analysis of ``atoms`` (:func:`~nnpkit.apps.response.ir.harmonic_ir`).
        step_sqrt_amu_A: displacement along each mass-weighted normal coordinate, √amu·Å.

    Raises:
        ConfigError: the calculator has no ``get_polarizability``, or a bad step.
    """
    polarizability = getattr(calculator, "get_polarizability", None)
    if not callable(polarizability):
        raise ConfigError(f"{type(calculator).__name__} has no get_polarizability: Raman "
                          "activities need the polarizability (a charge_aware model)")
    if not step_sqrt_amu_A > 0:
        raise ConfigError(f"step_sqrt_amu_A must be > 0, got {step_sqrt_amu_A}")
    modes = ir.modes
    assert modes.mass_weighted_modes is not None and modes.masses_amu is not None
    kept = modes.mass_weighted_modes[len(modes.frequencies_cm1) - len(ir.frequencies_cm1):]
    n = len(modes.indices)
    derivatives = np.zeros((len(kept), 3, 3))
    for k, vector in enumerate(kept):
        shift = vector.reshape(n, 3) / np.sqrt(modes.masses_amu)[:, None]  # [n, 3], Å/√amu
        values = []
        for sign in (1.0, -1.0):
            moved = atoms.copy()
            moved.positions[modes.indices] += sign * step_sqrt_amu_A * shift
            moved.calc = calculator
            values.append(np.asarray(polarizability(moved), dtype=float) * E_A2_PER_V_TO_A3)
        derivatives[k] = (values[0] - values[1]) / (2.0 * step_sqrt_amu_A)
    invariants = np.array([_invariants(d) for d in derivatives])  # [M, 2]
    activities = 45.0 * invariants[:, 0] + 7.0 * invariants[:, 1]
    denominator = 45.0 * invariants[:, 0] + 4.0 * invariants[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(denominator > 0, 3.0 * invariants[:, 1] / denominator, np.nan)
    return RamanResult(frequencies_cm1=ir.frequencies_cm1.copy(),
                       activities_A4_per_amu=activities, depolarization_ratios=ratios,
                       polarizability_derivatives_A3_per_sqrt_amu_A=derivatives,
                       step_sqrt_amu_A=step_sqrt_amu_A)
