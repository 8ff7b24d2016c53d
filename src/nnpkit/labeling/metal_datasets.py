"""EMT-labelled bulk fcc metals (Cu, Al, Ni, ...) for crystal-property potentials.

:func:`fcc_metals_emt_dataset` extends the idea of
:func:`~nnpkit.labeling.datasets.copper_emt_dataset` to several elements, aimed at what
the crystal workflows of :mod:`nnpkit.apps.crystals` probe: the equation of state
(isotropic compressions and expansions), elastic constants (small random strains, shear
included) and phonons (small thermal-like displacements in supercells). Each structure
holds one element; a model trained on the union knows all of them.

Units are ASE's: energies eV, forces eV/Å, stress eV/Å³.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from ase import Atoms
from ase.build import bulk

from nnpkit.errors import ConfigError, LabelingError
from nnpkit.labeling.reference import label_structures, make_reference_calculator
from nnpkit.labeling.sampling import random_symmetric_strain

__all__ = ["fcc_metals_emt_dataset", "EMT_FCC_ELEMENTS"]

#: The fcc metals ASE's EMT parametrises.
EMT_FCC_ELEMENTS: tuple[str, ...] = ("Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt")


def _primitive(symbol: str) -> Atoms:
    """1-atom primitive fcc cell at ASE's reference lattice constant."""
    return bulk(symbol, "fcc")


def _primitive_222(symbol: str) -> Atoms:
    """Primitive cell repeated (2, 2, 2): 8 atoms in a non-orthogonal cell."""
    return bulk(symbol, "fcc").repeat((2, 2, 2))


def _cubic_222(symbol: str) -> Atoms:
    """Cubic 4-atom cell repeated (2, 2, 2): 32 atoms."""
    return bulk(symbol, "fcc", cubic=True).repeat((2, 2, 2))


def _vacancy(symbol: str) -> Atoms:
    """32-atom cubic supercell with its first atom removed."""
    atoms = _cubic_222(symbol)
    del atoms[0]
    return atoms


#: (config_type, builder, rattle range Å); structures cycle through these in order.
_BUILDERS: tuple[tuple[str, Callable[[str], Atoms], tuple[float, float]], ...] = (
    ("primitive_1", _primitive, (0.0, 0.0)),
    ("primitive_8", _primitive_222, (0.0, 0.05)),
    ("cubic_32", _cubic_222, (0.005, 0.08)),
    ("cubic_32_small_displacements", _cubic_222, (0.005, 0.03)),
    ("vacancy_31", _vacancy, (0.01, 0.06)),
)


def fcc_metals_emt_dataset(elements: Sequence[str] = ("Cu", "Al", "Ni"),
                           n_per_element: int = 100, volume_strain: float = 0.04,
                           shear_strain: float = 0.02, seed: int = 0,
                           progress: bool = False) -> list[Atoms]:
    """EMT-labelled bulk fcc structures of each element.

    The structures of each element cycle through a 1-atom primitive cell, an 8-atom
    primitive supercell, two 32-atom cubic supercells (larger and smaller rattles) and a
    31-atom cell with a vacancy. Each is scaled isotropically by a linear factor uniform
    in ±``volume_strain`` (≈ ±3·volume_strain in volume, covering an EOS grid), deformed
    by a random symmetric strain with components within ±``shear_strain``, and rattled
    with a Gaussian whose standard deviation is drawn from the builder's range.

    Labels: energy (eV), forces ([n, 3], eV/Å) and stress ([6], eV/Å³) from
    :class:`ase.calculators.emt.EMT`; ``info["config_type"]`` is
    ``"<element>_<builder>"``.

    Args:
        elements: fcc metals EMT knows (:data:`EMT_FCC_ELEMENTS`).
        n_per_element: structures per element.
        volume_strain, shear_strain: the strain ranges (dimensionless).
        seed: random seed; the same seed gives identical structures and labels.
        progress: show a progress bar while labelling.

    Raises:
        ConfigError: an element EMT does not parametrise as fcc, or negative sizes.
        LabelingError: EMT failed on a structure.
    """
    unknown = [symbol for symbol in elements if symbol not in EMT_FCC_ELEMENTS]
    if unknown:
        raise ConfigError(f"fcc_metals_emt_dataset: {', '.join(unknown)} not among EMT's fcc "
                          f"metals {', '.join(EMT_FCC_ELEMENTS)}")
    if n_per_element < 0 or volume_strain < 0 or shear_strain < 0:
        raise ConfigError(f"need n_per_element, volume_strain, shear_strain >= 0; got "
                          f"{n_per_element}, {volume_strain}, {shear_strain}")
    rng = np.random.default_rng(seed)
    structures: list[Atoms] = []
    for symbol in elements:
        for index in range(n_per_element):
            config_type, builder, (low, high) = _BUILDERS[index % len(_BUILDERS)]
            atoms = builder(symbol)
            scale = 1.0 + rng.uniform(-volume_strain, volume_strain)
            strain = random_symmetric_strain(rng, shear_strain, atoms.pbc)  # [3, 3]
            atoms.set_cell(atoms.cell.array @ (scale * (np.eye(3) + strain)), scale_atoms=True)
            atoms.positions += rng.normal(0.0, rng.uniform(low, high), size=(len(atoms), 3))
            atoms.info["config_type"] = f"{symbol}_{config_type}"
            structures.append(atoms)
    labelled, failures = label_structures(
        structures, lambda: make_reference_calculator("emt"),
        properties=("energy", "forces", "stress"), progress=progress)
    if failures:
        raise LabelingError(f"EMT failed on fcc metal structures: {failures}")
    return labelled
