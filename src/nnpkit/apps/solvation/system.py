"""The solvated ion: a cluster of an ion in n water molecules, and the atoms a CV names.

:func:`ion_water_cluster` places the ion at the origin and the waters at random positions
and orientations inside a sphere whose volume holds them at the density of liquid water
(about 29.9 Å³ per molecule at 1 g/cm³), rejecting placements closer than the given
minimum distances; the total charge goes to ``atoms.info["charge"]`` (read by the labeller
and the xTB calculator) and the ion is atom 0, then O, H, H per water. :func:`cv_atoms`
turns a CV's species (or explicit indices) into atom indices, refusing names or indices
the structure does not have.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.data import atomic_numbers
from scipy.spatial.transform import Rotation

from nnpkit.errors import ConfigError, DataError

__all__ = ["ion_water_cluster", "cluster_radius_A", "cv_atoms", "WATER_VOLUME_A3"]

#: Volume per molecule of liquid water at 1 g/cm³ and 300 K, Å³ (18.015 g/mol / N_A).
WATER_VOLUME_A3 = 29.9


def cluster_radius_A(n_waters: int, density_g_per_cm3: float = 1.0) -> float:
    """Radius of the sphere holding ``n_waters`` at ``density_g_per_cm3`` (plus the ion's
    share, one water's volume), Å."""
    volume = (n_waters + 1) * WATER_VOLUME_A3 / density_g_per_cm3
    return float((3.0 * volume / (4.0 * np.pi)) ** (1.0 / 3.0))


def ion_water_cluster(ion: str = "Na", n_waters: int = 24, charge: int = 1, seed: int = 0,
                      density_g_per_cm3: float = 1.0, min_oxygen_distance_A: float = 2.6,
                      min_ion_oxygen_distance_A: float = 2.2, max_tries: int = 200_000
                      ) -> Atoms:
    """An ion at the origin in ``n_waters`` randomly placed, randomly oriented waters.

    Args:
        ion: the ion's element symbol.
        n_waters: water molecules.
        charge: the total charge, e (``atoms.info["charge"]``).
        seed: the placement's random seed.
        density_g_per_cm3: sets the sphere the waters' oxygens are placed in.
        min_oxygen_distance_A, min_ion_oxygen_distance_A: rejection distances, Å; any two
            atoms of different molecules are also kept ≥ 1.6 Å apart.
        max_tries: placements tried before giving up.

    Raises:
        ConfigError: an unknown element, n_waters < 1.
        DataError: the waters do not fit (names the count placed).
    """
    if ion not in atomic_numbers:
        raise ConfigError(f"unknown ion element {ion!r}")
    if n_waters < 1:
        raise ConfigError(f"n_waters must be >= 1, got {n_waters}")
    rng = np.random.default_rng(seed)
    radius = cluster_radius_A(n_waters, density_g_per_cm3)
    water = molecule("H2O")
    template = water.positions - water.positions[0]  # O at the origin; [3, 3]
    placed: list[np.ndarray] = []  # [3, 3] per water: O, H, H
    tries = 0
    while len(placed) < n_waters:
        tries += 1
        if tries > max_tries:
            raise DataError(f"placed only {len(placed)} of {n_waters} waters in a sphere of "
                            f"{radius:.2f} Å; lower the density or the minimum distances")
        direction = rng.normal(size=3)
        centre = direction / np.linalg.norm(direction) * radius * rng.random() ** (1 / 3)
        if np.linalg.norm(centre) < min_ion_oxygen_distance_A:
            continue
        rotated = Rotation.random(random_state=rng).apply(template) + centre  # [3, 3]
        if np.linalg.norm(rotated[1:], axis=1).min() < 1.6:
            continue
        if placed:
            others = np.stack(placed)  # [n, 3, 3]
            if np.linalg.norm(others[:, 0] - centre, axis=1).min() < min_oxygen_distance_A:
                continue
            gaps = np.linalg.norm(others.reshape(-1, 1, 3) - rotated[None], axis=2)
            if gaps.min() < 1.6:
                continue
        placed.append(rotated)
    positions = np.vstack([np.zeros((1, 3)), *placed])
    atoms = Atoms(ion + "OH2" * n_waters, positions=positions)
    atoms.info["charge"] = int(charge)
    return atoms


def _indices(atoms: Atoms, indices: Sequence[int], what: str) -> list[int]:
    bad = [int(i) for i in indices if not 0 <= int(i) < len(atoms)]
    if bad:
        raise ConfigError(f"{what}: atom(s) {bad} do not exist in the structure "
                          f"({len(atoms)} atoms, {atoms.get_chemical_formula()})")
    return [int(i) for i in indices]


def cv_atoms(atoms: Atoms, center: str | int, group: str | Sequence[int]) -> tuple[int, list[int]]:
    """``(centre index, group indices)`` of a CV: a species symbol (the centre: its only
    atom; the group: all its atoms) or explicit indices.

    Raises:
        ConfigError: a species absent from the structure, a centre species with several
            atoms, or an index that does not exist (each named).
    """
    symbols = atoms.get_chemical_symbols()
    if isinstance(center, str):
        matches = [i for i, s in enumerate(symbols) if s == center]
        if not matches:
            raise ConfigError(f"cv.center: species {center} is not in the structure "
                              f"({atoms.get_chemical_formula()})")
        if len(matches) > 1:
            raise ConfigError(f"cv.center: species {center} has {len(matches)} atoms "
                              f"({matches}); give the centre's index")
        centre = matches[0]
    else:
        centre = _indices(atoms, [center], "cv.center")[0]
    if isinstance(group, str):
        members = [i for i, s in enumerate(symbols) if s == group and i != centre]
        if not members:
            raise ConfigError(f"cv.group: species {group} is not in the structure "
                              f"({atoms.get_chemical_formula()})")
    else:
        members = _indices(atoms, group, "cv.group")
        if centre in members:
            raise ConfigError(f"cv.group: holds the centre atom {centre}")
    return centre, members
