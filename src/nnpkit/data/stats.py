"""Dataset statistics: per-element reference energies and scales (layer 1)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms

from nnpkit.errors import DataError

__all__ = ["DatasetStatistics", "fit_statistics", "present_elements"]


@dataclass(frozen=True)
class DatasetStatistics:
    """What a model needs to know about its training data.

    What a per-atom energy means depends on ``reference_source``:

    - ``"fit"``: the references are fitted by least squares to the training energies, so
      the network learns the residual. Only sums over whole structures are physical; when
      every structure has the same composition (one molecule) the split between elements
      is arbitrary (the minimum-norm solution), and so are per-atom energies.
    - ``"isolated_atoms:<method>"``: the references are the reference method's energies
      of the free atoms (ground-state spin), so a structure's energy minus its references
      is its atomisation energy and a per-atom energy is that atom's share of it.
    - ``"given"``: the user's references (e.g. from another code); per-atom energies are
      relative to them.

    Attributes:
        elements: chemical symbols, sorted by atomic number.
        reference_energies_eV: per-element reference energies, eV/atom.
        energy_scale_eV: scale of the network output (RMS of the force components, eV/Å,
            times 1 Å), eV.
        residual_energy_std_eV_per_atom: std of the per-atom energy left after the
            reference energies, eV/atom (reported, useful to judge the fit).
        reference_source: where the references come from (see above).
    """

    elements: tuple[str, ...]
    reference_energies_eV: tuple[float, ...]
    energy_scale_eV: float
    residual_energy_std_eV_per_atom: float
    reference_source: str = "fit"

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
            reference_source=str(data.get("reference_source", "fit")),
        )


def present_elements(structures: Sequence[Atoms]) -> list[str]:
    """The chemical symbols present in ``structures``, ordered by atomic number."""
    from ase.data import chemical_symbols

    return [chemical_symbols[z] for z in sorted({int(z) for atoms in structures
                                                 for z in atoms.numbers})]


def fit_statistics(
    structures: Sequence[Atoms], elements: Sequence[str] | None = None,
    reference_energies_eV: Mapping[str, float] | None = None, reference_source: str = "given",
) -> DatasetStatistics:
    """Per-element reference energies and the energy scale of a training set.

    Args:
        structures: labelled structures (energy and, ideally, forces on a calculator).
        elements: the element list; default: all elements present, by atomic number.
        reference_energies_eV: fixed references ``{symbol: eV}`` for every element (e.g.
            isolated-atom energies); default: fitted by least squares (the minimum-norm
            solution where compositions are collinear, e.g. a single molecule, with a
            warning that per-atom energies are then arbitrary).
        reference_source: recorded with fixed references (``"given"``,
            ``"isolated_atoms:<method>"``).

    Raises:
        DataError: no structures, a structure without energy (naming its index) or with
            an element outside ``elements``, or fixed references lacking an element.
    """
    from ase.data import atomic_numbers

    if len(structures) == 0:
        raise DataError("cannot fit dataset statistics on an empty training set")
    if elements is None:
        elements = present_elements(structures)
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
    if reference_energies_eV is not None:
        missing = [symbol for symbol in elements if symbol not in reference_energies_eV]
        if missing:
            raise DataError(f"no reference energy given for element(s) {', '.join(missing)}")
        reference = np.array([float(reference_energies_eV[symbol]) for symbol in elements])
        source = reference_source
    else:
        # plain least squares in float64, no ridge: a ridge would bias references of
        # all-electron size (10^5 eV) by meV; the minimum-norm solution handles collinear
        # compositions (and keeps absent elements at zero)
        reference, _, rank, _ = np.linalg.lstsq(counts, energies, rcond=None)
        present = int((counts.sum(0) > 0).sum())
        if rank < present:
            warnings.warn(
                f"the training compositions determine only {rank} of {present} per-element "
                "reference energies (e.g. one molecule): total energies are fine, per-atom "
                "energies are not physical; set statistics.reference_energies to "
                "isolated_atoms or to given values to make them meaningful", stacklevel=2)
        source = "fit"
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
        reference_source=source,
    )
