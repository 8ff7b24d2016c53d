"""A reference surface from bond-stretch scans with any ASE calculator (e.g. GFN2-xTB).

:class:`ScanConfig` (YAML, typed) names a molecule, a calculator and one to three bond
coordinates; each coordinate moves one atom along the bond from a fixed partner (so the
kinetic energy of the 1D/2D model is that of the moved atom, ``mass = m(moved atom)``).
:class:`ScanReference` turns this into the callable the active learner asks:
``q [n_dim] bohr -> (energy Hartree, gradient Hartree/bohr)``, energies relative to the
(optionally relaxed) input structure, gradients projected from the ASE forces. The units
of ASE (eV, Å) end here.
"""

from __future__ import annotations

import os

import numpy as np
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.calculator import Calculator
from ase.io import read
from pydantic import Field

from nnpkit.errors import REFERENCE_FAILURES, ConfigError, LabelingError
from nnpkit.typed_config import StrictConfig, load_typed_config

__all__ = ["BondCoordinate", "ScanConfig", "ScanReference", "load_scan_config"]


class BondCoordinate(StrictConfig):
    """One scanned bond: atom ``atoms[1]`` moves along the bond, ``atoms[0]`` stays."""

    atoms: tuple[int, int] = Field((0, 1), description="(fixed atom, moved atom) indices.")
    lower_A: float = Field(0.75, gt=0, description="Shortest bond length of the box, Å.")
    upper_A: float = Field(1.6, gt=0, description="Longest bond length of the box, Å.")


class ScanConfig(StrictConfig):
    """A scan reference for ``nnpkit gp fit --reference SCAN.yaml``."""

    structure: str = Field("H2O", description="ASE molecule name (ase.build.molecule) or file.")
    calculator: str = Field("gfn2", description="Reference method (gfn2, gfn1, emt).")
    relax: bool = Field(True, description="Relax the structure (BFGS, fmax 0.005 eV/Å) first.")
    coordinates: list[BondCoordinate] = Field(
        default_factory=lambda: [BondCoordinate()],
        description="One to three bond coordinates (the GP dimensions).")
    use_gradients: bool = Field(True, description="Learn from forces projected on the bonds.")
    n_initial: int = Field(3, ge=2, description="Space-filling starting points.")
    budget: int = Field(15, ge=2, description="Largest number of reference calculations.")
    tolerance_meV: float | None = Field(None, gt=0, description="Stop when the std is below.")
    energy_cutoff_eV: float | None = Field(
        1.5, description="Learn where the energy (relative to the structure) is below this.")
    dense_points: int = Field(200, ge=10, description="Points of the dense reference scan.")


def load_scan_config(source: str | os.PathLike | dict,
                     overrides: list[str] | None = None) -> ScanConfig:
    """Read and validate a scan config (errors name the file and the key)."""
    config = load_typed_config(source, ScanConfig, overrides)
    if not 1 <= len(config.coordinates) <= 3:
        raise ConfigError(f"{source}: coordinates: give 1 to 3 bonds, got "
                          f"{len(config.coordinates)}")
    for index, bond in enumerate(config.coordinates):
        if bond.upper_A <= bond.lower_A:
            raise ConfigError(f"{source}: coordinates.{index}: upper_A must exceed lower_A")
    return config


def _structure(name: str) -> Atoms:
    if os.path.exists(name):
        atoms = read(name)
        return atoms if isinstance(atoms, Atoms) else atoms[-1]
    try:
        return molecule(name)
    except KeyError as error:
        raise ConfigError(f"structure {name!r} is neither a file nor an ASE molecule name"
                          ) from error


class ScanReference:
    """Energies and gradients of bond-scanned structures in atomic units.

    Args:
        config: The scan definition.
        calculator: An ASE calculator to use instead of ``config.calculator``.
    """

    def __init__(self, config: ScanConfig, calculator: Calculator | None = None) -> None:
        from nnpkit.labeling.reference import make_reference_calculator

        self.config = config
        self.calculator = calculator or make_reference_calculator(config.calculator)
        atoms = _structure(config.structure)
        for index, bond in enumerate(config.coordinates):
            if max(bond.atoms) >= len(atoms) or bond.atoms[0] == bond.atoms[1]:
                raise ConfigError(f"coordinates.{index}.atoms {bond.atoms} is not a bond of "
                                  f"{atoms.get_chemical_formula()} ({len(atoms)} atoms)")
        atoms.calc = self.calculator
        if config.relax:
            from ase.optimize import BFGS

            BFGS(atoms, logfile=None).run(fmax=0.005, steps=500)
        self.atoms = atoms.copy()
        self.reference_energy_eV = float(atoms.get_potential_energy())
        self.calls = 0

    @property
    def n_dim(self) -> int:
        return len(self.config.coordinates)

    def bounds(self) -> tuple[list[float], list[float]]:
        """The scan box in bohr."""
        return ([bond.lower_A / units.Bohr for bond in self.config.coordinates],
                [bond.upper_A / units.Bohr for bond in self.config.coordinates])

    def equilibrium(self) -> np.ndarray:
        """Bond lengths of the (relaxed) structure, ``[n_dim]`` bohr."""
        return np.array([self.atoms.get_distance(*bond.atoms) / units.Bohr
                         for bond in self.config.coordinates])

    def moved_masses_amu(self) -> list[float]:
        """Mass of the moved atom of each coordinate (the model's masses), amu."""
        masses = self.atoms.get_masses()
        return [float(masses[bond.atoms[1]]) for bond in self.config.coordinates]

    def structure_at(self, q: np.ndarray) -> Atoms:
        """A copy of the structure with bond lengths ``q`` ``[n_dim]`` bohr."""
        atoms = self.atoms.copy()
        for bond, length in zip(self.config.coordinates, np.asarray(q, float), strict=True):
            atoms.set_distance(bond.atoms[0], bond.atoms[1], float(length) * units.Bohr, fix=0)
        return atoms

    def __call__(self, q: np.ndarray) -> tuple[float, np.ndarray]:
        """``(E - E_ref, dE/dq)`` in Hartree and Hartree/bohr at ``q`` ``[n_dim]`` bohr."""
        atoms = self.structure_at(q)
        atoms.calc = self.calculator
        try:
            energy = float(atoms.get_potential_energy())
            forces = atoms.get_forces()  # [n_atoms, 3] eV/Å
        except REFERENCE_FAILURES as error:  # a failed calculation, with the geometry named
            raise LabelingError(f"{self.config.calculator} failed at bonds "
                                f"{(np.asarray(q) * units.Bohr).round(4).tolist()} Å: {error}"
                                ) from error
        self.calls += 1
        gradient = []
        for bond in self.config.coordinates:
            fixed, moved = bond.atoms
            direction = atoms.positions[moved] - atoms.positions[fixed]
            direction = direction / np.linalg.norm(direction)
            gradient.append(-float(forces[moved] @ direction))  # dE/dr, eV/Å
        return ((energy - self.reference_energy_eV) / units.Hartree,
                np.asarray(gradient) * units.Bohr / units.Hartree)

    def dense_scan(self, n_points: int) -> tuple[np.ndarray, np.ndarray]:
        """1D reference scan: ``q`` ``[n_points]`` bohr and energies ``[n_points]`` Hartree."""
        if self.n_dim != 1:
            raise ConfigError("a dense reference scan is only made for 1D coordinates")
        lower, upper = self.bounds()
        q = np.linspace(lower[0], upper[0], n_points)
        return q, np.array([self(np.array([value]))[0] for value in q])
