"""What a solvation run samples, from its config: the starting structure, the force field,
the collective variable and the wall.

The force field follows the ``calculator`` key: an existing path (a ``.nnp`` model, a
committee, a run directory) is loaded and its nnpkit ``Potential`` goes to the batched
engine (one model call per step for all windows; a committee also gives the force spread
for the guard); any other name is a reference method (``gfn2``, ...), one calculator per
window with the system's charge, which the engine calls window by window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms

from nnpkit.apps.solvation.config import CVConfig, SolvationConfig, SystemConfig, WallConfig
from nnpkit.apps.solvation.system import cluster_radius_A, cv_atoms, ion_water_cluster
from nnpkit.errors import ConfigError
from nnpkit.md.bias import SphericalWall
from nnpkit.md.collective_variables import CoordinationCV, DistanceCV
from nnpkit.models.potential import Potential

__all__ = ["ForceField", "starting_structure", "make_force_field", "make_cv", "make_wall"]


def starting_structure(system: SystemConfig) -> Atoms:
    """The system's structure (read, or built as an ion in a water cluster), with its
    charge in ``info["charge"]``."""
    if system.structure is None:
        return ion_water_cluster(system.ion, system.n_waters, system.charge, system.seed,
                                 system.density_g_per_cm3)
    from nnpkit.data.io import read_structure

    atoms = read_structure(system.structure, "system.structure")
    atoms.info["charge"] = int(system.charge)
    if system.ion not in atoms.get_chemical_symbols():
        raise ConfigError(f"system.ion: species {system.ion} is not in {system.structure} "
                          f"({atoms.get_chemical_formula()})")
    return atoms


@dataclass
class ForceField:
    """What the engine runs on: a Potential, or one ASE calculator per replica."""

    model: Any
    dtype: torch.dtype | None
    device: str | torch.device
    name: str
    is_committee: bool


def make_force_field(config: SolvationConfig, n_replicas: int) -> ForceField:
    """The force field of ``config.calculator`` for ``n_replicas`` windows or walkers.

    Raises:
        ConfigError: an unknown method or option; a guard threshold without a committee.
    """
    dtype = None if config.md.dtype is None else getattr(torch, config.md.dtype)
    name = config.calculator
    if Path(name).exists():
        from nnpkit.calculators import load_calculator
        from nnpkit.models.committee import Committee

        calculator = load_calculator(name, device=config.md.device, dtype=dtype)
        model: Potential = calculator.model
        force_field = ForceField(model, calculator.dtype, calculator.device, name,
                                 isinstance(model, Committee))
    else:
        from nnpkit.labeling.reference import make_reference_calculator

        options = {"charge": config.system.charge, **config.calculator_options}
        calculators = [make_reference_calculator(name, **options) for _ in range(n_replicas)]
        force_field = ForceField(calculators, None, "cpu", name, False)
    if config.uncertainty.max_force_std_eV_per_A is not None and not force_field.is_committee:
        raise ConfigError(f"uncertainty.max_force_std_eV_per_A needs a committee calculator; "
                          f"{name} is not one")
    return force_field


def make_cv(cv: CVConfig, atoms: Atoms, n_replicas: int) -> tuple[Any, int, list[int]]:
    """``(cv, centre index, group indices)`` for ``n_replicas`` copies of ``atoms``.

    Raises:
        ConfigError: a species absent from the structure or atoms that do not exist
            (named); a distance CV whose group is not one atom.
    """
    center, group = cv_atoms(atoms, cv.center, cv.group)
    sizes = [len(atoms)] * n_replicas
    if cv.kind == "distance":
        if len(group) != 1:
            raise ConfigError(f"cv.group: a distance CV needs exactly one atom, got "
                              f"{len(group)} ({cv.group})")
        return DistanceCV(center, group[0], sizes), center, group
    return (CoordinationCV(center, group, sizes, cv.r0_A, cv.d0_A, cv.n, cv.m), center,
            group)


def make_wall(wall: WallConfig, system: SystemConfig, atoms: Atoms, n_replicas: int
              ) -> tuple[SphericalWall | None, float | None]:
    """``(the wall or None, its radius Å)``: about the centroid of all atoms; the default
    radius is the built cluster's radius + 2 Å (a read structure: its largest distance
    from the centroid + 2 Å)."""
    if not wall.enabled:
        return None, None
    radius = wall.radius_A
    if radius is None:
        if system.structure is None:
            radius = cluster_radius_A(system.n_waters, system.density_g_per_cm3) + 2.0
        else:
            centred = atoms.positions - atoms.positions.mean(axis=0)
            radius = float(np.linalg.norm(centred, axis=1).max()) + 2.0
    return (SphericalWall([len(atoms)] * n_replicas, radius, wall.spring_constant_eV_per_A2),
            float(radius))
