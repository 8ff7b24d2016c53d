"""nnpkit.apps.solvation: ion solvation free energies along a coordination number.

Umbrella windows and well-tempered metadynamics walkers run as one batch of the batched
MD engine (one model call per step for all of them; resumable chunks), MBAR (pymbar 4)
turns the windows into F(CN) with uncertainties, overlap and statistical-inefficiency
checks; the shell analysis gives the ion–O RDF, the running CN, residence times and the
most probable CN. :func:`solvation_umbrella` and :func:`solvation_metad` run a config end
to end (``nnpkit solvation umbrella|metad``).
"""

from nnpkit.apps.solvation.analysis import (
    RDF,
    ResidenceTimes,
    first_minimum,
    ion_group_distances,
    most_probable_cn,
    radial_distribution,
    residence_times,
    shell_indicator,
    state_free_energies,
)
from nnpkit.apps.solvation.chunked import ChunkedRun, MDSettings, read_frames, run_in_chunks
from nnpkit.apps.solvation.config import (
    MetadConfig,
    UmbrellaConfig,
    load_metad_config,
    load_umbrella_config,
)
from nnpkit.apps.solvation.mbar import (
    PoorOverlapWarning,
    UmbrellaProfile,
    UnsampledStateWarning,
    decorrelated_indices,
    state_free_energy_differences,
    statistical_inefficiency,
    umbrella_free_energy,
)
from nnpkit.apps.solvation.metad import MetadRun, metadynamics_profile, run_metadynamics
from nnpkit.apps.solvation.system import cv_atoms, ion_water_cluster
from nnpkit.apps.solvation.umbrella import UmbrellaRun, run_umbrella
from nnpkit.apps.solvation.workflow import solvation_metad, solvation_umbrella

__all__ = [
    "RDF", "ChunkedRun", "MDSettings", "MetadConfig", "MetadRun", "PoorOverlapWarning",
    "ResidenceTimes", "UmbrellaConfig", "UmbrellaProfile", "UmbrellaRun",
    "UnsampledStateWarning", "cv_atoms", "decorrelated_indices", "first_minimum",
    "ion_group_distances", "ion_water_cluster", "load_metad_config", "load_umbrella_config",
    "metadynamics_profile", "most_probable_cn", "radial_distribution", "read_frames",
    "residence_times", "run_in_chunks", "run_metadynamics", "run_umbrella", "shell_indicator",
    "solvation_metad", "solvation_umbrella", "state_free_energies",
    "state_free_energy_differences", "statistical_inefficiency", "umbrella_free_energy",
]
