"""The 6×6 elastic tensor from the stress–strain response, clamped-ion and relaxed-ion.

Each of the six Voigt strains is applied with ± several magnitudes to the (relaxed)
reference; ``C[:, J]`` is the least-squares slope of the stress against ``e_J`` over those
points and the reference. *Clamped-ion*: the atoms follow the homogeneous deformation (all
strained cells evaluated as one batch, :func:`~nnpkit.calculators.batch.predict_structures`).
*Relaxed-ion*: the ions are relaxed at every strain, which is what a lattice with a basis
(hcp, wurtzite, …) needs. Both are symmetrised, ``(C + Cᵀ)/2``, and their asymmetry
before that is reported. The central-difference slopes of the magnitudes are compared:
a spread above ``nonlinearity_tolerance`` means the strains are too large for a linear
fit and is warned with the number. A strain whose calculation or relaxation fails is
left out with its ± partner, warned and listed in ``failed``.

Units: strains dimensionless (engineering shear), stress and C in GPa.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.apps.crystals.inputs import require_periodic
from nnpkit.apps.crystals.relax import RelaxationError, relax
from nnpkit.calculators.batch import predict_structures
from nnpkit.errors import REFERENCE_FAILURES, ConfigError, DataError
from nnpkit.paths.voigt import EV_PER_A3_TO_GPA, strained

__all__ = ["ElasticTensor", "elastic_tensor", "fit_stiffness", "DEFAULT_STRAIN_MAGNITUDES",
           "MAX_STRAIN_MAGNITUDE"]

#: Strain magnitudes applied with both signs, dimensionless.
DEFAULT_STRAIN_MAGNITUDES: tuple[float, ...] = (0.0025, 0.005, 0.0075, 0.01)

#: Magnitudes above this are refused: far outside the linear regime of any solid.
MAX_STRAIN_MAGNITUDE: float = 0.05


@dataclass
class ElasticTensor:
    """The outcome of :func:`elastic_tensor`; matrices in GPa, Voigt order.

    Attributes:
        clamped_ion_GPa: [6, 6] symmetrised clamped-ion stiffness.
        relaxed_ion_GPa: [6, 6] symmetrised relaxed-ion stiffness (None if not asked).
        magnitudes: the strain magnitudes used (each with both signs).
        nonlinearity: per kind (``clamped``/``relaxed``), the largest spread of the
            central-difference slopes over the magnitudes, relative to the column's
            largest constant (None with a single magnitude).
        asymmetry: per kind, ``max|C - Cᵀ| / max|C|`` before symmetrising.
        reference_stress_GPa: [6] stress of the reference structure.
        failed: strains left out, ``{"strain": "strain e4 = -0.0050", "kind":
            "clamped"|"relaxed", "error": ...}``.
        structure: the reference structure (relaxed unless asked otherwise).
    """

    clamped_ion_GPa: np.ndarray
    relaxed_ion_GPa: np.ndarray | None
    magnitudes: tuple[float, ...]
    nonlinearity: dict[str, float | None]
    asymmetry: dict[str, float]
    reference_stress_GPa: np.ndarray
    failed: list[dict] = field(default_factory=list)
    structure: Atoms | None = None

    @property
    def stiffness_GPa(self) -> np.ndarray:
        """The relaxed-ion matrix where computed, else the clamped-ion one."""
        return self.relaxed_ion_GPa if self.relaxed_ion_GPa is not None else self.clamped_ion_GPa

    def to_dict(self) -> dict:
        """JSON-ready numbers."""
        return {
            "elastic_constants_GPa": self.stiffness_GPa.tolist(),
            "relaxed_ion": self.relaxed_ion_GPa is not None,
            "clamped_ion_elastic_constants_GPa": self.clamped_ion_GPa.tolist(),
            "strain_magnitudes": list(self.magnitudes),
            "nonlinearity": self.nonlinearity,
            "asymmetry": self.asymmetry,
            "reference_stress_GPa": self.reference_stress_GPa.tolist(),
            "failed_strains": self.failed,
        }


def _check_magnitudes(magnitudes: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(m) for m in magnitudes)
    if not values:
        raise ConfigError("elastic constants need at least one strain magnitude")
    for value in values:
        if not 0.0 < value <= MAX_STRAIN_MAGNITUDE:
            raise ConfigError(
                f"strain magnitude {value} is outside (0, {MAX_STRAIN_MAGNITUDE}]: a linear "
                f"stress-strain fit needs small strains (default {DEFAULT_STRAIN_MAGNITUDES})")
    if len(set(values)) != len(values):
        raise ConfigError(f"strain magnitudes must be distinct, got {values}")
    return values


def fit_stiffness(points: dict[int, list[tuple[float, np.ndarray]]], kind: str,
                  tolerance: float) -> tuple[np.ndarray, float | None, float]:
    """Least-squares stiffness from stress–strain points.

    Only ± pairs enter the fit (with the reference), so the quadratic response cancels
    also when one sign of a magnitude failed (its partner is then dropped).

    Args:
        points: per Voigt strain index J, ``(e_J, stress [6] GPa)`` pairs (the
            reference with ``e_J = 0`` included).
        kind: ``clamped`` or ``relaxed``, for messages.
        tolerance: the spread of the central-difference slopes over the magnitudes,
            relative to the column's largest constant, above which to warn.

    Returns:
        ``(C [6, 6] symmetrised, non-linearity (None with one magnitude), asymmetry)``.
    """
    stiffness = np.zeros((6, 6))
    nonlinearity: float | None = None
    for column in range(6):
        by_strain = {round(e, 12): s for e, s in points[column]}
        magnitudes = sorted(e for e in by_strain if e > 0 and round(-e, 12) in by_strain)
        if not magnitudes:
            raise DataError(f"{kind}-ion elastic constants: strain e{column + 1} has no "
                            f"± pair of strained points left (see the failed strains)")
        used = [0.0, *magnitudes, *(-e for e in magnitudes)] if 0.0 in by_strain else \
            [*magnitudes, *(-e for e in magnitudes)]
        strains = np.array(used)
        stresses = np.array([by_strain[round(e, 12)] for e in used])  # [n, 6]
        centred = strains - strains.mean()
        stiffness[:, column] = centred @ (stresses - stresses.mean(0)) / (centred @ centred)
        if len(magnitudes) < 2:
            continue
        slopes = np.array([(by_strain[e] - by_strain[round(-e, 12)]) / (2 * e)
                           for e in magnitudes])  # [m, 6]
        scale = float(np.abs(stiffness[:, column]).max()) or 1.0
        spread = float((slopes.max(0) - slopes.min(0)).max()) / scale
        nonlinearity = max(nonlinearity or 0.0, spread)
        if spread > tolerance:
            warnings.warn(
                f"{kind}-ion stress-strain response is non-linear: the slope of the stress "
                f"against e{column + 1} changes by {spread:.2%} between strain magnitudes "
                f"{magnitudes[0]:g} and {magnitudes[-1]:g} (tolerance {tolerance:.2%}); "
                f"strains up to {magnitudes[-1]:g} are too large for a linear fit",
                stacklevel=3)
    scale = float(np.abs(stiffness).max()) or 1.0
    asymmetry = float(np.abs(stiffness - stiffness.T).max()) / scale
    return 0.5 * (stiffness + stiffness.T), nonlinearity, asymmetry


def _clamped_stresses(calculator: Calculator, cells: list[Atoms],
                      strains: list[tuple[int, float]], batch_size: int,
                      failed: list[dict]) -> list[np.ndarray | None]:
    """Stress (GPa) of every strained cell, all in one batch; if the calculator fails,
    cell by cell, so the failing strain is named, warned, listed and skipped (None)."""
    try:
        return [result["stress"] * EV_PER_A3_TO_GPA
                for result in predict_structures(calculator, cells, batch_size)]
    except REFERENCE_FAILURES:
        pass
    stresses: list[np.ndarray | None] = []
    for (column, e), cell in zip(strains, cells, strict=True):
        label = f"strain e{column + 1} = {e:+.4f}"
        try:
            stresses.append(predict_structures(calculator, [cell])[0]["stress"]
                            * EV_PER_A3_TO_GPA)
        except REFERENCE_FAILURES as error:
            warnings.warn(f"clamped-ion elastic constants: {label}: the calculator failed: "
                          f"{error}; this strain is left out of the fit", stacklevel=3)
            failed.append({"strain": label, "kind": "clamped", "error": str(error)})
            stresses.append(None)
    return stresses


def elastic_tensor(atoms: Atoms, calculator: Calculator,
                   magnitudes: Sequence[float] = DEFAULT_STRAIN_MAGNITUDES,
                   relaxed_ion: bool = True, relax_reference: bool = True,
                   fmax_eV_per_A: float = 1e-4, max_steps: int = 1000,
                   nonlinearity_tolerance: float = 0.02, batch_size: int = 32
                   ) -> ElasticTensor:
    """The elastic tensor of a crystal with any ASE calculator.

    Args:
        atoms: the crystal (periodic in three directions; not modified).
        calculator: any ASE calculator that gives stress.
        magnitudes: strain magnitudes, each applied with both signs, in (0, 0.05].
        relaxed_ion: also relax the ions at every strain (the relaxed-ion tensor).
        relax_reference: first relax ions and cell (space group kept) to zero stress.
        fmax_eV_per_A: force threshold of every relaxation, eV/Å.
        max_steps: optimiser steps per relaxation.
        nonlinearity_tolerance: warn when the central-difference slopes of the
            magnitudes spread by more than this (relative to the column's largest constant).
        batch_size: strained cells per model call (nnpkit calculators).

    Raises:
        DataError: the structure is not periodic, or a strain component has no point left.
        ConfigError: bad magnitudes.
        RelaxationError: the reference relaxation failed.
    """
    require_periodic(atoms, "elastic constants")
    values = _check_magnitudes(magnitudes)
    reference = (relax(atoms, calculator, cell="full", fmax_eV_per_A=fmax_eV_per_A,
                       max_steps=max_steps, keep_symmetry=True, label="reference structure")
                 if relax_reference else atoms.copy())
    reference_stress = predict_structures(calculator, [reference])[0]["stress"] * EV_PER_A3_TO_GPA
    strains = [(column, sign * value) for column in range(6) for value in values
               for sign in (-1.0, 1.0)]
    cells = [strained(reference, np.eye(6)[column] * e) for column, e in strains]
    failed: list[dict] = []
    clamped_points: dict[int, list] = {column: [(0.0, reference_stress)] for column in range(6)}
    for (column, e), stress in zip(strains, _clamped_stresses(calculator, cells, strains,
                                                              batch_size, failed), strict=True):
        if stress is not None:
            clamped_points[column].append((e, stress))
    clamped, clamped_nonlinearity, clamped_asymmetry = fit_stiffness(
        clamped_points, "clamped", nonlinearity_tolerance)
    nonlinearity: dict[str, float | None] = {"clamped": clamped_nonlinearity}
    asymmetry = {"clamped": clamped_asymmetry}
    relaxed = None
    if relaxed_ion:
        relaxed_points: dict[int, list] = {column: [(0.0, reference_stress)]
                                           for column in range(6)}
        for (column, e), cell in zip(strains, cells, strict=True):
            label = f"strain e{column + 1} = {e:+.4f}"
            try:
                relaxed_cell = relax(cell, calculator, cell="fixed", fmax_eV_per_A=fmax_eV_per_A,
                                     max_steps=max_steps, label=label)
            except RelaxationError as error:
                warnings.warn(f"relaxed-ion elastic constants: {error}; this strain is left "
                              f"out of the fit", stacklevel=2)
                failed.append({"strain": label, "kind": "relaxed", "error": str(error)})
                continue
            stress = relaxed_cell.get_stress(voigt=True) * EV_PER_A3_TO_GPA
            relaxed_points[column].append((e, stress))
        relaxed, nonlinearity["relaxed"], asymmetry["relaxed"] = fit_stiffness(
            relaxed_points, "relaxed", nonlinearity_tolerance)
    return ElasticTensor(clamped_ion_GPa=clamped, relaxed_ion_GPa=relaxed, magnitudes=values,
                         nonlinearity=nonlinearity, asymmetry=asymmetry,
                         reference_stress_GPa=reference_stress, failed=failed,
                         structure=reference)
