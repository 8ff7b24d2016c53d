"""Dataset statistics: per-element reference energies and scales (layer 1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms

from nnpkit.errors import DataError

__all__ = ["DatasetStatistics", "fit_statistics"]


@dataclass(frozen=True)
class DatasetStatistics:
    """What a model needs to know about its training data.

    Attributes:
        elements: chemical symbols, sorted by atomic number.
        reference_energies_eV: per-element energies fitted by least squares, eV/atom.
        energy_scale_eV: scale of the network output (RMS of the force components, eV/Å,
            times 1 Å), eV.
        residual_energy_std_eV_per_atom: std of the per-atom energy left after the
            reference energies, eV/atom (reported, useful to judge the fit).
    """

    elements: tuple[str, ...]
    reference_energies_eV: tuple[float, ...]
    energy_scale_eV: float
    residual_energy_std_eV_per_atom: float

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DatasetStatistics:
        """Inverse of :meth:`to_dict`."""
        return cls(
            elements=tuple(data["elements"]),
            reference_energies_eV=tuple(float(x) for x in data["reference_energies_eV"]),
            energy_scale_eV=float(data["energy_scale_eV"]),
            residual_energy_std_eV_per_atom=float(data["residual_energy_std_eV_per_atom"]),
        )


def fit_statistics(
    structures: Sequence[Atoms], elements: Sequence[str] | None = None, ridge: float = 1e-8
) -> DatasetStatistics:
    """Fit per-element reference energies (least squares) and the energy scale.

    Args:
        structures: labelled structures (energy and, ideally, forces on a calculator).
        elements: the element list; default: all elements present, by atomic number.
        ridge: Tikhonov regularisation of the least-squares fit (handles datasets where
            compositions are collinear, e.g. a single molecule).
    """
    from ase.data import atomic_numbers

    if len(structures) == 0:
        raise DataError("cannot fit dataset statistics on an empty training set")
    if elements is None:
        present = sorted({int(z) for atoms in structures for z in atoms.numbers})
        from ase.data import chemical_symbols

        elements = [chemical_symbols[z] for z in present]
    index = {atomic_numbers[symbol]: k for k, symbol in enumerate(elements)}
    counts = np.zeros((len(structures), len(elements)))  # [B, S]
    energies = np.zeros(len(structures))  # [B]
    force_components: list[np.ndarray] = []
    for b, atoms in enumerate(structures):
        for z in atoms.numbers:
            if int(z) not in index:
                from ase.data import chemical_symbols

                raise DataError(f"structure {b} contains {chemical_symbols[int(z)]}, which is "
                                f"not among the elements {', '.join(elements)}")
            counts[b, index[int(z)]] += 1
        results = atoms.calc.results if atoms.calc is not None else {}
        if "energy" not in results:
            raise DataError(f"structure {b} has no 'energy' label for the dataset statistics")
        energies[b] = results["energy"]
        if "forces" in results:
            force_components.append(np.asarray(results["forces"]).ravel())
    # ridge-regularised normal equations; the ridge is relative to the count scale
    gram = counts.T @ counts
    scale = np.trace(gram) / max(len(elements), 1)
    reference = np.linalg.solve(gram + ridge * scale * np.eye(len(elements)), counts.T @ energies)
    n_atoms = counts.sum(1)
    residual_per_atom = (energies - counts @ reference) / n_atoms
    if force_components:
        forces = np.concatenate(force_components)
        energy_scale = float(np.sqrt(np.mean(forces**2)))
    else:
        energy_scale = float(np.std(residual_per_atom))
    if not np.isfinite(energy_scale) or energy_scale < 1e-6:
        energy_scale = 1.0
    return DatasetStatistics(
        elements=tuple(elements),
        reference_energies_eV=tuple(float(x) for x in reference),
        energy_scale_eV=energy_scale,
        residual_energy_std_eV_per_atom=float(np.std(residual_per_atom)),
    )
