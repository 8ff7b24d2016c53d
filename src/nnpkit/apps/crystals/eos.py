"""Equation of state: E(V) and P(V) with the cell shape relaxed at each volume, and fits.

The reference is relaxed (ions and cell, space group kept); the cell is then scaled
isotropically to each volume and relaxed at that volume (ions and cell shape, so c/a of
a hexagonal crystal follows the volume). Birch–Murnaghan (3rd order) and Vinet are
fitted by ``ase.eos.EquationOfState`` to the energies per atom. A volume whose
relaxation fails is left out, warned and listed in ``failed``.

Units: Å³/atom, eV/atom, GPa; ``B0_prime`` dimensionless.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.apps.crystals.inputs import require_periodic
from nnpkit.apps.crystals.relax import RelaxationError, relax
from nnpkit.errors import ConfigError, DataError
from nnpkit.paths.voigt import EV_PER_A3_TO_GPA

__all__ = ["EOSFit", "EquationOfState", "equation_of_state", "fit_eos", "EOS_FORMS"]

#: nnpkit's names of the fitted forms → ASE's.
EOS_FORMS: dict[str, str] = {"birch_murnaghan": "birchmurnaghan", "vinet": "vinet"}

#: Points needed for a four-parameter fit with one degree of freedom left.
_MIN_POINTS = 5


@dataclass
class EOSFit:
    """One fitted equation of state (per atom)."""

    form: str
    V0_A3_per_atom: float
    E0_eV_per_atom: float
    B0_GPa: float
    B0_prime: float
    rms_residual_meV_per_atom: float

    def to_dict(self) -> dict:
        """JSON-ready numbers."""
        return dict(self.__dict__)


@dataclass
class EquationOfState:
    """The outcome of :func:`equation_of_state`.

    Attributes:
        volumes_A3_per_atom, energies_eV_per_atom, pressures_GPa: [n] the used points
            (pressure ``-tr(σ)/3`` from the calculator's stress).
        fits: ``birch_murnaghan`` and ``vinet`` fits.
        structures: the relaxed structure at each used volume.
        failed: volumes left out, ``{"volume_A3_per_atom", "error"}``.
    """

    volumes_A3_per_atom: np.ndarray
    energies_eV_per_atom: np.ndarray
    pressures_GPa: np.ndarray
    fits: dict[str, EOSFit]
    structures: list[Atoms] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready numbers; the top-level V0, E0, B0, B0′ are Birch–Murnaghan's."""
        main = self.fits["birch_murnaghan"]
        return {"V0_A3_per_atom": main.V0_A3_per_atom, "E0_eV_per_atom": main.E0_eV_per_atom,
                "B0_GPa": main.B0_GPa, "B0_prime": main.B0_prime,
                "fits": {name: fit.to_dict() for name, fit in self.fits.items()},
                "volumes_A3_per_atom": self.volumes_A3_per_atom.tolist(),
                "energies_eV_per_atom": self.energies_eV_per_atom.tolist(),
                "pressures_GPa": self.pressures_GPa.tolist(), "failed_volumes": self.failed}


def fit_eos(volumes_A3: np.ndarray, energies_eV: np.ndarray, form: str) -> EOSFit:
    """Fit one form (``birch_murnaghan`` or ``vinet``) to E(V); any consistent per-cell or
    per-atom normalisation, reported as given ("per atom" in the names)."""
    from ase.eos import EquationOfState as AseEOS

    if form not in EOS_FORMS:
        raise ConfigError(f"unknown EOS form {form!r}; choose from {sorted(EOS_FORMS)}")
    fitter = AseEOS(np.asarray(volumes_A3), np.asarray(energies_eV), eos=EOS_FORMS[form])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ASE warns when V0 is outside the volumes
        try:
            fitter.fit()
        except (RuntimeError, UserWarning) as error:
            raise DataError(f"{form} fit of the equation of state failed: {error}; the "
                            f"volumes {np.min(volumes_A3):.3f}-{np.max(volumes_A3):.3f} Å³ "
                            f"must bracket the minimum") from error
    e0, b0, b0_prime, v0 = (float(p) for p in fitter.eos_parameters)
    residual = np.asarray(energies_eV) - fitter.func(np.asarray(volumes_A3),
                                                     *fitter.eos_parameters)
    return EOSFit(form=form, V0_A3_per_atom=v0, E0_eV_per_atom=e0,
                  B0_GPa=b0 * EV_PER_A3_TO_GPA, B0_prime=b0_prime,
                  rms_residual_meV_per_atom=float(np.sqrt(np.mean(residual**2)) * 1e3))


def equation_of_state(atoms: Atoms, calculator: Calculator, volume_range: float = 0.06,
                      n_points: int = 9, relax_shape: bool = True,
                      relax_reference: bool = True, fmax_eV_per_A: float = 1e-4,
                      max_steps: int = 1000) -> EquationOfState:
    """E(V) and P(V) of a crystal over ``V_ref·(1 ± volume_range)``, and the fits.

    Args:
        atoms: the crystal (periodic in three directions; not modified).
        calculator: any ASE calculator that gives stress.
        volume_range: relative half-width of the volume grid, in (0, 0.3].
        n_points: volumes, >= 5.
        relax_shape: relax ions and cell shape at each volume (else the ions only).
        relax_reference: first relax ions and cell to zero stress (space group kept).
        fmax_eV_per_A: force threshold of the relaxations, eV/Å.
        max_steps: optimiser steps per relaxation.

    Raises:
        DataError: not periodic, fewer than 5 volumes left, or a failed fit.
        ConfigError: a bad grid.
        RelaxationError: the reference relaxation failed.
    """
    require_periodic(atoms, "the equation of state")
    if not 0.0 < volume_range <= 0.3 or n_points < _MIN_POINTS:
        raise ConfigError(f"the EOS needs 0 < volume_range <= 0.3 and n_points >= "
                          f"{_MIN_POINTS}; got {volume_range} and {n_points}")
    reference = (relax(atoms, calculator, cell="full", fmax_eV_per_A=fmax_eV_per_A,
                       max_steps=max_steps, keep_symmetry=True, label="reference structure")
                 if relax_reference else atoms.copy())
    n_atoms = len(reference)
    volumes, energies, pressures, structures, failed = [], [], [], [], []
    for factor in 1.0 + np.linspace(-volume_range, volume_range, n_points):
        cell = reference.copy()
        cell.set_cell(reference.cell.array * factor ** (1 / 3), scale_atoms=True)
        volume = cell.get_volume() / n_atoms
        label = f"volume {volume:.4f} Å³/atom ({factor - 1:+.2%})"
        try:
            relaxed = relax(cell, calculator, cell="shape" if relax_shape else "fixed",
                            fmax_eV_per_A=fmax_eV_per_A, max_steps=max_steps,
                            keep_symmetry=True, label=label)
        except RelaxationError as error:
            warnings.warn(f"equation of state: {error}; this volume is left out",
                          stacklevel=2)
            failed.append({"volume_A3_per_atom": volume, "error": str(error)})
            continue
        volumes.append(relaxed.get_volume() / n_atoms)
        energies.append(relaxed.get_potential_energy() / n_atoms)
        pressures.append(-float(np.mean(relaxed.get_stress(voigt=True)[:3])) * EV_PER_A3_TO_GPA)
        structures.append(relaxed)
    if len(volumes) < _MIN_POINTS:
        raise DataError(f"the equation of state has {len(volumes)} usable volumes of "
                        f"{n_points} (needs {_MIN_POINTS}); failed: "
                        f"{[entry['error'] for entry in failed]}")
    v, e = np.array(volumes), np.array(energies)
    fits = {form: fit_eos(v, e, form) for form in EOS_FORMS}
    return EquationOfState(volumes_A3_per_atom=v, energies_eV_per_atom=e,
                           pressures_GPa=np.array(pressures), fits=fits,
                           structures=structures, failed=failed)
