"""nnpkit.labeling: reference methods, labelling, the farm, the dataset store, sampling."""

from nnpkit.labeling.datasets import (
    COPPER_LATTICE_CONSTANT_A,
    copper_emt_dataset,
    ethanol_xtb_dataset,
)
from nnpkit.labeling.farm import LabelReport, farm_client, label_to_store
from nnpkit.labeling.methods import MethodSpec, ase_method, parse_method
from nnpkit.labeling.normal_modes import harmonic_modes, normal_mode_samples
from nnpkit.labeling.reference import (
    KNOWN_REFERENCE_METHODS,
    LabelOutcome,
    compute_labels,
    label_each,
    label_structures,
    make_reference_calculator,
)
from nnpkit.labeling.sampling import (
    random_symmetric_strain,
    rattle_structures,
    sample_md,
    sample_md_temperatures,
)
from nnpkit.labeling.selection import farthest_point_selection, structure_descriptors
from nnpkit.labeling.store import DatasetStore, redact_url, structure_hash

__all__ = [
    "COPPER_LATTICE_CONSTANT_A",
    "DatasetStore",
    "KNOWN_REFERENCE_METHODS",
    "LabelOutcome",
    "LabelReport",
    "MethodSpec",
    "ase_method",
    "compute_labels",
    "copper_emt_dataset",
    "ethanol_xtb_dataset",
    "farm_client",
    "farthest_point_selection",
    "harmonic_modes",
    "label_each",
    "label_structures",
    "label_to_store",
    "make_reference_calculator",
    "normal_mode_samples",
    "parse_method",
    "random_symmetric_strain",
    "rattle_structures",
    "redact_url",
    "sample_md",
    "sample_md_temperatures",
    "structure_descriptors",
    "structure_hash",
]
