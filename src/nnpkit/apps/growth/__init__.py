"""nnpkit.apps.growth: crystal growth by kinetic Monte Carlo with learned hop barriers.

Rejection-free (BKL / n-fold way) kMC on a solid-on-solid fcc(100) lattice: deposition,
hops, attachment and detachment, an optional Ehrlich–Schwoebel barrier, rates
``ν0·exp(−Ea/kT)``; barriers from a fixed bond-counting table or from a small network on
local-environment descriptors trained on NEB barriers (ASE NEB with EMT or an nnpkit
potential). Observables: island density, roughness, layer coverages, step density.
"""

try:
    import numba  # noqa: F401  (the kMC engines are numba-compiled)
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("nnpkit.apps.growth needs numba: pip install 'nnpkit[growth]'") from error

from nnpkit.apps.growth.barrier_model import BarrierModel, train_barrier_model
from nnpkit.apps.growth.catalogue import build_catalogue, load_catalogue, save_catalogue
from nnpkit.apps.growth.config import (
    BarrierConfig,
    GrowthRunConfig,
    RatesConfig,
    load_growth_config,
)
from nnpkit.apps.growth.lattice import N_CODES, bond_counting_barriers, decode_codes, hop_codes_of
from nnpkit.apps.growth.observables import (
    count_islands,
    island_density,
    layer_coverages,
    roughness_ML,
    step_density,
    surface_observables,
)
from nnpkit.apps.growth.rates import arrhenius, barrier_table
from nnpkit.apps.growth.simulation import GrowthSimulation, warm_up_engines
from nnpkit.apps.growth.workflow import build_barriers, run_growth

__all__ = [
    "BarrierConfig", "GrowthRunConfig", "RatesConfig", "load_growth_config", "GrowthSimulation",
    "warm_up_engines", "run_growth", "build_barriers", "BarrierModel", "train_barrier_model",
    "build_catalogue", "load_catalogue", "save_catalogue", "N_CODES", "bond_counting_barriers",
    "decode_codes", "hop_codes_of", "count_islands", "island_density", "layer_coverages",
    "roughness_ML", "step_density", "surface_observables", "arrhenius", "barrier_table",
]
