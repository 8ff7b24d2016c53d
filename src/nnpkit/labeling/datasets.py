"""Datasets nnpkit generates itself, for tests, examples and benchmarks.

- :func:`copper_emt_dataset`: copper bulk, slabs and vacancies labelled with ASE's EMT
  (fast, no extra dependency).
- :func:`ethanol_xtb_dataset`: ethanol MD snapshots labelled with GFN2-xTB (needs tblite).

Every structure has ``info["config_type"]`` naming the kind of structure it is. Units are
ASE's: energies eV, forces eV/Å, stress eV/Å³.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc100, fcc111, molecule

from nnpkit.errors import ConfigError, LabelingError
from nnpkit.labeling.reference import label_structures, make_reference_calculator
from nnpkit.labeling.sampling import random_symmetric_strain, sample_md

__all__ = ["copper_emt_dataset", "ethanol_xtb_dataset", "COPPER_LATTICE_CONSTANT_A"]

#: Experimental fcc copper lattice constant, Å (EMT's own minimum is within 1 %).
COPPER_LATTICE_CONSTANT_A: float = 3.61


def _bulk_cubic(rng: np.random.Generator) -> Atoms:
    """Cubic 4-atom cell repeated (2, 2, 2): 32 atoms."""
    return bulk("Cu", "fcc", a=COPPER_LATTICE_CONSTANT_A, cubic=True).repeat((2, 2, 2))


def _bulk_primitive(rng: np.random.Generator) -> Atoms:
    """1-atom primitive fcc cell (cell vectors 2.55 Å, shorter than any usual cutoff)."""
    return bulk("Cu", "fcc", a=COPPER_LATTICE_CONSTANT_A)


def _bulk_primitive_222(rng: np.random.Generator) -> Atoms:
    """Primitive cell repeated (2, 2, 2): 8 atoms in a non-orthogonal cell."""
    return bulk("Cu", "fcc", a=COPPER_LATTICE_CONSTANT_A).repeat((2, 2, 2))


def _bulk_orthorhombic(rng: np.random.Generator) -> Atoms:
    """2-atom orthorhombic cell repeated (2, 2, 1): 8 atoms."""
    cell = bulk("Cu", "fcc", a=COPPER_LATTICE_CONSTANT_A, orthorhombic=True)
    return cell.repeat((2, 2, 1))


def _without_adsorbate_info(slab: Atoms) -> Atoms:
    """Drop ase.build's adsorption-site table: extxyz cannot store it (a nested dict)."""
    slab.info.pop("adsorbate_info", None)
    return slab


def _slab_100(rng: np.random.Generator) -> Atoms:
    """fcc(100) slab, 2x2 surface cell, 4 layers, 6 Å vacuum each side, pbc=(T, T, F)."""
    return _without_adsorbate_info(
        fcc100("Cu", size=(2, 2, 4), a=COPPER_LATTICE_CONSTANT_A, vacuum=6.0))


def _slab_111(rng: np.random.Generator) -> Atoms:
    """fcc(111) slab, 2x2 surface cell, 4 layers, 6 Å vacuum each side, pbc=(T, T, F)."""
    return _without_adsorbate_info(
        fcc111("Cu", size=(2, 2, 4), a=COPPER_LATTICE_CONSTANT_A, vacuum=6.0))


def _vacancy(rng: np.random.Generator) -> Atoms:
    """32-atom cubic supercell with one randomly chosen atom removed: 31 atoms."""
    atoms = _bulk_cubic(rng)
    del atoms[int(rng.integers(len(atoms)))]
    return atoms


#: (config_type, builder); structures cycle through these in order.
_COPPER_BUILDERS: tuple[tuple[str, Callable[[np.random.Generator], Atoms]], ...] = (
    ("bulk_cubic_32", _bulk_cubic),
    ("bulk_primitive_1", _bulk_primitive),
    ("bulk_primitive_8", _bulk_primitive_222),
    ("bulk_orthorhombic_8", _bulk_orthorhombic),
    ("slab_fcc100", _slab_100),
    ("slab_fcc111", _slab_111),
    ("bulk_vacancy_31", _vacancy),
)


