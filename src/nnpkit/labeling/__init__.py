"""nnpkit.labeling: reference calculators, labelling, sampling, generated datasets."""

from nnpkit.labeling.datasets import (
    COPPER_LATTICE_CONSTANT_A,
    copper_emt_dataset,
    ethanol_xtb_dataset,
)
from nnpkit.labeling.reference import (
    KNOWN_REFERENCE_METHODS,
    compute_labels,
    label_structures,
    make_reference_calculator,
)
from nnpkit.labeling.sampling import random_symmetric_strain, rattle_structures, sample_md

__all__ = [
    "COPPER_LATTICE_CONSTANT_A",
    "KNOWN_REFERENCE_METHODS",
    "compute_labels",
    "copper_emt_dataset",
    "ethanol_xtb_dataset",
    "label_structures",
    "make_reference_calculator",
    "random_symmetric_strain",
    "rattle_structures",
    "sample_md",
]
