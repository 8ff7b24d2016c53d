"""Sample configurations by MD with a reference method and write a labelled dataset."""

from __future__ import annotations

import os
from pathlib import Path

from ase import Atoms

from nnpkit.data.io import write_structures
from nnpkit.errors import DataError
from nnpkit.labeling.reference import make_reference_calculator
from nnpkit.labeling.sampling import sample_md

__all__ = ["starting_structure", "sample_and_label"]


def starting_structure(name_or_path: str | os.PathLike) -> Atoms:
    """A structure from a file, or else from ASE's molecule database by name."""
    from ase.build import molecule
    from ase.collections import g2

    path = Path(name_or_path)
    if path.is_file():
        from nnpkit.md.from_files import read_first_structure

        return read_first_structure(path)
    if str(name_or_path) in g2.names:
        return molecule(str(name_or_path))
    raise DataError(f"{name_or_path}: no such file, and not a molecule name in ASE's g2 set")


def sample_and_label(structure: str | os.PathLike | Atoms, method: str, out: str | os.PathLike,
                     n_samples: int, temperature_K: float = 500.0, interval_steps: int = 10,
                     timestep_fs: float = 0.5, seed: int = 0, progress: bool = True) -> dict:
    """Langevin MD driven by the reference ``method``; every ``interval_steps`` a labelled
    snapshot. Writes ``out`` (extxyz, atomically) and returns a summary.
    """
    atoms = structure if isinstance(structure, Atoms) else starting_structure(structure)
    calculator = make_reference_calculator(method)
    samples = sample_md(atoms, calculator, temperature_K=temperature_K, n_samples=n_samples,
                        interval_steps=interval_steps, timestep_fs=timestep_fs, seed=seed,
                        progress=progress)
    write_structures(out, samples)
    return {"out": str(out), "n_structures": len(samples), "method": method,
            "temperature_K": temperature_K}