def copper_emt_dataset(
    n_structures: int = 200, seed: int = 0, progress: bool = False
) -> list[Atoms]:
    """Generate EMT-labelled copper structures.

    The structures cycle through bulk fcc cells (a 32-atom cubic supercell, the 1-atom
    primitive cell, 8-atom primitive and orthorhombic supercells), fcc(100) and fcc(111)
    slabs with vacuum (``pbc=(True, True, False)``), and a 32-atom cell with a vacancy.
    Each is deformed by a random symmetric strain (components within ±3 %, shear
    included; slabs in plane only) and rattled with a Gaussian of standard deviation drawn
    uniformly from 0.02–0.1 Å.

    Labels come from :class:`ase.calculators.emt.EMT`: energy (eV), forces
    ([n_atoms, 3], eV/Å), and stress ([6], eV/Å³) only for fully periodic structures.

    Args:
        n_structures: Number of structures.
        seed: Random seed; the same seed gives identical structures and labels.
        progress: Show a tqdm progress bar while labelling.

    Returns:
        ``n_structures`` labelled Atoms, ``info["config_type"]`` set on each.

    Raises:
        LabelingError: if EMT fails on a structure (it should not).
    """
    if n_structures < 0:
        raise ConfigError(f"n_structures must be >= 0, got {n_structures}")
    rng = np.random.default_rng(seed)
    structures: list[Atoms] = []
    for index in range(n_structures):
        config_type, builder = _COPPER_BUILDERS[index % len(_COPPER_BUILDERS)]
        atoms = builder(rng)
        strain = random_symmetric_strain(rng, 0.03, atoms.pbc)  # [3, 3]
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
        stdev_A = rng.uniform(0.02, 0.1)
        atoms.positions += rng.normal(0.0, stdev_A, size=(len(atoms), 3))  # [n_atoms, 3]
        atoms.info["config_type"] = config_type
        structures.append(atoms)
    labelled, failures = label_structures(
        structures,
        lambda: make_reference_calculator("emt"),
        properties=("energy", "forces", "stress"),
        progress=progress,
    )
    if failures:
        raise LabelingError(f"EMT failed on copper structures: {failures}")
    return labelled


def ethanol_xtb_dataset(
    n_structures: int,
    temperature_K: float = 500.0,
    interval_steps: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> list[Atoms]:
    """Sample ethanol configurations by GFN2-xTB Langevin MD, labelled by GFN2-xTB.

    Starts from ``ase.build.molecule("CH3CH2OH")`` (9 atoms, no cell), equilibrates for
    200 steps of 0.5 fs, then takes a snapshot every ``interval_steps`` steps (see
    :func:`~nnpkit.labeling.sampling.sample_md`). Needs tblite (``pip install nnpkit[xtb]``).
    With ``OMP_NUM_THREADS=1`` a step takes ~1 ms, so 1000 structures take ~10 s.

    Args:
        n_structures: Number of snapshots.
        temperature_K: Langevin temperature, K (500 K samples beyond the minimum well).
        interval_steps: MD steps (0.5 fs each) between snapshots.
        seed: Random seed for velocities and the thermostat.
        progress: Show a tqdm progress bar.

    Returns:
        ``n_structures`` Atoms with GFN2-xTB energy (eV) and forces ([9, 3], eV/Å),
        ``info["config_type"] = "ethanol_md"``.

    Raises:
        ConfigError: if tblite is not installed.
    """
    calculator = make_reference_calculator("gfn2")
    samples = sample_md(
        molecule("CH3CH2OH"),
        calculator,
        temperature_K=temperature_K,
        n_samples=n_structures,
        interval_steps=interval_steps,
        timestep_fs=0.5,
        equilibration_steps=200,
        seed=seed,
        progress=progress,
    )
    for atoms in samples:
        atoms.info["config_type"] = "ethanol_md"
    return samples
