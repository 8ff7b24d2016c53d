"""Sampling configurations to label: Langevin MD snapshots and random rattles/strains.

:func:`sample_md` runs ASE's Langevin dynamics with any calculator (the reference or the
current model) and returns snapshots that carry that calculator's labels (so, run with the
reference method, they are reference data); :func:`sample_md_temperatures` does so at
several temperatures. :func:`rattle_structures` returns unlabelled copies with random
displacements and (for crystals, ``strain_max > 0``) random symmetric strains. Molecules
have normal-mode sampling (:mod:`nnpkit.labeling.normal_modes`) and diversity comes from
farthest-point selection (:mod:`nnpkit.labeling.selection`).

Units are ASE's: Å, eV, fs (as argument suffix), K.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm.auto import tqdm

from nnpkit.errors import ConfigError

__all__ = ["sample_md", "sample_md_temperatures", "rattle_structures",
           "random_symmetric_strain"]


def sample_md(
    atoms: Atoms,
    calculator: Calculator,
    temperature_K: float,
    n_samples: int,
    interval_steps: int = 10,
    timestep_fs: float = 0.5,
    equilibration_steps: int = 200,
    friction_per_fs: float = 0.01,
    seed: int = 0,
    progress: bool = True,
) -> list[Atoms]:
    """Sample configurations from Langevin MD, labelled by the driving calculator.

    The MD (ASE's Langevin, set up by :func:`nnpkit.md.runner.make_dynamics`) runs on a
    copy of ``atoms``. Velocities are drawn from a Maxwell-Boltzmann distribution at
    ``temperature_K`` (centre-of-mass motion removed; rotation too for molecules). After
    ``equilibration_steps``, a snapshot is taken every ``interval_steps`` until
    ``n_samples`` are collected. Each snapshot is a copy with a
    :class:`SinglePointCalculator` holding the calculator's energy (eV), forces
    ([n_atoms, 3], eV/Å, constraints not applied) and, for fully periodic cells, stress
    ([6], eV/Å³), and the constraints of ``atoms`` (not the MD's own ``FixCom``).
    Runs are deterministic for a given ``seed`` and a deterministic calculator.

    Args:
        atoms: Starting structure (not modified).
        calculator: ASE calculator driving the dynamics (and providing the labels).
        temperature_K: Thermostat and initial-velocity temperature, K.
        n_samples: Number of snapshots to return.
        interval_steps: MD steps between snapshots (>= 1).
        timestep_fs: MD time step, fs.
        equilibration_steps: Steps run before the first snapshot is counted.
        friction_per_fs: Langevin friction coefficient, 1/fs.
        seed: Seed of the random generator for velocities and the Langevin noise.
        progress: Show a tqdm progress bar over the samples.

    Returns:
        ``n_samples`` labelled snapshots.
    """
    if n_samples < 0:
        raise ConfigError(f"n_samples must be >= 0, got {n_samples}")
    if interval_steps < 1:
        raise ConfigError(f"interval_steps must be >= 1, got {interval_steps}")
    if equilibration_steps < 0:
        raise ConfigError(f"equilibration_steps must be >= 0, got {equilibration_steps}")
    if timestep_fs <= 0:
        raise ConfigError(f"timestep_fs must be > 0, got {timestep_fs}")

    # nnpkit.md brings torch and the model families: imported here, not at module level,
    # so that labelling (`nnpkit label`, farm workers) starts without them
    from nnpkit.md.runner import make_dynamics

    work = atoms.copy()
    work.calc = calculator
    periodic = bool(np.all(work.pbc))
    dyn = make_dynamics(
        work,
        "nvt",
        temperature_K=temperature_K,
        timestep_fs=timestep_fs,
        friction_per_fs=friction_per_fs,
        rng=np.random.default_rng(seed),
    )
    samples: list[Atoms] = []
    with tqdm(total=n_samples, desc="MD sampling", unit="sample", disable=not progress) as bar:
        if equilibration_steps > 0:
            bar.set_postfix_str("equilibrating")
            dyn.run(equilibration_steps)
        for _ in range(n_samples):
            dyn.run(interval_steps)
            samples.append(_labelled_snapshot(work, atoms, periodic))
            bar.set_postfix(T_K=f"{work.get_temperature():.0f}")
            bar.update(1)
    return samples


def sample_md_temperatures(
    atoms: Atoms,
    calculator: Calculator,
    temperatures_K: list[float],
    n_samples: int,
    seed: int = 0,
    progress: bool = True,
    **md_options: Any,
) -> list[Atoms]:
    """:func:`sample_md` at each of ``temperatures_K`` (K): ``n_samples`` snapshots per
    temperature, seeds ``seed, seed + 1, ...``; ``info["temperature_K"]`` records each one's.

    ``calculator`` is the reference (snapshots carry reference labels) or a trained model
    (snapshots carry the model's predictions; relabel them with the reference, e.g. with
    :func:`~nnpkit.labeling.farm.label_to_store`). ``md_options`` go to :func:`sample_md`
    (``interval_steps``, ``timestep_fs``, ``equilibration_steps``, ``friction_per_fs``).
    """
    if not temperatures_K:
        raise ConfigError("temperatures_K must name at least one temperature")
    samples: list[Atoms] = []
    for offset, temperature_K in enumerate(temperatures_K):
        batch = sample_md(atoms, calculator, temperature_K, n_samples, seed=seed + offset,
                          progress=progress, **md_options)
        for snapshot in batch:
            snapshot.info["temperature_K"] = float(temperature_K)
        samples.extend(batch)
    return samples


def _labelled_snapshot(atoms: Atoms, original: Atoms, periodic: bool) -> Atoms:
    """Copy ``atoms`` with its calculator's current results frozen into a SinglePoint."""
    from nnpkit.md.runner import copy_without_md_constraints

    results: dict[str, object] = {
        "energy": float(atoms.get_potential_energy()),
        "forces": np.array(atoms.get_forces(apply_constraint=False)),
    }
    if periodic:
        results["stress"] = np.array(atoms.get_stress(voigt=True))
    snapshot = copy_without_md_constraints(atoms, original)
    snapshot.calc = SinglePointCalculator(snapshot, **results)
    return snapshot


def random_symmetric_strain(
    rng: np.random.Generator, strain_max: float, pbc: np.ndarray | tuple[bool, bool, bool]
) -> np.ndarray:
    """Draw a random symmetric strain tensor, each component uniform in ±``strain_max``.

    Components along non-periodic Cartesian directions are zero, so a slab with its vacuum
    along z (as :mod:`ase.build` makes them) is only strained in plane.

    Returns:
        Strain tensor ε, shape [3, 3] (dimensionless); a cell deforms as ``cell @ (I + ε)``.
    """
    upper = np.triu(rng.uniform(-strain_max, strain_max, size=(3, 3)))
    strain = upper + np.triu(upper, k=1).T  # [3, 3], symmetric
    mask = np.outer(np.asarray(pbc, dtype=bool), np.asarray(pbc, dtype=bool))
    return strain * mask


def rattle_structures(
    atoms: Atoms,
    n_samples: int,
    stdev_A: float = 0.05,
    strain_max: float = 0.0,
    seed: int = 0,
) -> list[Atoms]:
    """Return unlabelled copies of ``atoms`` with random displacements and strains.

    Each copy gets Gaussian displacements with standard deviation ``stdev_A`` (Å) per
    Cartesian component (constraints such as ``FixAtoms`` are respected). For periodic
    cells and ``strain_max > 0``, the cell is first deformed by a random symmetric strain
    (components uniform in ±``strain_max``, shear included; only periodic directions are
    strained) with the atoms scaled along with it.

    Args:
        atoms: Template structure (not modified).
        n_samples: Number of copies to make.
        stdev_A: Displacement standard deviation, Å.
        strain_max: Largest strain component (e.g. 0.03 for 3 %).
        seed: Random seed; the same seed gives the same structures.

    Returns:
        ``n_samples`` new Atoms without a calculator.
    """
    if n_samples < 0:
        raise ConfigError(f"n_samples must be >= 0, got {n_samples}")
    if stdev_A < 0 or strain_max < 0:
        raise ConfigError(f"stdev_A and strain_max must be >= 0, got {stdev_A}, {strain_max}")
    rng = np.random.default_rng(seed)
    out: list[Atoms] = []
    for _ in range(n_samples):
        copy = atoms.copy()
        copy.calc = None
        if strain_max > 0 and np.any(copy.pbc):
            strain = random_symmetric_strain(rng, strain_max, copy.pbc)
            copy.set_cell(copy.cell.array @ (np.eye(3) + strain), scale_atoms=True)
        displacement = rng.normal(0.0, stdev_A, size=(len(copy), 3))  # [n_atoms, 3]
        copy.set_positions(copy.get_positions() + displacement)
        out.append(copy)
    return out
